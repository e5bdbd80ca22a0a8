package mongors_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

// TestLive_propertyRandomChangesAndFaults drives the agents through random metadata changes
// (scale up, scale down) and faults (crashes, partitions) while a writer inserts with
// w:majority. After every step: no force, no reconfig with two voting changes, voters ≤ 7, no
// host edited in place, no majority-acknowledged write lost. Once the faults stop the set must
// converge to the listed membership with every acknowledged write present. The seed is logged;
// PROPERTY_SEED replays one.
func TestLive_propertyRandomChangesAndFaults(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("PROPERTY_SEED"), 10, 64); err == nil {
		seed = s
	}
	t.Logf("seed %d (PROPERTY_SEED=%d replays it)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))

	ls := newLiveSet(t, 8, liveLoop())
	obs := ls.observer(ls.addrs[0])
	listed := append([]string(nil), ls.addrs[:3]...)
	next := 3
	for _, a := range listed {
		ls.start(a)
	}
	ls.desire(listed...)
	ls.waitFor(20*time.Second, obs, 3, listed...)

	w := startWriter(t, ls)
	crashed := map[string]bool{}
	partitioned := false
	departed := "" // unlisted and stopped, until the config drops it
	for step := range 14 {
		if departed != "" {
			if _, c, ok := ls.primaryConfig(obs, ls.addrs); ok {
				if _, still := c.Member(departed); !still {
					departed = ""
				}
			}
		}
		var what string
		switch op := rng.IntN(6); {
		case op == 0 && next < len(ls.addrs):
			a := ls.addrs[next]
			next++
			ls.start(a)
			listed = append(listed, a)
			ls.desire(listed...)
			what = "scale up with " + a
		case op == 1 && len(listed) > 3 && departed == "" && len(crashed) == 0:
			a := listed[len(listed)-1]
			listed = listed[:len(listed)-1]
			ls.desire(listed...)
			ls.stopAgent(a)
			must(t, ls.cluster.StopNode(a))
			departed = a
			what = "scale down without " + a
		case op == 2 && len(crashed) == 0:
			a := listed[rng.IntN(len(listed))]
			must(t, ls.cluster.CrashNode(a))
			crashed[a] = true
			what = "crash " + a
		case op == 3 && len(crashed) > 0:
			for a := range crashed {
				must(t, ls.cluster.StartNode(a))
				delete(crashed, a)
				what = "restart " + a
			}
		case op == 4 && !partitioned:
			perm := rng.Perm(len(listed))
			cut := 1 + rng.IntN(len(listed)-1)
			var g1, g2 []string
			for i, p := range perm {
				if i < cut {
					g1 = append(g1, listed[p])
				} else {
					g2 = append(g2, listed[p])
				}
			}
			if err := ls.cluster.Partition(g1, g2); err != nil {
				what = "partition unsupported"
				break
			}
			partitioned = true
			what = fmt.Sprintf("partition %v | %v", g1, g2)
		case op == 5 && partitioned:
			must(t, ls.cluster.Heal())
			partitioned = false
			what = "heal"
		default:
			what = "pause"
		}
		t.Logf("step %d: %s", step, what)
		time.Sleep(time.Duration(200+rng.IntN(600)) * time.Millisecond)
		ls.audit()
		if t.Failed() {
			t.FailNow()
		}
	}

	// Faults stop: heal, restart, and wait for the listed membership.
	if partitioned {
		must(t, ls.cluster.Heal())
	}
	for a := range crashed {
		must(t, ls.cluster.StartNode(a))
	}
	want := min(oddAtMost(len(listed)), 7)
	ls.waitFor(60*time.Second, obs, want, listed...)
	acked := w.stop()
	ls.audit()
	primary, _, _ := ls.primaryConfig(obs, ls.addrs)
	present := w.readAll(primary)
	missing := 0
	for id := range acked {
		if !present[id] {
			missing++
		}
	}
	t.Logf("%d majority-acknowledged writes, %d on the final primary %s", len(acked), len(present), primary)
	if len(acked) == 0 {
		t.Error("the writer never got a majority acknowledgement")
	}
	if missing > 0 {
		t.Errorf("%d majority-acknowledged writes lost", missing)
	}
}

func oddAtMost(n int) int {
	if n%2 == 0 {
		return n - 1
	}
	return n
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// writer inserts {_id: n} with w:majority into the current primary, remembering the acks.
type writer struct {
	t      *testing.T
	ls     *liveSet
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	acked  map[int]bool
	conns  map[string]*mongo.Client
}

func startWriter(t *testing.T, ls *liveSet) *writer {
	ctx, cancel := context.WithCancel(context.Background())
	w := &writer{t: t, ls: ls, cancel: cancel, done: make(chan struct{}), acked: map[int]bool{}, conns: map[string]*mongo.Client{}}
	obs := ls.observer(ls.addrs[0])
	go func() {
		defer close(w.done)
		for n := 0; ctx.Err() == nil; n++ {
			p, _, _ := ls.primaryConfig(obs, ls.addrs)
			if p == "" {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			ictx, icancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := w.coll(p).InsertOne(ictx, bson.D{{Key: "_id", Value: n}})
			icancel()
			if err == nil {
				w.mu.Lock()
				w.acked[n] = true
				w.mu.Unlock()
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	t.Cleanup(func() { w.stop(); w.close() })
	return w
}

func (w *writer) coll(addr string) *mongo.Collection {
	c := w.conns[addr]
	if c == nil {
		var err error
		c, err = mongo.Connect(options.Client().SetHosts([]string{addr}).SetDirect(true).
			SetServerSelectionTimeout(time.Second).SetHeartbeatInterval(500 * time.Millisecond).SetRetryWrites(false))
		if err != nil {
			w.t.Fatal(err)
		}
		w.conns[addr] = c
	}
	return c.Database("letschat").Collection("items", options.Collection().SetWriteConcern(writeconcern.Majority()))
}

// stop ends the writer and returns the acknowledged ids.
func (w *writer) stop() map[int]bool {
	w.cancel()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.acked
}

func (w *writer) readAll(primary string) map[int]bool {
	out := map[int]bool{}
	if primary == "" {
		return out
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cur, err := w.coll(primary).Find(ctx, bson.D{})
	if err != nil {
		w.t.Fatalf("read back: %v", err)
	}
	var docs []struct {
		ID int `bson:"_id"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		w.t.Fatalf("read back: %v", err)
	}
	for _, d := range docs {
		out[d.ID] = true
	}
	return out
}

func (w *writer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, c := range w.conns {
		_ = c.Disconnect(ctx)
	}
}
