package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestSIGTERMMidReconfig stops the primary's agent with SIGTERM the moment it decides to add a
// fifth host. The command in flight runs to its end (bounded by --action-timeout) instead of being
// cancelled after mongod applied it, and the log tells the truth: the add is logged done exactly
// when the config holds the new member, and no action is logged failed for a cancellation. The
// process exits 0 promptly, the set stays safe with the half-done change (a non-voting new
// member), no other agent takes over the change, and a new run of the agent finishes the job.
func TestSIGTERMMidReconfig(t *testing.T) {
	// Four hosts have three voters; a fifth needs an add and then two promotions (host4, host5),
	// so a stop right at the add leaves the change half done.
	e := newEnv(t, envOptions{hosts: 5})
	h := e.hosts
	e.addHosts(h[:4]...)
	v := e.waitSettled("4 hosts", h[:4])
	e.startWriter(h[:4])
	p := e.primaryHost(v)

	e.addHosts(h[4])
	// The decision is logged just before the reconfig is sent; polling the log tightly delivers
	// the signal while the add is in flight or right after it, before the promotion.
	addDecision := `"msg":"decision"`
	deadline := time.Now().Add(settleTimeout)
	for !strings.Contains(p.agent.log(), addDecision) || !p.agent.hasLog(map[string]string{"msg": "decision", "step": "add", "member": h[4].addr}) {
		if time.Now().After(deadline) {
			t.Fatalf("the primary's agent never decided to add host5:\n%s", p.agent.log())
		}
		time.Sleep(2 * time.Millisecond)
	}
	sent := time.Now()
	if !p.agent.terminate(30 * time.Second) {
		t.Fatalf("%s's agent did not exit within 30s of SIGTERM", p.name)
	}
	t.Logf("%s's agent exited %s after SIGTERM with code %d", p.name, time.Since(sent).Round(time.Millisecond), p.agent.code)
	if p.agent.code != 0 {
		t.Errorf("exit code %d (signal %v) after SIGTERM, want 0", p.agent.code, p.agent.signal)
	}
	if !p.agent.hasLog(map[string]string{"msg": "stopping", "signal": "terminated"}) {
		t.Errorf("the agent did not log its stop")
	}

	// Only the primary's agent changes the set: with it gone, the others must leave the set where
	// the interrupted change put it (host5 absent or non-voting, three voters) while they plan.
	others := agents(h)
	base := map[*proc]int64{}
	for _, a := range others {
		st, err := a.mongoStatus()
		if err != nil {
			t.Fatal(err)
		}
		base[a] = st.Reconciler.Passes
	}
	waitFor(t, "the other agents plan a few times", settleTimeout, func() (bool, string) {
		for _, a := range others {
			st, err := a.mongoStatus()
			if err != nil || st.Reconciler.Passes < base[a]+5 {
				return false, a.name + " has not planned 5 times yet"
			}
		}
		return true, ""
	})
	v = e.view()
	added := p.agent.hasLog(map[string]string{"msg": "action done", "step": "add"})
	if _, inConfig := v.Members[h[4].addr]; added != inConfig {
		t.Errorf("the log says the add was done: %t, but the config holds %s: %t (%s)", added, h[4].name, inConfig, v)
	}
	for _, l := range p.agent.logLines() {
		if l["msg"] == "action failed; retrying" && strings.Contains(fmt.Sprint(l["error"]), "context canceled") {
			t.Errorf("an action was cancelled by the stop and logged as failed: %v", l)
		}
	}
	promoted := p.agent.hasLog(map[string]string{"msg": "action done", "step": "promote"})
	if !promoted && v.voters() != 3 {
		t.Errorf("voters changed while the primary's agent was stopped: %s", v)
	}
	t.Logf("while the agent was stopped: %s (promotion done before the stop: %t)", v, promoted)
	if v.Primary != p.addr {
		t.Logf("note: the primary moved to %s meanwhile", v.Primary)
	}

	e.startAgent(p)
	e.waitSettled("a new run of the agent converges on 5 hosts", h)
}
