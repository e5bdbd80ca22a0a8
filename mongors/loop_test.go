package mongors_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/replset-agent/replset-agent/mongors"
	"github.com/replset-agent/replset-agent/mongors/fake"
)

// removedSet builds a fake whose set was {0,1,2}; node 2 was then removed by a reconfig (it keeps
// its data) and nodes 0 and 1 are gone. Nodes 3 and 4 are fresh.
func removedSet(t *testing.T) (*fake.Cluster, []string) {
	t.Helper()
	addrs := fakeAddrs(5)
	set := fake.New("letschat", addrs...)
	set.SetConfig(threeVoters(addrs), addrs[0])
	two := threeVoters(addrs)
	two.Version = 2
	two.Members = two.Members[:2]
	if err := set.Client(addrs[0]).Reconfig(context.Background(), addrs[0], two); err != nil {
		t.Fatal(err)
	}
	if !set.Removed(addrs[2]) {
		t.Fatal("the fake did not keep the removed member's data")
	}
	set.SetUp(addrs[0], false)
	set.SetUp(addrs[1], false)
	return set, addrs
}

// TestObserve_standing: the hello of a removed node names no set, like an empty one's (real
// mongod, §2); Observe tells them apart with replSetGetStatus and keeps any other answer as
// unknown, with its reason.
func TestObserve_standing(t *testing.T) {
	ctx := context.Background()
	set, addrs := removedSet(t)
	set.FailNext("replSetGetStatus", &mongors.CommandError{Op: "replSetGetStatus", Addr: addrs[4], Code: 13, Name: "Unauthorized", Message: "command replSetGetStatus requires authentication"})
	// The failure is served to whichever node is asked first; ask the local one alone first.
	lo := mongors.ObserveLocal(ctx, set.Client(addrs[2]))
	if lo.Local.Hello.HasConfig() {
		t.Fatalf("removed node's hello names a set: %+v (mongod's does not)", lo.Local.Hello)
	}
	if lo.Local.Standing != mongors.StandingUnknown || !strings.Contains(lo.Local.StandingReason, "Unauthorized (13)") {
		t.Fatalf("local standing %q (%s), want unknown with the server's answer", lo.Local.Standing, lo.Local.StandingReason)
	}
	o := mongors.Observe(ctx, set.Client(addrs[2]), desiredOf(addrs[2], addrs[2], addrs[3], addrs[4]))
	if o.Local.Standing != mongors.StandingRemoved || !o.Local.HoldsSet() {
		t.Fatalf("local standing %q, want removed", o.Local.Standing)
	}
	for _, c := range o.Candidates {
		if c.Standing != mongors.StandingEmpty || !c.ProvenEmpty() {
			t.Errorf("candidate %s standing %q, want empty", c.Addr, c.Standing)
		}
	}
}

// TestReconciler_removedMemberBlocksInitiation: a node removed from a set answers hello like an
// empty one. Listed among fresh nodes, it must neither seed a new set nor be initiated over.
func TestReconciler_removedMemberBlocksInitiation(t *testing.T) {
	for _, tc := range []struct {
		name  string
		order func(addrs []string) []string // members in creation order
	}{
		{"removed node first: it would seed", func(a []string) []string { return []string{a[2], a[3], a[4]} }},
		{"fresh node first: it would initiate over it", func(a []string) []string { return []string{a[3], a[4], a[2]} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set, addrs := removedSet(t)
			members := tc.order(addrs)
			ag := startAgents(t, set, addrs[2:], fastLoop)
			ag.desire(members...)
			eventually(t, 5*time.Second, "ten passes of every agent", func() bool {
				for _, r := range ag.byAddr {
					if r.Status().Passes < 10 {
						return false
					}
				}
				return true
			})
			if n := countOps(set.Calls(), "replSetInitiate"); n != 0 {
				t.Fatalf("%d initiates over a removed member's data", n)
			}
			st := ag.byAddr[members[0]].Status()
			if r := st.LastDecision.Action.Reason; !strings.Contains(r, "removed") || !strings.Contains(r, addrs[2]) {
				t.Errorf("first agent's reason does not name the removed member: %s", r)
			}
		})
	}
}

// TestReconciler_recheckBeforeInitiate: between the pass that decides to initiate and the send, a
// listed node joins another set. The read just before sending sees it, and nothing is sent.
func TestReconciler_recheckBeforeInitiate(t *testing.T) {
	addrs := fakeAddrs(3)
	set := fake.New("letschat", addrs...)
	log, _ := logtest.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	var once sync.Once
	log.AddHook(hookFunc(func(e *logrus.Entry) {
		if strings.HasPrefix(e.Message, "initiate planned") {
			once.Do(func() {
				set.JoinOther(addrs[2], mongors.Config{Name: "letschat", Version: 1, Members: []mongors.ConfigMember{{Host: addrs[2], Votes: 1, Priority: 1}}})
			})
		}
	}))
	cfg := fastLoop
	cfg.Log = log
	ag := startAgents(t, set, addrs[:1], cfg)
	ag.desire(addrs...)
	r := ag.byAddr[addrs[0]]
	eventually(t, 5*time.Second, "the re-check's wait", func() bool {
		st := r.Status()
		return st.LastDecision != nil && strings.Contains(st.LastDecision.Action.Reason, addrs[2]) && st.Passes >= 3
	})
	if n := countOps(set.Calls(), "replSetInitiate"); n != 0 {
		t.Fatalf("%d initiates sent after the re-check saw %s join another set", n, addrs[2])
	}
}

type hookFunc func(*logrus.Entry)

func (hookFunc) Levels() []logrus.Level       { return logrus.AllLevels }
func (f hookFunc) Fire(e *logrus.Entry) error { f(e); return nil }

// TestReconciler_foreignSetAlarm: metadata lists a mongod that holds another set under the same
// name (another replicaSetId). The primary's agent never adds it, raises the alarm with advice,
// adds the other listed member meanwhile, and clears the alarm once the node is wiped and added.
func TestReconciler_foreignSetAlarm(t *testing.T) {
	addrs := fakeAddrs(5)
	set := fake.New("letschat", addrs...)
	set.SetConfig(threeVoters(addrs), addrs[0])
	set.JoinOther(addrs[3], mongors.Config{Name: "letschat", Version: 4, Members: []mongors.ConfigMember{{Host: addrs[3], Votes: 1, Priority: 1}}})
	m := newRecMetrics()
	log, hook := logtest.NewNullLogger()
	cfg := fastLoop
	cfg.Metrics, cfg.Log = m, log
	ag := startAgents(t, set, addrs[:1], cfg)
	r := ag.byAddr[addrs[0]]
	ag.desire(addrs...)
	eventually(t, 5*time.Second, "the alarm and the other member added", func() bool {
		_, ok := set.Config().Member(addrs[4])
		return ok && len(r.Status().ForeignSet) == 1
	})
	if _, ok := set.Config().Member(addrs[3]); ok {
		t.Fatal("the member of another set was added")
	}
	f := r.Status().ForeignSet[0]
	if f.Addr != addrs[3] || f.ReplicaSetID == "" || !strings.Contains(f.Advice, "data directory aside") {
		t.Errorf("alarm %+v lacks the node, its set's ID or the advice", f)
	}
	loud := false
	for _, e := range hook.AllEntries() {
		if e.Level == logrus.ErrorLevel && strings.Contains(e.Message, "FOREIGN SET") && e.Data["node"] == addrs[3] {
			loud = true
		}
	}
	if !loud {
		t.Error("no error-level line for the foreign set")
	}
	set.Wipe(addrs[3])
	eventually(t, 5*time.Second, "the wiped node added, the alarm cleared", func() bool {
		_, ok := set.Config().Member(addrs[3])
		return ok && len(r.Status().ForeignSet) == 0
	})
	reports := m.foreignReports()
	if len(reports) < 2 || reports[0] != 1 || reports[len(reports)-1] != 0 {
		t.Errorf("foreign-set gauge reports %v, want 1 then 0", reports)
	}
	initial := threeVoters(addrs)
	checkCalls(t, set.Calls(), &initial)
}

// TestReconciler_addsOnlyWhatAnswers: a listed member whose mongod does not answer is not added
// on a guess (it might hold another set); the members that answer join meanwhile, and it joins
// once it answers.
func TestReconciler_addsOnlyWhatAnswers(t *testing.T) {
	addrs := fakeAddrs(5)
	set := fake.New("letschat", addrs...)
	set.SetConfig(threeVoters(addrs), addrs[0])
	set.SetUp(addrs[4], false)
	ag := startAgents(t, set, addrs[:1], fastLoop)
	r := ag.byAddr[addrs[0]]
	ag.desire(addrs...)
	eventually(t, 5*time.Second, "the member that answers added", func() bool {
		_, ok := set.Config().Member(addrs[3])
		return ok
	})
	eventually(t, 5*time.Second, "ten more passes", func() bool { return r.Status().Passes > 10 })
	if _, ok := set.Config().Member(addrs[4]); ok {
		t.Fatal("a member that never answered was added")
	}
	if reason := r.Status().LastDecision.Action.Reason; !strings.Contains(reason, addrs[4]) {
		t.Errorf("the pending member is not named: %s", reason)
	}
	set.SetUp(addrs[4], true)
	eventually(t, 5*time.Second, "the member added once it answers", func() bool {
		_, ok := set.Config().Member(addrs[4])
		return ok
	})
}

// TestReconciler_votesFollowHealth: three of seven voters' hosts die while metadata still lists
// them; the agents hand their votes to the two healthy non-voters within a few passes.
func TestReconciler_votesFollowHealth(t *testing.T) {
	addrs := fakeAddrs(9)
	set := fake.New("letschat", addrs...)
	start := installedConfig(addrs, 7)
	set.SetConfig(start, addrs[0])
	dead := addrs[4:7]
	for _, a := range dead {
		set.SetUp(a, false)
	}
	var live []string
	live = append(live, addrs[:4]...)
	live = append(live, addrs[7:]...)
	ag := startAgents(t, set, live, fastLoop)
	ag.desire(addrs...)
	eventually(t, 10*time.Second, "the votes on healthy members", func() bool {
		c := set.Config()
		up := 0
		for _, m := range c.Members {
			if m.Votes > 0 && !contains(dead, m.Host) {
				up++
			}
		}
		return c.Voters() == 7 && up == 6
	})
	checkCalls(t, set.Calls(), &start)
}

// TestReconciler_primaryLeavesMetadata: the primary's host leaves metadata while it runs. After
// the grace it steps down; the next primary takes its vote, then removes it at twice the grace.
func TestReconciler_primaryLeavesMetadata(t *testing.T) {
	addrs := fakeAddrs(4)
	set := fake.New("letschat", addrs...)
	start := installedConfig(addrs, 3)
	set.SetConfig(start, addrs[0])
	ag := startAgents(t, set, addrs, fastLoop)
	ag.desire(addrs...)
	left := time.Now()
	ag.desire(addrs[1:]...) // every agent's view, the primary's own included
	eventually(t, 10*time.Second, "the old primary removed", func() bool {
		_, ok := set.Config().Member(addrs[0])
		return !ok
	})
	grace := fastLoop.Settings.RemovalGrace
	var steppedDown, demoted, removedAt time.Time
	for _, c := range set.Calls() {
		switch {
		case c.Op == "replSetStepDown" && c.Addr == addrs[0] && steppedDown.IsZero():
			steppedDown = c.At
		case c.Op == "replSetReconfig" && demoted.IsZero():
			if m, ok := c.Config.Member(addrs[0]); ok && m.Votes == 0 {
				demoted = c.At
			}
		case c.Op == "replSetReconfig" && removedAt.IsZero():
			if _, ok := c.Config.Member(addrs[0]); !ok {
				removedAt = c.At
			}
		}
	}
	if steppedDown.IsZero() || steppedDown.Sub(left) < grace {
		t.Errorf("step-down %v after the primary left metadata, want one after the %s grace", steppedDown.Sub(left), grace)
	}
	if demoted.IsZero() || demoted.Before(steppedDown) {
		t.Errorf("the old primary's vote was not taken after its step-down (demoted %v)", demoted.Sub(left))
	}
	if removedAt.Sub(left) < 2*grace || removedAt.Before(demoted) {
		t.Errorf("removed %v after leaving, want after the demotion and twice the grace %s", removedAt.Sub(left), 2*grace)
	}
	if p := set.Primary(); p == addrs[0] || p == "" {
		t.Errorf("primary %q", p)
	}
	checkCalls(t, set.Calls(), &start)
}

// TestReconciler_growsTo50InFewReconfigs: 47 new hosts join in one reconfig and four promotions
// follow at once, each as soon as the previous config is committed, with no re-check tick (an hour)
// to help: the loop re-plans after each action and polls while the commit is pending.
func TestReconciler_growsTo50InFewReconfigs(t *testing.T) {
	addrs := fakeAddrs(50)
	set := fake.New("letschat", addrs...)
	set.SetConfig(threeVoters(addrs), addrs[0])
	set.HoldCommit(true)
	cfg := fastLoop
	cfg.Recheck = time.Hour
	cfg.RetryMax = time.Hour
	cfg.PollMin = time.Millisecond
	ag := startAgents(t, set, addrs[:1], cfg)
	ag.desire(addrs...)
	eventually(t, 5*time.Second, "the 47 additions sent", func() bool { return len(set.Config().Members) == 50 })
	time.Sleep(20 * time.Millisecond)
	set.HoldCommit(false) // commitment arrives later; only the poll can see it
	eventually(t, 5*time.Second, "seven voters of 50", func() bool { return set.Config().Voters() == 7 })
	if n := countOps(set.Calls(), "replSetReconfig"); n > 6 {
		t.Errorf("%d reconfigs for 3 → 50 members, want at most 6", n)
	}
	initial := threeVoters(addrs)
	checkCalls(t, set.Calls(), &initial)
	st := ag.byAddr[addrs[0]].Status()
	tm := st.LastAction.Timing
	if tm == nil || tm.Sent.IsZero() || tm.Returned.Before(tm.Sent) || tm.Observed.Before(tm.Observe) || tm.Planned.Before(tm.Observed) || tm.Sent.Before(tm.Planned) {
		t.Fatalf("timing of the last action out of order: %+v", tm)
	}
	eventually(t, 5*time.Second, "the last promotion seen committed", func() bool {
		la := ag.byAddr[addrs[0]].Status().LastAction
		return la.Timing != nil && !la.Timing.Committed.IsZero() && !la.Timing.Committed.Before(la.Timing.Returned)
	})
}

// TestReconciler_stopMidReconfig: the agent is told to stop while its reconfig is in flight. The
// command runs to its end and its outcome is reported truthfully; nothing new starts.
func TestReconciler_stopMidReconfig(t *testing.T) {
	addrs := fakeAddrs(4)
	set := fake.New("letschat", addrs...)
	set.SetConfig(threeVoters(addrs), addrs[0])
	log, hook := logtest.NewNullLogger()
	cfg := fastLoop
	cfg.Log = log
	c := cfg
	c.Client = set.Client(addrs[0])
	r, err := mongors.NewReconciler(c)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	set.OnCall("replSetReconfig", cancel) // the signal arrives while mongod applies the change
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx) }()
	r.SetDesired(desiredOf(addrs[0], addrs...))
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if _, ok := set.Config().Member(addrs[3]); !ok {
		t.Fatal("the reconfig in flight was not applied")
	}
	var doneLine, failed bool
	for _, e := range hook.AllEntries() {
		switch e.Message {
		case "action done":
			doneLine = e.Data["step"] == mongors.StepAdd && e.Data["stopping"] == true
		case "action failed; retrying":
			failed = true
		}
	}
	if !doneLine || failed {
		t.Errorf("log says done %t, failed %t; want the applied add reported done", doneLine, failed)
	}
	if st := r.Status(); st.LastError != nil {
		t.Errorf("last error %+v for an action that succeeded", st.LastError)
	}
	if n := countOps(set.Calls(), "replSetReconfig"); n != 1 {
		t.Errorf("%d reconfigs, want the one in flight only", n)
	}
}

// countingClient counts the commands one agent sends, by op.
type countingClient struct {
	mongors.Client
	mu sync.Mutex
	n  map[string]int
}

func (c *countingClient) count(op string) {
	c.mu.Lock()
	c.n[op]++
	c.mu.Unlock()
}

func (c *countingClient) get(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[op]
}

func (c *countingClient) Hello(ctx context.Context, addr string) (mongors.Hello, error) {
	c.count("hello")
	return c.Client.Hello(ctx, addr)
}

func (c *countingClient) GetConfig(ctx context.Context, addr string, commitment bool) (mongors.Config, bool, error) {
	c.count("replSetGetConfig")
	return c.Client.GetConfig(ctx, addr, commitment)
}

func (c *countingClient) GetStatus(ctx context.Context, addr string) (mongors.ReplStatus, error) {
	c.count("replSetGetStatus")
	return c.Client.GetStatus(ctx, addr)
}

// TestReconciler_secondaryObservesLightly: on a re-check, a secondary's agent reads only its own
// node's hello; the primary's agent reads the set. A change of the local node's role, or of the
// desired state, brings a full read at once.
func TestReconciler_secondaryObservesLightly(t *testing.T) {
	addrs := fakeAddrs(3)
	set := fake.New("letschat", addrs...)
	set.SetConfig(threeVoters(addrs), addrs[0])
	clients := map[string]*countingClient{}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	recs := map[string]*mongors.Reconciler{}
	for _, a := range addrs {
		cc := &countingClient{Client: set.Client(a), n: map[string]int{}}
		clients[a] = cc
		c := fastLoop
		c.Client = cc
		c.FullEvery = 1000
		r, err := mongors.NewReconciler(c)
		if err != nil {
			t.Fatal(err)
		}
		recs[a] = r
		r.SetDesired(desiredOf(a, addrs...))
		wg.Go(func() { _ = r.Run(ctx) })
	}
	sec := recs[addrs[1]]
	eventually(t, 5*time.Second, "twenty passes of the secondary's agent", func() bool { return sec.Status().Passes >= 20 })
	if n := clients[addrs[1]].get("replSetGetStatus"); n > 2 {
		t.Errorf("the secondary's agent read replSetGetStatus %d times in %d passes", n, sec.Status().Passes)
	}
	if st := sec.Status(); st.LightPasses < st.Passes-2 {
		t.Errorf("%d of %d passes light", st.LightPasses, st.Passes)
	}
	if n, p := clients[addrs[0]].get("replSetGetStatus"), recs[addrs[0]].Status().Passes; int64(n) < p {
		t.Errorf("the primary's agent read replSetGetStatus %d times in %d passes", n, p)
	}
	// The primary goes away: the secondary's agent sees its role change and reads the set again.
	before := clients[addrs[1]].get("replSetGetConfig")
	set.SetUp(addrs[0], false)
	eventually(t, 5*time.Second, "a full read after the primary left", func() bool {
		return clients[addrs[1]].get("replSetGetConfig") > before
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestReconciler_logsStagesOnOneTimeLine: the "action done" and "config committed" lines carry
// every stage of the change in ms from the first one, and that first stage's wall-clock time with
// nanoseconds (stagesFrom), from which the benchmark puts the stages of separate agent processes
// and the metadata change on one time line. The stages are in order and the anchor is the change's
// Seen time.
func TestReconciler_logsStagesOnOneTimeLine(t *testing.T) {
	addrs := fakeAddrs(4)
	set := fake.New("letschat", addrs...)
	set.SetConfig(threeVoters(addrs), addrs[0])
	log, hook := logtest.NewNullLogger()
	cfg := fastLoop
	cfg.Log = log
	cfg.Client = set.Client(addrs[0])
	r, err := mongors.NewReconciler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	d := desiredOf(addrs[0], addrs...)
	d.Seen = time.Now().Add(-3 * time.Millisecond)
	d.Read = d.Seen.Add(time.Millisecond)
	r.SetDesired(d)
	lines := map[string]*logrus.Entry{}
	eventually(t, 5*time.Second, "the addition done and seen committed", func() bool {
		for _, e := range hook.AllEntries() {
			if (e.Message == "action done" || e.Message == "config committed") && e.Data["step"] == mongors.StepAdd {
				lines[e.Message] = e
			}
		}
		return len(lines) == 2
	})
	for msg, e := range lines {
		from, err := time.Parse(time.RFC3339Nano, fmt.Sprint(e.Data["stagesFrom"]))
		if err != nil || !from.Equal(d.Seen) {
			t.Errorf("%s: stagesFrom %v (%v), want the change's Seen %s", msg, e.Data["stagesFrom"], err, d.Seen.Format(time.RFC3339Nano))
		}
		stages := []string{"seenMs", "readMs", "handedMs", "observeMs", "observedMs", "plannedMs", "sentMs", "returnedMs"}
		if msg == "config committed" {
			stages = append(stages, "committedMs")
		}
		prev := -1.0
		for _, k := range stages {
			v, err := strconv.ParseFloat(fmt.Sprint(e.Data[k]), 64)
			if err != nil || v < prev {
				t.Errorf("%s: %s = %v after %.3f, want a number of ms in stage order", msg, k, e.Data[k], prev)
			}
			prev = v
		}
		if got := e.Data["readMs"]; got != "1.000" {
			t.Errorf("%s: readMs %v, want 1.000 (Read is 1 ms after Seen)", msg, got)
		}
	}
}
