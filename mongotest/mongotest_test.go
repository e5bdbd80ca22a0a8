package mongotest

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestAddrs(t *testing.T) {
	a, b := Addrs(t, 3), Addrs(t, 3)
	seen := map[string]bool{}
	for _, addr := range append(a, b...) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil || port != "27017" || !strings.HasPrefix(host, "127.") {
			t.Fatalf("address %q is not 127.x.y.z:27017", addr)
		}
		if seen[addr] {
			t.Fatalf("address %s handed out twice", addr)
		}
		seen[addr] = true
	}
	if a[0][:strings.LastIndex(a[0], ".")] == b[0][:strings.LastIndex(b[0], ".")] {
		t.Fatal("two calls shared a block")
	}
}

func TestNewRunsASet(t *testing.T) {
	c := New(t, Options{SetName: "rs1"})
	addrs := Addrs(t, 2)
	for _, a := range addrs {
		if err := c.StartNode(a); err != nil {
			t.Fatal(err)
		}
	}
	cl, err := mongo.Connect(options.Client().SetHosts(addrs[:1]).SetDirect(true).SetServerSelectionTimeout(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cl.Disconnect(context.Background()) }()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	members := bson.A{bson.D{{Key: "_id", Value: 0}, {Key: "host", Value: addrs[0]}}, bson.D{{Key: "_id", Value: 1}, {Key: "host", Value: addrs[1]}}}
	cfg := bson.D{{Key: "_id", Value: "rs1"}, {Key: "members", Value: members},
		{Key: "settings", Value: bson.D{{Key: "electionTimeoutMillis", Value: 1000}}}}
	if err := cl.Database("admin").RunCommand(ctx, bson.D{{Key: "replSetInitiate", Value: cfg}}).Err(); err != nil {
		t.Fatal(err)
	}
	for {
		var hello struct {
			Primary string `bson:"primary"`
		}
		if err := cl.Database("admin").RunCommand(ctx, bson.D{{Key: "hello", Value: 1}}).Decode(&hello); err != nil {
			t.Fatal(err)
		}
		if hello.Primary != "" {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("no primary")
		case <-time.After(50 * time.Millisecond):
		}
	}
	obs, ok := c.(Observer)
	if c.Kind() == KindEmulator {
		if !ok {
			t.Fatal("emulator does not implement Observer")
		}
		if p, found := obs.Primary(); !found || p != addrs[0] && p != addrs[1] {
			t.Fatalf("primary = %q, %v", p, found)
		}
		if v := obs.SafetyViolations(); len(v) > 0 {
			t.Fatal(v)
		}
		if err := c.Partition(addrs[:1], addrs[1:]); err != nil {
			t.Fatal(err)
		}
	} else if err := c.Partition(addrs[:1], addrs[1:]); err != ErrUnsupported {
		t.Fatalf("partition on mongod: %v, want ErrUnsupported", err)
	}
	if err := c.WipeNode(addrs[1]); err != nil {
		t.Fatal(err)
	}
	c.Close()
	c.Close()
}

// TestSeedReplays: the emulator takes its seed from Options, else from MONGOSIM_SEED, and says
// which it used, so a failing run can be replayed.
func TestSeedReplays(t *testing.T) {
	cases := []struct {
		name string
		env  string
		seed uint64
		want uint64
	}{
		{name: "from the environment", env: "4242", want: 4242},
		{name: "options win", env: "4242", seed: 7, want: 7},
		{name: "random when unset", want: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(SeedEnv, tc.env)
			c := New(t, Options{ForceEmulator: true, Seed: tc.seed})
			obs, ok := c.(Observer)
			if !ok {
				t.Fatal("emulator does not implement Observer")
			}
			if got := obs.Seed(); tc.want != 0 && got != tc.want || got == 0 {
				t.Fatalf("seed %d, want %d", got, tc.want)
			}
		})
	}
}

// TestAuthOption: access control on, and the localhost exception as mongod has it.
func TestAuthOption(t *testing.T) {
	c := New(t, Options{Auth: true})
	addr := Addrs(t, 1)[0]
	if err := c.StartNode(addr); err != nil {
		t.Fatal(err)
	}
	cl, err := mongo.Connect(options.Client().SetHosts([]string{addr}).SetDirect(true).SetServerSelectionTimeout(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cl.Disconnect(context.Background()) }()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The localhost exception lets a local client see the status, not the config.
	var ce mongo.CommandError
	err = cl.Database("admin").RunCommand(ctx, bson.D{{Key: "replSetGetConfig", Value: 1}}).Err()
	if !errors.As(err, &ce) || ce.Code != 13 {
		t.Fatalf("replSetGetConfig without credentials: %v, want 13 Unauthorized", err)
	}
	err = cl.Database("admin").RunCommand(ctx, bson.D{{Key: "replSetGetStatus", Value: 1}}).Err()
	if !errors.As(err, &ce) || ce.Code != 94 {
		t.Fatalf("replSetGetStatus through the localhost exception: %v, want 94", err)
	}
}
