package agent

import (
	"testing"
	"time"

	"github.com/replset-agent/replset-agent/mongors"
)

// TestPrimaryLeavesMetadata: the primary's own container leaves metadata while its mongod and
// agent keep running (decommissioned, still stopping). Its agent must see itself gone: after the
// grace it steps down, and the next primary takes its vote, then removes it at twice the grace,
// so that stopping it later cannot take the quorum down.
func TestPrimaryLeavesMetadata(t *testing.T) {
	d := settledEnv(t, 4)
	v := d.view()
	var p *demoHost
	for _, h := range d.hosts {
		if h.addr == v.primary {
			p = h
		}
	}
	if p == nil {
		t.Fatalf("no primary in %s", v)
	}
	removed := false
	for _, c := range d.tree.Service("demo", "mongo").Containers {
		if c.HostUUID == p.meta.UUID {
			removed = d.tree.RemoveContainer(c.UUID)
			break
		}
	}
	if !removed {
		t.Fatal("no container of the primary's host in the tree")
	}
	left := time.Now()
	d.meta.SetTree(d.tree)
	waitUntil(t, "the old primary gone from the config", func() bool {
		v := d.view()
		_, in := v.members[p.addr]
		return v.primary != "" && v.primary != p.addr && !in && v.committed
	})
	if took := time.Since(left); took < 2*d.cfg.Grace {
		t.Errorf("removed %s after it left metadata, before twice the %s grace", took, d.cfg.Grace)
	}
	st := p.agent.rec.Status()
	if st.Desired == nil || st.Desired.Self != p.addr || hasMember(st.Desired.Members, p.addr) {
		t.Errorf("the old primary's agent does not plan with itself gone: %+v", st.Desired)
	}
	if st.LastAction == nil || st.LastAction.Action.Kind != mongors.KindStepDown {
		t.Errorf("the old primary's agent's last action is %+v, want its step-down", st.LastAction)
	}
	// Stopping it now leaves the set its primary.
	d.stopAgent(p)
	if err := d.nodes.CrashNode(p.addr); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a primary with the three members left", func() bool {
		v := d.view()
		return v.primary != "" && v.primary != p.addr && len(v.members) == 3 && v.committed
	})
}

func hasMember(ms []mongors.Member, host string) bool {
	for _, m := range ms {
		if m.Host == host {
			return true
		}
	}
	return false
}
