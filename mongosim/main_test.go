package mongosim

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var (
	blockMu sync.Mutex
	blocks  = map[int]bool{}
)

// testAddrs returns n loopback addresses in a random 127.A.B.0/24 block; mongotest cannot be
// imported here (it imports this package).
func testAddrs(t testing.TB, n int) []string {
	t.Helper()
	for range 50 {
		a, b := 1+rand.IntN(254), 1+rand.IntN(254)
		blockMu.Lock()
		taken := blocks[a<<8|b]
		blocks[a<<8|b] = true
		blockMu.Unlock()
		if taken {
			continue
		}
		out := make([]string, n)
		ok := true
		for i := range out {
			out[i] = fmt.Sprintf("127.%d.%d.%d:27017", a, b, i+1)
			ln, err := net.Listen("tcp", out[i])
			if err != nil {
				ok = false
				break
			}
			_ = ln.Close()
		}
		if ok {
			return out
		}
	}
	t.Fatal("no free loopback block")
	return nil
}

const testElectionTimeout = 200 * time.Millisecond

func newTestCluster(t testing.TB, n int) (*Cluster, []string) {
	t.Helper()
	return newTestClusterWith(t, n, Options{SetName: "rs0", ElectionTimeout: testElectionTimeout, HeartbeatInterval: 20 * time.Millisecond})
}

func newTestClusterWith(t testing.TB, n int, opts Options) (*Cluster, []string) {
	t.Helper()
	c := New(opts)
	t.Cleanup(c.Close)
	addrs := testAddrs(t, n)
	for _, a := range addrs {
		if err := c.StartNode(a); err != nil {
			t.Fatal(err)
		}
	}
	return c, addrs
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// directClient connects to one node only, the only way to reach a ghost.
func directClient(t testing.TB, addr string) *mongo.Client {
	t.Helper()
	cl, err := mongo.Connect(options.Client().SetHosts([]string{addr}).SetDirect(true).
		SetServerSelectionTimeout(3 * time.Second).SetConnectTimeout(2 * time.Second).
		SetHeartbeatInterval(500 * time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Disconnect(context.Background()) })
	return cl
}

func setClient(t testing.TB, addrs []string) *mongo.Client {
	t.Helper()
	cl, err := mongo.Connect(options.Client().SetHosts(addrs).SetReplicaSet("rs0").
		SetServerSelectionTimeout(5 * time.Second).SetConnectTimeout(2 * time.Second).
		SetHeartbeatInterval(500 * time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Disconnect(context.Background()) })
	return cl
}

func run(t testing.TB, cl *mongo.Client, cmd bson.D) (bson.Raw, error) {
	t.Helper()
	return cl.Database("admin").RunCommand(ctxT(t, 10*time.Second), cmd).Raw()
}

func codeOf(err error) int32 {
	var ce mongo.CommandError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return -1
}

func membersDoc(addrs []string) bson.A {
	a := bson.A{}
	for i, h := range addrs {
		a = append(a, bson.D{{Key: "_id", Value: i}, {Key: "host", Value: h}})
	}
	return a
}

func initiate(t testing.TB, c *Cluster, addrs []string) {
	t.Helper()
	cl := directClient(t, addrs[0])
	_, err := run(t, cl, bson.D{{Key: "replSetInitiate", Value: bson.D{{Key: "_id", Value: "rs0"}, {Key: "members", Value: membersDoc(addrs)}}}})
	if err != nil {
		t.Fatalf("initiate: %v", err)
	}
	waitPrimary(t, c)
}

// waitPrimary waits for a writable primary whose step-up config is committed.
func waitPrimary(t testing.TB, c *Cluster) string {
	t.Helper()
	var p string
	waitFor(t, 10*time.Second, "a primary", func() bool {
		var ok bool
		p, ok = c.Primary()
		if !ok {
			return false
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		n := c.nodes[p]
		config, oplog := c.configCommitLocked(n)
		return n.writablePrimary() && config && oplog
	})
	return p
}

func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func getConfig(t testing.TB, cl *mongo.Client) bson.Raw {
	t.Helper()
	raw, err := run(t, cl, bson.D{{Key: "replSetGetConfig", Value: 1}})
	if err != nil {
		t.Fatalf("replSetGetConfig: %v", err)
	}
	return raw.Lookup("config").Document()
}

func hasString(s, sub string) bool { return strings.Contains(s, sub) }
