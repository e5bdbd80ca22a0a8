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

	"github.com/replset-agent/replset-agent/mongors"
	"github.com/replset-agent/replset-agent/mongosim"
	"github.com/replset-agent/replset-agent/mongotest"
)

// skewRounds is how many deploys TestLive_initiationUnderMetadataSkew plays; SKEW_ROUNDS changes it.
const skewRounds = 30

// skewClusterOptions is the cluster of one round: the round's seed also orders the emulator's
// heartbeats and steps, so every round shuffles mongod's side reproducibly too.
func skewClusterOptions(seed uint64) mongotest.Options {
	return mongotest.Options{SetName: "letschat", Seed: seed}
}

// TestLive_initiationUnderMetadataSkew plays a deploy per round with real agents (reconcilers
// over the driver) and the emulator or real mongod: the service's containers are created one after
// the other, start at their own pace (mongods started in a random order), and every agent gets its
// own host's view of metadata, which lags the truth by its own delay — so the agents see different
// subsets of the containers in different states while they plan. Every round must end with
// exactly one replica set: one initiate, one replicaSetId on every node, every container a member.
// SKEW_LIVE_SEED replays a round.
func TestLive_initiationUnderMetadataSkew(t *testing.T) {
	t.Parallel()
	rounds := skewRounds
	if n, err := strconv.Atoi(os.Getenv("SKEW_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	first := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("SKEW_LIVE_SEED"), 10, 64); err == nil {
		first, rounds = s, 1
	}
	t.Logf("rounds with seeds %d..%d (SKEW_LIVE_SEED=n replays one)", first, first+uint64(rounds)-1)
	// Three rounds at a time keep the wall time down without starving a 2-core machine.
	sem := make(chan struct{}, 3)
	var wg sync.WaitGroup
	for i := range rounds {
		seed := first + uint64(i)
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { skewLiveRound(t, seed) })
		})
	}
	wg.Wait()
}

// skewLiveCtr is one container's timeline in a live round, from the round's start.
type skewLiveCtr struct {
	addr                        string
	order                       int
	committed, started, running time.Duration
	healthy                     time.Duration
	nodeStartAt                 time.Duration // when its mongod starts
	agentStartDelay             time.Duration // after the container's start
}

func skewLiveRound(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d))
	dur := func(lo, hi time.Duration) time.Duration { return lo + time.Duration(rng.Int64N(int64(hi-lo)+1)) }
	n := 4 + rng.IntN(2)
	cluster := mongotest.New(t, skewClusterOptions(seed))
	addrs := mongotest.Addrs(t, n)
	cfg := liveLoop()
	cfg.Settings.InitiateSettle = 300 * time.Millisecond

	ctrs := make([]*skewLiveCtr, n)
	created := time.Duration(0)
	for i := range ctrs {
		created += dur(0, 200*time.Millisecond)
		c := &skewLiveCtr{addr: addrs[i], order: i + 1}
		c.committed = created + dur(0, 150*time.Millisecond) // a commit may overtake an earlier create
		c.started = c.committed + dur(50*time.Millisecond, 600*time.Millisecond)
		c.running = c.started + dur(0, 300*time.Millisecond)
		c.healthy = c.running + dur(0, 400*time.Millisecond)
		c.nodeStartAt = c.started + dur(0, 300*time.Millisecond)
		c.agentStartDelay = dur(0, 200*time.Millisecond)
		ctrs[i] = c
	}
	// Each agent's copy shows the database as it was some time ago, and that delay changes.
	lags := make([]time.Duration, n)
	for i := range lags {
		lags[i] = dur(0, 500*time.Millisecond)
	}
	state := func(c *skewLiveCtr, at time.Duration) (listed bool, st string) {
		switch {
		case at < c.committed:
			return false, ""
		case at < c.running:
			return true, "starting"
		case at < c.healthy:
			return true, "initializing"
		}
		return true, "healthy"
	}
	// Half the rounds are the case: every mongod is up when all copies change at once, and
	// each host's copy shows its own version of the service for a while (the first containers in
	// other states, the last ones not yet listed) before the copies agree.
	split := rng.IntN(2) == 0
	var splitAt time.Duration
	splitHold := make([]time.Duration, n)
	splitState := make([][]string, n)
	if split {
		splitAt = 700 * time.Millisecond
		for _, c := range ctrs {
			c.committed, c.started, c.running, c.healthy = 0, 0, 0, 0
			c.nodeStartAt = dur(0, 400*time.Millisecond)
			c.agentStartDelay = 0
		}
		for i := range n {
			splitHold[i] = dur(0, 1200*time.Millisecond)
			listedUpTo := n
			if rng.IntN(5) == 0 {
				listedUpTo = max(i+1, n-1-rng.IntN(2)) // the newest containers not in this copy yet
			}
			// The case, mostly: the first container's own copy shows it running, the other
			// hosts' copies show it still starting.
			splitState[i] = make([]string, n)
			for j := range n {
				lagging := (j == 0 && i != 0 && rng.IntN(5) != 0) || (j != 0 && rng.IntN(10) == 0)
				switch {
				case j >= listedUpTo:
					splitState[i][j] = ""
				case lagging:
					splitState[i][j] = "starting"
				default:
					splitState[i][j] = "healthy"
				}
			}
		}
	}
	view := func(self int, at time.Duration) (mongors.Desired, bool) {
		d := mongors.Desired{Self: ctrs[self].addr}
		own := false
		for j, c := range ctrs {
			listed, st := state(c, at)
			if split {
				if at < splitAt {
					listed = false
				} else if at < splitAt+splitHold[self] {
					st = splitState[self][j]
					listed = st != ""
				}
			}
			if !listed {
				continue
			}
			if c == ctrs[self] {
				own = true
			}
			if st == "healthy" {
				d.Members = append(d.Members, mongors.Member{Host: c.addr, Order: c.order})
				continue
			}
			d.Peers = append(d.Peers, mongors.Peer{Host: c.addr, Order: c.order, Name: c.addr, State: st})
			d.Starting = append(d.Starting, c.addr)
		}
		return d, own && len(d.Members) > 0
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	begin := time.Now()
	since := func() time.Duration { return time.Since(begin) }
	// mongods start in their own order and time.
	for _, c := range ctrs {
		wg.Go(func() {
			if !sleepCtx(ctx, c.nodeStartAt) {
				return
			}
			if err := cluster.StartNode(c.addr); err != nil {
				t.Errorf("start %s: %v", c.addr, err)
			}
		})
	}
	// Each agent starts with its container and follows its own lagging copy.
	end := ctrs[n-1].healthy
	for _, c := range ctrs {
		end = max(end, c.healthy)
	}
	for i, c := range ctrs {
		own := rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64())) // the round's rng is not shared between goroutines
		wg.Go(func() {
			if !sleepCtx(ctx, c.started+c.agentStartDelay) {
				return
			}
			dc, err := mongors.NewDriverClient(connFor(c.addr))
			if err != nil {
				t.Error(err)
				return
			}
			defer func() {
				cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer ccancel()
				_ = dc.Close(cctx)
			}()
			rc := cfg
			rc.Client = dc
			r, err := mongors.NewReconciler(rc)
			if err != nil {
				t.Error(err)
				return
			}
			var rwg sync.WaitGroup
			rwg.Go(func() { _ = r.Run(ctx) })
			defer rwg.Wait()
			last := ""
			lag := lags[i]
			if split {
				lag = 0 // the copies change together: the agents plan at the same moment
			}
			for ctx.Err() == nil {
				at := since() - lag
				if d, ok := view(i, at); ok {
					if key := fmt.Sprint(d); key != last {
						last = key
						r.SetDesired(d)
					}
				}
				if at > end+splitAt+splitHold[i]+time.Second {
					<-ctx.Done()
					return
				}
				sleepCtx(ctx, time.Millisecond+time.Duration(own.Int64N(int64(4*time.Millisecond))))
			}
		})
	}

	obs := observer(t, addrs[0])
	// Every node gets a config sooner or later; then they must all hold the same set.
	var ids map[string][]string
	eventually(t, 60*time.Second, "a config on every node", func() bool {
		ids = map[string][]string{}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, a := range addrs {
			c, _, err := obs.GetConfig(ctx, a, false)
			if err != nil {
				return false
			}
			ids[c.ReplicaSetID()] = append(ids[c.ReplicaSetID()], a)
		}
		return true
	})
	if len(ids) != 1 {
		t.Fatalf("seed %d (split copies %t %v): nodes hold %d replicaSetIds: %v", seed, split, splitState, len(ids), ids)
	}
	waitForMembers(t, obs, addrs, 60*time.Second)
	if o, ok := cluster.(mongotest.Observer); ok {
		initiates := 0
		for _, ch := range o.ConfigChanges() {
			if ch.Origin == mongosim.OriginInitiate {
				initiates++
			}
		}
		if initiates != 1 {
			t.Errorf("seed %d (split copies %t %v): %d initiates", seed, split, splitState, initiates)
		}
		if v := o.SafetyViolations(); len(v) > 0 {
			t.Errorf("seed %d: safety violations %v", seed, v)
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return true
	}
}

func observer(t *testing.T, addr string) *mongors.DriverClient {
	t.Helper()
	dc, err := mongors.NewDriverClient(connFor(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = dc.Close(ctx)
	})
	return dc
}

// waitForMembers waits until some node is primary with a committed config of exactly addrs.
func waitForMembers(t *testing.T, obs *mongors.DriverClient, addrs []string, within time.Duration) {
	t.Helper()
	eventually(t, within, fmt.Sprintf("a committed config of %v", addrs), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		for _, a := range addrs {
			h, err := obs.Hello(ctx, a)
			if err != nil || !h.IsWritablePrimary {
				continue
			}
			c, committed, err := obs.GetConfig(ctx, a, true)
			return err == nil && committed && sameHosts(&c, addrs)
		}
		return false
	})
}
