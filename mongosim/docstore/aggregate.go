package docstore

import (
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Aggregate runs a pipeline over the collection (a missing collection is empty). The stages
// are those listed in the package documentation; any other is refused.
func (s *Store) Aggregate(ns string, pipeline []bson.D) ([]bson.Raw, error) {
	var docs []bson.D
	if c := s.colls[ns]; c != nil {
		for _, r := range c.records {
			docs = append(docs, r.doc)
		}
	}
	for _, stage := range pipeline {
		stage, err := canon(stage)
		if err != nil {
			return nil, err
		}
		if len(stage) != 1 {
			return nil, errorf(CodeBadValue, "A pipeline stage specification object must contain exactly one field.")
		}
		if docs, err = runStage(stage[0], docs); err != nil {
			return nil, err
		}
	}
	out := make([]bson.Raw, 0, len(docs))
	for _, d := range docs {
		raw, err := marshalDoc(d)
		if err != nil {
			return nil, err
		}
		out = append(out, raw)
	}
	return out, nil
}

var knownStages = map[string]bool{
	"$addFields": true, "$bucket": true, "$bucketAuto": true, "$collStats": true, "$facet": true,
	"$geoNear": true, "$graphLookup": true, "$indexStats": true, "$lookup": true, "$merge": true,
	"$out": true, "$redact": true, "$replaceRoot": true, "$replaceWith": true, "$sample": true,
	"$set": true, "$sortByCount": true, "$unionWith": true, "$unset": true, "$densify": true,
	"$fill": true, "$setWindowFields": true, "$search": true, "$currentOp": true, "$listSessions": true,
}

func runStage(stage bson.E, docs []bson.D) ([]bson.D, error) {
	switch stage.Key {
	case "$match":
		spec, ok := stage.Value.(bson.D)
		if !ok {
			return nil, errorf(CodeBadValue, "the match filter must be an expression in an object")
		}
		m, err := Compile(spec)
		if err != nil {
			return nil, err
		}
		var out []bson.D
		for _, d := range docs {
			if m.Match(d) {
				out = append(out, d)
			}
		}
		return out, nil
	case "$sort":
		spec, ok := stage.Value.(bson.D)
		if !ok || len(spec) == 0 {
			return nil, errorf(CodeBadValue, "the $sort key specification must be an object")
		}
		less, err := compileSort(spec)
		if err != nil {
			return nil, err
		}
		out := slices.Clone(docs)
		slices.SortStableFunc(out, less)
		return out, nil
	case "$skip", "$limit":
		n, ok := wholeNumber(stage.Value)
		if !ok || n < 0 || (stage.Key == "$limit" && n == 0) {
			return nil, errorf(CodeBadValue, "invalid argument to %s stage: %s", stage.Key, formatValue(stage.Value))
		}
		if stage.Key == "$skip" {
			if n >= int64(len(docs)) {
				return nil, nil
			}
			return docs[n:], nil
		}
		if n < int64(len(docs)) {
			return docs[:n], nil
		}
		return docs, nil
	case "$project":
		spec, ok := stage.Value.(bson.D)
		if !ok || len(spec) == 0 {
			return nil, errorf(CodeBadValue, "$project specification must be an object")
		}
		p, err := compileProjection(spec)
		if err != nil {
			return nil, err
		}
		out := make([]bson.D, len(docs))
		for i, d := range docs {
			out[i] = p.apply(d)
		}
		return out, nil
	case "$count":
		name, ok := stage.Value.(string)
		if !ok || name == "" || strings.HasPrefix(name, "$") || strings.Contains(name, ".") {
			return nil, errorf(CodeBadValue, "the count field must be a non-empty string without '$' or '.'")
		}
		if len(docs) == 0 {
			return nil, nil
		}
		return []bson.D{{{Key: name, Value: int32(len(docs))}}}, nil
	case "$group":
		spec, ok := stage.Value.(bson.D)
		if !ok {
			return nil, errorf(CodeBadValue, "a group's fields must be specified in an object")
		}
		return group(spec, docs)
	case "$unwind":
		return unwind(stage.Value, docs)
	}
	if knownStages[stage.Key] {
		return nil, notEmulated("aggregation stage %s", stage.Key)
	}
	return nil, errorf(CodeUnknownPipelineStage, "Unrecognized pipeline stage name: '%s'", stage.Key)
}

// evalExpr evaluates the expressions $group needs: "$path" (missing: nil), documents of
// expressions, and constants.
func evalExpr(expr any, doc bson.D) (any, error) {
	switch x := expr.(type) {
	case string:
		if strings.HasPrefix(x, "$$") {
			return nil, notEmulated("aggregation variable %s", x)
		}
		if strings.HasPrefix(x, "$") {
			vals, _ := lookup(doc, splitPath(x[1:]))
			switch len(vals) {
			case 0:
				return nil, nil
			case 1:
				return vals[0], nil
			}
			return bson.A(vals), nil
		}
		return x, nil
	case bson.D:
		if len(x) > 0 && strings.HasPrefix(x[0].Key, "$") {
			return nil, notEmulated("aggregation expression %s", x[0].Key)
		}
		out := bson.D{}
		for _, e := range x {
			v, err := evalExpr(e.Value, doc)
			if err != nil {
				return nil, err
			}
			out = append(out, bson.E{Key: e.Key, Value: v})
		}
		return out, nil
	}
	return expr, nil
}

type accumulator struct {
	field, op string
	expr      any
}

func group(spec bson.D, docs []bson.D) ([]bson.D, error) {
	idExpr, ok := getField(spec, "_id")
	if !ok {
		return nil, errorf(CodeBadValue, "a group specification must include an _id")
	}
	var accs []accumulator
	for _, e := range spec {
		if e.Key == "_id" {
			continue
		}
		d, ok := e.Value.(bson.D)
		if !ok || len(d) != 1 {
			return nil, errorf(CodeBadValue, "The field '%s' must be an accumulator object", e.Key)
		}
		switch d[0].Key {
		case "$sum", "$avg", "$min", "$max", "$first", "$last", "$push", "$addToSet":
		default:
			return nil, notEmulated("accumulator %s", d[0].Key)
		}
		accs = append(accs, accumulator{field: e.Key, op: d[0].Key, expr: d[0].Value})
	}
	type bucket struct {
		id    any
		state []any
		count []int64
	}
	var order []*bucket
	byKey := map[string]*bucket{}
	for _, d := range docs {
		id, err := evalExpr(idExpr, d)
		if err != nil {
			return nil, err
		}
		k := keyOf(id)
		b := byKey[k]
		if b == nil {
			b = &bucket{id: id, state: make([]any, len(accs)), count: make([]int64, len(accs))}
			byKey[k] = b
			order = append(order, b)
		}
		for i, a := range accs {
			v, err := evalExpr(a.expr, d)
			if err != nil {
				return nil, err
			}
			b.state[i], b.count[i] = accumulate(a.op, b.state[i], b.count[i], v)
		}
	}
	out := make([]bson.D, 0, len(order))
	for _, b := range order {
		row := bson.D{{Key: "_id", Value: b.id}}
		for i, a := range accs {
			v := b.state[i]
			switch {
			case a.op == "$sum" && v == nil:
				v = int32(0)
			case a.op == "$avg" && b.count[i] > 0:
				f, _ := asFloat(v)
				v = f / float64(b.count[i])
			case (a.op == "$push" || a.op == "$addToSet") && v == nil:
				v = bson.A{}
			}
			row = append(row, bson.E{Key: a.field, Value: v})
		}
		out = append(out, row)
	}
	return out, nil
}

// accumulate folds one value into an accumulator's state; count tracks the numbers seen ($avg)
// or whether $first has been set.
func accumulate(op string, state any, count int64, v any) (any, int64) {
	switch op {
	case "$sum", "$avg":
		if !isNumber(v) {
			return state, count
		}
		if state == nil {
			return v, count + 1
		}
		return arith("$inc", state, v), count + 1
	case "$min", "$max":
		if isNull(v) {
			return state, count
		}
		if count == 0 || (op == "$min" && compareValues(v, state) < 0) || (op == "$max" && compareValues(v, state) > 0) {
			return v, count + 1
		}
		return state, count + 1
	case "$first":
		if count == 0 {
			return v, 1
		}
		return state, count
	case "$last":
		return v, 1
	case "$push":
		arr, _ := state.(bson.A)
		return append(arr, v), count
	case "$addToSet":
		arr, _ := state.(bson.A)
		if !slices.ContainsFunc(arr, func(x any) bool { return equalValues(x, v) }) {
			arr = append(arr, v)
		}
		return arr, count
	}
	return state, count
}

func unwind(arg any, docs []bson.D) ([]bson.D, error) {
	path, preserve := "", false
	switch x := arg.(type) {
	case string:
		path = x
	case bson.D:
		for _, e := range x {
			switch e.Key {
			case "path":
				path, _ = e.Value.(string)
			case "preserveNullAndEmptyArrays":
				preserve = truthy(e.Value)
			default:
				return nil, notEmulated("$unwind option %s", e.Key)
			}
		}
	}
	if !strings.HasPrefix(path, "$") || len(path) < 2 {
		return nil, errorf(CodeBadValue, "path option to $unwind stage should be prefixed with a '$': %s", path)
	}
	parts := splitPath(path[1:])
	var out []bson.D
	for _, d := range docs {
		vals, _ := lookup(d, parts)
		var v any
		if len(vals) > 0 {
			v = vals[0]
		}
		arr, isArr := v.(bson.A)
		switch {
		case isArr && len(arr) > 0:
			for _, el := range arr {
				nd, err := modifyDoc(deepCopy(d).(bson.D), parts, true, setLeaf(el))
				if err != nil {
					return nil, err
				}
				out = append(out, nd)
			}
		case isArr || len(vals) == 0 || isNull(v):
			if preserve {
				out = append(out, d)
			}
		default:
			out = append(out, d)
		}
	}
	return out, nil
}
