package docstore

import (
	"fmt"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// benchStore holds n messages in one room-like collection with Let's Chat's indexes.
func benchStore(b *testing.B, n int) *Store {
	b.Helper()
	s := New()
	if _, _, err := s.CreateIndexes("db.messages", []bson.D{
		{{Key: "key", Value: bson.D{{Key: "room", Value: 1}, {Key: "posted", Value: -1}}}, {Key: "name", Value: "room_1_posted_-1"}},
		{{Key: "key", Value: bson.D{{Key: "seq", Value: 1}}}, {Key: "name", Value: "seq_1"}, {Key: "unique", Value: true}},
	}); err != nil {
		b.Fatal(err)
	}
	for i := range n {
		d, _ := bson.Marshal(bson.D{{Key: "seq", Value: i}, {Key: "room", Value: fmt.Sprintf("r%d", i%10)}, {Key: "posted", Value: bson.DateTime(i)}, {Key: "text", Value: "hello"}})
		if _, err := s.Insert("db.messages", d); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

// BenchmarkFindRoomSorted is Let's Chat's message list: one room, newest first, 500 at most.
func BenchmarkFindRoomSorted(b *testing.B) {
	s := benchStore(b, 5000)
	q := Query{Filter: bson.D{{Key: "room", Value: "r3"}}, Sort: bson.D{{Key: "posted", Value: -1}}, Limit: 500}
	b.ReportAllocs()
	for b.Loop() {
		if docs, err := s.Find("db.messages", q); err != nil || len(docs) != 500 {
			b.Fatal(len(docs), err)
		}
	}
}

// BenchmarkInsertUnique inserts into a collection with a unique index.
func BenchmarkInsertUnique(b *testing.B) {
	s := benchStore(b, 5000)
	i := 5000
	b.ReportAllocs()
	for b.Loop() {
		d, _ := bson.Marshal(bson.D{{Key: "seq", Value: i}, {Key: "room", Value: "r1"}})
		if _, err := s.Insert("db.messages", d); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkUpdateByID is a session touch: $set on one document found by _id.
func BenchmarkUpdateByID(b *testing.B) {
	s := benchStore(b, 5000)
	docs, _ := s.Find("db.messages", Query{Filter: bson.D{{Key: "seq", Value: 4321}}})
	id := docs[0].Lookup("_id").ObjectID()
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		n++
		if _, _, err := s.Update("db.messages", bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: bson.D{{Key: "n", Value: n}}}}, false, false, now); err != nil {
			b.Fatal(err)
		}
	}
}
