package docstore

import (
	"math"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// updateSpec is a parsed update document: a replacement, or a list of operator applications.
type updateSpec struct {
	replacement bson.D // set for a replacement-style update
	mods        []modification
}

// modification is one operator applied to one path.
type modification struct {
	op    string
	path  string
	arg   any
	parts []string
}

var knownModifiers = map[string]bool{
	"$set": true, "$unset": true, "$inc": true, "$mul": true, "$min": true, "$max": true,
	"$rename": true, "$setOnInsert": true, "$currentDate": true, "$push": true,
	"$addToSet": true, "$pop": true, "$pull": true, "$pullAll": true, "$bit": true,
}

func parseUpdate(u bson.D) (*updateSpec, error) {
	if len(u) == 0 || !strings.HasPrefix(u[0].Key, "$") {
		for _, e := range u {
			if strings.HasPrefix(e.Key, "$") {
				return nil, errorf(CodeDollarPrefixedFieldName, "The dollar ($) prefixed field '%s' in '%s' is not valid for storage.", e.Key, e.Key)
			}
		}
		return &updateSpec{replacement: u}, nil
	}
	spec := &updateSpec{}
	for _, e := range u {
		if !knownModifiers[e.Key] {
			if strings.HasPrefix(e.Key, "$") {
				return nil, errorf(CodeFailedToParse, "Unknown modifier: %s. Expected a valid update modifier or pipeline-style update specified as an array", e.Key)
			}
			return nil, errorf(CodeFailedToParse, "Unknown modifier: %s. Expected a valid update modifier or pipeline-style update specified as an array", e.Key)
		}
		if e.Key == "$bit" {
			return nil, notEmulated("update operator $bit")
		}
		fields, ok := e.Value.(bson.D)
		if !ok {
			return nil, errorf(CodeFailedToParse, "Modifiers operate on fields but we found type %s instead. For example: {$mod: {<field>: ...}} not {%s: %s}", typeNameOf(e.Value), e.Key, formatValue(e.Value))
		}
		for _, f := range fields {
			if f.Key == "" {
				return nil, errorf(CodeFailedToParse, "An empty update path is not valid.")
			}
			parts := splitPath(f.Key)
			for _, p := range parts {
				if p == "" {
					return nil, errorf(CodeFailedToParse, "The update path '%s' contains an empty field name, which is not allowed.", f.Key)
				}
				if p == "$" || strings.HasPrefix(p, "$[") {
					return nil, notEmulated("positional update operator in %s", f.Key)
				}
			}
			spec.mods = append(spec.mods, modification{op: e.Key, path: f.Key, arg: f.Value, parts: parts})
			if e.Key == "$rename" {
				to, ok := f.Value.(string)
				if !ok || to == "" {
					return nil, errorf(CodeBadValue, "The 'to' field for $rename must be a string: %s: %s", f.Key, formatValue(f.Value))
				}
				if to == f.Key {
					return nil, errorf(CodeBadValue, "The source and target field for $rename must differ: %s: %s", f.Key, formatValue(f.Value))
				}
				spec.mods = append(spec.mods, modification{op: "$rename-to", path: to, arg: f.Key, parts: splitPath(to)})
			}
		}
	}
	if err := checkConflicts(spec.mods); err != nil {
		return nil, err
	}
	// mongod 5.0 and later apply the fields of an update in lexicographic order of their paths,
	// across operators.
	slices.SortStableFunc(spec.mods, func(a, b modification) int { return strings.Compare(a.path, b.path) })
	return spec, nil
}

func typeNameOf(v any) string {
	for name, n := range typeAliases {
		if n == bsonTypeNumber(v) {
			return name
		}
	}
	return "unknown"
}

// checkConflicts refuses two modifications of one path, or of a path and its parent.
func checkConflicts(mods []modification) error {
	for i, a := range mods {
		for _, b := range mods[i+1:] {
			if prefixOf(a.parts, b.parts) || prefixOf(b.parts, a.parts) {
				return errorf(CodeConflictingUpdateOperators, "Updating the path '%s' would create a conflict at '%s'", b.path, commonPath(a.parts, b.parts))
			}
		}
	}
	return nil
}

func prefixOf(p, q []string) bool { return len(p) <= len(q) && slices.Equal(p, q[:len(p)]) }

func commonPath(a, b []string) string {
	n := min(len(a), len(b))
	return strings.Join(a[:n], ".")
}

// apply returns the updated copy of doc. inserting is true when doc is an upsert's new document
// ($setOnInsert applies).
func (u *updateSpec) apply(doc bson.D, inserting bool, now time.Time) (bson.D, error) {
	oldID, hadID := getField(doc, "_id")
	if u.replacement != nil {
		out := bson.D{}
		if hadID {
			out = append(out, bson.E{Key: "_id", Value: oldID})
		}
		for _, e := range u.replacement {
			if e.Key == "_id" {
				if hadID && !equalValues(e.Value, oldID) {
					return nil, errorf(CodeImmutableField, "After applying the update, the (immutable) field '_id' was found to have been altered to _id: %s", formatValue(e.Value))
				}
				if !hadID {
					out = append(bson.D{e}, out...)
				}
				continue
			}
			out = append(out, bson.E{Key: e.Key, Value: deepCopy(e.Value)})
		}
		return out, nil
	}
	cur := deepCopy(doc).(bson.D)
	// $rename reads every source before any field moves.
	renamed := map[string]any{}
	for _, m := range u.mods {
		if m.op == "$rename" {
			if vals, _ := lookup(cur, m.parts); len(vals) == 1 {
				renamed[m.path] = vals[0]
			}
		}
	}
	for _, m := range u.mods {
		if m.op == "$setOnInsert" && !inserting {
			continue
		}
		if m.parts[0] == "_id" && hadID && !inserting && m.op != "$rename" {
			// Setting _id to its own value is allowed; anything else is not.
			if m.op != "$set" || len(m.parts) > 1 || !equalValues(m.arg, oldID) {
				return nil, errorf(CodeImmutableField, "Performing an update on the path '_id' would modify the immutable field '_id'")
			}
			continue
		}
		var err error
		switch m.op {
		case "$rename":
			if _, ok := renamed[m.path]; ok {
				cur, err = modifyDoc(cur, m.parts, false, unsetLeaf)
			}
		case "$rename-to":
			v, ok := renamed[m.arg.(string)]
			if !ok {
				continue
			}
			cur, err = modifyDoc(cur, m.parts, true, setLeaf(v))
		default:
			f, create, ferr := leafFor(m, cur, now)
			if ferr != nil {
				return nil, ferr
			}
			cur, err = modifyDoc(cur, m.parts, create, f)
		}
		if err != nil {
			return nil, err
		}
	}
	if newID, ok := getField(cur, "_id"); hadID && (!ok || !equalValues(newID, oldID)) {
		return nil, errorf(CodeImmutableField, "Performing an update on the path '_id' would modify the immutable field '_id'")
	}
	return cur, nil
}

// leafFunc computes a field's new value from its old one; remove deletes the field.
type leafFunc func(old any, exists bool) (v any, remove bool, err error)

func setLeaf(v any) leafFunc {
	return func(any, bool) (any, bool, error) { return deepCopy(v), false, nil }
}

func unsetLeaf(any, bool) (any, bool, error) { return nil, true, nil }

// leafFor builds the leaf function of one modification, and whether missing parents are created.
func leafFor(m modification, doc bson.D, now time.Time) (leafFunc, bool, error) {
	idDesc := func() string {
		id, _ := getField(doc, "_id")
		return "{_id: " + formatValue(id) + "}"
	}
	lastPart := m.parts[len(m.parts)-1]
	switch m.op {
	case "$set", "$setOnInsert":
		return setLeaf(m.arg), true, nil
	case "$unset":
		return unsetLeaf, false, nil
	case "$inc", "$mul":
		if !isNumber(m.arg) {
			verb := "increment"
			if m.op == "$mul" {
				verb = "multiply"
			}
			return nil, false, errorf(CodeTypeMismatch, "Cannot %s with non-numeric argument: {%s: %s}", verb, m.path, formatValue(m.arg))
		}
		return func(old any, exists bool) (any, bool, error) {
			if !exists {
				if m.op == "$mul" {
					return arith("$mul", zeroLike(m.arg), m.arg), false, nil
				}
				return m.arg, false, nil
			}
			if !isNumber(old) {
				return nil, false, errorf(CodeTypeMismatch, "Cannot apply %s to a value of non-numeric type. %s has the field '%s' of non-numeric type %s", m.op, idDesc(), lastPart, typeNameOf(old))
			}
			return arith(m.op, old, m.arg), false, nil
		}, true, nil
	case "$min", "$max":
		return func(old any, exists bool) (any, bool, error) {
			c := compareValues(m.arg, old)
			if !exists || (m.op == "$min" && c < 0) || (m.op == "$max" && c > 0) {
				return deepCopy(m.arg), false, nil
			}
			return old, false, nil
		}, true, nil
	case "$currentDate":
		var v any = bson.NewDateTimeFromTime(now)
		switch a := m.arg.(type) {
		case bool:
		case bson.D:
			t, _ := getField(a, "$type")
			switch t {
			case "date":
			case "timestamp":
				v = bson.Timestamp{T: uint32(now.Unix()), I: 1}
			default:
				return nil, false, errorf(CodeBadValue, "The '$type' string field is required to be 'date' or 'timestamp': {$currentDate: {field : {$type: 'date'}}}")
			}
		default:
			return nil, false, errorf(CodeBadValue, "%s is not valid type for $currentDate. Please use a boolean ('true') or a $type expression ({$type: 'timestamp/date'}).", typeNameOf(m.arg))
		}
		return setLeaf(v), true, nil
	case "$push", "$addToSet":
		items, slice, position, err := pushArgs(m)
		if err != nil {
			return nil, false, err
		}
		return func(old any, exists bool) (any, bool, error) {
			var arr bson.A
			if exists {
				a, ok := old.(bson.A)
				if !ok {
					return nil, false, errorf(CodeBadValue, "The field '%s' must be an array but is of type %s in document %s", lastPart, typeNameOf(old), idDesc())
				}
				arr = slices.Clone(a)
			}
			if arr == nil {
				arr = bson.A{}
			}
			if m.op == "$addToSet" {
				for _, it := range items {
					if !slices.ContainsFunc(arr, func(x any) bool { return equalValues(x, it) }) {
						arr = append(arr, deepCopy(it))
					}
				}
				return arr, false, nil
			}
			at := len(arr)
			if position != nil {
				at = *position
				if at < 0 {
					at = max(len(arr)+at, 0)
				}
				at = min(at, len(arr))
			}
			added := make(bson.A, len(items))
			for i, it := range items {
				added[i] = deepCopy(it)
			}
			arr = slices.Insert(arr, at, added...)
			if slice != nil {
				n := *slice
				switch {
				case n >= 0 && n < len(arr):
					arr = arr[:n]
				case n < 0 && -n < len(arr):
					arr = arr[len(arr)+n:]
				}
			}
			return arr, false, nil
		}, true, nil
	case "$pop":
		n, ok := wholeNumber(m.arg)
		if !ok || (n != 1 && n != -1) {
			return nil, false, errorf(CodeFailedToParse, "$pop expects 1 or -1, found: %s", formatValue(m.arg))
		}
		return func(old any, exists bool) (any, bool, error) {
			if !exists {
				return nil, true, nil
			}
			a, ok := old.(bson.A)
			if !ok {
				return nil, false, errorf(CodeTypeMismatch, "Path '%s' contains an element of non-array type '%s'", m.path, typeNameOf(old))
			}
			if len(a) == 0 {
				return a, false, nil
			}
			if n == 1 {
				return slices.Clone(a[:len(a)-1]), false, nil
			}
			return slices.Clone(a[1:]), false, nil
		}, false, nil
	case "$pull", "$pullAll":
		match, err := pullMatcher(m)
		if err != nil {
			return nil, false, err
		}
		return func(old any, exists bool) (any, bool, error) {
			if !exists {
				return nil, true, nil
			}
			a, ok := old.(bson.A)
			if !ok {
				return nil, false, errorf(CodeBadValue, "Cannot apply %s to a non-array value", m.op)
			}
			out := bson.A{}
			for _, x := range a {
				if !match(x) {
					out = append(out, x)
				}
			}
			return out, false, nil
		}, false, nil
	}
	return nil, false, errorf(CodeFailedToParse, "Unknown modifier: %s", m.op)
}

func pushArgs(m modification) (items bson.A, slice, position *int, err error) {
	d, ok := m.arg.(bson.D)
	if !ok || len(d) == 0 || d[0].Key != "$each" {
		return bson.A{m.arg}, nil, nil, nil
	}
	for _, e := range d {
		switch e.Key {
		case "$each":
			a, ok := e.Value.(bson.A)
			if !ok {
				return nil, nil, nil, errorf(CodeBadValue, "The argument to $each in %s must be an array but it was of type: %s", m.op, typeNameOf(e.Value))
			}
			items = a
		case "$slice", "$position":
			if m.op != "$push" {
				return nil, nil, nil, errorf(CodeBadValue, "Found unexpected fields after $each in $addToSet: %s", formatValue(d))
			}
			n, ok := wholeNumber(e.Value)
			if !ok {
				return nil, nil, nil, errorf(CodeBadValue, "The value for %s must be an integer value but was given type: %s", e.Key, typeNameOf(e.Value))
			}
			v := int(n)
			if e.Key == "$slice" {
				slice = &v
			} else {
				position = &v
			}
		case "$sort":
			return nil, nil, nil, notEmulated("$push with $sort")
		default:
			return nil, nil, nil, errorf(CodeBadValue, "Unrecognized clause in $push: %s", e.Key)
		}
	}
	return items, slice, position, nil
}

func pullMatcher(m modification) (func(any) bool, error) {
	if m.op == "$pullAll" {
		a, ok := m.arg.(bson.A)
		if !ok {
			return nil, errorf(CodeBadValue, "$pullAll requires an array argument but was given a %s", typeNameOf(m.arg))
		}
		return func(x any) bool {
			return slices.ContainsFunc(a, func(y any) bool { return equalValues(x, y) })
		}, nil
	}
	if ops, ok := isOperatorDoc(m.arg); ok && ops[0].Key != "$and" && ops[0].Key != "$or" && ops[0].Key != "$nor" {
		t, err := compileOperators(ops)
		if err != nil {
			return nil, err
		}
		return func(x any) bool { return t([]any{x}, false) }, nil
	}
	if d, ok := m.arg.(bson.D); ok {
		c, err := compileFilter(d)
		if err != nil {
			return nil, err
		}
		return func(x any) bool {
			xd, ok := x.(bson.D)
			return ok && c.match(xd)
		}, nil
	}
	if re, ok := m.arg.(bson.Regex); ok {
		t, err := regexTest(re.Pattern, re.Options)
		if err != nil {
			return nil, err
		}
		return func(x any) bool { return t([]any{x}, false) }, nil
	}
	return func(x any) bool { return equalValues(x, m.arg) }, nil
}

func zeroLike(v any) any {
	switch v.(type) {
	case int32:
		return int32(0)
	case int64:
		return int64(0)
	}
	return 0.0
}

// arith adds or multiplies two numbers with mongod's type promotion: int32 stays int32 unless it
// overflows into int64; any double makes a double.
func arith(op string, a, b any) any {
	ai, aok := asInt64(a)
	bi, bok := asInt64(b)
	if aok && bok {
		var r int64
		var overflow bool
		if op == "$inc" {
			r = ai + bi
			overflow = (ai > 0 && bi > 0 && r < 0) || (ai < 0 && bi < 0 && r >= 0)
		} else {
			r = ai * bi
			overflow = ai != 0 && (r/ai != bi || (ai == -1 && bi == math.MinInt64))
		}
		if overflow {
			af, _ := asFloat(a)
			bf, _ := asFloat(b)
			if op == "$inc" {
				return af + bf
			}
			return af * bf
		}
		_, a32 := a.(int32)
		_, b32 := b.(int32)
		if a32 && b32 && r >= math.MinInt32 && r <= math.MaxInt32 {
			return int32(r)
		}
		return r
	}
	af, _ := asFloat(a)
	bf, _ := asFloat(b)
	if op == "$inc" {
		return af + bf
	}
	return af * bf
}

// modifyDoc applies f at path inside doc. Missing parents are created as documents when create
// is set; otherwise the update is a no-op there. A path through a scalar cannot be created (28).
func modifyDoc(doc bson.D, path []string, create bool, f leafFunc) (bson.D, error) {
	v, err := modifyValue(doc, path, path, create, f)
	if err != nil {
		return nil, err
	}
	return v.(bson.D), nil
}

func modifyValue(v any, path, full []string, create bool, f leafFunc) (any, error) {
	switch x := v.(type) {
	case bson.D:
		key := path[0]
		old, exists := getField(x, key)
		if len(path) == 1 {
			nv, remove, err := f(old, exists)
			if err != nil {
				return nil, err
			}
			if remove {
				return removeField(x, key), nil
			}
			return setField(x, key, nv), nil
		}
		if !exists {
			if !create {
				return x, nil
			}
			old = bson.D{}
		}
		switch old.(type) {
		case bson.D, bson.A:
		default:
			if !create {
				return x, nil
			}
			return nil, errorf(CodePathNotViable, "Cannot create field '%s' in element {%s: %s}", path[1], key, formatValue(old))
		}
		child, err := modifyValue(old, path[1:], full, create, f)
		if err != nil {
			return nil, err
		}
		return setField(x, key, child), nil
	case bson.A:
		i, ok := arrayIndex(path[0])
		if !ok {
			if !create {
				return x, nil
			}
			return nil, errorf(CodePathNotViable, "Cannot create field '%s' in element {%s: %s}", path[0], strings.Join(full[:len(full)-len(path)], "."), formatValue(x))
		}
		if i >= len(x) {
			if !create {
				return x, nil
			}
			for len(x) <= i {
				x = append(x, nil)
			}
		}
		if len(path) == 1 {
			nv, remove, err := f(x[i], true)
			if err != nil {
				return nil, err
			}
			if remove {
				// $unset of an array element leaves null in its place, as in MongoDB.
				nv = nil
			}
			x[i] = nv
			return x, nil
		}
		old := x[i]
		switch old.(type) {
		case bson.D, bson.A:
		case nil:
			if !create {
				return x, nil
			}
			old = bson.D{}
		default:
			if !create {
				return x, nil
			}
			return nil, errorf(CodePathNotViable, "Cannot create field '%s' in element {%s: %s}", path[1], path[0], formatValue(old))
		}
		child, err := modifyValue(old, path[1:], full, create, f)
		if err != nil {
			return nil, err
		}
		x[i] = child
		return x, nil
	}
	return v, nil
}

// upsertSeed builds the document an upsert inserts before applying the update: the filter's
// equality conditions (top level and inside $and), with _id first.
func upsertSeed(filter bson.D) (bson.D, error) {
	doc := bson.D{}
	var add func(f bson.D) error
	add = func(f bson.D) error {
		for _, e := range f {
			if e.Key == "$and" {
				arr, _ := e.Value.(bson.A)
				for _, x := range arr {
					if d, ok := x.(bson.D); ok {
						if err := add(d); err != nil {
							return err
						}
					}
				}
				continue
			}
			if strings.HasPrefix(e.Key, "$") {
				continue
			}
			v := e.Value
			if ops, ok := isOperatorDoc(v); ok {
				eq, found := getField(ops, "$eq")
				if !found {
					continue
				}
				v = eq
			}
			if _, ok := v.(bson.Regex); ok {
				continue
			}
			var err error
			doc, err = modifyDoc(doc, splitPath(e.Key), true, setLeaf(v))
			if err != nil {
				return err
			}
		}
		return nil
	}
	if err := add(filter); err != nil {
		return nil, err
	}
	return doc, nil
}

// idFirst moves _id to the front, adding a new ObjectId when the document has none.
func idFirst(doc bson.D) bson.D {
	id, ok := getField(doc, "_id")
	if !ok {
		id = bson.NewObjectID()
	}
	out := bson.D{{Key: "_id", Value: id}}
	for _, e := range doc {
		if e.Key != "_id" {
			out = append(out, e)
		}
	}
	return out
}
