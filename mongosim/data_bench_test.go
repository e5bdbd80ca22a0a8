package mongosim

import (
	"context"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

// BenchmarkInsertMajority is one insert acknowledged by a majority of a 3-node set: the client
// waits for a simulation step, so this measures the heartbeat interval as much as the emulator.
func BenchmarkInsertMajority(b *testing.B) {
	c, addrs := newTestCluster(b, 3)
	initiate(b, c, addrs)
	p := waitPrimary(b, c)
	coll := directClient(b, p).Database("app").Collection("c", options.Collection().SetWriteConcern(writeconcern.Majority()))
	ctx := context.Background()
	for b.Loop() {
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "text", Value: "hello"}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFindByID is a point read through the driver on a primary holding 1000 documents.
func BenchmarkFindByID(b *testing.B) {
	c, addrs := newTestCluster(b, 3)
	initiate(b, c, addrs)
	p := waitPrimary(b, c)
	coll := directClient(b, p).Database("app").Collection("c")
	ctx := context.Background()
	var docs []any
	for i := range 1000 {
		docs = append(docs, bson.D{{Key: "_id", Value: i}, {Key: "text", Value: "hello"}})
	}
	if _, err := coll.InsertMany(ctx, docs); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: i % 1000}}).Err(); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
