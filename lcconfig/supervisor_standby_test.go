package lcconfig

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/replset-agent/replset-agent/lcconfig/gatetest"
)

// standbyPair is two active–standby supervisors over fakechat, a shared in-memory gate and the
// simulated health check that feeds their views.
type standbyPair struct {
	t    *testing.T
	gate *gatetest.Gate
	lb   *lbSim
	a, b *harness // a is the older instance
}

// standbyTimings are the scaled-down timings of these tests.
func standbyTimings(c *SupervisorConfig) {
	c.Mode = ActiveStandby
	c.Policy = RestartAlways
	c.StaggerInterval = 30 * time.Millisecond
	c.MinRestartInterval = time.Millisecond
	c.GateRetry = 10 * time.Millisecond
	c.GateTimeout = 5 * time.Second
	c.HandoverDelay = 100 * time.Millisecond
	c.HandoverTimeout = 5 * time.Second
	c.HandoverPoll = 10 * time.Millisecond
	c.ReadyTimeout = 20 * time.Second
}

func newStandbyPair(t *testing.T, mutate func(name string, c *SupervisorConfig), env ...[]string) *standbyPair {
	t.Helper()
	p := &standbyPair{t: t, gate: gatetest.New(), lb: newLBSim(5*time.Millisecond, 2, 3, 0, 1)}
	mk := func(name string, extra []string) *harness {
		probe, penv := withProbe(t, 50*time.Millisecond)
		return newHarness(t, both(probe, standbyTimings, func(c *SupervisorConfig) {
			c.Gate = p.gate.For(name)
			if mutate != nil {
				mutate(name, c)
			}
		}), append(penv, extra...)...)
	}
	var ea, eb []string
	if len(env) > 0 {
		ea = env[0]
	}
	if len(env) > 1 {
		eb = env[1]
	}
	p.a, p.b = mk("a", ea), mk("b", eb)
	p.lb.add("a", 1, p.a.sup)
	p.lb.add("b", 2, p.b.sup)
	t.Cleanup(p.lb.close)
	return p
}

// start runs both on hosts and waits until one serves and the other stands by; it returns the
// names of the serving one and the standby (whichever child is ready first serves).
func (p *standbyPair) start(hosts ...string) (active, standby string) {
	p.t.Helper()
	p.a.update(0, hosts...)
	p.b.update(1, hosts...)
	p.a.run()
	p.b.run()
	p.lb.run()
	p.a.waitFor("one serves, the other stands by", func() bool {
		sa, sb := p.a.sup.Status(), p.b.sup.Status()
		return sa.Ready && sb.Ready && sa.Serving != sb.Serving
	})
	active, standby = "a", "b"
	if p.b.sup.Status().Serving {
		active, standby = "b", "a"
	}
	p.waitRoles(active, standby)
	return active, standby
}

func (p *standbyPair) h(name string) *harness {
	if name == "a" {
		return p.a
	}
	return p.b
}

// waitRoles waits until active serves and is healthy, and standby does not serve.
func (p *standbyPair) waitRoles(active, standby string) {
	p.t.Helper()
	p.a.waitFor(active+" serves, "+standby+" stands by", func() bool {
		sa, sb := p.h(active).sup.Status(), p.h(standby).sup.Status()
		return sa.Serving && sa.Role == roleActive && p.lb.health(active) == Healthy && !sb.Serving && sb.Role == roleStandby && sb.Ready
	})
}

// update delivers new members to both.
func (p *standbyPair) update(hosts ...string) {
	p.a.update(0, hosts...)
	p.b.update(1, hosts...)
}

// waitOn waits until both run on hosts with nothing pending.
func (p *standbyPair) waitOn(hosts ...string) {
	p.t.Helper()
	uri := uriOf(p.t, hosts...)
	for _, h := range []*harness{p.a, p.b} {
		h.waitFor("running on "+uri, func() bool {
			st := h.sup.Status()
			return st.Ready && st.ChildURI == uri && st.PendingRestart == "" && !st.GateHeld && st.Handover == ""
		})
	}
}

// checkAlwaysServing asserts that from the first moment an instance served until now, one always
// did, and returns the spans.
func (p *standbyPair) checkAlwaysServing() []servingSpan {
	p.t.Helper()
	end := time.Now()
	spans := append(servingSpans("a", p.a.allEvents(), end), servingSpans("b", p.b.allEvents(), end)...)
	if len(spans) == 0 {
		p.t.Fatal("no instance ever served")
	}
	first := spans[0].start
	for _, s := range spans {
		if s.start.Before(first) {
			first = s.start
		}
	}
	if g := gaps(spans, first, end); len(g) > 0 {
		p.t.Fatalf("no instance served during %s (spans %+v)\nlogs a:\n%s\nlogs b:\n%s", fmtGaps(g), spans, p.a.logs.text(), p.b.logs.text())
	}
	return spans
}

func fmtGaps(g [][2]time.Time) string {
	var parts []string
	for _, x := range g {
		parts = append(parts, fmt.Sprintf("%s..%s (%s)", x[0].Format("15:04:05.000"), x[1].Format("15:04:05.000"), x[1].Sub(x[0])))
	}
	return strings.Join(parts, ", ")
}

// A policy restart in active–standby: the standby restarts first, then the serving instance hands
// over to it (the successor serves before the old one stops) and restarts; the successor keeps
// serving; at no moment does no instance serve.
func TestSupervisor_activeStandbyHandover(t *testing.T) {
	p := newStandbyPair(t, nil)
	act, sb := p.start("10.0.0.1")
	p.update("10.0.0.2")
	p.waitOn("10.0.0.2")
	p.waitRoles(sb, act)
	p.checkAlwaysServing()

	holds := p.gate.Holds()
	if len(holds) != 2 {
		t.Fatalf("holds %+v, want the standby's restart then the handover", holds)
	}
	if holds[0].Holder != sb || holds[0].Handover {
		t.Errorf("first hold %+v: the standby %s must restart first, without a handover", holds[0], sb)
	}
	if holds[1].Holder != act || !holds[1].Handover || holds[1].Successor != sb || holds[1].Expired {
		t.Errorf("second hold %+v: the serving instance %s must hand over to %s", holds[1], act, sb)
	}
	// The old serving instance's child got SIGTERM only after the claim and both delays.
	sigs := p.h(act).records("signal")
	if len(sigs) != 1 {
		t.Fatalf("%s's child got %d signals, want 1", act, len(sigs))
	}
	if wait := time.Unix(0, sigs[0].Time).Sub(holds[1].Claimed); wait < 2*100*time.Millisecond {
		t.Errorf("%s stopped %s after the claim, before two handover delays", act, wait)
	}
	ea, eb := p.h(act).eventsOf(EventHandover), p.h(sb).eventsOf(EventHandover)
	if len(ea) != 1 || len(eb) != 1 || ea[0].Peer != sb || eb[0].Peer != act || ea[0].Took || !eb[0].Took {
		t.Errorf("handover events %+v %+v", ea, eb)
	}
	// A second change: the roles are swapped, so the handover goes back.
	p.update("10.0.0.3")
	p.waitOn("10.0.0.3")
	p.waitRoles(act, sb)
	p.checkAlwaysServing()
	if holds := p.gate.Holds(); len(holds) != 4 || holds[2].Holder != act || holds[2].Handover || holds[3].Holder != sb || holds[3].Successor != act {
		t.Fatalf("holds %+v", holds)
	}
}

// With no standby able to take over (its child keeps crashing), the serving instance calls the
// handover off, keeps serving, and hands over once the standby is back.
func TestSupervisor_handoverWithoutStandbyIsCalledOff(t *testing.T) {
	dir := t.TempDir()
	crash := map[string]string{"a": filepath.Join(dir, "a.crash"), "b": filepath.Join(dir, "b.crash")}
	p := newStandbyPair(t, func(name string, c *SupervisorConfig) {
		c.HandoverTimeout = 300 * time.Millisecond
		c.BackoffMax = 50 * time.Millisecond
	}, []string{"FAKECHAT_CRASH_WHILE=" + crash["a"]}, []string{"FAKECHAT_CRASH_WHILE=" + crash["b"]})
	act, sb := p.start("10.0.0.1")
	if err := os.WriteFile(crash[sb], nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_ = p.h(sb).sup.Signal(syscall.SIGUSR1) // the standby's child exits; every restart crashes while the file exists
	p.h(sb).waitFor("the standby crash-looping", func() bool { return p.h(sb).sup.Status().State == StateBackoff })
	p.update("10.0.0.2")
	p.h(act).waitFor("the handover called off", func() bool { return len(p.h(act).eventsOf(EventHandoverOff)) > 0 })
	if st := p.h(act).sup.Status(); !st.Serving || st.ChildURI != uriOf(t, "10.0.0.1") {
		t.Fatalf("%s after the called-off handover: %+v", act, st)
	}
	if len(p.h(act).records("signal")) != 0 {
		t.Fatal("the serving child was stopped without a successor")
	}
	if err := os.Remove(crash[sb]); err != nil {
		t.Fatal(err)
	}
	p.waitOn("10.0.0.2")
	p.waitRoles(sb, act)
	p.checkAlwaysServing()
}

// A successor that leaves while the old instance drains: the old one serves again at once and
// keeps its child; the restart comes later, through a new handover.
func TestSupervisor_successorLostWhileDraining(t *testing.T) {
	p := newStandbyPair(t, func(name string, c *SupervisorConfig) {
		c.HandoverDelay = 2 * time.Second // a long drain to act in
	})
	act, sb := p.start("10.0.0.1")
	p.update("10.0.0.2")
	a := p.h(act)
	a.waitFor("draining", func() bool { return strings.HasPrefix(a.sup.Status().Handover, string(handoverDraining)) })
	if a.sup.Status().Serving {
		t.Fatal("serving while draining")
	}
	p.lb.setListed(sb, false)
	a.waitFor("the handover called off", func() bool { return len(a.eventsOf(EventHandoverOff)) > 0 })
	a.waitFor("serving again", func() bool { return a.sup.Status().Serving })
	if len(a.records("signal")) != 0 {
		t.Fatal("the child was stopped after its successor left")
	}
	if off := a.eventsOf(EventHandoverOff)[0]; !strings.Contains(off.Detail, "left") {
		t.Errorf("called off for %q", off.Detail)
	}
}

// No primary: the gate cannot be had, so no instance restarts for policy, the serving one least
// of all; once the gate is back, the restarts happen.
func TestSupervisor_activeStandbyWithoutGate(t *testing.T) {
	p := newStandbyPair(t, nil)
	_, sb := p.start("10.0.0.1")
	p.gate.SetAvailable(false)
	p.update("10.0.0.2")
	p.b.waitFor("deferrals", func() bool {
		return len(p.a.eventsOf(EventGateDeferred)) > 2 && len(p.b.eventsOf(EventGateDeferred)) > 2
	})
	if n := len(p.a.records("signal")) + len(p.b.records("signal")); n != 0 {
		t.Fatalf("%d policy stops without the gate", n)
	}
	p.gate.SetAvailable(true)
	p.waitOn("10.0.0.2")
	p.checkAlwaysServing()
	if holds := p.gate.Holds(); !slices.ContainsFunc(holds, func(h Hold) bool { return h.Handover && h.Successor == sb }) {
		t.Fatalf("no handover in %+v", holds)
	}
}

// Hold is gatetest's record of one grant, for the assertions above.
type Hold = gatetest.Hold

// The serving instance's own failure (its child dies, so its check fails): the standby serves
// without any handover, and the old one comes back as a standby.
func TestSupervisor_failover(t *testing.T) {
	p := newStandbyPair(t, nil)
	act, sb := p.start("10.0.0.1")
	_ = p.h(act).sup.Signal(syscall.SIGUSR1)
	p.h(sb).waitFor("the standby serves", func() bool { return p.h(sb).sup.Status().Serving })
	p.waitRoles(sb, act)
	if len(p.gate.Holds()) != 0 {
		t.Fatalf("a failover took the gate: %+v", p.gate.Holds())
	}
}

// Configuration: active–standby needs a gate that can hand over.
func TestSupervisor_activeStandbyNeedsHandoverGate(t *testing.T) {
	for _, g := range []RestartGate{nil, openGate{}} {
		_, err := NewSupervisor(SupervisorConfig{Command: []string{"true"}, Dir: t.TempDir(), CookieSecret: testCookieSecret, Mode: ActiveStandby, Gate: g})
		if err == nil || !strings.Contains(err.Error(), "hand over") {
			t.Errorf("gate %T: %v", g, err)
		}
	}
	if _, err := NewSupervisor(SupervisorConfig{Command: []string{"true"}, Dir: t.TempDir(), CookieSecret: testCookieSecret, Mode: "hot"}); err == nil {
		t.Error("an unknown mode was accepted")
	}
}
