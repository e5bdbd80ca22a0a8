package lcconfig

import (
	"strings"
	"testing"
	"time"
)

// The handover's state machine, step by step.
func TestHandoverStep(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	tm := handoverTimings{delay: 10 * time.Second, timeout: 30 * time.Second, poll: time.Second}
	view := func(succ Instance) Instances {
		return Instances{Self: "a", All: []Instance{inst("a", 1, Healthy), succ}}
	}
	offered := handover{phase: handoverOffered, started: t0, since: t0}
	claimed := handover{phase: handoverClaimed, started: t0, since: at(2 * time.Second), successor: "b"}
	draining := handover{phase: handoverDraining, started: t0, since: at(13 * time.Second), successor: "b"}
	healthyB, unhealthyB, unknownB := inst("b", 2, Healthy), inst("b", 2, Unhealthy), inst("b", 2, HealthUnknown)
	for _, tc := range []struct {
		name      string
		h         handover
		seen      handoverSeen
		act       handoverAct
		phase     handoverPhase
		wake      time.Time
		successor string
		why       string
	}{
		{
			name: "offered, no claim yet: look again at the next poll",
			h:    offered, seen: handoverSeen{now: at(time.Second), answered: true, held: true, view: view(unhealthyB)},
			act: actWait, phase: handoverOffered, wake: at(2 * time.Second),
		},
		{
			name: "offered and claimed: both serve for the delay",
			h:    offered, seen: handoverSeen{now: at(2 * time.Second), answered: true, held: true, claimedBy: "b", view: view(unhealthyB)},
			act: actWait, phase: handoverClaimed, successor: "b", wake: at(3 * time.Second),
		},
		{
			name: "offered, gate unreadable: keep waiting",
			h:    offered, seen: handoverSeen{now: at(5 * time.Second), view: view(unhealthyB)},
			act: actWait, phase: handoverOffered, wake: at(6 * time.Second),
		},
		{
			name: "offered, no claim within the timeout: called off",
			h:    offered, seen: handoverSeen{now: at(30 * time.Second), answered: true, held: true, view: view(unhealthyB)},
			act: actAbort, why: "no standby took over",
		},
		{
			name: "offered but the gate was lost",
			h:    offered, seen: handoverSeen{now: at(time.Second), answered: true, held: false, view: view(unhealthyB)},
			act: actAbort, why: "no longer holds",
		},
		{
			name: "claimed, within the delay: wait",
			h:    claimed, seen: handoverSeen{now: at(5 * time.Second), answered: true, held: true, claimedBy: "b", view: view(healthyB)},
			act: actWait, phase: handoverClaimed, wake: at(6 * time.Second),
		},
		{
			name: "claimed, delay over, successor passes its check: drain",
			h:    claimed, seen: handoverSeen{now: at(12 * time.Second), answered: true, held: true, claimedBy: "b", view: view(healthyB)},
			act: actDrain, phase: handoverDraining, wake: at(22 * time.Second),
		},
		{
			name: "claimed, delay over, no check verdict (no health check): drain",
			h:    claimed, seen: handoverSeen{now: at(12 * time.Second), answered: true, held: true, claimedBy: "b", view: view(unknownB)},
			act: actDrain, phase: handoverDraining,
		},
		{
			name: "claimed, delay over, the view still shows the standby failing: wait",
			h:    claimed, seen: handoverSeen{now: at(12 * time.Second), answered: true, held: true, claimedBy: "b", view: view(unhealthyB)},
			act: actWait, phase: handoverClaimed, wake: at(13 * time.Second),
		},
		{
			name: "claimed, never seen passing within the timeout: called off",
			h:    claimed, seen: handoverSeen{now: at(31 * time.Second), answered: true, held: true, claimedBy: "b", view: view(unhealthyB)},
			act: actAbort, why: "was not seen passing",
		},
		{
			name: "claimed, the successor left: called off at once",
			h:    claimed, seen: handoverSeen{now: at(3 * time.Second), answered: true, held: true, claimedBy: "b", view: Instances{Self: "a", All: []Instance{inst("a", 1, Healthy)}}},
			act: actAbort, why: "left",
		},
		{
			name: "claimed, the successor stopped running: called off",
			h:    claimed, seen: handoverSeen{now: at(3 * time.Second), answered: true, held: true, claimedBy: "b", view: view(Instance{ID: "b", Order: 2, Health: Healthy})},
			act: actAbort, why: "not running",
		},
		{
			name: "claimed, the successor left while the gate is unreadable: called off",
			h:    claimed, seen: handoverSeen{now: at(3 * time.Second), view: Instances{Self: "a"}},
			act: actAbort, why: "left",
		},
		{
			name: "claimed, the claim vanished from the gate",
			h:    claimed, seen: handoverSeen{now: at(12 * time.Second), answered: true, held: true, view: view(healthyB)},
			act: actAbort, why: "claim of b is gone",
		},
		{
			name: "claimed, delay over but the gate is unreadable: wait, no drain without a fresh word",
			h:    claimed, seen: handoverSeen{now: at(12 * time.Second), view: view(healthyB)},
			act: actWait, phase: handoverClaimed,
		},
		{
			name: "claimed, gate unreadable past the deadline: called off",
			h:    claimed, seen: handoverSeen{now: at(40 * time.Second), view: view(healthyB)},
			act: actAbort, why: "could not be read",
		},
		{
			name: "draining, within the delay: wait",
			h:    draining, seen: handoverSeen{now: at(15 * time.Second), answered: true, held: true, claimedBy: "b", view: view(healthyB)},
			act: actWait, phase: handoverDraining, wake: at(16 * time.Second),
		},
		{
			name: "draining done, successor serves: restart",
			h:    draining, seen: handoverSeen{now: at(23 * time.Second), answered: true, held: true, claimedBy: "b", view: view(healthyB)},
			act: actRestart,
		},
		{
			name: "draining, the successor fails its check: called off, serve again",
			h:    draining, seen: handoverSeen{now: at(23 * time.Second), answered: true, held: true, claimedBy: "b", view: view(unhealthyB)},
			act: actAbort, why: "fails its check",
		},
		{
			name: "draining, the successor left: called off",
			h:    draining, seen: handoverSeen{now: at(14 * time.Second), answered: true, held: true, claimedBy: "b", view: Instances{Self: "a"}},
			act: actAbort, why: "left",
		},
		{
			name: "draining, the gate was lost: called off",
			h:    draining, seen: handoverSeen{now: at(23 * time.Second), answered: true, held: false, view: view(healthyB)},
			act: actAbort, why: "no longer holds",
		},
		{
			name: "an unknown phase is called off",
			h:    handover{phase: "confused", started: t0}, seen: handoverSeen{now: at(time.Second), answered: true, held: true},
			act: actAbort, why: "unknown",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.h.step(tc.seen, tm)
			if got.act != tc.act {
				t.Fatalf("act %d (%s), want %d", got.act, got.why, tc.act)
			}
			if tc.phase != "" && got.next.phase != tc.phase {
				t.Errorf("phase %s, want %s", got.next.phase, tc.phase)
			}
			if tc.successor != "" && got.next.successor != tc.successor {
				t.Errorf("successor %q, want %q", got.next.successor, tc.successor)
			}
			if !tc.wake.IsZero() && !got.wake.Equal(tc.wake) {
				t.Errorf("wake %s, want %s", got.wake.Sub(t0), tc.wake.Sub(t0))
			}
			if got.act == actWait && (got.wake.Before(tc.seen.now) || got.wake.After(tc.seen.now.Add(tm.poll))) {
				t.Errorf("wake %s is not within one poll of now %s", got.wake.Sub(t0), tc.seen.now.Sub(t0))
			}
			if tc.why != "" && !strings.Contains(got.why, tc.why) {
				t.Errorf("why %q, want it to say %q", got.why, tc.why)
			}
		})
	}
}

// Walked through in order, a handover serves at every step: the successor serves from its claim,
// this instance until it drains, and it restarts only after the delay twice.
func TestHandoverStep_sequence(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	tm := handoverTimings{delay: 10 * time.Second, timeout: 30 * time.Second, poll: time.Second}
	h := handover{phase: handoverOffered, started: t0, since: t0}
	b := inst("b", 2, Unhealthy)
	var drainAt, restartAt time.Time
	for now := t0; now.Before(t0.Add(time.Minute)) && restartAt.IsZero(); now = now.Add(500 * time.Millisecond) {
		claimed := ""
		if now.Sub(t0) >= 3*time.Second {
			claimed = "b"
		}
		if now.Sub(t0) >= 6*time.Second { // the load balancer's check has seen b pass
			b.Health = Healthy
		}
		st := h.step(handoverSeen{now: now, answered: true, held: true, claimedBy: claimed, view: Instances{Self: "a", All: []Instance{inst("a", 1, Healthy), b}}}, tm)
		h = st.next
		switch st.act {
		case actDrain:
			drainAt = now
		case actRestart:
			restartAt = now
		case actAbort:
			t.Fatalf("called off at %s: %s", now.Sub(t0), st.why)
		}
	}
	if drainAt.IsZero() || restartAt.IsZero() {
		t.Fatalf("no drain (%v) or restart (%v)", drainAt, restartAt)
	}
	if d := drainAt.Sub(t0.Add(3 * time.Second)); d < tm.delay {
		t.Errorf("drained %s after the claim, before the delay", d)
	}
	if d := restartAt.Sub(drainAt); d < tm.delay {
		t.Errorf("restarted %s after draining, before the delay", d)
	}
}
