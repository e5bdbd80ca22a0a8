package docstore

import (
	"math"
	"regexp"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Matcher is a compiled query filter.
type Matcher struct {
	root cond
}

// cond is one node of a compiled filter, evaluated against a whole document.
type cond interface {
	match(doc bson.D) bool
}

type andCond []cond
type orCond []cond
type norCond []cond

func (c andCond) match(d bson.D) bool {
	for _, x := range c {
		if !x.match(d) {
			return false
		}
	}
	return true
}

func (c orCond) match(d bson.D) bool {
	for _, x := range c {
		if x.match(d) {
			return true
		}
	}
	return false
}

func (c norCond) match(d bson.D) bool { return !orCond(c).match(d) }

// fieldCond applies a value test to whatever a dotted path reaches in the document.
type fieldCond struct {
	path []string
	test valueTest
}

func (c fieldCond) match(d bson.D) bool {
	vals, missing := lookup(d, c.path)
	return c.test(vals, missing)
}

// valueTest decides on the values found at a path (see lookup).
type valueTest func(vals []any, missing bool) bool

// Compile parses a filter document. An empty or nil filter matches every document.
func Compile(filter bson.D) (*Matcher, error) {
	filter, err := canon(filter)
	if err != nil {
		return nil, err
	}
	c, err := compileFilter(filter)
	if err != nil {
		return nil, err
	}
	return &Matcher{root: c}, nil
}

// CompileRaw is Compile for a filter straight off the wire.
func CompileRaw(filter bson.Raw) (*Matcher, error) {
	if len(filter) == 0 {
		return Compile(nil)
	}
	d, err := decodeDoc(filter)
	if err != nil {
		return nil, err
	}
	return Compile(d)
}

// Match reports whether doc matches.
func (m *Matcher) Match(doc bson.D) bool { return m.root.match(doc) }

func compileFilter(filter bson.D) (cond, error) {
	var all andCond
	for _, e := range filter {
		if strings.HasPrefix(e.Key, "$") {
			c, err := compileTopLevel(e)
			if err != nil {
				return nil, err
			}
			if c != nil {
				all = append(all, c)
			}
			continue
		}
		c, err := compileField(e.Key, e.Value)
		if err != nil {
			return nil, err
		}
		all = append(all, c)
	}
	return all, nil
}

func compileTopLevel(e bson.E) (cond, error) {
	switch e.Key {
	case "$and", "$or", "$nor":
		arr, ok := e.Value.(bson.A)
		if !ok {
			return nil, errorf(CodeBadValue, "%s must be an array", e.Key)
		}
		if len(arr) == 0 {
			return nil, errorf(CodeBadValue, "$and/$or/$nor must be a nonempty array")
		}
		var subs []cond
		for _, x := range arr {
			d, ok := x.(bson.D)
			if !ok {
				return nil, errorf(CodeBadValue, "$or/$and/$nor entries need to be full objects")
			}
			c, err := compileFilter(d)
			if err != nil {
				return nil, err
			}
			subs = append(subs, c)
		}
		switch e.Key {
		case "$and":
			return andCond(subs), nil
		case "$or":
			return orCond(subs), nil
		}
		return norCond(subs), nil
	case "$comment":
		return nil, nil
	case "$text", "$where", "$expr", "$jsonSchema", "$sampleRate":
		return nil, notEmulated("%s", e.Key)
	}
	return nil, errorf(CodeBadValue, "unknown top level operator: %s", e.Key)
}

// isOperatorDoc reports whether v is {$op: …}: a document whose first field starts with '$'.
func isOperatorDoc(v any) (bson.D, bool) {
	d, ok := v.(bson.D)
	if !ok || len(d) == 0 || !strings.HasPrefix(d[0].Key, "$") {
		return nil, false
	}
	return d, true
}

func compileField(field string, v any) (cond, error) {
	path := splitPath(field)
	test, err := compileValueSpec(v)
	if err != nil {
		return nil, err
	}
	return fieldCond{path: path, test: test}, nil
}

// compileValueSpec compiles what a field is matched against: an operator document, a regular
// expression, or a value for equality.
func compileValueSpec(v any) (valueTest, error) {
	if ops, ok := isOperatorDoc(v); ok {
		return compileOperators(ops)
	}
	if re, ok := v.(bson.Regex); ok {
		return regexTest(re.Pattern, re.Options)
	}
	return eqTest(v), nil
}

func compileOperators(ops bson.D) (valueTest, error) {
	var tests []valueTest
	regexOpts, haveRegex := "", false
	var regexPattern any
	for _, op := range ops {
		switch op.Key {
		case "$regex":
			regexPattern, haveRegex = op.Value, true
			continue
		case "$options":
			s, ok := op.Value.(string)
			if !ok {
				return nil, errorf(CodeBadValue, "$options has to be a string")
			}
			regexOpts = s
			continue
		}
		t, err := compileOperator(op.Key, op.Value)
		if err != nil {
			return nil, err
		}
		tests = append(tests, t)
	}
	if regexOpts != "" && !haveRegex {
		return nil, errorf(CodeBadValue, "$options needs a $regex")
	}
	if haveRegex {
		var t valueTest
		var err error
		switch p := regexPattern.(type) {
		case string:
			t, err = regexTest(p, regexOpts)
		case bson.Regex:
			opts := p.Options
			if regexOpts != "" {
				opts = regexOpts
			}
			t, err = regexTest(p.Pattern, opts)
		default:
			return nil, errorf(CodeBadValue, "$regex has to be a string")
		}
		if err != nil {
			return nil, err
		}
		tests = append(tests, t)
	}
	return func(vals []any, missing bool) bool {
		for _, t := range tests {
			if !t(vals, missing) {
				return false
			}
		}
		return true
	}, nil
}

func compileOperator(name string, arg any) (valueTest, error) {
	switch name {
	case "$eq":
		return eqTest(arg), nil
	case "$ne":
		t := eqTest(arg)
		return func(vals []any, missing bool) bool { return !t(vals, missing) }, nil
	case "$gt", "$gte", "$lt", "$lte":
		if _, ok := arg.(bson.Regex); ok {
			return nil, errorf(CodeBadValue, "Can't have RegEx as arg to predicate over field")
		}
		return cmpTest(name, arg), nil
	case "$in", "$nin":
		arr, ok := arg.(bson.A)
		if !ok {
			return nil, errorf(CodeBadValue, "%s needs an array", name)
		}
		t, err := inTest(arr)
		if err != nil {
			return nil, err
		}
		if name == "$nin" {
			return func(vals []any, missing bool) bool { return !t(vals, missing) }, nil
		}
		return t, nil
	case "$exists":
		want := truthy(arg)
		return func(vals []any, _ bool) bool { return (len(vals) > 0) == want }, nil
	case "$not":
		var inner valueTest
		var err error
		switch x := arg.(type) {
		case bson.Regex:
			inner, err = regexTest(x.Pattern, x.Options)
		case bson.D:
			if _, ok := isOperatorDoc(x); !ok {
				return nil, errorf(CodeBadValue, "$not needs a regex or a document")
			}
			inner, err = compileOperators(x)
		default:
			return nil, errorf(CodeBadValue, "$not needs a regex or a document")
		}
		if err != nil {
			return nil, err
		}
		return func(vals []any, missing bool) bool { return !inner(vals, missing) }, nil
	case "$size":
		n, ok := wholeNumber(arg)
		if !ok || n < 0 {
			return nil, errorf(CodeBadValue, "$size needs a non-negative whole number")
		}
		return func(vals []any, _ bool) bool {
			for _, v := range vals {
				if a, ok := v.(bson.A); ok && int64(len(a)) == n {
					return true
				}
			}
			return false
		}, nil
	case "$all":
		arr, ok := arg.(bson.A)
		if !ok {
			return nil, errorf(CodeBadValue, "$all needs an array")
		}
		var parts []valueTest
		for _, x := range arr {
			if d, ok := isOperatorDoc(x); ok && d[0].Key == "$elemMatch" {
				t, err := compileOperator("$elemMatch", d[0].Value)
				if err != nil {
					return nil, err
				}
				parts = append(parts, t)
				continue
			}
			if re, ok := x.(bson.Regex); ok {
				t, err := regexTest(re.Pattern, re.Options)
				if err != nil {
					return nil, err
				}
				parts = append(parts, t)
				continue
			}
			parts = append(parts, eqTest(x))
		}
		return func(vals []any, missing bool) bool {
			if len(parts) == 0 {
				return false
			}
			for _, t := range parts {
				if !t(vals, missing) {
					return false
				}
			}
			return true
		}, nil
	case "$elemMatch":
		d, ok := arg.(bson.D)
		if !ok {
			return nil, errorf(CodeBadValue, "$elemMatch needs an Object")
		}
		return elemMatchTest(d)
	case "$type":
		return typeTest(arg)
	case "$mod":
		arr, ok := arg.(bson.A)
		if !ok || len(arr) != 2 {
			return nil, errorf(CodeBadValue, "malformed mod, needs to be an array of 2 numbers")
		}
		div, ok1 := wholeNumber(arr[0])
		rem, ok2 := wholeNumber(arr[1])
		if !ok1 || !ok2 {
			return nil, errorf(CodeBadValue, "malformed mod, divisor and remainder must be numbers")
		}
		if div == 0 {
			return nil, errorf(CodeBadValue, "divisor cannot be 0")
		}
		return anyLeafTest(func(v any) bool {
			f, ok := asFloat(v)
			if !ok || math.IsNaN(f) || math.IsInf(f, 0) {
				return false
			}
			return int64(f)%div == rem
		}), nil
	case "$regex", "$options":
		return compileOperators(bson.D{{Key: name, Value: arg}})
	case "$text", "$near", "$nearSphere", "$geoWithin", "$geoIntersects", "$where", "$expr", "$bitsAllSet", "$bitsAnySet", "$bitsAllClear", "$bitsAnyClear", "$jsonSchema":
		return nil, notEmulated("%s", name)
	}
	return nil, errorf(CodeBadValue, "unknown operator: %s", name)
}

func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case nil, bson.Undefined:
		return false
	}
	if f, ok := asFloat(v); ok {
		return f != 0
	}
	return true
}

// anyLeafTest holds when f holds for a value or, for an array value, for one of its elements.
func anyLeafTest(f func(any) bool) valueTest {
	return func(vals []any, _ bool) bool {
		for _, v := range vals {
			if f(v) {
				return true
			}
			if a, ok := v.(bson.A); ok {
				for _, e := range a {
					if f(e) {
						return true
					}
				}
			}
		}
		return false
	}
}

// eqTest is MongoDB's equality: a value, an element of an array value, or the whole array; null
// also matches a missing field.
func eqTest(want any) valueTest {
	leaf := anyLeafTest(func(v any) bool { return equalValues(v, want) })
	if isNull(want) {
		return func(vals []any, missing bool) bool { return missing || len(vals) == 0 || leaf(vals, missing) }
	}
	return leaf
}

// cmpTest compares within one type bracket only: {$gt: 5} never matches a string.
func cmpTest(op string, arg any) valueTest {
	ok := func(c int) bool {
		switch op {
		case "$gt":
			return c > 0
		case "$gte":
			return c >= 0
		case "$lt":
			return c < 0
		}
		return c <= 0
	}
	leaf := anyLeafTest(func(v any) bool {
		tv, ta := typeOrder(v), typeOrder(arg)
		if tv != ta && !isMinMaxKey(arg) {
			return false
		}
		return ok(compareValues(v, arg))
	})
	if isNull(arg) && (op == "$gte" || op == "$lte") {
		return eqTest(nil)
	}
	return leaf
}

func isMinMaxKey(v any) bool {
	switch v.(type) {
	case bson.MinKey, bson.MaxKey:
		return true
	}
	return false
}

func inTest(list bson.A) (valueTest, error) {
	var tests []valueTest
	for _, x := range list {
		if re, ok := x.(bson.Regex); ok {
			t, err := regexTest(re.Pattern, re.Options)
			if err != nil {
				return nil, err
			}
			tests = append(tests, t)
			continue
		}
		if _, ok := isOperatorDoc(x); ok {
			return nil, errorf(CodeBadValue, "cannot nest $ under $in")
		}
		tests = append(tests, eqTest(x))
	}
	return func(vals []any, missing bool) bool {
		for _, t := range tests {
			if t(vals, missing) {
				return true
			}
		}
		return false
	}, nil
}

// compileRegex translates MongoDB's (PCRE) options to Go's RE2 flags; the patterns clients use
// (anchors, classes, alternation) mean the same in both.
func compileRegex(pattern, opts string) (*regexp.Regexp, error) {
	flags := ""
	for _, o := range opts {
		switch o {
		case 'i', 'm', 's':
			if !strings.ContainsRune(flags, o) {
				flags += string(o)
			}
		case 'u':
		case 'x':
			return nil, notEmulated("regular expression option x")
		default:
			return nil, errorf(CodeInvalidRegex, "invalid flag in regex options: %c", o)
		}
	}
	if flags != "" {
		pattern = "(?" + flags + ")" + pattern
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, errorf(CodeInvalidRegex, "Regular expression is invalid: %v", err)
	}
	return re, nil
}

func regexTest(pattern, opts string) (valueTest, error) {
	re, err := compileRegex(pattern, opts)
	if err != nil {
		return nil, err
	}
	return anyLeafTest(func(v any) bool {
		switch x := v.(type) {
		case string:
			return re.MatchString(x)
		case bson.Symbol:
			return re.MatchString(string(x))
		case bson.Regex:
			return x.Pattern == pattern && x.Options == opts
		}
		return false
	}), nil
}

// elemMatchTest: some array value has an element matching the sub-filter. A sub-filter of
// operators ({$gt: 1}) applies to the element itself; otherwise the element must be a document
// matching it as a query.
func elemMatchTest(spec bson.D) (valueTest, error) {
	var elem func(any) bool
	if ops, ok := isOperatorDoc(spec); ok && ops[0].Key != "$and" && ops[0].Key != "$or" && ops[0].Key != "$nor" {
		t, err := compileOperators(ops)
		if err != nil {
			return nil, err
		}
		elem = func(e any) bool { return t([]any{e}, false) }
	} else {
		c, err := compileFilter(spec)
		if err != nil {
			return nil, err
		}
		elem = func(e any) bool {
			d, ok := e.(bson.D)
			return ok && c.match(d)
		}
	}
	return func(vals []any, _ bool) bool {
		for _, v := range vals {
			a, ok := v.(bson.A)
			if !ok {
				continue
			}
			for _, e := range a {
				if elem(e) {
					return true
				}
			}
		}
		return false
	}, nil
}

var typeAliases = map[string]int32{
	"double": 1, "string": 2, "object": 3, "array": 4, "binData": 5, "undefined": 6,
	"objectId": 7, "bool": 8, "date": 9, "null": 10, "regex": 11, "dbPointer": 12,
	"javascript": 13, "symbol": 14, "int": 16, "timestamp": 17, "long": 18, "decimal": 19,
	"minKey": -1, "maxKey": 127,
}

func bsonTypeNumber(v any) int32 {
	switch v.(type) {
	case float64:
		return 1
	case string:
		return 2
	case bson.D:
		return 3
	case bson.A:
		return 4
	case bson.Binary:
		return 5
	case bson.Undefined:
		return 6
	case bson.ObjectID:
		return 7
	case bool:
		return 8
	case bson.DateTime:
		return 9
	case nil:
		return 10
	case bson.Regex:
		return 11
	case bson.DBPointer:
		return 12
	case bson.JavaScript:
		return 13
	case bson.Symbol:
		return 14
	case bson.CodeWithScope:
		return 15
	case int32:
		return 16
	case bson.Timestamp:
		return 17
	case int64:
		return 18
	case bson.Decimal128:
		return 19
	case bson.MinKey:
		return -1
	case bson.MaxKey:
		return 127
	}
	return 0
}

func typeTest(arg any) (valueTest, error) {
	var wanted []any
	if a, ok := arg.(bson.A); ok {
		wanted = a
	} else {
		wanted = []any{arg}
	}
	number := false
	codes := map[int32]bool{}
	for _, w := range wanted {
		switch x := w.(type) {
		case string:
			if x == "number" {
				number = true
				continue
			}
			c, ok := typeAliases[x]
			if !ok {
				return nil, errorf(CodeBadValue, "Unknown type name alias: %s", x)
			}
			codes[c] = true
		default:
			n, ok := wholeNumber(w)
			if !ok {
				return nil, errorf(CodeTypeMismatch, "type must be represented as a number or a string")
			}
			codes[int32(n)] = true
		}
	}
	has := func(v any) bool { return codes[bsonTypeNumber(v)] || number && isNumber(v) }
	return func(vals []any, _ bool) bool {
		for _, v := range vals {
			if has(v) {
				return true
			}
			if a, ok := v.(bson.A); ok {
				for _, e := range a {
					if has(e) {
						return true
					}
				}
			}
		}
		return false
	}, nil
}
