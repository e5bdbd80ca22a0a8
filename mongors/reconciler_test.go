package mongors_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/replset-agent/replset-agent/mongors"
	"github.com/replset-agent/replset-agent/mongors/fake"
)

func fakeAddrs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("10.42.1.%d:27017", i+1)
	}
	return out
}

var fastLoop = mongors.ReconcilerConfig{
	Recheck:  20 * time.Millisecond,
	RetryMin: 5 * time.Millisecond,
	RetryMax: 40 * time.Millisecond,
	Settings: mongors.Settings{RemovalGrace: 150 * time.Millisecond, NoPrimaryAlarm: 100 * time.Millisecond, InitiateSettle: 30 * time.Millisecond},
}

func voters(c *mongors.Config) int {
	if c == nil {
		return 0
	}
	return c.Voters()
}

func hosts(c *mongors.Config) string {
	if c == nil {
		return ""
	}
	var hs []string
	for _, m := range c.Members {
		hs = append(hs, m.Host)
	}
	return strings.Join(hs, ",")
}

func TestReconciler_initiateGrowShrink(t *testing.T) {
	addrs := fakeAddrs(9)
	set := fake.New("letschat", addrs...)
	ag := startAgents(t, set, addrs, fastLoop)

	ag.desire(addrs[:2]...)
	time.Sleep(100 * time.Millisecond)
	if set.Config() != nil {
		t.Fatal("initiated with two members listed")
	}
	ag.desire(addrs[:3]...)
	eventually(t, 5*time.Second, "initiate", func() bool { return set.Config() != nil })
	if p := set.Primary(); p != addrs[0] {
		t.Errorf("primary %s, want the initiator %s", p, addrs[0])
	}
	for _, n := range []int{5, 7, 9} {
		ag.desire(addrs[:n]...)
		want := min(n, 7)
		eventually(t, 5*time.Second, fmt.Sprintf("%d members, %d voters", n, want), func() bool {
			c := set.Config()
			return len(c.Members) == n && c.Voters() == want
		})
	}
	// Hosts go away two at a time, as a careful scale-down does; losing more than a minority of
	// voters at once would (rightly) leave the set without a primary.
	for _, n := range []int{7, 5, 3} {
		ag.desire(addrs[:n]...)
		for _, a := range addrs[n : n+2] {
			set.SetUp(a, false)
		}
		eventually(t, 5*time.Second, fmt.Sprintf("back to %d members", n), func() bool {
			c := set.Config()
			return hosts(c) == strings.Join(addrs[:n], ",") && c.Voters() == min(n, 7)
		})
	}
	checkCalls(t, set.Calls())
}

func TestReconciler_coalescesDesiredStates(t *testing.T) {
	addrs := fakeAddrs(5)
	set := fake.New("letschat", addrs...)
	r, err := mongors.NewReconciler(mongors.ReconcilerConfig{Client: set.Client(addrs[0]), Recheck: time.Hour,
		Settings: mongors.Settings{InitiateSettle: 30 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	// Without Run, every SetDesired still returns at once; the last one wins.
	for i := range 1000 {
		r.SetDesired(desiredOf(addrs[0], addrs[:1+i%5]...))
	}
	r.SetDesired(desiredOf(addrs[0], addrs[:3]...))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = r.Run(ctx); close(done) }()
	eventually(t, 5*time.Second, "initiate of the last desired state", func() bool { return set.Config() != nil })
	cancel()
	<-done
	if got := hosts(set.Config()); got != strings.Join(addrs[:3], ",") {
		t.Fatalf("initiated %s", got)
	}
	// One pass waits for the view to settle and plans again when it has; the next initiates, and
	// one more follows at once to see the result.
	if n := r.Status().Passes; n > 3 {
		t.Errorf("%d passes for one burst", n)
	}
}

func TestReconciler_retriesWithBackoff(t *testing.T) {
	addrs := fakeAddrs(4)
	set := fake.New("letschat", addrs...)
	set.SetConfig(threeVoters(addrs), addrs[0])
	for _, code := range []int32{109, 308, 10107} {
		set.FailNext("replSetReconfig", &mongors.CommandError{Op: "replSetReconfig", Addr: addrs[0], Code: code, Name: "x", Message: "busy"})
	}
	set.FailNext("replSetReconfig", &mongors.UnreachableError{Op: "replSetReconfig", Addr: addrs[0], Detail: "reset"})
	m := newRecMetrics()
	cfg := fastLoop
	cfg.Recheck = time.Hour // only the backoff can bring the next pass
	cfg.Metrics = m
	ag := startAgents(t, set, addrs[:1], cfg)
	ag.desire(addrs...)
	eventually(t, 5*time.Second, "member added after retries", func() bool { return len(set.Config().Members) == 4 })
	_, codes, _, _ := m.snapshot()
	for _, code := range []int32{109, 308, 10107, 0} {
		if codes[code] != 1 {
			t.Errorf("error code %d counted %d times, want 1", code, codes[code])
		}
	}
	eventually(t, 5*time.Second, "last error cleared", func() bool { return ag.byAddr[addrs[0]].Status().LastError == nil })
}

func TestReconciler_rejectedConfigNotResent(t *testing.T) {
	addrs := fakeAddrs(5)
	set := fake.New("letschat", addrs...)
	set.SetConfig(threeVoters(addrs), addrs[0])
	set.FailNext("replSetReconfig", &mongors.CommandError{Op: "replSetReconfig", Addr: addrs[0], Code: 103, Name: "NewReplicaSetConfigurationIncompatible", Message: "no"})
	log, hook := logtest.NewNullLogger()
	cfg := fastLoop
	cfg.Log = log
	ag := startAgents(t, set, addrs[:1], cfg)
	r := ag.byAddr[addrs[0]]
	ag.desire(addrs[:4]...)
	eventually(t, 5*time.Second, "rejection recorded", func() bool {
		st := r.Status()
		return st.LastError != nil && st.LastError.Code == 103 && !st.LastError.Retrying
	})
	time.Sleep(200 * time.Millisecond) // ten re-checks
	if n := countOps(set.Calls(), "replSetReconfig"); n != 1 {
		t.Fatalf("rejected reconfig sent %d times, want 1", n)
	}
	logged := false
	for _, e := range hook.AllEntries() {
		if e.Level == logrus.ErrorLevel && strings.Contains(fmt.Sprint(e.Data["config"]), addrs[3]) {
			logged = true
		}
	}
	if !logged {
		t.Error("the rejected config was not logged")
	}
	ag.desire(addrs...) // a new desired state lifts the hold
	eventually(t, 5*time.Second, "members added after the desired change", func() bool { return len(set.Config().Members) == 5 })
}

func TestReconciler_noPrimaryAlarm(t *testing.T) {
	addrs := fakeAddrs(3)
	set := fake.New("letschat", addrs...)
	set.SetConfig(threeVoters(addrs), addrs[0])
	m := newRecMetrics()
	log, hook := logtest.NewNullLogger()
	cfg := fastLoop
	cfg.Metrics, cfg.Log = m, log
	ag := startAgents(t, set, addrs[1:2], cfg)
	r := ag.byAddr[addrs[1]]
	ag.desire(addrs...)
	set.SetUp(addrs[0], false)
	set.SetUp(addrs[2], false)
	eventually(t, 5*time.Second, "alarm", func() bool { return r.Status().NoPrimaryAlarm })
	set.SetUp(addrs[2], true) // majority back: an election
	eventually(t, 5*time.Second, "alarm cleared", func() bool { return !r.Status().NoPrimaryAlarm })
	_, _, _, alarms := m.snapshot()
	if len(alarms) != 2 || !alarms[0] || alarms[1] {
		t.Errorf("alarm transitions %v, want [true false]", alarms)
	}
	for _, c := range set.Calls() {
		if c.Op == "replSetReconfig" || c.Op == "replSetInitiate" {
			t.Errorf("%s sent while observing", c.Op)
		}
	}
	loud := 0
	for _, e := range hook.AllEntries() {
		if e.Level == logrus.ErrorLevel {
			loud++
		}
	}
	if loud != 1 {
		t.Errorf("%d error-level lines, want exactly 1 for the alarm", loud)
	}
}

func TestReconciler_quietSteadyStateAndStatus(t *testing.T) {
	addrs := fakeAddrs(3)
	set := fake.New("letschat", addrs...)
	log, hook := logtest.NewNullLogger()
	m := newRecMetrics()
	cfg := fastLoop
	cfg.Log, cfg.Metrics = log, m
	ag := startAgents(t, set, addrs[:1], cfg)
	r := ag.byAddr[addrs[0]]
	ag.desire(addrs...)
	eventually(t, 5*time.Second, "converged", func() bool {
		d := r.Status().LastDecision
		return d != nil && d.Action.Converged
	})
	lines := len(hook.AllEntries())
	passes := r.Status().Passes
	eventually(t, 5*time.Second, "ten more passes", func() bool { return r.Status().Passes >= passes+10 })
	if extra := len(hook.AllEntries()) - lines; extra != 0 {
		t.Errorf("%d log lines during steady state", extra)
	}
	actions, _, converged, _ := m.snapshot()
	if actions["initiate/initiate"] != 1 || converged != 1 {
		t.Errorf("actions %v, converged %d", actions, converged)
	}
	st := r.Status()
	js, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"self":"` + addrs[0], `"lastDecision"`, `"converged":true`, `"observed"`} {
		if !strings.Contains(string(js), want) {
			t.Errorf("status JSON lacks %s: %s", want, js)
		}
	}
}

func TestReconciler_memberLostAndReplaced(t *testing.T) {
	// A voter's host dies and metadata replaces it with a new one: the new member is added at
	// once, the dead one leaves only after the grace, and the votes end odd.
	addrs := fakeAddrs(4)
	set := fake.New("letschat", addrs...)
	set.SetConfig(threeVoters(addrs), addrs[0])
	ag := startAgents(t, set, addrs[:1], fastLoop)
	set.SetUp(addrs[2], false)
	start := time.Now()
	ag.desire(addrs[0], addrs[1], addrs[3])
	eventually(t, 5*time.Second, "replacement voting, dead member gone", func() bool {
		c := set.Config()
		_, dead := c.Member(addrs[2])
		n, _ := c.Member(addrs[3])
		return !dead && n.Votes == 1 && c.Voters() == 3
	})
	for _, c := range set.Calls() {
		if c.Op == "replSetReconfig" {
			if _, ok := c.Config.Member(addrs[2]); !ok && c.At.Sub(start) < fastLoop.Settings.RemovalGrace {
				t.Fatalf("removed %s after the loss, before the %s grace", c.At.Sub(start), fastLoop.Settings.RemovalGrace)
			}
		}
	}
	initial := threeVoters(addrs)
	checkCalls(t, set.Calls(), &initial)
}

func threeVoters(addrs []string) mongors.Config {
	c := mongors.Config{Name: "letschat", Version: 1, Term: 1}
	for i, a := range addrs[:3] {
		c.Members = append(c.Members, mongors.ConfigMember{ID: i, Host: a, Votes: 1, Priority: 1})
	}
	return c
}

func countOps(calls []fake.Call, op string) int {
	n := 0
	for _, c := range calls {
		if c.Op == op {
			n++
		}
	}
	return n
}
