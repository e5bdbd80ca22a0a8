package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestScaleAndLetsChatPolicies grows the set 3 → 5 → 7 → 9 hosts (voters stop at 7) and shrinks
// it back to 3 other hosts, losing hosts in batches that keep a voting majority, while six Let's
// Chat instances (two per restart policy) follow the membership. It checks that each policy
// restarts exactly when it should, that restarts go in rank order (the stagger), and that every
// instance ends with the URI of the final set.
func TestScaleAndLetsChatPolicies(t *testing.T) {
	e := newEnv(t, envOptions{hosts: 9})
	h := e.hosts
	e.addHosts(h[:3]...)
	seeds := e.addLetschat("lc-seeds", "seeds-lost", 2)
	always := e.addLetschat("lc-always", "always", 2)
	never := e.addLetschat("lc-never", "never", 2)
	e.waitSettled("3 hosts", h[:3])
	e.startWriter(h[:3])
	first := slices.Sorted(slices.Values(addrsOf(h[:3])))
	for _, lc := range e.lcs {
		waitFor(t, lc.name+" starts", settleTimeout, func() (bool, string) {
			s := lc.startsOf()
			return len(s) == 1 && slices.Equal(s[0].hosts, first), fmt.Sprint(s)
		})
	}

	steps := []struct {
		what      string
		add, lose []*host
		want      []*host
	}{
		{what: "scale to 5", add: h[3:5], want: h[:5]},
		{what: "scale to 7", add: h[5:7], want: h[:7]},
		{what: "scale to 9: two non-voters", add: h[7:9], want: h[:9]},
		// Each batch keeps a majority of the voters alive, so the set can always reconfigure.
		{what: "lose hosts 1-3", lose: h[0:3], want: h[3:9]},
		{what: "lose hosts 4-5", lose: h[3:5], want: h[5:9]},
		{what: "lose host 6", lose: h[5:6], want: h[6:9]},
	}
	for _, s := range steps {
		if len(s.add) > 0 {
			e.addHosts(s.add...)
		}
		if len(s.lose) > 0 {
			e.loseHosts(s.lose...)
		}
		v := e.waitSettled(s.what, s.want)
		t.Logf("%s: %s", s.what, v)
		if v.voters() > 7 {
			t.Fatalf("%s: %d voters", s.what, v.voters())
		}
	}

	final := slices.Sorted(slices.Values(addrsOf(h[6:9])))
	// Scheduled restarts fire after the stagger; wait until none is pending.
	for _, lc := range e.lcs {
		waitFor(t, lc.name+" idle", settleTimeout, func() (bool, string) {
			st, err := lc.proc.letschatStatus()
			if err != nil {
				return false, err.Error()
			}
			ok := st.Supervisor.State == "running" && st.Supervisor.Pending == "" &&
				(lc.policy != "always" || slices.Equal(uriHosts(st.Supervisor.ChildURI), final))
			return ok, fmt.Sprintf("%+v", st.Supervisor)
		})
	}

	for _, lc := range never {
		if s := lc.startsOf(); len(s) != 1 {
			t.Errorf("%s (never): %d starts, want 1: %v", lc.name, len(s), s)
		}
	}
	for _, lc := range seeds {
		s := lc.startsOf()
		// One restart: when hosts 1-3, every seed of the first URI, were gone. The later
		// losses left seeds of the running URI in the set.
		if len(s) != 2 {
			t.Errorf("%s (seeds-lost): %d starts, want 2: %v", lc.name, len(s), s)
			continue
		}
		for _, a := range s[1].hosts {
			if slices.Contains(first, a) {
				t.Errorf("%s restarted with a lost seed %s: %v", lc.name, a, s[1].hosts)
			}
		}
	}
	for _, lc := range always {
		s := lc.startsOf()
		if len(s) < 2 || !slices.Equal(s[len(s)-1].hosts, final) {
			t.Errorf("%s (always): starts %v, want restarts ending on %v", lc.name, s, final)
		}
	}
	for _, group := range [][]*lcAgent{seeds, always} {
		checkStagger(t, group)
	}
}

// checkStagger asserts that the first restart of each instance of a service came in rank order,
// and that each instance scheduled it rank × stagger late.
func checkStagger(t *testing.T, group []*lcAgent) {
	t.Helper()
	byRank := make([]*lcAgent, len(group))
	for _, lc := range group {
		st, err := lc.proc.letschatStatus()
		if err != nil {
			t.Fatal(err)
		}
		if st.Supervisor.Rank < 0 || st.Supervisor.Rank >= len(group) || byRank[st.Supervisor.Rank] != nil {
			t.Fatalf("%s: rank %d is not a distinct rank among %d instances", lc.name, st.Supervisor.Rank, len(group))
		}
		byRank[st.Supervisor.Rank] = lc
		for _, entry := range lc.proc.logLines() {
			if entry["msg"] != "restart scheduled" {
				continue
			}
			d, err := time.ParseDuration(fmt.Sprint(entry["delay"]))
			if err != nil || d < time.Duration(st.Supervisor.Rank)*2*time.Second {
				t.Errorf("%s (rank %d) scheduled a restart %v later, want at least rank × 2s stagger", lc.name, st.Supervisor.Rank, entry["delay"])
			}
		}
	}
	// The shared starts file holds every start of the service in order; the second line of an
	// instance is its first restart.
	var order []string
	seen := map[string]int{}
	for _, s := range readStarts(group[0].starts) {
		seen[s.instance]++
		if seen[s.instance] == 2 {
			order = append(order, s.instance)
		}
	}
	want := make([]string, len(byRank))
	for i, lc := range byRank {
		want[i] = lc.name
	}
	if !slices.Equal(order, want) {
		t.Errorf("%s: first restarts in order %v, want rank order %v", group[0].service, order, want)
	}
}
