package mongosim

import (
	"math/rand/v2"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// TestRandomFaultsKeepSafety drives a five-node set through random crashes, restarts,
// partitions, step-downs and majority writes, then checks the whole history: never two primaries
// in one term, never a lost majority-acknowledged write (no force reconfig is used).
func TestRandomFaultsKeepSafety(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run("seed"+itoa(int64(seed)), func(t *testing.T) {
			t.Parallel()
			c, addrs := newTestClusterWith(t, 5, Options{ElectionTimeout: 150 * time.Millisecond, HeartbeatInterval: 15 * time.Millisecond, Seed: seed})
			initiate(t, c, addrs)
			rnd := rand.New(rand.NewPCG(seed, 7))
			clients := map[string]*mongo.Client{}
			for _, a := range addrs {
				clients[a] = directClient(t, a)
			}
			next := 0
			for range 30 {
				a := addrs[rnd.IntN(len(addrs))]
				switch op := rnd.IntN(10); {
				case op < 2:
					_ = c.CrashNode(a)
				case op < 4:
					_ = c.StartNode(a)
				case op == 4:
					cut := 1 + rnd.IntN(len(addrs)-1)
					perm := rnd.Perm(len(addrs))
					var g1, g2 []string
					for i, p := range perm {
						if i < cut {
							g1 = append(g1, addrs[p])
						} else {
							g2 = append(g2, addrs[p])
						}
					}
					_ = c.Partition(g1, g2)
				case op == 5:
					_ = c.Heal()
				case op == 6:
					if p, ok := c.Primary(); ok {
						_, _ = clients[p].Database("admin").RunCommand(ctxT(t, 2*time.Second),
							bson.D{{Key: "replSetStepDown", Value: 1}, {Key: "secondaryCatchUpPeriodSecs", Value: 0}, {Key: "force", Value: true}}).Raw()
					}
				default:
					if p, ok := c.Primary(); ok {
						next++
						_, _ = clients[p].Database("app").RunCommand(ctxT(t, 2*time.Second), bson.D{
							{Key: "insert", Value: "c"}, {Key: "documents", Value: bson.A{bson.D{{Key: "_id", Value: next}}}},
							{Key: "writeConcern", Value: bson.D{{Key: "w", Value: "majority"}, {Key: "wtimeout", Value: 300}}},
						}).Raw()
					}
				}
				time.Sleep(time.Duration(rnd.IntN(200)) * time.Millisecond)
			}
			_ = c.Heal()
			for _, a := range addrs {
				_ = c.StartNode(a)
			}
			waitPrimary(t, c)
			time.Sleep(200 * time.Millisecond)
			if v := c.SafetyViolations(); len(v) > 0 {
				t.Fatalf("violations: %v", v)
			}
			if c.ForceReconfigApplied() {
				t.Fatal("force reconfig applied without one being sent")
			}
			if lost := c.LostWrites(); len(lost) > 0 {
				t.Fatalf("lost majority-acknowledged writes: %v", lost)
			}
			t.Logf("%d majority-acknowledged writes, %d elections", c.MajorityAcknowledged(), countEvents(c, EventElection))
		})
	}
}

func countEvents(c *Cluster, k EventKind) int {
	n := 0
	for _, e := range c.Events() {
		if e.Kind == k {
			n++
		}
	}
	return n
}

// TestSafetyViolationsDetectLostWrite proves the checker can fail: a force reconfig on an
// isolated minority that then wins makes a majority write roll back.
func TestSafetyViolationsDetectLostWrite(t *testing.T) {
	c, addrs := newTestCluster(t, 3)
	initiate(t, c, addrs)
	p := waitPrimary(t, c)
	// Detach one secondary first, so it misses the write.
	lag := addrs[indexNot(addrs, p)]
	if err := c.Partition([]string{lag}, others(addrs, lag)); err != nil {
		t.Fatal(err)
	}
	db := directClient(t, p).Database("app")
	if _, err := db.RunCommand(ctxT(t, 5*time.Second), bson.D{{Key: "insert", Value: "c"}, {Key: "documents", Value: bson.A{bson.D{{Key: "_id", Value: 1}}}},
		{Key: "writeConcern", Value: bson.D{{Key: "w", Value: "majority"}}}}).Raw(); err != nil {
		t.Fatal(err)
	}
	// Now the lagging node alone forces a one-member config and becomes primary of it.
	cl := directClient(t, lag)
	st, _ := c.Status(lag)
	if _, err := run(t, cl, bson.D{{Key: "replSetReconfig", Value: cfgDoc(st.Config.Version, bson.A{member(indexOf2(addrs, lag), lag)})}, {Key: "force", Value: true}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "forced node primary", func() bool { s, _ := c.Status(lag); return s.State == StatePrimary })
	if err := c.Heal(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "lost write", func() bool { return len(c.LostWrites()) > 0 })
	if !c.ForceReconfigApplied() {
		t.Fatal("force not recorded")
	}
	c.mu.Lock()
	c.audit.forced = false // what the checker would say had no force been used
	c.mu.Unlock()
	if len(c.SafetyViolations()) == 0 {
		t.Fatal("lost write not reported as a violation")
	}
}

func others(addrs []string, skip string) []string {
	var o []string
	for _, a := range addrs {
		if a != skip {
			o = append(o, a)
		}
	}
	return o
}

func indexOf2(addrs []string, a string) int {
	for i, x := range addrs {
		if x == a {
			return i
		}
	}
	return -1
}
