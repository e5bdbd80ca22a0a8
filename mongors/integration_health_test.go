package mongors_test

import (
	"testing"
	"time"

	"github.com/replset-agent/replset-agent/mongors"
	"github.com/replset-agent/replset-agent/mongosim"
	"github.com/replset-agent/replset-agent/mongotest"
)

// TestLive_batchedAdditions: six hosts join a set of three at once; they enter the config in one
// reconfig without votes, the votes follow one per reconfig, and every config passes the
// emulator's audit.
func TestLive_batchedAdditions(t *testing.T) {
	t.Parallel()
	ls := newLiveSet(t, 9, liveLoop())
	obs := ls.observer(ls.addrs[0])
	for _, a := range ls.addrs[:3] {
		ls.start(a)
	}
	ls.desire(ls.addrs[:3]...)
	ls.waitFor(30*time.Second, obs, 3, ls.addrs[:3]...)
	for _, a := range ls.addrs[3:] {
		ls.start(a)
	}
	ls.desire(ls.addrs...)
	ls.waitFor(60*time.Second, obs, 7, ls.addrs...)
	ls.audit()
	o, ok := ls.cluster.(mongotest.Observer)
	if !ok {
		return
	}
	var adds []int
	promotions := 0
	for _, ch := range o.ConfigChanges() {
		if ch.Origin != mongosim.OriginReconfig || ch.Prev == nil {
			continue
		}
		if added := len(ch.New.Members) - len(ch.Prev.Members); added > 0 {
			adds = append(adds, added)
		} else {
			promotions++
		}
	}
	// One reconfig adds the six; a node slower than a second to answer the primary's probe (a
	// loaded machine) may join in a second one, never one at a time.
	if len(adds) == 0 || len(adds) > 2 || adds[0] < 3 {
		t.Errorf("additions %v, want the six members in one reconfig (two at most)", adds)
	}
	if promotions != 4 {
		t.Errorf("%d promotions, want four (3 → 7 voters, one per reconfig)", promotions)
	}
}

// TestLive_votesFollowHealth: nine members with seven voters; the hosts of three voters die
// while metadata still lists them. Their votes move to the two healthy non-voters, restoring the
// fault tolerance (6 of 7 voters up), one voting change per reconfig.
func TestLive_votesFollowHealth(t *testing.T) {
	t.Parallel()
	ls := newLiveSet(t, 9, liveLoop())
	obs := ls.observer(ls.addrs[0])
	for _, a := range ls.addrs {
		ls.start(a)
	}
	ls.desire(ls.addrs...)
	cfg := ls.waitFor(60*time.Second, obs, 7, ls.addrs...)
	primary, _, _ := ls.primaryConfig(obs, ls.addrs)
	var dead []string
	for _, m := range cfg.Members {
		if m.Votes > 0 && m.Host != primary && len(dead) < 3 {
			dead = append(dead, m.Host)
		}
	}
	var alive []string
	for _, a := range ls.addrs {
		if !contains(dead, a) {
			alive = append(alive, a)
		}
	}
	for _, a := range dead {
		ls.stopAgent(a)
		must(t, ls.cluster.CrashNode(a))
	}
	var last *mongors.Config
	defer func() {
		if t.Failed() {
			t.Logf("last config %s", describe(&last))
			for a, ag := range ls.agents {
				if st := ag.r.Status(); st.LastDecision != nil {
					t.Logf("agent %s: %s", a, st.LastDecision.Action)
				}
			}
		}
	}()
	eventually(t, 60*time.Second, "six of seven voters up", func() bool {
		// Only the live nodes are asked: a dead one costs the probe its connect timeout.
		_, c, ok := ls.primaryConfig(obs, alive)
		if !ok || c == nil {
			return false
		}
		last = c
		up := 0
		for _, m := range c.Members {
			if m.Votes > 0 && !contains(dead, m.Host) {
				up++
			}
		}
		return c.Voters() == 7 && up == 6 && len(c.Members) == 9
	})
	t.Logf("final config v%d, dead %v", last.Version, dead)
	ls.audit()
}

// TestLive_decommissionedVotersDemotedThenRemoved: four of seven voters leave metadata while
// their mongods keep running. They lose their votes after the grace, so that stopping them later
// leaves the set its majority, and go at twice the grace.
func TestLive_decommissionedVotersDemotedThenRemoved(t *testing.T) {
	t.Parallel()
	cfg := liveLoop()
	cfg.Settings.RemovalGrace = 2 * time.Second
	ls := newLiveSet(t, 7, cfg)
	obs := ls.observer(ls.addrs[0])
	for _, a := range ls.addrs {
		ls.start(a)
	}
	ls.desire(ls.addrs...)
	ls.waitFor(60*time.Second, obs, 7, ls.addrs...)
	keep, leave := ls.addrs[:3], ls.addrs[3:]
	ls.desire(keep...)
	eventually(t, 60*time.Second, "the four without votes", func() bool {
		_, c, ok := ls.primaryConfig(obs, keep)
		if !ok {
			return false
		}
		for _, a := range leave {
			if m, in := c.Member(a); in && m.Votes > 0 {
				return false
			}
		}
		return c.Voters() == 3
	})
	// They stop now (as a decommissioned host eventually does): the three keep their primary.
	for _, a := range leave {
		ls.stopAgent(a)
		must(t, ls.cluster.StopNode(a))
	}
	ls.waitFor(60*time.Second, obs, 3, keep...)
	ls.audit()
}

// TestLive_removedMemberBlocksInitiation: a member removed from the set keeps running with the
// set's data. Later the rest of the set is gone and metadata lists it with two fresh nodes: no
// new set may be started over it, neither seeded by it nor initiated by a fresh node. (Today's
// emulator still names the set in a REMOVED node's hello; real mongod does not, and
// replSetGetStatus 93 is what tells — the same test covers both.)
func TestLive_removedMemberBlocksInitiation(t *testing.T) {
	t.Parallel()
	cfg := liveLoop()
	ls := newLiveSet(t, 5, cfg)
	obs := ls.observer(ls.addrs[0])
	old, fresh := ls.addrs[:3], ls.addrs[3:]
	for _, a := range old {
		ls.start(a)
	}
	ls.desire(old...)
	ls.waitFor(30*time.Second, obs, 3, old...)
	keeper := old[2]
	ls.desire(old[:2]...) // the third leaves metadata and is removed while it runs
	eventually(t, 30*time.Second, "the third member removed", func() bool {
		_, c, ok := ls.primaryConfig(obs, old[:2])
		if !ok {
			return false
		}
		_, in := c.Member(keeper)
		return !in
	})
	for _, a := range old {
		ls.stopAgent(a)
	}
	for _, a := range old[:2] {
		must(t, ls.cluster.StopNode(a))
	}
	ls.mu.Lock()
	ls.members = nil
	ls.mu.Unlock()
	for _, a := range fresh {
		ls.start(a)
	}
	ls.startAgent(keeper)
	ls.desire(keeper, fresh[0], fresh[1]) // the removed node is the first container listed
	for _, a := range []string{keeper, fresh[0], fresh[1]} {
		r := ls.agents[a].r
		eventually(t, 20*time.Second, "twenty passes of "+a, func() bool { return r.Status().Passes >= 20 })
	}
	if o, ok := ls.cluster.(mongotest.Observer); ok {
		initiates := 0
		for _, ch := range o.ConfigChanges() {
			if ch.Origin == mongosim.OriginInitiate {
				initiates++
			}
		}
		if initiates != 1 {
			t.Fatalf("%d initiates: a second set was started over the removed member's data", initiates)
		}
	}
	if hasConfig(t, obs, fresh) {
		t.Fatal("a fresh node got a config")
	}
	if st := ls.agents[keeper].r.Status(); st.LastDecision == nil || st.LastDecision.Action.Acts() {
		t.Errorf("the removed member's agent: %+v", st.LastDecision)
	}
}
