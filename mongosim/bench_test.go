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

// BenchmarkReconfigCommitted measures a reconfig from the command to its reply, which phase 2
// sends once a majority of voters reported the new config: the emulator's protocol latency
// (heartbeat round trips), not its step period.
func BenchmarkReconfigCommitted(b *testing.B) {
	c, addrs := newTestCluster(b, 3)
	initiate(b, c, addrs)
	p := waitPrimary(b, c)
	db := directClient(b, p).Database("admin")
	ctx := context.Background()
	st, _ := c.Status(p)
	version := st.Config.Version
	b.ResetTimer()
	for b.Loop() {
		version++
		m := bson.A{}
		for i, a := range addrs {
			pr := 1 + int(version%2)
			if a != p {
				pr = 1
			}
			m = append(m, member(i, a, bson.E{Key: "priority", Value: pr}))
		}
		if err := db.RunCommand(ctx, bson.D{{Key: "replSetReconfig", Value: cfgDoc(version, m)}}).Err(); err != nil {
			b.Fatal(err)
		}
	}
}
