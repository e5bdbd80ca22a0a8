package docstore

import (
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Query is a find: filter, sort, skip, limit (0: none) and projection.
type Query struct {
	Filter     bson.D
	Sort       bson.D
	Skip       int64
	Limit      int64
	Projection bson.D
}

// Find returns the matching documents, sorted, skipped, limited and projected. A collection that
// does not exist holds no documents.
func (s *Store) Find(ns string, q Query) ([]bson.Raw, error) {
	if err := canonAll(&q.Sort, &q.Projection); err != nil {
		return nil, err
	}
	recs, err := s.selectRecords(ns, q.Filter, q.Sort, q.Skip, q.Limit)
	if err != nil {
		return nil, err
	}
	proj, err := compileProjection(q.Projection)
	if err != nil {
		return nil, err
	}
	out := make([]bson.Raw, 0, len(recs))
	for _, r := range recs {
		if proj == nil {
			out = append(out, r.raw)
			continue
		}
		raw, err := marshalDoc(proj.apply(r.doc))
		if err != nil {
			return nil, err
		}
		out = append(out, raw)
	}
	return out, nil
}

// Count returns how many documents match, after skip and limit.
func (s *Store) Count(ns string, filter bson.D, skip, limit int64) (int64, error) {
	recs, err := s.selectRecords(ns, filter, nil, skip, limit)
	return int64(len(recs)), err
}

func (s *Store) selectRecords(ns string, filter, sortSpec bson.D, skip, limit int64) ([]*record, error) {
	filter, err := canon(filter)
	if err != nil {
		return nil, err
	}
	m, err := Compile(filter)
	if err != nil {
		return nil, err
	}
	sorter, err := compileSort(sortSpec)
	if err != nil {
		return nil, err
	}
	if skip < 0 {
		return nil, errorf(CodeBadValue, "skip value must be non-negative, but received: %d", skip)
	}
	c := s.colls[ns]
	if c == nil {
		return nil, nil
	}
	var out []*record
	for _, r := range c.candidates(filter) {
		if m.Match(r.doc) {
			out = append(out, r)
		}
	}
	if sorter != nil {
		slices.SortStableFunc(out, func(a, b *record) int { return sorter(a.doc, b.doc) })
	}
	if skip >= int64(len(out)) {
		return nil, nil
	}
	out = out[skip:]
	if limit < 0 {
		limit = -limit
	}
	if limit > 0 && int64(len(out)) > limit {
		out = out[:limit]
	}
	return out, nil
}

// compileSort returns a comparison of two documents by the sort spec; nil means natural order.
func compileSort(spec bson.D) (func(a, b bson.D) int, error) {
	if len(spec) == 0 {
		return nil, nil
	}
	type key struct {
		path []string
		dir  int
	}
	var keys []key
	for _, e := range spec {
		if _, ok := e.Value.(bson.D); ok {
			return nil, notEmulated("sort by $meta")
		}
		f, ok := asFloat(e.Value)
		if !ok || (f != 1 && f != -1) {
			return nil, errorf(CodeBadValue, "$sort key ordering must be 1 (for ascending) or -1 (for descending)")
		}
		keys = append(keys, key{path: splitPath(e.Key), dir: int(f)})
	}
	return func(a, b bson.D) int {
		for _, k := range keys {
			if c := compareValues(sortValue(a, k.path, k.dir), sortValue(b, k.path, k.dir)) * k.dir; c != 0 {
				return c
			}
		}
		return 0
	}, nil
}

// sortValue is the value a document sorts by: for an array the least element ascending and the
// greatest descending, null when the field is missing.
func sortValue(doc bson.D, path []string, dir int) any {
	vals, _ := lookup(doc, path)
	var best any
	have := false
	consider := func(v any) {
		if !have || compareValues(v, best)*dir < 0 {
			best, have = v, true
		}
	}
	for _, v := range vals {
		if a, ok := v.(bson.A); ok {
			if len(a) == 0 {
				consider(bson.Undefined{})
			}
			for _, e := range a {
				consider(e)
			}
			continue
		}
		consider(v)
	}
	if !have {
		return nil
	}
	return best
}

// projection is an inclusion or exclusion tree over dotted paths.
type projection struct {
	include  bool
	idShown  bool
	children map[string]*projNode
}

type projNode struct {
	leaf     bool
	children map[string]*projNode
}

func compileProjection(spec bson.D) (*projection, error) {
	if len(spec) == 0 {
		return nil, nil
	}
	p := &projection{idShown: true, children: map[string]*projNode{}}
	mode := 0 // 1 inclusion, -1 exclusion
	for _, e := range spec {
		var on bool
		switch v := e.Value.(type) {
		case bool:
			on = v
		case bson.D:
			return nil, notEmulated("projection operator %s", firstKey(v))
		default:
			f, ok := asFloat(v)
			if !ok {
				return nil, notEmulated("projection expression for field %s", e.Key)
			}
			on = f != 0
		}
		if e.Key == "_id" {
			p.idShown = on
			continue
		}
		want := -1
		if on {
			want = 1
		}
		switch {
		case mode == 0:
			mode = want
		case mode != want && want == -1:
			return nil, errorf(CodeProjectionExclusion, "Cannot do exclusion on field %s in inclusion projection", e.Key)
		case mode != want:
			return nil, errorf(CodeProjectionInclusion, "Cannot do inclusion on field %s in exclusion projection", e.Key)
		}
		if err := p.add(e.Key); err != nil {
			return nil, err
		}
	}
	switch {
	case mode == 0 && !p.idShown:
		mode = -1 // {_id: 0} alone excludes _id and keeps the rest
	case mode == 0:
		mode = 1
	}
	p.include = mode == 1
	if !p.include && !p.idShown {
		p.children["_id"] = &projNode{leaf: true}
	}
	return p, nil
}

func firstKey(d bson.D) string {
	if len(d) == 0 {
		return ""
	}
	return d[0].Key
}

func (p *projection) add(path string) error {
	parts := splitPath(path)
	m := p.children
	for i, part := range parts {
		n := m[part]
		if n == nil {
			n = &projNode{}
			m[part] = n
		}
		if n.leaf || (i == len(parts)-1 && len(n.children) > 0) {
			return errorf(CodeProjectionPathCollision, "Path collision at %s", path)
		}
		if i == len(parts)-1 {
			n.leaf = true
			return nil
		}
		if n.children == nil {
			n.children = map[string]*projNode{}
		}
		m = n.children
	}
	return nil
}

func (p *projection) apply(doc bson.D) bson.D {
	if p.include {
		out := bson.D{}
		for _, e := range doc {
			if e.Key == "_id" {
				if p.idShown {
					out = append(out, e)
				}
				continue
			}
			n := p.children[e.Key]
			if n == nil {
				continue
			}
			if n.leaf {
				out = append(out, e)
			} else if v, ok := includeSub(e.Value, n.children); ok {
				out = append(out, bson.E{Key: e.Key, Value: v})
			}
		}
		return out
	}
	return excludeDoc(doc, p.children)
}

func includeSub(v any, children map[string]*projNode) (any, bool) {
	switch x := v.(type) {
	case bson.D:
		out := bson.D{}
		for _, e := range x {
			n := children[e.Key]
			if n == nil {
				continue
			}
			if n.leaf {
				out = append(out, e)
			} else if sv, ok := includeSub(e.Value, n.children); ok {
				out = append(out, bson.E{Key: e.Key, Value: sv})
			}
		}
		return out, true
	case bson.A:
		out := bson.A{}
		for _, el := range x {
			if sv, ok := includeSub(el, children); ok {
				out = append(out, sv)
			}
		}
		return out, true
	}
	return nil, false
}

func excludeDoc(doc bson.D, children map[string]*projNode) bson.D {
	out := bson.D{}
	for _, e := range doc {
		n := children[e.Key]
		switch {
		case n == nil:
			out = append(out, e)
		case n.leaf:
		default:
			out = append(out, bson.E{Key: e.Key, Value: excludeValue(e.Value, n.children)})
		}
	}
	return out
}

func excludeValue(v any, children map[string]*projNode) any {
	switch x := v.(type) {
	case bson.D:
		return excludeDoc(x, children)
	case bson.A:
		out := make(bson.A, len(x))
		for i, el := range x {
			out[i] = excludeValue(el, children)
		}
		return out
	}
	return v
}

// candidates narrows a scan to the one document a filter's top-level _id equality can match (the
// way Let's Chat and connect-mongo look up users and sessions); the matcher still decides.
func (c *collection) candidates(filter bson.D) []*record {
	for _, e := range filter {
		if e.Key != "_id" {
			continue
		}
		switch v := e.Value.(type) {
		case bson.D, bson.A, bson.Regex, nil, bson.Undefined:
			// Operators, arrays (element matching) and null (missing) need the scan.
		default:
			if i, ok := c.byID[keyOf(v)]; ok {
				return c.records[i : i+1]
			}
			return nil
		}
	}
	return c.records
}
