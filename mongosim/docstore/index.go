package docstore

import (
	"fmt"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// index is one index's definition; unique indexes also keep their entries (key → _id key).
type index struct {
	name    string
	key     bson.D
	unique  bool
	sparse  bool
	spec    bson.D // as listIndexes returns it
	entries map[string]string
}

func idIndex() *index {
	key := bson.D{{Key: "_id", Value: int32(1)}}
	return &index{
		name: "_id_", key: key, unique: true, entries: map[string]string{},
		spec: bson.D{{Key: "v", Value: int32(2)}, {Key: "key", Value: key}, {Key: "name", Value: "_id_"}},
	}
}

// CodeCannotIndexParallelArrays is mongod's refusal of a document with arrays in two fields of
// one compound index.
const CodeCannotIndexParallelArrays int32 = 171

func init() { CodeNames[CodeCannotIndexParallelArrays] = "CannotIndexParallelArrays" }

// checkParallelArrays refuses a document that has arrays in more than one field of a compound
// index, as mongod does (the index would need every combination of their elements).
func (c *collection) checkParallelArrays(doc bson.D) error {
	for _, ix := range c.indexes {
		if len(ix.key) < 2 || isTextIndex(ix.key) {
			continue
		}
		var arrays []string
		for _, k := range ix.key {
			vals, _ := lookup(doc, splitPath(k.Key))
			for _, v := range vals {
				if _, ok := v.(bson.A); ok {
					arrays = append(arrays, k.Key)
					break
				}
			}
		}
		if len(arrays) > 1 {
			return errorf(CodeCannotIndexParallelArrays, "cannot index parallel arrays [%s] [%s]", arrays[1], arrays[0])
		}
	}
	return nil
}

// indexKey is one key a document contributes to an index, encoded and as a document for errors.
type indexKey struct {
	key   string
	value bson.D
}

// keys lists the keys doc has in the index: one per element of an array field (a multikey
// index), null for a missing field; none for a sparse index when every field is missing.
func (ix *index) keys(doc bson.D) []indexKey {
	if ix.name == "_id_" {
		id, _ := getField(doc, "_id")
		return []indexKey{{key: keyOf(id), value: bson.D{{Key: "_id", Value: id}}}}
	}
	type fieldVals struct {
		name string
		vals []any
	}
	var fields []fieldVals
	present := false
	for _, k := range ix.key {
		vals, _ := lookup(doc, splitPath(k.Key))
		var leaves []any
		for _, v := range vals {
			if a, ok := v.(bson.A); ok {
				if len(a) == 0 {
					leaves = append(leaves, bson.Undefined{})
				}
				leaves = append(leaves, a...)
				continue
			}
			leaves = append(leaves, v)
		}
		if len(leaves) == 0 {
			leaves = []any{nil}
		} else {
			present = true
		}
		fields = append(fields, fieldVals{name: k.Key, vals: leaves})
	}
	if ix.sparse && !present {
		return nil
	}
	var out []indexKey
	var walk func(i int, acc bson.D)
	walk = func(i int, acc bson.D) {
		if i == len(fields) {
			var b strings.Builder
			for _, e := range acc {
				writeKey(&b, e.Value)
				b.WriteByte('|')
			}
			out = append(out, indexKey{key: b.String(), value: append(bson.D(nil), acc...)})
			return
		}
		seen := map[string]bool{}
		for _, v := range fields[i].vals {
			k := keyOf(v)
			if seen[k] {
				continue
			}
			seen[k] = true
			walk(i+1, append(acc, bson.E{Key: fields[i].name, Value: v}))
		}
	}
	walk(0, nil)
	return out
}

func dupKeyError(ns string, ix *index, value bson.D) *Error {
	// mongod prints the dup key with the index's field names and the offending values.
	shown := make(bson.D, len(value))
	copy(shown, value)
	return &Error{
		Code:       CodeDuplicateKey,
		Message:    fmt.Sprintf("E11000 duplicate key error collection: %s index: %s dup key: %s", ns, ix.name, formatDoc(shown)),
		KeyPattern: ix.key,
		KeyValue:   shown,
	}
}

// parseIndexSpec reads one createIndexes spec: key (required, non-empty) and name (derived from
// the key when absent), with unique and sparse honoured and other options kept for listIndexes.
func parseIndexSpec(spec bson.D) (*index, error) {
	ix := &index{entries: map[string]string{}}
	for _, e := range spec {
		switch e.Key {
		case "key":
			d, ok := e.Value.(bson.D)
			if !ok || len(d) == 0 {
				return nil, errorf(CodeBadValue, "index key must be a non-empty object")
			}
			for _, f := range d {
				if f.Key == "" {
					return nil, errorf(CodeBadValue, "index keys cannot be empty field names")
				}
				switch v := f.Value.(type) {
				case string:
					switch v {
					case "text", "2d", "2dsphere", "hashed", "geoHaystack":
					default:
						return nil, errorf(CodeBadValue, "Unknown index plugin '%s'", v)
					}
				default:
					if f, ok := asFloat(v); !ok || f == 0 {
						return nil, errorf(CodeBadValue, "Values in the index key pattern can only be numbers > 0, numbers < 0, or strings. Found: %s", formatValue(v))
					}
				}
			}
			ix.key = d
		case "name":
			s, ok := e.Value.(string)
			if !ok || s == "" {
				return nil, errorf(CodeBadValue, "The index name must be a non-empty string")
			}
			ix.name = s
		case "unique":
			ix.unique = truthy(e.Value)
		case "sparse":
			ix.sparse = truthy(e.Value)
		}
	}
	if ix.key == nil {
		return nil, errorf(CodeFailedToParse, "The 'key' field is a required property of an index specification")
	}
	if ix.name == "" {
		var parts []string
		for _, k := range ix.key {
			parts = append(parts, k.Key, strings.Trim(formatValue(k.Value), `"`))
		}
		ix.name = strings.Join(parts, "_")
	}
	if isTextIndex(ix.key) {
		ix.unique = false
	}
	ix.spec = bson.D{{Key: "v", Value: int32(2)}}
	if ix.unique {
		ix.spec = append(ix.spec, bson.E{Key: "unique", Value: true})
	}
	ix.spec = append(ix.spec, bson.E{Key: "key", Value: ix.key}, bson.E{Key: "name", Value: ix.name})
	for _, e := range spec {
		switch e.Key {
		case "key", "name", "unique", "v", "ns", "background":
		default:
			ix.spec = append(ix.spec, e)
		}
	}
	return ix, nil
}

func isTextIndex(key bson.D) bool {
	for _, k := range key {
		if s, ok := k.Value.(string); ok && s == "text" {
			return true
		}
	}
	return false
}

func (c *collection) findIndex(name string) *index {
	for _, ix := range c.indexes {
		if ix.name == name {
			return ix
		}
	}
	return nil
}

// addIndex adds ix and fills its entries from the current documents.
func (c *collection) addIndex(ix *index) {
	if old := c.findIndex(ix.name); old != nil {
		return
	}
	c.indexes = append(c.indexes, ix)
	if ix.unique {
		for _, r := range c.records {
			for _, k := range ix.keys(r.doc) {
				ix.entries[k.key] = r.id
			}
		}
	}
}

// sameOptions reports whether two specs of one key are the same index for mongod's purposes.
func sameOptions(a, b *index) bool { return a.unique == b.unique && a.sparse == b.sparse }
