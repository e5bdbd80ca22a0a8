package mongors

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// world is a primary's view that a test evolves pass by pass: each reconfig the planner returns is
// installed and committed, and the status is rebuilt from which hosts are down, syncing or lagging.
type world struct {
	t       *testing.T
	self    int
	cfg     Config
	down    map[int]bool
	state   map[int]int
	lag     map[int]time.Duration
	mem     Memory
	now     time.Time
	actions []Action
}

func newWorld(t *testing.T, self int, cfg Config) *world {
	return &world{t: t, self: self, cfg: cfg, down: map[int]bool{}, state: map[int]int{}, lag: map[int]time.Duration{}, now: t0}
}

// observed is what the primary's agent reads now, with the memory of earlier passes.
func (w *world) observed(d Desired) Observed {
	states := map[int]int{}
	for h, s := range w.state {
		states[h] = s
	}
	for h := range w.down {
		states[h] = StateDown
	}
	o := onPrimary(w.self, w.cfg, states)
	o.Local.Addr = host(w.self)
	for i := range o.Status.Members {
		ms := &o.Status.Members[i]
		var h int
		fmt.Sscanf(ms.Name, "10.42.0.%d:27017", &h)
		if ms.Health > 0 {
			ms.Optime = w.now.Add(-w.lag[h])
		}
	}
	w.mem = w.mem.Update(d, o, w.now)
	o.Memory = w.mem
	return probedEmpty(d, o)
}

// pass plans once at the world's clock; a reconfig is checked (one voting change, a voting
// majority up before and after) and installed.
func (w *world) pass(d Desired) Action {
	w.t.Helper()
	o := w.observed(d)
	a := Plan(d, o, w.now, Settings{})
	if strings.HasPrefix(a.Reason, "refusing") {
		w.t.Fatalf("planner proposed what the gate refused: %s", a.Reason)
	}
	if a.Kind == KindReconfig {
		if n := votingDiff(w.cfg, *a.Config); n > 1 {
			w.t.Fatalf("%s changes %d votes", a, n)
		}
		for _, c := range []Config{w.cfg, *a.Config} {
			if up, voters := w.votersUp(c); up < voters/2+1 {
				w.t.Fatalf("%s: config v%d has %d of %d voters up", a, c.Version, up, voters)
			}
		}
		w.cfg = *a.Config
	}
	if a.Acts() {
		w.actions = append(w.actions, a)
	}
	return a
}

func (w *world) votersUp(c Config) (up, voters int) {
	for _, m := range c.Members {
		var h int
		fmt.Sscanf(m.Host, "10.42.0.%d:27017", &h)
		if m.Votes > 0 {
			voters++
			if !w.down[h] {
				up++
			}
		}
	}
	return up, voters
}

// settle runs passes, the clock moving by step each, until one acts no more (or max passes).
func (w *world) settle(d Desired, step time.Duration, max int) Action {
	w.t.Helper()
	var a Action
	for range max {
		a = w.pass(d)
		w.now = w.now.Add(step)
		if !a.Acts() {
			return a
		}
	}
	w.t.Fatalf("still acting after %d passes: %s", max, a)
	return a
}

func (w *world) steps() string {
	var out []string
	for _, a := range w.actions {
		out = append(out, string(a.Step)+" "+a.Member)
	}
	return strings.Join(out, ", ")
}

// faultTolerance is how many more voters may fail before the set loses its majority.
func (w *world) faultTolerance() int {
	up, voters := w.votersUp(w.cfg)
	return up - (voters/2 + 1)
}

// TestPlan_votesFollowHealth: nine members, seven voters, and the hosts of three voters die while
// metadata still lists them. Today's code left the fault tolerance at zero for good; the votes
// must move to the healthy non-voters, one voting change per reconfig, a majority up throughout.
func TestPlan_votesFollowHealth(t *testing.T) {
	grace := DefaultRemovalGrace
	d := listed(1, 1, 2, 3, 4, 5, 6, 7, 8, 9)
	w := newWorld(t, 1, config(9, []int{1, 2, 3, 4, 5, 6, 7}, 8, 9))
	for _, h := range []int{5, 6, 7} {
		w.down[h] = true
	}
	if a := w.pass(d); a.Acts() || a.RecheckIn != grace {
		t.Fatalf("acted at once on dead voters, or no recheck at the grace: %s (recheck in %s)", a, a.RecheckIn)
	}
	if ft := w.faultTolerance(); ft != 0 {
		t.Fatalf("fault tolerance %d before, want 0", ft)
	}
	w.now = w.now.Add(grace)
	last := w.settle(d, time.Second, 10)
	t.Logf("steps: %s", w.steps())
	if ft := w.faultTolerance(); ft < 2 {
		t.Fatalf("fault tolerance %d after %s, want 2", ft, w.steps())
	}
	if len(w.actions) != 4 {
		t.Errorf("%d reconfigs (%s), want 4: two votes handed over, one change each", len(w.actions), w.steps())
	}
	if !strings.Contains(last.Reason, "no healthy non-voter") {
		t.Errorf("the voter left dead is not reported: %s", last.Reason)
	}
	if w.cfg.Voters() != 7 {
		t.Errorf("%d voters, want 7", w.cfg.Voters())
	}
}

// TestPlan_votesFollowHealth_cases covers the edges: no spare member, a spare that lags, a voter
// down for less than the grace.
func TestPlan_votesFollowHealth_cases(t *testing.T) {
	grace := DefaultRemovalGrace
	long := t0.Add(-grace - time.Second)
	deadFor := func(o Observed, since time.Time, hosts ...int) Observed {
		o.Memory.UnreachableSince = map[string]time.Time{}
		for _, h := range hosts {
			o.Memory.UnreachableSince[host(h)] = since
		}
		return o
	}
	lagging := func(o Observed, h int, lag time.Duration) Observed {
		for i := range o.Status.Members {
			o.Status.Members[i].Optime = t0
			if o.Status.Members[i].Name == host(h) {
				o.Status.Members[i].Optime = t0.Add(-lag)
			}
		}
		return o
	}
	down := map[int]int{5: StateDown, 6: StateDown, 7: StateDown}
	runPlanCases(t, []planCase{
		{name: "no healthy non-voter: votes stay", d: listed(1, 1, 2, 3, 4, 5, 6, 7), kind: KindNone,
			o: deadFor(onPrimary(1, config(9, []int{1, 2, 3, 4, 5, 6, 7}), down), long, 5, 6, 7),
			check: func(t *testing.T, a Action) {
				if a.Converged || !strings.Contains(a.Reason, "no healthy non-voter") {
					t.Errorf("reason: %s", a.Reason)
				}
			}},
		{name: "dead voter at the limit, spare ready: the dead one loses its vote", d: listed(1, 1, 2, 3, 4, 5, 6, 7, 8),
			kind: KindReconfig, step: StepDemote, member: host(5),
			o: deadFor(onPrimary(1, config(9, []int{1, 2, 3, 4, 5, 6, 7}, 8), down), long, 5, 6, 7),
			check: func(t *testing.T, a Action) {
				if !strings.Contains(a.Reason, host(8)) {
					t.Errorf("reason should name the heir: %s", a.Reason)
				}
			}},
		{name: "dead voter within the grace: votes stay", d: listed(1, 1, 2, 3, 4, 5, 6, 7, 8), kind: KindNone,
			o: deadFor(onPrimary(1, config(9, []int{1, 2, 3, 4, 5, 6, 7}, 8), down), t0.Add(-time.Second), 5, 6, 7),
			check: func(t *testing.T, a Action) {
				if a.RecheckIn != grace-time.Second {
					t.Errorf("recheck in %s, want when the grace ends", a.RecheckIn)
				}
			}},
		{name: "spare lags the primary: not an heir yet", d: listed(1, 1, 2, 3, 4, 5, 6, 7, 8), kind: KindNone,
			o: lagging(deadFor(onPrimary(1, config(9, []int{1, 2, 3, 4, 5, 6, 7}, 8), down), long, 5, 6, 7), 8, time.Minute),
			check: func(t *testing.T, a Action) {
				if !a.Poll || !strings.Contains(a.Reason, "behind the primary") {
					t.Errorf("want a poll while %s catches up: %s", host(8), a)
				}
			}},
		{name: "odd voters with one dead and a spare: hand over", d: listed(1, 1, 2, 3, 4),
			kind: KindReconfig, step: StepDemote, member: host(3),
			o: deadFor(onPrimary(1, config(9, []int{1, 2, 3}, 4), map[int]int{3: StateDown}), long, 3)},
		{name: "even voters with one dead and a spare: promote first", d: listed(1, 1, 2, 3, 4, 5),
			kind: KindReconfig, step: StepPromote, member: host(5),
			o: deadFor(onPrimary(1, config(9, []int{1, 2, 3, 4}, 5), map[int]int{3: StateDown}), long, 3)},
	})
}

// TestPlan_demoteThenRemove: a member gone from metadata for the grace but still running
// (decommissioned, still stopping) first loses its vote, then is removed once gone for twice the
// grace, so that it cannot take the quorum with it when it stops.
func TestPlan_demoteThenRemove(t *testing.T) {
	grace := DefaultRemovalGrace
	w := newWorld(t, 1, config(5, []int{1, 2, 3, 4, 5, 6, 7}))
	// Four of seven voters leave metadata while running.
	d := listed(1, 1, 2, 3)
	a := w.pass(d)
	if a.Acts() || a.RecheckIn != grace {
		t.Fatalf("acted within the grace, or no recheck at its end: %s (in %s)", a, a.RecheckIn)
	}
	w.now = w.now.Add(grace)
	for i := range 4 {
		a := w.pass(d)
		if a.Step != StepDemote {
			t.Fatalf("pass %d after the grace: %s, want a demotion (%s)", i, a, w.steps())
		}
	}
	if w.cfg.Voters() != 3 || len(w.cfg.Members) != 7 {
		t.Fatalf("config %+v, want the four still there without votes", w.cfg.Members)
	}
	// They stop now: the quorum stays, since they no longer vote.
	for _, h := range []int{4, 5, 6, 7} {
		w.down[h] = true
	}
	if up, voters := w.votersUp(w.cfg); up < voters/2+1 {
		t.Fatalf("stopping the decommissioned members lost the majority: %d of %d", up, voters)
	}
	a = w.pass(d)
	if a.Acts() {
		t.Fatalf("removed before twice the grace or the unreachable grace: %s", a)
	}
	w.now = w.now.Add(grace)
	w.settle(d, time.Second, 10)
	if len(w.cfg.Members) != 3 || w.cfg.Voters() != 3 {
		t.Fatalf("config %+v after twice the grace, want the three listed", w.cfg.Members)
	}
	for _, a := range w.actions[4:] {
		if a.Step != StepRemove {
			t.Errorf("after the demotions: %s", a)
		}
	}
}

// TestPlan_primaryLeavesMetadata: the primary's own host leaves metadata. After the grace it
// steps down to a caught-up electable secondary (never while none is caught up); the next primary
// takes its vote and removes it.
func TestPlan_primaryLeavesMetadata(t *testing.T) {
	grace := DefaultRemovalGrace
	cfg := config(5, []int{1, 2, 3})
	d1 := listed(1, 2, 3) // host 1's own view: itself gone
	w := newWorld(t, 1, cfg)
	if a := w.pass(d1); a.Acts() {
		t.Fatalf("acted within the grace: %s", a)
	}
	w.now = w.now.Add(grace)
	w.lag[2], w.lag[3] = time.Minute, time.Minute
	if a := w.pass(d1); a.Kind != KindWait || !strings.Contains(a.Reason, "not stepping down") {
		t.Fatalf("stepped down with no caught-up secondary: %s", a)
	}
	w.lag[3] = 0
	if a := w.pass(d1); a.Kind != KindStepDown || !strings.Contains(a.Reason, host(3)) {
		t.Fatalf("want a step-down to %s, got %s", host(3), a)
	}
	// Host 3 wins the election; its agent sees host 1 gone and still reachable.
	w3 := newWorld(t, 3, cfg)
	w3.mem.AbsentSince = map[string]time.Time{host(1): t0}
	w3.now = t0.Add(grace)
	d3 := listed(3, 2, 3)
	if a := w3.pass(d3); a.Step != StepDemote || a.Member != host(1) {
		t.Fatalf("new primary: %s, want %s demoted", a, host(1))
	}
	w3.now = t0.Add(2 * grace)
	if a := w3.pass(d3); a.Step != StepRemove || a.Member != host(1) {
		t.Fatalf("new primary at twice the grace: %s, want %s removed", a, host(1))
	}
	if _, ok := w3.cfg.Member(host(1)); ok || len(w3.cfg.Members) != 2 {
		t.Fatalf("config %+v, want %s gone", w3.cfg.Members, host(1))
	}
}

// TestPlan_stuckSyncDoesNotBlock: a non-voter stuck in STARTUP2 no longer keeps the voter count
// even once it has been syncing for the grace.
func TestPlan_stuckSyncDoesNotBlock(t *testing.T) {
	grace := DefaultRemovalGrace
	d := listed(1, 1, 2, 3, 4, 5)
	w := newWorld(t, 1, config(5, []int{1, 2, 3, 4}, 5))
	w.state[5] = StateStartup2
	a := w.pass(d)
	if a.Acts() || !a.Poll || a.RecheckIn != grace {
		t.Fatalf("while %s syncs: %s (poll %t, recheck in %s), want a poll and a recheck at the grace", host(5), a, a.Poll, a.RecheckIn)
	}
	w.now = w.now.Add(grace)
	a = w.pass(d)
	if a.Step != StepDemote || w.cfg.Voters() != 3 {
		t.Fatalf("stuck member still blocks the odd count: %s", a)
	}
}

// TestPlan_batchedAdditions: every missing member joins in one reconfig without a vote; the
// votes then follow one per reconfig.
func TestPlan_batchedAdditions(t *testing.T) {
	var hosts []int
	for h := 1; h <= 50; h++ {
		hosts = append(hosts, h)
	}
	d := listed(1, hosts...)
	w := newWorld(t, 1, config(2, []int{1, 2, 3}))
	a := w.pass(d)
	if a.Step != StepAdd || len(a.Config.Members) != 50 || votingDiff(config(2, []int{1, 2, 3}), *a.Config) != 0 {
		t.Fatalf("want one reconfig adding 47 non-voters, got %s", a)
	}
	ids := map[int]bool{}
	for _, m := range a.Config.Members {
		if ids[m.ID] {
			t.Fatalf("_id %d twice", m.ID)
		}
		ids[m.ID] = true
		if m.Host != host(1) && m.Host != host(2) && m.Host != host(3) && (m.Votes != 0 || m.Priority != 0) {
			t.Errorf("new member %+v joins with a vote", m)
		}
	}
	w.settle(d, time.Second, 10)
	if w.cfg.Voters() != 7 || len(w.actions) != 5 {
		t.Fatalf("%d voters after %s; want 7 after 5 reconfigs (one add, four promotions)", w.cfg.Voters(), w.steps())
	}

	// At the 50-member limit the batch stops; a member of another set is never added.
	d = listed(1, 1, 2, 3, 4, 5, 6)
	o := onPrimary(1, config(2, []int{1, 2, 3}), nil)
	o = probedEmpty(d, o)
	o.Foreign = []ForeignNode{newForeign(host(5), "letschat", "ffff")}
	o.Probed[host(5)] = Probe{Standing: StandingForeign}
	a = Plan(d, o, t0, Settings{})
	if a.Step != StepAdd || len(a.Config.Members) != 5 {
		t.Fatalf("want %s and %s added, got %s", host(4), host(6), a)
	}
	if _, ok := a.Config.Member(host(5)); ok {
		t.Fatalf("a member of another set was added: %s", a)
	}
	// A listed member that did not answer whether it holds a set waits; the others join.
	o = probedEmpty(d, onPrimary(1, config(2, []int{1, 2, 3}), nil))
	o.Probed[host(6)] = Probe{Standing: StandingUnknown, Reason: "connection refused"}
	delete(o.Probed, host(5))
	a = Plan(d, o, t0, Settings{})
	if a.Step != StepAdd || len(a.Config.Members) != 4 {
		t.Fatalf("want %s alone added, got %s", host(4), a)
	}
	o.Config = a.Config
	if a = Plan(d, o, t0, Settings{}); a.Acts() || !a.Poll || a.Converged {
		t.Fatalf("with only unanswered members missing: %s (poll %t), want a poll", a, a.Poll)
	}
	full := Config{Name: "letschat", Version: 3, Term: 1}
	for h := 1; h <= 49; h++ {
		votes := 0
		if h <= 7 {
			votes = 1
		}
		full.Members = append(full.Members, cm(h, h-1, votes))
	}
	dFull := listed(1, append(hosts[:49:49], 51, 52)...)
	a = Plan(dFull, probedEmpty(dFull, onPrimary(1, full, nil)), t0, Settings{})
	if a.Step != StepAdd || len(a.Config.Members) != 50 || !strings.Contains(a.Reason, host(51)) {
		t.Fatalf("want the first missing member added up to the limit, got %s", a)
	}
}

// TestPlan_pollWhilePending: the primary's agent is told to poll while the set changes by itself.
func TestPlan_pollWhilePending(t *testing.T) {
	o := onPrimary(1, config(3, []int{1, 2, 3}), nil)
	o.Committed = false
	if a := Plan(listed(1, 1, 2, 3), o, t0, Settings{}); !a.Poll {
		t.Errorf("uncommitted config: no poll: %s", a)
	}
	syncing := onPrimary(1, config(3, []int{1, 2, 3}, 4), map[int]int{4: StateStartup2})
	syncing.Memory.SyncingSince = map[string]time.Time{host(4): t0}
	if a := Plan(listed(1, 1, 2, 3, 4), syncing, t0, Settings{}); !a.Poll || a.Converged {
		t.Errorf("member syncing: %s (poll %t)", a, a.Poll)
	}
	if a := Plan(listed(1, 1, 2, 3), onPrimary(1, config(3, []int{1, 2, 3}), nil), t0, Settings{}); a.Poll || a.RecheckIn != 0 || !a.Converged {
		t.Errorf("converged set: %s (poll %t, recheck in %s)", a, a.Poll, a.RecheckIn)
	}
}
