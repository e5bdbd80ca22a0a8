package mongors_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/replset-agent/replset-agent/mongors"
	"github.com/replset-agent/replset-agent/mongors/fake"
)

// eventually polls cond until it holds or the generous deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// recMetrics records what the reconciler reports.
type recMetrics struct {
	mu        sync.Mutex
	actions   map[string]int
	codes     map[int32]int
	converged []time.Duration
	alarms    []bool
	states    map[string]int
	foreign   []int
}

func newRecMetrics() *recMetrics {
	return &recMetrics{actions: map[string]int{}, codes: map[int32]int{}}
}

func (m *recMetrics) ActionRun(k mongors.ActionKind, s mongors.Step, failed bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := string(k) + "/" + string(s)
	if failed {
		key += "/failed"
	}
	m.actions[key]++
}
func (m *recMetrics) MongoError(code int32) { m.mu.Lock(); m.codes[code]++; m.mu.Unlock() }
func (m *recMetrics) MemberStates(c map[string]int) {
	m.mu.Lock()
	m.states = c
	m.mu.Unlock()
}
func (m *recMetrics) Converged(d time.Duration) {
	m.mu.Lock()
	m.converged = append(m.converged, d)
	m.mu.Unlock()
}
func (m *recMetrics) NoPrimaryAlarm(on bool) {
	m.mu.Lock()
	m.alarms = append(m.alarms, on)
	m.mu.Unlock()
}

func (m *recMetrics) ForeignSet(n int) {
	m.mu.Lock()
	m.foreign = append(m.foreign, n)
	m.mu.Unlock()
}

func (m *recMetrics) foreignReports() []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]int(nil), m.foreign...)
}

func (m *recMetrics) snapshot() (actions map[string]int, codes map[int32]int, converged int, alarms []bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a := map[string]int{}
	for k, v := range m.actions {
		a[k] = v
	}
	c := map[int32]int{}
	for k, v := range m.codes {
		c[k] = v
	}
	return a, c, len(m.converged), append([]bool(nil), m.alarms...)
}

// agents runs one Reconciler per address, each beside its own node of the fake set.
type agents struct {
	t      *testing.T
	byAddr map[string]*mongors.Reconciler
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func startAgents(t *testing.T, set *fake.Cluster, addrs []string, cfg mongors.ReconcilerConfig) *agents {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a := &agents{t: t, byAddr: map[string]*mongors.Reconciler{}, cancel: cancel}
	for _, addr := range addrs {
		c := cfg
		c.Client = set.Client(addr)
		r, err := mongors.NewReconciler(c)
		if err != nil {
			t.Fatal(err)
		}
		a.byAddr[addr] = r
		a.wg.Go(func() { _ = r.Run(ctx) })
	}
	t.Cleanup(a.stop)
	return a
}

func (a *agents) stop() {
	a.cancel()
	a.wg.Wait()
}

// desire hands every agent the same members (in order) with its own Self.
func (a *agents) desire(members ...string) {
	for self, r := range a.byAddr {
		r.SetDesired(desiredOf(self, members...))
	}
}

func desiredOf(self string, members ...string) mongors.Desired {
	d := mongors.Desired{Self: self}
	for i, m := range members {
		d.Members = append(d.Members, mongors.Member{Host: m, Order: i + 1})
	}
	return d
}

// checkCalls asserts the safety properties over every command the fake saw. start, when given, is
// the config the fake was seeded with, so that the first reconfig is checked against it too.
func checkCalls(t *testing.T, calls []fake.Call, start ...*mongors.Config) {
	t.Helper()
	initiates := 0
	var prev *mongors.Config
	if len(start) > 0 {
		prev = start[0]
	}
	for _, c := range calls {
		switch c.Op {
		case "replSetInitiate":
			initiates++
			prev = c.Config
		case "replSetReconfig":
			if prev != nil {
				if n := votingDiff(*prev, *c.Config); n > 1 {
					t.Errorf("reconfig to version %d changes %d votes", c.Config.Version, n)
				}
			}
			if v := c.Config.Voters(); v > 7 {
				t.Errorf("reconfig to version %d has %d voters", c.Config.Version, v)
			}
			prev = c.Config
		}
	}
	if initiates > 1 {
		t.Errorf("%d initiates", initiates)
	}
}

func votingDiff(a, b mongors.Config) int {
	va := map[int]bool{}
	for _, m := range a.Members {
		if m.Votes > 0 {
			va[m.ID] = true
		}
	}
	n := 0
	for _, m := range b.Members {
		if m.Votes > 0 {
			if !va[m.ID] {
				n++
			}
			delete(va, m.ID)
		}
	}
	return n + len(va)
}

// installedConfig is a set's config (version 3, term 1) with addrs as members, the first voters
// of them voting and electable, the others neither.
func installedConfig(addrs []string, voters int) mongors.Config {
	c := mongors.Config{Name: "letschat", Version: 3, Term: 1}
	for i, a := range addrs {
		m := mongors.ConfigMember{ID: i, Host: a}
		if i < voters {
			m.Votes, m.Priority = 1, 1
		}
		c.Members = append(c.Members, m)
	}
	return c
}
