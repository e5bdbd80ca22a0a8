package mongosim

import (
	"context"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func benchCommand(b *testing.B, cmd bson.D) {
	c, addrs := newTestCluster(b, 3)
	initiate(b, c, addrs)
	p := waitPrimary(b, c)
	db := directClient(b, p).Database("admin")
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if err := db.RunCommand(ctx, cmd).Err(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHello(b *testing.B) { benchCommand(b, bson.D{{Key: "hello", Value: 1}}) }

func BenchmarkReplSetGetStatus(b *testing.B) {
	benchCommand(b, bson.D{{Key: "replSetGetStatus", Value: 1}})
}
