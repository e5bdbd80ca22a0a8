package mongors_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/replset-agent/replset-agent/mongors"
	"github.com/replset-agent/replset-agent/mongotest"
)

// liveSet is a mongotest cluster with one Reconciler per node, each talking to its own node
// through the real driver, as the agents do in production.
type liveSet struct {
	t       testing.TB
	cluster mongotest.Cluster
	addrs   []string
	mu      sync.Mutex
	agents  map[string]*liveAgent
	cfg     mongors.ReconcilerConfig
	members []string
}

type liveAgent struct {
	self   string
	r      *mongors.Reconciler
	client *mongors.DriverClient
	cancel context.CancelFunc
	done   chan struct{}
}

// liveLoop is the loop configuration for integration tests: quick re-checks, a short grace.
func liveLoop() mongors.ReconcilerConfig {
	return mongors.ReconcilerConfig{
		Recheck:     150 * time.Millisecond,
		RetryMin:    50 * time.Millisecond,
		RetryMax:    300 * time.Millisecond,
		PassTimeout: 10 * time.Second,
		Settings: mongors.Settings{
			SetName:        "letschat",
			RemovalGrace:   time.Second,
			NoPrimaryAlarm: 2 * time.Second,
			InitiateSettle: 200 * time.Millisecond,
		},
	}
}

func connFor(addr string) mongors.ConnConfig {
	return mongors.ConnConfig{
		Address:           addr,
		ConnectTimeout:    time.Second,
		CommandTimeout:    5 * time.Second,
		HeartbeatInterval: 500 * time.Millisecond,
	}
}

func newLiveSet(t testing.TB, n int, cfg mongors.ReconcilerConfig) *liveSet {
	t.Helper()
	c := mongotest.New(t, mongotest.Options{SetName: "letschat"})
	ls := &liveSet{t: t, cluster: c, addrs: mongotest.Addrs(t, n), agents: map[string]*liveAgent{}, cfg: cfg}
	t.Cleanup(ls.stopAll)
	return ls
}

// start starts the node at addr and its agent.
func (ls *liveSet) start(addr string) {
	ls.t.Helper()
	if err := ls.cluster.StartNode(addr); err != nil {
		ls.t.Fatalf("start %s: %v", addr, err)
	}
	ls.startAgent(addr)
}

func (ls *liveSet) startAgent(addr string) { ls.startAgentAs(addr, addr) }

// startAgentAs starts an agent beside the node at addr, known to the test as key (a second agent
// beside the same node needs its own key).
func (ls *liveSet) startAgentAs(key, addr string) {
	ls.t.Helper()
	dc, err := mongors.NewDriverClient(connFor(addr))
	if err != nil {
		ls.t.Fatal(err)
	}
	cfg := ls.cfg
	cfg.Client = dc
	r, err := mongors.NewReconciler(cfg)
	if err != nil {
		ls.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := &liveAgent{self: addr, r: r, client: dc, cancel: cancel, done: make(chan struct{})}
	ls.mu.Lock()
	ls.agents[key] = a
	if ls.members != nil {
		r.SetDesired(desiredOf(addr, ls.members...))
	}
	ls.mu.Unlock()
	go func() { defer close(a.done); _ = r.Run(ctx) }()
}

// stopAgent stops the agent beside addr (its node keeps running).
func (ls *liveSet) stopAgent(addr string) {
	ls.mu.Lock()
	a := ls.agents[addr]
	delete(ls.agents, addr)
	ls.mu.Unlock()
	if a == nil {
		return
	}
	a.cancel()
	<-a.done
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = a.client.Close(ctx)
}

func (ls *liveSet) stopAll() {
	ls.mu.Lock()
	var addrs []string
	for a := range ls.agents {
		addrs = append(addrs, a)
	}
	ls.mu.Unlock()
	for _, a := range addrs {
		ls.stopAgent(a)
	}
}

// desire hands every running agent the members, in order.
func (ls *liveSet) desire(members ...string) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.members = append([]string(nil), members...)
	for _, a := range ls.agents {
		a.r.SetDesired(desiredOf(a.self, members...))
	}
}

// observer is a driver client of its own, used by the test to look at the set.
func (ls *liveSet) observer(addr string) *mongors.DriverClient {
	ls.t.Helper()
	dc, err := mongors.NewDriverClient(connFor(addr))
	if err != nil {
		ls.t.Fatal(err)
	}
	ls.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = dc.Close(ctx)
	})
	return dc
}

// primaryConfig finds a primary among addrs and returns its committed config.
func (ls *liveSet) primaryConfig(obs *mongors.DriverClient, addrs []string) (string, *mongors.Config, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for _, a := range addrs {
		h, err := obs.Hello(ctx, a)
		if err != nil || !h.IsWritablePrimary {
			continue
		}
		cfg, committed, err := obs.GetConfig(ctx, a, true)
		if err != nil {
			return a, nil, false
		}
		return a, &cfg, committed
	}
	return "", nil, false
}

// waitFor polls the set's primary until its committed config has exactly members (in any order)
// and want voters.
func (ls *liveSet) waitFor(within time.Duration, obs *mongors.DriverClient, want int, members ...string) *mongors.Config {
	ls.t.Helper()
	var last *mongors.Config
	eventually(ls.t, within, fmt.Sprintf("%d members %v with %d voters (last %s)", len(members), members, want, describe(&last)), func() bool {
		_, cfg, ok := ls.primaryConfig(obs, ls.addrs)
		if cfg != nil {
			last = cfg
		}
		return ok && sameHosts(cfg, members) && cfg.Voters() == want
	})
	return last
}

func describe(c **mongors.Config) string {
	if *c == nil {
		return "none"
	}
	return fmt.Sprintf("v%d %s voters %d", (*c).Version, hosts(*c), (*c).Voters())
}

func sameHosts(c *mongors.Config, members []string) bool {
	if c == nil || len(c.Members) != len(members) {
		return false
	}
	for _, m := range members {
		if _, ok := c.Member(m); !ok {
			return false
		}
	}
	return true
}

// audit checks the safety properties the emulator can see: no force, no two voting changes in a
// reconfig, voters ≤ 7, no majority-acknowledged write lost, and no member's host edited in place.
// Real mongod clusters cannot say; the test then relies on the agents' own checks.
func (ls *liveSet) audit() {
	ls.t.Helper()
	o, ok := ls.cluster.(mongotest.Observer)
	if !ok {
		return
	}
	if o.ForceReconfigApplied() {
		ls.t.Error("a force reconfig was applied")
	}
	for _, v := range o.SafetyViolations() {
		ls.t.Errorf("safety violation: %s", v)
	}
	for _, ch := range o.ConfigChanges() {
		if ch.Prev == nil {
			continue
		}
		for _, m := range ch.New.Members {
			if old, ok := ch.Prev.Member(m.Host); ok && old.ID != m.ID {
				ls.t.Errorf("config v%d: host %s moved from _id %d to %d", ch.New.Version, m.Host, old.ID, m.ID)
			}
			for _, old := range ch.Prev.Members {
				if old.ID == m.ID && old.Host != m.Host {
					ls.t.Errorf("config v%d: _id %d host edited %s→%s", ch.New.Version, m.ID, old.Host, m.Host)
				}
			}
		}
	}
}

// hasConfig reports whether any of addrs answers hello with a config.
func hasConfig(t testing.TB, obs *mongors.DriverClient, addrs []string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for _, a := range addrs {
		if h, err := obs.Hello(ctx, a); err == nil && h.HasConfig() {
			return true
		}
	}
	return false
}

func testCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 5*time.Second)
}
