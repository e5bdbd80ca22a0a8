package e2e

import (
	"fmt"
	"os"
	"testing"

	"github.com/replset-agent/replset-agent/mongosim"
)

// TestBootstrap: one and two hosts never initiate (min-members is 3); the third host makes the
// lowest-create_index agent initiate once, with an explicit config of all three, although with
// access control on no node but its own answers it more than hello and a refused login; then the
// first users are created.
func TestBootstrap(t *testing.T) {
	e := newEnv(t, envOptions{hosts: 3})
	h := e.hosts

	for n := 1; n <= 2; n++ {
		e.addHosts(h[n-1])
		// Let every agent see all n hosts and plan several times over; then no node may have a
		// config. Waiting on passes, not on a clock, keeps this meaningful on a slow machine.
		running := agents(h[:n])
		base := map[*proc]int64{}
		waitFor(t, fmt.Sprintf("%d agents see %d hosts", n, n), settleTimeout, func() (bool, string) {
			for _, a := range running {
				st, err := a.mongoStatus()
				if err != nil || st.Reconciler.Desired == nil || len(st.Reconciler.Desired.Members) != n {
					return false, a.name + " has not seen the hosts yet"
				}
				if _, ok := base[a]; !ok {
					base[a] = st.Reconciler.Passes
				}
				if st.Reconciler.Passes < base[a]+5 {
					return false, fmt.Sprintf("%s: %d passes", a.name, st.Reconciler.Passes)
				}
				if d := st.Reconciler.LastDecision; d == nil || d.Action.Kind != "wait" {
					return false, a.name + ": last decision is not a wait"
				}
			}
			return true, ""
		})
		for _, x := range h[:n] {
			hl, err := e.probe.hello(t.Context(), x.addr)
			if err != nil {
				t.Fatalf("hello %s: %v", x.addr, err)
			}
			if hl.SetVersion != 0 || hl.SetName != "" {
				t.Fatalf("with %d host(s), %s has a config (set %q version %d)", n, x.addr, hl.SetName, hl.SetVersion)
			}
		}
	}

	// The shipped binary runs its roles on one OS thread at a time unless GOMAXPROCS says otherwise.
	if os.Getenv("GOMAXPROCS") == "" && !h[0].agent.hasLog(map[string]string{"msg": "mongo role starting", "gomaxprocs": "1"}) {
		t.Fatal("the mongo role did not start with GOMAXPROCS 1")
	}

	e.addHosts(h[2])
	v := e.waitSettled("3 hosts: initiated", h)
	e.startWriter(h)
	t.Logf("initiated: %s", v)
	// Access control: the first users exist once, created by the agent beside the primary.
	e.waitUsersDone(t, h)
	e.checkUsers(t, v.Primary)
	if !h[0].agent.hasLog(map[string]string{"msg": "action done", "kind": "initiate"}) {
		t.Errorf("host1, the lowest create_index, did not log the initiate:\n%s", h[0].agent.log())
	}
	for _, x := range h[1:] {
		if x.agent.hasLog(map[string]string{"msg": "action done", "kind": "initiate"}) {
			t.Errorf("%s initiated too; only the lowest create_index may", x.name)
		}
	}
	if e.obs != nil {
		initiates := 0
		for _, c := range e.obs.ConfigChanges() {
			if c.Origin == mongosim.OriginInitiate {
				initiates++
				if len(c.New.Members) != 3 {
					t.Errorf("initiated with %d members, want the explicit config of all 3", len(c.New.Members))
				}
			}
		}
		if initiates != 1 {
			t.Errorf("%d initiates, want exactly 1", initiates)
		}
	}
}
