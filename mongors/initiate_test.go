package mongors

import (
	"strings"
	"testing"
	"time"
)

// TestPlan_rule1Standing covers nodes whose hello names no set: mongod answers alike for a node
// never initiated and one removed from a set, so only replSetGetStatus 94 proves a node empty. A
// removed ex-member (93) holds a set's data: it blocks initiation and never seeds a new set; any
// other answer (13 Unauthorized once auth is on) is unknown and blocks like no answer.
func TestPlan_rule1Standing(t *testing.T) {
	three := listed(1, 1, 2, 3)
	with := func(self int, d Desired, change func(o *Observed)) Observed {
		o := ghosts(self, d)
		change(&o)
		return o
	}
	reasonHas := func(parts ...string) func(*testing.T, Action) {
		return func(t *testing.T, a Action) {
			for _, p := range parts {
				if !strings.Contains(a.Reason, p) {
					t.Errorf("reason %q lacks %q", a.Reason, p)
				}
			}
		}
	}
	runPlanCases(t, []planCase{
		{name: "every node proven empty", d: three, o: ghosts(1, three), kind: KindInitiate, step: StepInitiate},
		{name: "a candidate was removed from a set", d: three, kind: KindWait,
			o:     with(1, three, func(o *Observed) { o.Candidates[1] = removed(host(3)) }),
			check: reasonHas(host(3), "removed", "93", "second set")},
		{name: "the local node was removed from a set: never the seed", d: three, kind: KindWait,
			o:     with(1, three, func(o *Observed) { o.Local = removed(host(1)) }),
			check: reasonHas(host(1), "removed", "adds it back")},
		{name: "the local node was removed, another agent's view", d: listed(2, 1, 2, 3), kind: KindWait,
			o:     with(2, listed(2, 1, 2, 3), func(o *Observed) { o.Candidates[0] = removed(host(1)) }),
			check: reasonHas(host(1), "removed")},
		{name: "unknown standing (unauthorized) blocks", d: three, kind: KindWait,
			o: with(1, three, func(o *Observed) {
				o.Candidates[0].Standing = StandingUnknown
				o.Candidates[0].StandingReason = "replSetGetStatus on " + host(2) + ": Unauthorized (13): command requires authentication"
			}),
			check: reasonHas(host(2), "Unauthorized (13)")},
		{name: "standing not checked blocks", d: three, kind: KindWait,
			o:     with(1, three, func(o *Observed) { o.Candidates[0].Standing = StandingUnchecked }),
			check: reasonHas(host(2), "not been checked")},
		{name: "a node got a config since its hello", d: three, kind: KindWait,
			o:     with(1, three, func(o *Observed) { o.Candidates[0].Standing = StandingMember }),
			check: reasonHas(host(2), "got a config")},
		{name: "a removed peer blocks", kind: KindWait,
			d: func() Desired { d, _ := withPeers(three, Observed{}, 7); return d }(),
			o: func() Observed {
				_, o := withPeers(three, ghosts(1, three), 7)
				o.Peers[0] = removed(host(7))
				return o
			}(),
			check: reasonHas(host(7), "removed")},
	})
}

// TestPlan_rule1FirstContainer covers initiation under metadata skew: each host's copy of metadata
// may show the service's containers in other states. The initiator is the first electable
// container of the whole service, whatever state this view shows it in, so two views can never
// both elect themselves.
func TestPlan_rule1FirstContainer(t *testing.T) {
	// View A (host 1's copy): hosts 1–3 running. View B (host 2's copy): hosts 2–4 running, host 1
	// still starting.
	viewA := listed(1, 1, 2, 3)
	viewB := listed(2, 2, 3, 4)
	viewB.Peers = []Peer{{Host: host(1), Order: 1, Name: "mongo-1", State: "starting"}}
	oB := ghosts(2, viewB)
	oB.Peers = []NodeHello{empty(host(1))}
	noAddr := listed(2, 2, 3, 4)
	noAddr.Peers = []Peer{{Order: 1, Name: "mongo-1", State: "stopped"}}
	laterNoAddr := listed(1, 1, 2, 3)
	laterNoAddr.Peers = []Peer{{Order: 9, Name: "mongo-9", State: "stopped"}}
	sameHost := listed(1, 1, 2, 3)
	sameHost.Peers = []Peer{{Host: host(1), Order: 0, Name: "mongo-old", State: "stopped"}}
	runPlanCases(t, []planCase{
		{name: "view A: host 1 initiates", d: viewA, o: ghosts(1, viewA), kind: KindInitiate, step: StepInitiate},
		{name: "view B: host 1, starting, blocks host 2", d: viewB, o: oB, kind: KindWait,
			check: func(t *testing.T, a Action) {
				for _, p := range []string{"mongo-1", "order 1", "starting", "created before"} {
					if !strings.Contains(a.Reason, p) {
						t.Errorf("reason %q lacks %q", a.Reason, p)
					}
				}
			}},
		{name: "an earlier container without an address blocks", d: noAddr, o: ghosts(2, noAddr), kind: KindWait},
		{name: "a later container without an address blocks too: it cannot be asked", d: laterNoAddr, o: ghosts(1, laterNoAddr), kind: KindWait,
			check: func(t *testing.T, a Action) {
				if !strings.Contains(a.Reason, "no address") {
					t.Errorf("reason: %s", a.Reason)
				}
			}},
		{name: "an older container at a member's address is that member", d: sameHost, o: ghosts(1, sameHost), kind: KindInitiate, step: StepInitiate},
	})
}

// TestPlan_rule1Settle covers the settle period: the view must stay the same, with nothing
// starting and fresh metadata, for Settings.InitiateSettle before an initiate.
func TestPlan_rule1Settle(t *testing.T) {
	three := listed(1, 1, 2, 3)
	settled := func(ago time.Duration) Observed {
		o := ghosts(1, three)
		o.Memory.ViewSince = t0.Add(-ago)
		return o
	}
	starting := three
	starting.Starting = []string{"mongo-4"}
	runPlanCases(t, []planCase{
		{name: "settled for the default 10s", d: three, o: settled(DefaultInitiateSettle), kind: KindInitiate, step: StepInitiate},
		{name: "settled for 4s of 10s: plan again in 6s", d: three, o: settled(4 * time.Second), kind: KindWait,
			check: func(t *testing.T, a Action) {
				if a.RecheckIn != 6*time.Second || !strings.Contains(a.Reason, "settle") {
					t.Errorf("got %s, recheck in %s", a, a.RecheckIn)
				}
			}},
		{name: "custom settle", d: three, o: settled(time.Second), s: Settings{InitiateSettle: time.Second}, kind: KindInitiate, step: StepInitiate},
		{name: "a container starting", d: starting, o: settled(time.Hour), kind: KindWait,
			check: func(t *testing.T, a Action) {
				if !strings.Contains(a.Reason, "mongo-4") {
					t.Errorf("reason: %s", a.Reason)
				}
			}},
		{name: "stale metadata", d: stale(three), o: settled(time.Hour), kind: KindWait},
	})
}

// TestMemory_viewSettle checks the settle clock: it runs while the view (members and peers, with
// their orders) stays the same and nothing is starting, and restarts on any change.
func TestMemory_viewSettle(t *testing.T) {
	three := listed(1, 1, 2, 3)
	var m Memory
	o := Observed{Local: empty(host(1))}
	m = m.Update(three, o, t0)
	if !m.ViewSince.Equal(t0) {
		t.Fatalf("first view since %v, want %v", m.ViewSince, t0)
	}
	m = m.Update(listed(1, 3, 2, 1), o, t0.Add(time.Second)) // same view, listed in another order
	if !m.ViewSince.Equal(t0) {
		t.Fatalf("same view restarted the settle clock: %v", m.ViewSince)
	}
	four := listed(1, 1, 2, 3, 4)
	m = m.Update(four, o, t0.Add(2*time.Second))
	if !m.ViewSince.Equal(t0.Add(2 * time.Second)) {
		t.Fatalf("a new member did not restart the settle clock: %v", m.ViewSince)
	}
	withPeer := four
	withPeer.Peers = []Peer{{Host: host(9), Order: 9}}
	m = m.Update(withPeer, o, t0.Add(3*time.Second))
	if !m.ViewSince.Equal(t0.Add(3 * time.Second)) {
		t.Fatalf("a new peer did not restart the settle clock: %v", m.ViewSince)
	}
	starting := withPeer
	starting.Starting = []string{"mongo-9"}
	m = m.Update(starting, o, t0.Add(4*time.Second))
	if !m.ViewSince.IsZero() {
		t.Fatalf("settle clock runs while a container starts: %v", m.ViewSince)
	}
	m = m.Update(withPeer, o, t0.Add(5*time.Second))
	if !m.ViewSince.Equal(t0.Add(5 * time.Second)) {
		t.Fatalf("settle clock after the start: %v", m.ViewSince)
	}
}
