package mongors_test

import (
	"errors"
	"testing"
	"time"

	"github.com/replset-agent/replset-agent/mongors"
	"github.com/replset-agent/replset-agent/mongosim"
	"github.com/replset-agent/replset-agent/mongotest"
)

func TestLive_initiateOnlyWithThree(t *testing.T) {
	t.Parallel()
	ls := newLiveSet(t, 3, liveLoop())
	obs := ls.observer(ls.addrs[0])
	for _, n := range []int{1, 2} {
		ls.start(ls.addrs[n-1])
		ls.desire(ls.addrs[:n]...)
		time.Sleep(600 * time.Millisecond) // four re-checks
		if hasConfig(t, obs, ls.addrs[:n]) {
			t.Fatalf("initiated with %d hosts", n)
		}
	}
	ls.start(ls.addrs[2])
	ls.desire(ls.addrs...)
	cfg := ls.waitFor(20*time.Second, obs, 3, ls.addrs...)
	for i, m := range cfg.Members {
		if m.Host != ls.addrs[i] || m.ID != i {
			t.Errorf("member %d = %s _id %d; want the explicit canonical list", i, m.Host, m.ID)
		}
	}
	ls.audit()
}

func TestLive_scaleUpAndDown(t *testing.T) {
	t.Parallel()
	ls := newLiveSet(t, 9, liveLoop())
	obs := ls.observer(ls.addrs[0])
	for _, a := range ls.addrs[:3] {
		ls.start(a)
	}
	ls.desire(ls.addrs[:3]...)
	ls.waitFor(20*time.Second, obs, 3, ls.addrs[:3]...)
	for _, n := range []int{5, 7, 9} {
		for _, a := range ls.addrs[n-2 : n] {
			ls.start(a)
		}
		ls.desire(ls.addrs[:n]...)
		ls.waitFor(30*time.Second, obs, min(n, 7), ls.addrs[:n]...)
	}
	for _, n := range []int{7, 5, 3} {
		ls.desire(ls.addrs[:n]...)
		for _, a := range ls.addrs[n : n+2] {
			ls.stopAgent(a)
			if err := ls.cluster.StopNode(a); err != nil {
				t.Fatal(err)
			}
		}
		ls.waitFor(30*time.Second, obs, n, ls.addrs[:n]...)
	}
	ls.audit()
}

func TestLive_hostLostRemovedAfterGrace(t *testing.T) {
	t.Parallel()
	cfg := liveLoop()
	cfg.Settings.RemovalGrace = 2 * time.Second
	ls := newLiveSet(t, 5, cfg)
	obs := ls.observer(ls.addrs[0])
	for _, a := range ls.addrs {
		ls.start(a)
	}
	ls.desire(ls.addrs...)
	ls.waitFor(30*time.Second, obs, 5, ls.addrs...)

	primary, _, _ := ls.primaryConfig(obs, ls.addrs)
	lost := ls.addrs[4]
	if lost == primary {
		lost = ls.addrs[3]
	}
	var rest []string
	for _, a := range ls.addrs {
		if a != lost {
			rest = append(rest, a)
		}
	}
	ls.stopAgent(lost)
	if err := ls.cluster.CrashNode(lost); err != nil {
		t.Fatal(err)
	}
	gone := time.Now()
	ls.desire(rest...)
	// Before the grace the lost member stays.
	time.Sleep(cfg.Settings.RemovalGrace / 2)
	if _, c, _ := ls.primaryConfig(obs, rest); c == nil || len(c.Members) != 5 {
		t.Fatalf("config changed before the grace: %v", c)
	}
	// After it, it goes, and the votes end odd again (4 members: 3 voters).
	ls.waitFor(30*time.Second, obs, 3, rest...)
	// When the emulator recorded it, the config without the lost member came after the grace.
	if o, ok := ls.cluster.(mongotest.Observer); ok {
		for _, ch := range o.ConfigChanges() {
			if ch.Prev == nil || ch.New == nil || ch.Origin != mongosim.OriginReconfig {
				continue
			}
			if hasHost(ch.Prev, lost) && !hasHost(ch.New, lost) && ch.Time.Sub(gone) < cfg.Settings.RemovalGrace {
				t.Fatalf("%s removed %s after the loss, before the %s grace", lost, ch.Time.Sub(gone), cfg.Settings.RemovalGrace)
			}
		}
	}
	ls.audit()
}

func TestLive_noRemovalWithoutMajority(t *testing.T) {
	t.Parallel()
	cfg := liveLoop()
	cfg.Settings.NoPrimaryAlarm = time.Second
	ls := newLiveSet(t, 3, cfg)
	obs := ls.observer(ls.addrs[0])
	for _, a := range ls.addrs {
		ls.start(a)
	}
	ls.desire(ls.addrs...)
	before := ls.waitFor(20*time.Second, obs, 3, ls.addrs...)
	// Two of three voters vanish from the hosts and from metadata: the survivor must not shrink
	// the set to itself (that would need force) and says so loudly.
	survivor := ls.addrs[0]
	for _, a := range ls.addrs[1:] {
		ls.stopAgent(a)
		if err := ls.cluster.CrashNode(a); err != nil {
			t.Fatal(err)
		}
	}
	ls.desire(survivor)
	r := ls.agents[survivor].r
	eventually(t, 20*time.Second, "no-primary alarm", func() bool { return r.Status().NoPrimaryAlarm })
	time.Sleep(2 * cfg.Settings.RemovalGrace)
	ctx, cancel := testCtx()
	defer cancel()
	got, _, err := obs.GetConfig(ctx, survivor, false)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != before.Version || len(got.Members) != 3 {
		t.Fatalf("config changed without a majority: v%d→v%d, %d members", before.Version, got.Version, len(got.Members))
	}
	ls.audit()
}

func TestLive_primaryLost(t *testing.T) {
	t.Parallel()
	ls := newLiveSet(t, 5, liveLoop())
	obs := ls.observer(ls.addrs[4])
	for _, a := range ls.addrs[:3] {
		ls.start(a)
	}
	ls.desire(ls.addrs[:3]...)
	ls.waitFor(20*time.Second, obs, 3, ls.addrs[:3]...)
	primary, _, _ := ls.primaryConfig(obs, ls.addrs)
	ls.stopAgent(primary)
	if err := ls.cluster.CrashNode(primary); err != nil {
		t.Fatal(err)
	}
	// Metadata replaces the lost host with a new one; the new primary's agent carries on.
	var next []string
	for _, a := range ls.addrs[:4] {
		if a != primary {
			next = append(next, a)
		}
	}
	ls.start(ls.addrs[3])
	ls.desire(next...)
	ls.waitFor(30*time.Second, obs, 3, next...)
	if p, _, _ := ls.primaryConfig(obs, next); p == primary || p == "" {
		t.Fatalf("primary %q", p)
	}
	ls.audit()
}

func TestLive_partitionMinorityChangesNothing(t *testing.T) {
	t.Parallel()
	ls := newLiveSet(t, 5, liveLoop())
	obs := ls.observer(ls.addrs[0])
	for _, a := range ls.addrs {
		ls.start(a)
	}
	ls.desire(ls.addrs...)
	before := ls.waitFor(30*time.Second, obs, 5, ls.addrs...)
	primary, _, _ := ls.primaryConfig(obs, ls.addrs)
	// The old primary is cut off with one other node: that minority must step down and change
	// nothing; metadata still lists everyone, so the majority removes nobody either.
	minority := []string{primary}
	var majority []string
	for _, a := range ls.addrs {
		if a != primary && len(minority) < 2 {
			minority = append(minority, a)
		} else if a != primary {
			majority = append(majority, a)
		}
	}
	if err := ls.cluster.Partition(minority, majority); err != nil {
		if errors.Is(err, mongotest.ErrUnsupported) {
			t.Skip("cluster cannot partition")
		}
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "a primary on the majority side", func() bool {
		p, _, _ := ls.primaryConfig(obs, majority)
		return p != ""
	})
	time.Sleep(3 * liveLoop().Settings.RemovalGrace)
	for _, a := range minority {
		st := ls.agents[a].r.Status()
		if st.LastDecision != nil && st.LastDecision.Action.Acts() {
			t.Errorf("minority agent %s acted: %s", a, st.LastDecision.Action)
		}
	}
	if _, c, _ := ls.primaryConfig(obs, majority); c == nil || !sameHosts(c, ls.addrs) {
		t.Fatalf("majority config changed during the partition: %v", c)
	}
	if err := ls.cluster.Heal(); err != nil {
		t.Fatal(err)
	}
	after := ls.waitFor(30*time.Second, obs, 5, ls.addrs...)
	if after.Version != before.Version {
		t.Errorf("config version %d→%d over a partition with nothing to change", before.Version, after.Version)
	}
	ls.audit()
}

func TestLive_racingAgents(t *testing.T) {
	t.Parallel()
	// Two agents beside every mongod (say, an old and a new agent container during an upgrade):
	// one initiate, then the same convergence, with the server arbitrating the races.
	ls := newLiveSet(t, 5, liveLoop())
	obs := ls.observer(ls.addrs[0])
	for _, a := range ls.addrs {
		ls.start(a)
	}
	for _, a := range ls.addrs {
		ls.startAgentAs(a+"#twin", a)
	}
	ls.desire(ls.addrs[:3]...)
	ls.waitFor(20*time.Second, obs, 3, ls.addrs[:3]...)
	ls.desire(ls.addrs...)
	ls.waitFor(30*time.Second, obs, 5, ls.addrs...)
	ls.audit()
	if o, ok := ls.cluster.(mongotest.Observer); ok {
		initiates := 0
		for _, ch := range o.ConfigChanges() {
			if ch.Origin == mongosim.OriginInitiate {
				initiates++
			}
		}
		if initiates != 1 {
			t.Errorf("%d initiates", initiates)
		}
	}
}

func TestLive_recreatedWithNewAddress(t *testing.T) {
	t.Parallel()
	cfg := liveLoop()
	ls := newLiveSet(t, 4, cfg)
	obs := ls.observer(ls.addrs[0])
	withIDs := func(self string, members ...string) mongors.Desired {
		d := desiredOf(self, members...)
		for i := range d.Members {
			d.Members[i].HostID = "host-" + string(rune('a'+i))
		}
		return d
	}
	for _, a := range ls.addrs[:3] {
		ls.start(a)
	}
	set := func(members ...string) {
		ls.mu.Lock()
		defer ls.mu.Unlock()
		ls.members = members
		for _, a := range ls.agents {
			a.r.SetDesired(withIDs(a.self, members...))
		}
	}
	set(ls.addrs[:3]...)
	ls.waitFor(20*time.Second, obs, 3, ls.addrs[:3]...)
	primary, _, _ := ls.primaryConfig(obs, ls.addrs)
	// The container of the third host (not the primary) is re-created with a new IP and no data.
	old := ls.addrs[2]
	if old == primary {
		old = ls.addrs[1]
	}
	ls.stopAgent(old)
	if err := ls.cluster.CrashNode(old); err != nil {
		t.Fatal(err)
	}
	var members []string
	for _, a := range ls.addrs[:3] {
		if a == old {
			members = append(members, ls.addrs[3])
		} else {
			members = append(members, a)
		}
	}
	ls.start(ls.addrs[3])
	set(members...)
	ls.waitFor(30*time.Second, obs, 3, members...)
	ls.audit()
}

// TestLive_peersPreventSecondSet is the host-replacement scenario: three agents initiate a set,
// then metadata lists three fresh nodes as the members and the old ones only as peers (not
// usable), one of them stopped. No fresh node may start a second set.
func TestLive_peersPreventSecondSet(t *testing.T) {
	t.Parallel()
	ls := newLiveSet(t, 6, liveLoop())
	old, fresh := ls.addrs[:3], ls.addrs[3:]
	obs := ls.observer(old[0])
	for _, a := range old {
		ls.start(a)
	}
	ls.desire(old...)
	ls.waitFor(20*time.Second, obs, 3, old...)

	for _, a := range old {
		ls.stopAgent(a)
	}
	if err := ls.cluster.StopNode(old[2]); err != nil {
		t.Fatal(err)
	}
	ls.mu.Lock()
	ls.members = nil // the fresh agents get their desired state below, with the peers
	ls.mu.Unlock()
	for _, a := range fresh {
		ls.start(a)
	}
	ls.mu.Lock()
	for _, a := range fresh {
		d := desiredOf(a, fresh...)
		for i, o := range old {
			d.Peers = append(d.Peers, mongors.Peer{Host: o, Order: i + 1, State: "stopped"})
		}
		ls.agents[a].r.SetDesired(d)
	}
	ls.mu.Unlock()

	for i := 0; i < 10; i++ { // about ten passes of every agent
		time.Sleep(liveLoop().Recheck)
		if hasConfig(t, obs, fresh) {
			t.Fatalf("a fresh node has a config: a second set was started")
		}
	}
	for _, a := range fresh {
		st := ls.agents[a].r.Status()
		if st.LastDecision == nil || st.LastDecision.Action.Acts() {
			t.Errorf("agent %s: decision %+v", a, st.LastDecision)
		}
	}
	if o, ok := ls.cluster.(mongotest.Observer); ok {
		initiates := 0
		for _, ch := range o.ConfigChanges() {
			if ch.Origin == mongosim.OriginInitiate {
				initiates++
			}
		}
		if initiates != 1 {
			t.Errorf("%d initiates, want the first one only", initiates)
		}
	}
	ls.audit()
}

func hasHost(c *mongosim.Config, host string) bool {
	for _, m := range c.Members {
		if m.Host == host {
			return true
		}
	}
	return false
}
