package docstore

import (
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestUpdateOperators applies one update to one document and compares the result with what the
// MongoDB manual shows for each operator.
func TestUpdateOperators(t *testing.T) {
	cases := []struct {
		name, doc, update, want string
		code                    int32
	}{
		{"$set existing keeps position", `{"_id": 1, "a": 1, "b": 2}`, `{"$set": {"a": 5}}`, `{"_id": 1, "a": 5, "b": 2}`, 0},
		{"$set new field appended", `{"_id": 1, "a": 1}`, `{"$set": {"c": 3}}`, `{"_id": 1, "a": 1, "c": 3}`, 0},
		{"$set fields in lexicographic order", `{"_id": 1}`, `{"$set": {"b": 2, "a": 1}}`, `{"_id": 1, "a": 1, "b": 2}`, 0},
		{"$set dotted creates documents", `{"_id": 1}`, `{"$set": {"a.b.c": 1}}`, `{"_id": 1, "a": {"b": {"c": 1}}}`, 0},
		{"$set array index", `{"_id": 1, "a": [1, 2]}`, `{"$set": {"a.1": 9}}`, `{"_id": 1, "a": [1, 9]}`, 0},
		{"$set array index pads with null", `{"_id": 1, "a": [1]}`, `{"$set": {"a.3": 9}}`, `{"_id": 1, "a": [1, null, null, 9]}`, 0},
		{"$set through scalar", `{"_id": 1, "a": 5}`, `{"$set": {"a.b": 1}}`, ``, CodePathNotViable},
		{"$set _id same value", `{"_id": 1, "a": 1}`, `{"$set": {"_id": 1, "a": 2}}`, `{"_id": 1, "a": 2}`, 0},
		{"$set _id other value", `{"_id": 1}`, `{"$set": {"_id": 2}}`, ``, CodeImmutableField},
		{"$unset", `{"_id": 1, "a": 1, "token": "t"}`, `{"$unset": {"token": 1}}`, `{"_id": 1, "a": 1}`, 0},
		{"$unset missing", `{"_id": 1}`, `{"$unset": {"x.y": 1}}`, `{"_id": 1}`, 0},
		{"$unset array element leaves null", `{"_id": 1, "a": [1, 2]}`, `{"$unset": {"a.0": 1}}`, `{"_id": 1, "a": [null, 2]}`, 0},
		{"$inc", `{"_id": 1, "n": 1}`, `{"$inc": {"n": 2}}`, `{"_id": 1, "n": 3}`, 0},
		{"$inc missing", `{"_id": 1}`, `{"$inc": {"__v": 1}}`, `{"_id": 1, "__v": 1}`, 0},
		{"$inc to double", `{"_id": 1, "n": 1}`, `{"$inc": {"n": 0.5}}`, `{"_id": 1, "n": 1.5}`, 0},
		{"$inc non-numeric field", `{"_id": 1, "n": "x"}`, `{"$inc": {"n": 1}}`, ``, CodeTypeMismatch},
		{"$inc non-numeric argument", `{"_id": 1}`, `{"$inc": {"n": "x"}}`, ``, CodeTypeMismatch},
		{"$mul", `{"_id": 1, "n": 3}`, `{"$mul": {"n": 2}}`, `{"_id": 1, "n": 6}`, 0},
		{"$mul missing", `{"_id": 1}`, `{"$mul": {"n": 2}}`, `{"_id": 1, "n": 0}`, 0},
		{"$min", `{"_id": 1, "n": 3}`, `{"$min": {"n": 2}}`, `{"_id": 1, "n": 2}`, 0},
		{"$max keeps", `{"_id": 1, "n": 3}`, `{"$max": {"n": 2}}`, `{"_id": 1, "n": 3}`, 0},
		{"$rename", `{"_id": 1, "a": 1, "b": 2}`, `{"$rename": {"a": "c"}}`, `{"_id": 1, "b": 2, "c": 1}`, 0},
		{"$push", `{"_id": 1, "a": [1]}`, `{"$push": {"a": 2}}`, `{"_id": 1, "a": [1, 2]}`, 0},
		{"$push creates", `{"_id": 1}`, `{"$push": {"a": 2}}`, `{"_id": 1, "a": [2]}`, 0},
		{"$push array as one element", `{"_id": 1, "a": []}`, `{"$push": {"a": [1, 2]}}`, `{"_id": 1, "a": [[1, 2]]}`, 0},
		{"$push $each", `{"_id": 1, "a": [1]}`, `{"$push": {"a": {"$each": [2, 3]}}}`, `{"_id": 1, "a": [1, 2, 3]}`, 0},
		{"$push $each $position", `{"_id": 1, "a": [1, 4]}`, `{"$push": {"a": {"$each": [2, 3], "$position": 1}}}`, `{"_id": 1, "a": [1, 2, 3, 4]}`, 0},
		{"$push $each $slice", `{"_id": 1, "a": [1, 2]}`, `{"$push": {"a": {"$each": [3], "$slice": -2}}}`, `{"_id": 1, "a": [2, 3]}`, 0},
		{"$push to non-array", `{"_id": 1, "a": 1}`, `{"$push": {"a": 2}}`, ``, CodeBadValue},
		{"$addToSet", `{"_id": 1, "a": [1, 2]}`, `{"$addToSet": {"a": 2}}`, `{"_id": 1, "a": [1, 2]}`, 0},
		{"$addToSet $each", `{"_id": 1, "a": [1]}`, `{"$addToSet": {"a": {"$each": [1, 2, 2]}}}`, `{"_id": 1, "a": [1, 2]}`, 0},
		{"$pop last", `{"_id": 1, "a": [1, 2, 3]}`, `{"$pop": {"a": 1}}`, `{"_id": 1, "a": [1, 2]}`, 0},
		{"$pop first", `{"_id": 1, "a": [1, 2, 3]}`, `{"$pop": {"a": -1}}`, `{"_id": 1, "a": [2, 3]}`, 0},
		{"$pull value", `{"_id": 1, "a": [1, 2, 1]}`, `{"$pull": {"a": 1}}`, `{"_id": 1, "a": [2]}`, 0},
		{"$pull condition", `{"_id": 1, "a": [1, 5, 9]}`, `{"$pull": {"a": {"$gte": 5}}}`, `{"_id": 1, "a": [1]}`, 0},
		{"$pull documents", `{"_id": 1, "a": [{"u": "x", "n": 1}, {"u": "y"}]}`, `{"$pull": {"a": {"u": "x"}}}`, `{"_id": 1, "a": [{"u": "y"}]}`, 0},
		{"$pullAll", `{"_id": 1, "a": [1, 2, 3, 2]}`, `{"$pullAll": {"a": [2, 3]}}`, `{"_id": 1, "a": [1]}`, 0},
		{"mongoose save: $set, $pullAll and __v", `{"_id": 1, "p": ["a", "b"], "__v": 0}`, `{"$set": {"name": "x"}, "$pullAll": {"p": ["b"]}, "$inc": {"__v": 1}}`, `{"_id": 1, "p": ["a"], "__v": 1, "name": "x"}`, 0},
		{"removed $pushAll", `{"_id": 1}`, `{"$pushAll": {"a": [1]}}`, ``, CodeFailedToParse},
		{"conflicting paths", `{"_id": 1}`, `{"$set": {"a": 1}, "$inc": {"a.b": 1}}`, ``, CodeConflictingUpdateOperators},
		{"same path twice", `{"_id": 1}`, `{"$set": {"a": 1}, "$unset": {"a": 1}}`, ``, CodeConflictingUpdateOperators},
		{"replacement keeps _id", `{"_id": 1, "a": 1}`, `{"b": 2}`, `{"_id": 1, "b": 2}`, 0},
		{"replacement changing _id", `{"_id": 1, "a": 1}`, `{"_id": 2, "b": 2}`, ``, CodeImmutableField},
		{"replacement with operator", `{"_id": 1}`, `{"b": 2, "$set": {"a": 1}}`, ``, CodeDollarPrefixedFieldName},
		{"positional operator", `{"_id": 1}`, `{"$set": {"a.$.b": 1}}`, ``, CodeBadValue},
	}
	now := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec, err := parseUpdate(j(t, tc.update))
			var got bson.D
			if err == nil {
				got, err = spec.apply(j(t, tc.doc), false, now)
			}
			switch {
			case tc.code != 0 && err == nil:
				t.Fatalf("update %s on %s = %s, want error %d", tc.update, tc.doc, jsD(t, got), tc.code)
			case tc.code != 0 && codeOf(err) != tc.code:
				t.Fatalf("error %v, want code %d", err, tc.code)
			case tc.code == 0 && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.code == 0:
				if g, w := jsD(t, got), jsD(t, j(t, tc.want)); g != w {
					t.Fatalf("update %s on %s\n got %s\nwant %s", tc.update, tc.doc, g, w)
				}
			}
		})
	}
}
