package docstore

import (
	"bytes"
	"cmp"
	"math"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Values inside docstore are what bson.Unmarshal produces for a bson.D: bson.D for documents,
// bson.A for arrays, nil for null, and the driver's scalar types.

// typeOrder is MongoDB's comparison order of BSON types: values of different types compare by
// this rank alone; numbers of any kind share one rank, as do strings and symbols.
func typeOrder(v any) int {
	switch v.(type) {
	case bson.MinKey:
		return 1
	case nil, bson.Undefined:
		return 2
	case int32, int64, float64, bson.Decimal128:
		return 3
	case string, bson.Symbol:
		return 4
	case bson.D:
		return 5
	case bson.A:
		return 6
	case bson.Binary:
		return 7
	case bson.ObjectID:
		return 8
	case bool:
		return 9
	case bson.DateTime:
		return 10
	case bson.Timestamp:
		return 11
	case bson.Regex:
		return 12
	case bson.DBPointer:
		return 13
	case bson.JavaScript:
		return 14
	case bson.CodeWithScope:
		return 15
	case bson.MaxKey:
		return 17
	}
	return 16
}

func isNumber(v any) bool { return typeOrder(v) == 3 }

func isNull(v any) bool { return typeOrder(v) == 2 }

// asInt64 returns an integral BSON number (int32 or int64) as int64.
func asInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int32:
		return int64(x), true
	case int64:
		return x, true
	}
	return 0, false
}

// asFloat returns any BSON number as float64 (decimals approximately).
func asFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int32:
		return float64(x), true
	case int64:
		return float64(x), true
	case float64:
		return x, true
	case bson.Decimal128:
		f, err := strconv.ParseFloat(x.String(), 64)
		if err != nil {
			return math.NaN(), true
		}
		return f, true
	}
	return 0, false
}

// wholeNumber returns a number that is an integer as int64 (for $size, $mod, $slice, $pop).
func wholeNumber(v any) (int64, bool) {
	if i, ok := asInt64(v); ok {
		return i, true
	}
	f, ok := asFloat(v)
	if !ok || f != math.Trunc(f) || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return int64(f), true
}

func compareNumbers(a, b any) int {
	ai, aok := asInt64(a)
	bi, bok := asInt64(b)
	if aok && bok {
		return cmp.Compare(ai, bi)
	}
	af, _ := asFloat(a)
	bf, _ := asFloat(b)
	// NaN sorts below every other number and equals itself, as in MongoDB.
	switch an, bn := math.IsNaN(af), math.IsNaN(bf); {
	case an && bn:
		return 0
	case an:
		return -1
	case bn:
		return 1
	}
	return cmp.Compare(af, bf)
}

// compareValues orders two values as MongoDB does (no collation).
func compareValues(a, b any) int {
	ta, tb := typeOrder(a), typeOrder(b)
	if ta != tb {
		return cmp.Compare(ta, tb)
	}
	switch x := a.(type) {
	case nil, bson.Undefined, bson.MinKey, bson.MaxKey:
		return 0
	case int32, int64, float64, bson.Decimal128:
		return compareNumbers(a, b)
	case string:
		return strings.Compare(x, stringOf(b))
	case bson.Symbol:
		return strings.Compare(string(x), stringOf(b))
	case bson.D:
		return compareDocs(x, b.(bson.D))
	case bson.A:
		y := b.(bson.A)
		for i := 0; i < len(x) && i < len(y); i++ {
			if c := compareValues(x[i], y[i]); c != 0 {
				return c
			}
		}
		return cmp.Compare(len(x), len(y))
	case bson.Binary:
		y := b.(bson.Binary)
		if c := cmp.Compare(len(x.Data), len(y.Data)); c != 0 {
			return c
		}
		if c := cmp.Compare(x.Subtype, y.Subtype); c != 0 {
			return c
		}
		return bytes.Compare(x.Data, y.Data)
	case bson.ObjectID:
		y := b.(bson.ObjectID)
		return bytes.Compare(x[:], y[:])
	case bool:
		y := b.(bool)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	case bson.DateTime:
		return cmp.Compare(x, b.(bson.DateTime))
	case bson.Timestamp:
		y := b.(bson.Timestamp)
		if c := cmp.Compare(x.T, y.T); c != 0 {
			return c
		}
		return cmp.Compare(x.I, y.I)
	case bson.Regex:
		y := b.(bson.Regex)
		if c := strings.Compare(x.Pattern, y.Pattern); c != 0 {
			return c
		}
		return strings.Compare(x.Options, y.Options)
	case bson.JavaScript:
		return strings.Compare(string(x), string(b.(bson.JavaScript)))
	case bson.DBPointer:
		y := b.(bson.DBPointer)
		if c := strings.Compare(x.DB, y.DB); c != 0 {
			return c
		}
		return bytes.Compare(x.Pointer[:], y.Pointer[:])
	}
	return strings.Compare(formatValue(a), formatValue(b))
}

func stringOf(v any) string {
	if s, ok := v.(bson.Symbol); ok {
		return string(s)
	}
	s, _ := v.(string)
	return s
}

// compareDocs compares field by field: the values' type rank, then the field name, then the value.
func compareDocs(x, y bson.D) int {
	for i := 0; i < len(x) && i < len(y); i++ {
		if c := cmp.Compare(typeOrder(x[i].Value), typeOrder(y[i].Value)); c != 0 {
			return c
		}
		if c := strings.Compare(x[i].Key, y[i].Key); c != 0 {
			return c
		}
		if c := compareValues(x[i].Value, y[i].Value); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(x), len(y))
}

func equalValues(a, b any) bool { return compareValues(a, b) == 0 }

// keyOf encodes a value so that values MongoDB considers equal (1, 1.0 and NumberLong(1)) get the
// same string: it keys the _id map and unique indexes.
func keyOf(v any) string {
	var b strings.Builder
	writeKey(&b, v)
	return b.String()
}

func writeKey(b *strings.Builder, v any) {
	b.WriteString(strconv.Itoa(typeOrder(v)))
	b.WriteByte(':')
	switch x := v.(type) {
	case int32, int64, float64, bson.Decimal128:
		if i, ok := wholeNumber(x); ok {
			b.WriteString(strconv.FormatInt(i, 10))
		} else {
			f, _ := asFloat(x)
			b.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
		}
	case bson.D:
		b.WriteByte('{')
		for _, e := range x {
			b.WriteString(strconv.Quote(e.Key))
			writeKey(b, e.Value)
			b.WriteByte(',')
		}
		b.WriteByte('}')
	case bson.A:
		b.WriteByte('[')
		for _, e := range x {
			writeKey(b, e)
			b.WriteByte(',')
		}
		b.WriteByte(']')
	case string:
		b.WriteString(strconv.Quote(x))
	case bson.Symbol:
		b.WriteString(strconv.Quote(string(x)))
	default:
		b.WriteString(formatValue(x))
	}
}

// formatValue renders a value the way mongod prints one in error messages (E11000's dup key).
func formatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bson.Undefined:
		return "undefined"
	case string:
		return strconv.Quote(x)
	case bson.Symbol:
		return strconv.Quote(string(x))
	case int32:
		return strconv.FormatInt(int64(x), 10)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bson.Decimal128:
		return "NumberDecimal(\"" + x.String() + "\")"
	case bool:
		return strconv.FormatBool(x)
	case bson.ObjectID:
		return "ObjectId('" + x.Hex() + "')"
	case bson.DateTime:
		return "new Date(" + strconv.FormatInt(int64(x), 10) + ")"
	case bson.Timestamp:
		return "Timestamp(" + strconv.FormatUint(uint64(x.T), 10) + ", " + strconv.FormatUint(uint64(x.I), 10) + ")"
	case bson.Regex:
		return "/" + x.Pattern + "/" + x.Options
	case bson.Binary:
		return "BinData(" + strconv.Itoa(int(x.Subtype)) + ", " + strconv.Itoa(len(x.Data)) + " bytes)"
	case bson.MinKey:
		return "MinKey"
	case bson.MaxKey:
		return "MaxKey"
	case bson.D:
		return formatDoc(x)
	case bson.A:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = formatValue(e)
		}
		return "[ " + strings.Join(parts, ", ") + " ]"
	}
	return "?"
}

func formatDoc(d bson.D) string {
	if len(d) == 0 {
		return "{}"
	}
	parts := make([]string, len(d))
	for i, e := range d {
		parts[i] = e.Key + ": " + formatValue(e.Value)
	}
	return "{ " + strings.Join(parts, ", ") + " }"
}

// deepCopy copies documents and arrays so that an update never writes into a stored document.
func deepCopy(v any) any {
	switch x := v.(type) {
	case bson.D:
		out := make(bson.D, len(x))
		for i, e := range x {
			out[i] = bson.E{Key: e.Key, Value: deepCopy(e.Value)}
		}
		return out
	case bson.A:
		out := make(bson.A, len(x))
		for i, e := range x {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}

func getField(d bson.D, key string) (any, bool) {
	for _, e := range d {
		if e.Key == key {
			return e.Value, true
		}
	}
	return nil, false
}

// setField replaces the field's value in place, or appends the field.
func setField(d bson.D, key string, v any) bson.D {
	for i := range d {
		if d[i].Key == key {
			d[i].Value = v
			return d
		}
	}
	return append(d, bson.E{Key: key, Value: v})
}

func removeField(d bson.D, key string) bson.D {
	for i := range d {
		if d[i].Key == key {
			return append(d[:i:i], d[i+1:]...)
		}
	}
	return d
}

// arrayIndex parses a path component as an array index: digits only, as MongoDB reads them.
func arrayIndex(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// lookup collects the values at a dotted path, descending into arrays as MongoDB's matcher does:
// a numeric component indexes an array, and any component also reaches into every document
// element of an array. missing reports that some branch ended without a value.
func lookup(v any, path []string) (vals []any, missing bool) {
	collect(v, path, &vals, &missing)
	return vals, missing
}

func collect(v any, path []string, out *[]any, missing *bool) {
	if len(path) == 0 {
		*out = append(*out, v)
		return
	}
	switch x := v.(type) {
	case bson.D:
		f, ok := getField(x, path[0])
		if !ok {
			*missing = true
			return
		}
		collect(f, path[1:], out, missing)
	case bson.A:
		before := len(*out)
		if i, ok := arrayIndex(path[0]); ok && i < len(x) {
			collect(x[i], path[1:], out, missing)
		}
		for _, el := range x {
			if d, ok := el.(bson.D); ok {
				collect(d, path, out, missing)
			} else {
				*missing = true
			}
		}
		if len(*out) == before {
			*missing = true
		}
	default:
		*missing = true
	}
}

func splitPath(p string) []string { return strings.Split(p, ".") }

// marshalDoc encodes a document; the values come from decoded BSON, so this cannot fail for
// them, but an error is still reported rather than ignored.
func marshalDoc(d bson.D) (bson.Raw, error) {
	b, err := bson.Marshal(d)
	if err != nil {
		return nil, errorf(CodeBadValue, "cannot encode document: %v", err)
	}
	return b, nil
}

// canon re-encodes a document given by a Go caller, so that its values have the types docstore
// works on (an int becomes int32 or int64, a bson.M a bson.D, and so on).
func canon(d bson.D) (bson.D, error) {
	if d == nil {
		return nil, nil
	}
	raw, err := bson.Marshal(d)
	if err != nil {
		return nil, errorf(CodeBadValue, "cannot encode document: %v", err)
	}
	return decodeDoc(raw)
}

// canonAll is canon for several documents at once.
func canonAll(ds ...*bson.D) error {
	for _, d := range ds {
		c, err := canon(*d)
		if err != nil {
			return err
		}
		*d = c
	}
	return nil
}

// decodeDoc decodes raw BSON into the representation docstore works on.
func decodeDoc(raw bson.Raw) (bson.D, error) {
	var d bson.D
	if err := bson.Unmarshal(raw, &d); err != nil {
		return nil, errorf(CodeBadValue, "cannot decode document: %v", err)
	}
	if d == nil {
		d = bson.D{}
	}
	return d, nil
}
