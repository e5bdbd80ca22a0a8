package agent

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/replset-agent/replset-agent/mongosim"
)

func loopbackAddr(t *testing.T) string {
	t.Helper()
	for range 50 {
		a := fmt.Sprintf("127.%d.%d.%d:27017", 1+rand.IntN(254), 1+rand.IntN(254), 1+rand.IntN(254))
		if ln, err := net.Listen("tcp", a); err == nil {
			ln.Close()
			return a
		}
	}
	t.Fatal("no free loopback address")
	return ""
}

// `status` tells whether mongod refuses clients without credentials: the check of the last step
// of the switch to authentication.
func TestProbeAccessControl(t *testing.T) {
	var c statusConfig
	c.options().parse(nil, noEnv)
	probe := func(addr string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return probeAccessControl(ctx, &c.commonConfig, addr, time.Second)
	}
	for _, tc := range []struct {
		name string
		auth bool
		user bool
		want string
	}{
		{"auth off", false, false, accessOff},
		{"auth on, no user yet (localhost exception)", true, false, accessOn},
		{"auth on, users", true, true, accessOn},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sim := mongosim.New(mongosim.Options{ElectionTimeout: 200 * time.Millisecond, Auth: mongosim.AuthOptions{Enabled: tc.auth}})
			defer sim.Close()
			addr := loopbackAddr(t)
			if err := sim.StartNode(addr); err != nil {
				t.Fatal(err)
			}
			if tc.user {
				cl, err := mongo.Connect(options.Client().SetHosts([]string{addr}).SetDirect(true))
				if err != nil {
					t.Fatal(err)
				}
				defer cl.Disconnect(context.Background())
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				members := bson.A{bson.D{{Key: "_id", Value: 0}, {Key: "host", Value: addr}}}
				if err := cl.Database("admin").RunCommand(ctx, bson.D{{Key: "replSetInitiate", Value: bson.D{{Key: "_id", Value: "rs0"}, {Key: "members", Value: members}}}}).Err(); err != nil {
					t.Fatal(err)
				}
				waitUntil(t, "a primary", func() bool { _, ok := sim.Primary(); return ok })
				waitUntil(t, "the first user", func() bool {
					return cl.Database("admin").RunCommand(ctx, bson.D{{Key: "createUser", Value: "root"}, {Key: "pwd", Value: "pw"},
						{Key: "roles", Value: bson.A{"root"}}}).Err() == nil
				})
			}
			if got := probe(addr); got != tc.want {
				t.Fatalf("access control %q, want %q", got, tc.want)
			}
		})
	}
	if got := probe("127.0.0.1:1"); got != accessUnknown {
		t.Fatalf("no mongod: %q", got)
	}
	var out bytes.Buffer
	printStatus(&out, statusReport{SetName: "rs0", AccessControl: accessOff, Healthy: true})
	if !strings.Contains(out.String(), "Access control off: mongod answers clients without credentials") {
		t.Fatalf("status output:\n%s", out.String())
	}
}
