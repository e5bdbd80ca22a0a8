package docstore

import (
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// FuzzStore feeds arbitrary filters, updates and documents from the network to the store: any
// input yields a result or an error, never a panic.
func FuzzStore(f *testing.F) {
	seed := func(d bson.D) []byte {
		b, _ := bson.Marshal(d)
		return b
	}
	f.Add(seed(bson.D{{Key: "a", Value: bson.D{{Key: "$gt", Value: 1}}}}), seed(bson.D{{Key: "$inc", Value: bson.D{{Key: "a.0.b", Value: 1}}}}), seed(bson.D{{Key: "a", Value: bson.A{1, bson.D{{Key: "b", Value: "x"}}}}}))
	f.Add(seed(bson.D{{Key: "$or", Value: bson.A{bson.D{{Key: "x", Value: nil}}}}}), seed(bson.D{{Key: "$push", Value: bson.D{{Key: "l", Value: bson.D{{Key: "$each", Value: bson.A{1, 2}}, {Key: "$slice", Value: -1}}}}}}), seed(bson.D{{Key: "l", Value: bson.A{}}}))
	f.Add(seed(bson.D{{Key: "t", Value: bson.D{{Key: "$elemMatch", Value: bson.D{{Key: "$in", Value: bson.A{1}}}}}}}), seed(bson.D{{Key: "$rename", Value: bson.D{{Key: "a", Value: "b.c"}}}}), seed(bson.D{{Key: "_id", Value: 7}, {Key: "a", Value: 1}}))
	f.Fuzz(func(t *testing.T, filter, update, doc []byte) {
		s := New()
		if _, _, err := s.CreateIndexes("db.c", []bson.D{{{Key: "key", Value: bson.D{{Key: "a", Value: 1}, {Key: "l", Value: 1}}}, {Key: "name", Value: "a_l"}, {Key: "unique", Value: true}}}); err != nil {
			t.Fatal(err)
		}
		_, _ = s.Insert("db.c", doc)
		fd, err1 := decodeDoc(filter)
		ud, err2 := decodeDoc(update)
		if err1 != nil || err2 != nil {
			return
		}
		now := time.Unix(0, 0)
		_, _ = s.Find("db.c", Query{Filter: fd, Sort: ud, Projection: fd})
		_, _, _ = s.Update("db.c", fd, ud, true, true, now)
		_, _, _ = s.FindAndModify("db.c", FindAndModify{Query: fd, Update: ud, New: true}, now)
		_, _ = s.Aggregate("db.c", []bson.D{ud, fd})
		_, _, _ = s.Delete("db.c", fd, 0)
	})
}
