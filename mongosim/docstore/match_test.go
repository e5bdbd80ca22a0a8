package docstore

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestMatch checks the matcher against examples of MongoDB's query documentation.
func TestMatch(t *testing.T) {
	cases := []struct {
		name, filter, doc string
		want              bool
	}{
		{"empty filter", `{}`, `{"a": 1}`, true},
		{"equality", `{"a": 1}`, `{"a": 1}`, true},
		{"equality across number types", `{"a": 1}`, `{"a": 1.0}`, true},
		{"equality long", `{"a": {"$numberLong": "7"}}`, `{"a": 7}`, true},
		{"inequality", `{"a": 1}`, `{"a": 2}`, false},
		{"string is not number", `{"a": "1"}`, `{"a": 1}`, false},
		{"missing field", `{"a": 1}`, `{"b": 1}`, false},
		{"array element", `{"tags": "red"}`, `{"tags": ["blue", "red"]}`, true},
		{"whole array", `{"tags": ["blue", "red"]}`, `{"tags": ["blue", "red"]}`, true},
		{"array order matters", `{"tags": ["red", "blue"]}`, `{"tags": ["blue", "red"]}`, false},
		{"nested array element", `{"a": [1, 2]}`, `{"a": [[1, 2], 3]}`, true},
		{"null matches missing", `{"a": null}`, `{"b": 1}`, true},
		{"null matches null", `{"a": null}`, `{"a": null}`, true},
		{"null not value", `{"a": null}`, `{"a": 0}`, false},
		{"document equality is ordered", `{"a": {"x": 1, "y": 2}}`, `{"a": {"y": 2, "x": 1}}`, false},
		{"document equality", `{"a": {"x": 1, "y": 2}}`, `{"a": {"x": 1, "y": 2}}`, true},
		{"dotted path", `{"a.b": 2}`, `{"a": {"b": 2}}`, true},
		{"dotted path through array of documents", `{"a.b": 2}`, `{"a": [{"b": 1}, {"b": 2}]}`, true},
		{"dotted path with index", `{"a.1": "y"}`, `{"a": ["x", "y"]}`, true},
		{"dotted path index of document array", `{"a.0.b": 1}`, `{"a": [{"b": 1}, {"b": 2}]}`, true},
		{"dotted null when one element lacks it", `{"a.b": null}`, `{"a": [{"b": 1}, {"c": 2}]}`, true},
		{"dotted null when all have it", `{"a.b": null}`, `{"a": [{"b": 1}, {"b": 2}]}`, false},
		{"$eq", `{"a": {"$eq": 3}}`, `{"a": [1, 3]}`, true},
		{"$ne", `{"a": {"$ne": 3}}`, `{"a": 4}`, true},
		{"$ne missing", `{"a": {"$ne": 3}}`, `{}`, true},
		{"$ne array containing", `{"a": {"$ne": 3}}`, `{"a": [1, 3]}`, false},
		{"$ne empty string", `{"password": {"$exists": true, "$ne": ""}}`, `{"password": ""}`, false},
		{"$ne empty string set", `{"password": {"$exists": true, "$ne": ""}}`, `{"password": "x"}`, true},
		{"$gt", `{"a": {"$gt": 5}}`, `{"a": 6}`, true},
		{"$gt equal", `{"a": {"$gt": 5}}`, `{"a": 5}`, false},
		{"$gte equal", `{"a": {"$gte": 5}}`, `{"a": 5.0}`, true},
		{"$lt", `{"a": {"$lt": 5}}`, `{"a": 4}`, true},
		{"$lte", `{"a": {"$lte": 5}}`, `{"a": 6}`, false},
		{"$gt type bracket", `{"a": {"$gt": 5}}`, `{"a": "6"}`, false},
		{"$gt string", `{"a": {"$gt": "b"}}`, `{"a": "c"}`, true},
		{"$gt array element", `{"a": {"$gt": 5}}`, `{"a": [1, 9]}`, true},
		{"$gt and $lt on different elements", `{"a": {"$gt": 5, "$lt": 8}}`, `{"a": [1, 9]}`, true},
		{"$gt missing", `{"a": {"$gt": 5}}`, `{}`, false},
		{"$gt dates", `{"d": {"$gt": {"$date": "2020-01-01T00:00:00Z"}}}`, `{"d": {"$date": "2021-01-01T00:00:00Z"}}`, true},
		{"$lte dates", `{"d": {"$lte": {"$date": "2020-01-01T00:00:00Z"}}}`, `{"d": {"$date": "2021-01-01T00:00:00Z"}}`, false},
		{"$gt ObjectId", `{"_id": {"$gt": {"$oid": "000000000000000000000001"}}}`, `{"_id": {"$oid": "000000000000000000000002"}}`, true},
		{"$gte null matches missing", `{"a": {"$gte": null}}`, `{}`, true},
		{"$in", `{"a": {"$in": [1, 2]}}`, `{"a": 2}`, true},
		{"$in none", `{"a": {"$in": [1, 2]}}`, `{"a": 3}`, false},
		{"$in array field", `{"a": {"$in": [5, 6]}}`, `{"a": [4, 5]}`, true},
		{"$in null matches missing", `{"a": {"$in": [null]}}`, `{}`, true},
		{"$in empty", `{"a": {"$in": []}}`, `{"a": 1}`, false},
		{"$in regex", `{"a": {"$in": [{"$regularExpression": {"pattern": "^x", "options": ""}}]}}`, `{"a": "xy"}`, true},
		{"$nin", `{"a": {"$nin": [1, 2]}}`, `{"a": 3}`, true},
		{"$nin missing", `{"a": {"$nin": [1, 2]}}`, `{}`, true},
		{"$nin hit", `{"a": {"$nin": [1, 2]}}`, `{"a": [2, 3]}`, false},
		{"$exists true", `{"a": {"$exists": true}}`, `{"a": null}`, true},
		{"$exists false", `{"a": {"$exists": false}}`, `{"b": 1}`, true},
		{"$exists false present", `{"a": {"$exists": false}}`, `{"a": 0}`, false},
		{"$exists dotted", `{"a.b": {"$exists": true}}`, `{"a": [{"c": 1}, {"b": 2}]}`, true},
		{"$or", `{"$or": [{"a": 1}, {"b": 2}]}`, `{"b": 2}`, true},
		{"$or none", `{"$or": [{"a": 1}, {"b": 2}]}`, `{"b": 3}`, false},
		{"$and", `{"$and": [{"a": 1}, {"b": 2}]}`, `{"a": 1, "b": 2}`, true},
		{"$and one fails", `{"$and": [{"a": 1}, {"b": 2}]}`, `{"a": 1}`, false},
		{"$nor", `{"$nor": [{"a": 1}, {"b": 2}]}`, `{"a": 3}`, true},
		{"implicit and", `{"a": 1, "b": 2}`, `{"a": 1, "b": 3}`, false},
		{"$regex", `{"a": {"$regularExpression": {"pattern": "^ab", "options": ""}}}`, `{"a": "abc"}`, true},
		{"$regex case", `{"a": {"$regularExpression": {"pattern": "^AB$", "options": "i"}}}`, `{"a": "ab"}`, true},
		{"$regex no case", `{"a": {"$regularExpression": {"pattern": "^AB$", "options": ""}}}`, `{"a": "ab"}`, false},
		{"$regex multiline", `{"a": {"$regularExpression": {"pattern": "^b", "options": "m"}}}`, `{"a": "a\nb"}`, true},
		{"$regex not multiline", `{"a": {"$regularExpression": {"pattern": "^b", "options": ""}}}`, `{"a": "a\nb"}`, false},
		{"$regex number", `{"a": {"$regularExpression": {"pattern": "1", "options": ""}}}`, `{"a": 1}`, false},
		{"$regex array", `{"a": {"$regularExpression": {"pattern": "^b", "options": ""}}}`, `{"a": ["a", "b"]}`, true},
		{"$not regex", `{"a": {"$not": {"$regularExpression": {"pattern": "^b", "options": ""}}}}`, `{"a": "abc"}`, true},
		{"$not operator", `{"a": {"$not": {"$gt": 5}}}`, `{"a": 3}`, true},
		{"$not missing", `{"a": {"$not": {"$gt": 5}}}`, `{}`, true},
		{"$all", `{"tags": {"$all": ["a", "b"]}}`, `{"tags": ["b", "c", "a"]}`, true},
		{"$all missing one", `{"tags": {"$all": ["a", "b"]}}`, `{"tags": ["a"]}`, false},
		{"$size", `{"a": {"$size": 2}}`, `{"a": [1, 2]}`, true},
		{"$size wrong", `{"a": {"$size": 2}}`, `{"a": [1]}`, false},
		{"$elemMatch values", `{"a": {"$elemMatch": {"$gte": 80, "$lt": 85}}}`, `{"a": [82, 90]}`, true},
		{"$elemMatch values none", `{"a": {"$elemMatch": {"$gte": 80, "$lt": 85}}}`, `{"a": [79, 90]}`, false},
		{"$elemMatch documents", `{"r": {"$elemMatch": {"p": "x", "s": {"$gt": 8}}}}`, `{"r": [{"p": "x", "s": 5}, {"p": "y", "s": 9}]}`, false},
		{"$elemMatch documents hit", `{"r": {"$elemMatch": {"p": "x", "s": {"$gt": 8}}}}`, `{"r": [{"p": "x", "s": 9}]}`, true},
		{"$mod", `{"a": {"$mod": [4, 0]}}`, `{"a": 8}`, true},
		{"$comment", `{"a": 1, "$comment": "why"}`, `{"a": 1}`, true},
		{"Let's Chat room list", `{"archived": {"$ne": true}, "$or": [{"private": {"$exists": false}}, {"private": false}, {"owner": "u1"}, {"participants": "u1"}, {"password": {"$exists": true, "$ne": ""}}]}`, `{"archived": false, "private": true, "participants": ["u2", "u1"]}`, true},
		{"Let's Chat room list archived", `{"archived": {"$ne": true}, "$or": [{"private": {"$exists": false}}, {"private": false}]}`, `{"archived": true}`, false},
		{"connect-mongo session", `{"_id": "s1", "$or": [{"expires": {"$exists": false}}, {"expires": {"$gt": {"$date": "2020-01-01T00:00:00Z"}}}]}`, `{"_id": "s1", "expires": {"$date": "2030-01-01T00:00:00Z"}}`, true},
		{"connect-mongo expired session", `{"_id": "s1", "$or": [{"expires": {"$exists": false}}, {"expires": {"$gt": {"$date": "2020-01-01T00:00:00Z"}}}]}`, `{"_id": "s1", "expires": {"$date": "2019-01-01T00:00:00Z"}}`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Compile(j(t, tc.filter))
			if err != nil {
				t.Fatalf("compile %s: %v", tc.filter, err)
			}
			if got := m.Match(j(t, tc.doc)); got != tc.want {
				t.Fatalf("%s matches %s = %v, want %v", tc.filter, tc.doc, got, tc.want)
			}
		})
	}
}

// TestMatchOperatorsBuiltInGo covers what Extended JSON cannot spell: $regex with $options as
// operators, and $type.
func TestMatchOperatorsBuiltInGo(t *testing.T) {
	cases := []struct {
		name   string
		filter bson.D
		doc    bson.D
		want   bool
	}{
		{"$regex string with $options", bson.D{{Key: "u", Value: bson.D{{Key: "$regex", Value: "^BOB$"}, {Key: "$options", Value: "i"}}}}, bson.D{{Key: "u", Value: "bob"}}, true},
		{"$regex without options", bson.D{{Key: "u", Value: bson.D{{Key: "$regex", Value: "^BOB$"}}}}, bson.D{{Key: "u", Value: "bob"}}, false},
		{"$type string", bson.D{{Key: "a", Value: bson.D{{Key: "$type", Value: "string"}}}}, bson.D{{Key: "a", Value: "x"}}, true},
		{"$type number", bson.D{{Key: "a", Value: bson.D{{Key: "$type", Value: "number"}}}}, bson.D{{Key: "a", Value: int64(1)}}, true},
		{"$type code", bson.D{{Key: "a", Value: bson.D{{Key: "$type", Value: int32(16)}}}}, bson.D{{Key: "a", Value: 1.5}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Compile(tc.filter)
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Match(tc.doc); got != tc.want {
				t.Fatalf("match = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMatchErrors(t *testing.T) {
	cases := []struct {
		name, filter string
		code         int32
	}{
		{"unknown top level", `{"$foo": 1}`, CodeBadValue},
		{"unknown operator", `{"a": {"$foo": 1}}`, CodeBadValue},
		{"$or not array", `{"$or": {"a": 1}}`, CodeBadValue},
		{"$or empty", `{"$or": []}`, CodeBadValue},
		{"$in not array", `{"a": {"$in": 1}}`, CodeBadValue},
		{"$text not emulated", `{"$text": {"$search": "x"}}`, CodeBadValue},
		{"$where not emulated", `{"$where": "true"}`, CodeBadValue},
		{"bad regex", `{"a": {"$regularExpression": {"pattern": "(", "options": ""}}}`, CodeInvalidRegex},
		{"$size negative", `{"a": {"$size": -1}}`, CodeBadValue},
		{"$mod by zero", `{"a": {"$mod": [0, 1]}}`, CodeBadValue},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(j(t, tc.filter))
			if codeOf(err) != tc.code {
				t.Fatalf("Compile(%s) = %v, want code %d", tc.filter, err, tc.code)
			}
		})
	}
}

func TestCompareOrder(t *testing.T) {
	// MongoDB's documented comparison order, lowest first.
	order := []any{
		bson.MinKey{}, nil, int32(1), 2.5, int64(3), "a", "b", bson.D{{Key: "a", Value: 1}},
		bson.A{1}, bson.Binary{Data: []byte{1}}, bson.ObjectID{1}, false, true,
		bson.DateTime(1), bson.Timestamp{T: 1}, bson.Regex{Pattern: "a"}, bson.MaxKey{},
	}
	for i := range order {
		for k := range order {
			got := compareValues(order[i], order[k])
			want := 0
			if i < k {
				want = -1
			} else if i > k {
				want = 1
			}
			if got != want {
				t.Errorf("compare(%v, %v) = %d, want %d", order[i], order[k], got, want)
			}
		}
	}
	if keyOf(int32(1)) != keyOf(1.0) || keyOf(int64(1)) != keyOf(int32(1)) || keyOf("1") == keyOf(int32(1)) {
		t.Error("keyOf must equate numerically equal values only")
	}
}
