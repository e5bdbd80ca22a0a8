package e2e

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/replset-agent/replset-agent/metadata/metadatatest"
	"github.com/replset-agent/replset-agent/mongosim"
	"github.com/replset-agent/replset-agent/mongotest"
)

// TestHostLost: a lost secondary host stays a member for the whole removal grace, then is
// removed by the primary's agent.
func TestHostLost(t *testing.T) {
	const grace = 3 * time.Second
	e := newEnv(t, envOptions{hosts: 4, grace: grace})
	h := e.hosts
	e.addHosts(h...)
	v := e.waitSettled("4 hosts", h)
	e.startWriter(h)

	var lost *host
	for _, x := range h {
		if x.addr != v.Primary {
			lost = x
		}
	}
	lostAt := e.loseHosts(lost)
	rest := slices.DeleteFunc(slices.Clone(h), func(x *host) bool { return x == lost })

	// Every view read completely within the grace must still hold the lost member.
	want := addrsOf(rest)
	waitFor(t, lost.name+" removed", settleTimeout, func() (bool, string) {
		v := e.view()
		readAt := time.Now()
		if v.Primary != "" && readAt.Before(lostAt.Add(grace)) {
			if _, ok := v.Members[lost.addr]; !ok {
				t.Fatalf("%s was removed %s after it was lost, before the %s grace", lost.addr, readAt.Sub(lostAt), grace)
			}
		}
		return settledOn(v, want)
	})
	if e.obs != nil {
		for _, c := range e.obs.ConfigChanges() {
			if c.Prev == nil || c.Origin != mongosim.OriginReconfig {
				continue
			}
			_, before := c.Prev.Member(lost.addr)
			_, after := c.New.Member(lost.addr)
			if before && !after && c.Time.Sub(lostAt) < grace {
				t.Errorf("the config removing %s was installed %s after the loss, within the %s grace", lost.addr, c.Time.Sub(lostAt), grace)
			}
		}
	}
	e.waitSettled("3 hosts left", rest)
}

// TestPrimaryLost: the primary's host is lost. The set elects a new primary by itself (no forced
// reconfig, which checkSafety verifies), and the new primary's agent carries on and removes the
// lost member after the grace.
func TestPrimaryLost(t *testing.T) {
	e := newEnv(t, envOptions{hosts: 3})
	h := e.hosts
	e.addHosts(h...)
	v := e.waitSettled("3 hosts", h)
	e.startWriter(h)

	old := e.primaryHost(v)
	lostAt := e.loseHosts(old)
	rest := slices.DeleteFunc(slices.Clone(h), func(x *host) bool { return x == old })
	v = e.waitSettled("the lost primary removed", rest)
	successor := e.primaryHost(v)
	if successor == nil || successor == old {
		t.Fatalf("no new primary: %s", v)
	}
	// The change was made by the agent beside the new primary (only the primary's agent acts).
	if !successor.agent.hasLog(map[string]string{"msg": "action done", "kind": "reconfig", "member": old.addr}) {
		t.Errorf("%s's agent (new primary) logged no reconfig of %s", successor.name, old.addr)
	}
	if e.obs != nil {
		// A reconfig is installed first on the node that runs it, the primary: after the loss,
		// every one of them must come from the successor.
		for _, c := range e.obs.ConfigChanges() {
			if c.Origin == mongosim.OriginReconfig && c.Time.After(lostAt) && c.Node != successor.addr {
				t.Errorf("config v%d was made on %s, not on the new primary %s", c.New.Version, c.Node, successor.addr)
			}
		}
	}
}

// TestPartition (emulator only): the primary and one secondary are cut off from the other three.
// A host is added meanwhile. The majority elects a primary and adds the host; the minority
// installs no config at all; after healing everything converges.
func TestPartition(t *testing.T) {
	e := newEnv(t, envOptions{hosts: 6})
	h := e.hosts
	e.addHosts(h[:5]...)
	v := e.waitSettled("5 hosts", h[:5])
	e.startWriter(h[:5])

	old := e.primaryHost(v)
	minority := []*host{old}
	var majority []*host
	for _, x := range h[:5] {
		if x == old {
			continue
		}
		if len(minority) < 2 {
			minority = append(minority, x)
		} else {
			majority = append(majority, x)
		}
	}
	majority = append(majority, h[5])
	if err := e.cluster.Partition(addrsOf(minority), addrsOf(majority)); err != nil {
		if errors.Is(err, mongotest.ErrUnsupported) {
			t.Skip("partitions need the emulator")
		}
		t.Fatal(err)
	}
	cutAt := time.Now()
	e.addHosts(h[5])
	waitFor(t, "the majority side adds host6 under a new primary", settleTimeout, func() (bool, string) {
		v := e.view()
		if v.Primary == "" || v.Primary == old.addr || !v.Committed {
			return false, v.String()
		}
		// Six members keep five voters, so host6 may stay a non-voter.
		m, ok := v.Members[h[5].addr]
		return ok && m.State == "SECONDARY", v.String()
	})
	t.Logf("during the partition: %s", e.view())
	healAt := time.Now()
	for _, c := range e.obs.ConfigChanges() {
		if c.Time.After(cutAt) && c.Time.Before(healAt) && slices.Contains(addrsOf(minority), c.Node) {
			t.Errorf("minority node %s installed config v%d (%s) during the partition", c.Node, c.New.Version, c.Origin)
		}
	}
	if err := e.cluster.Heal(); err != nil {
		t.Fatal(err)
	}
	e.waitSettled("healed: 6 hosts", h)
}

// TestRecreatedContainerNewIP: with container addresses, host2's mongo container is re-created
// with a new IP (and an empty mongod). The old address is removed after the grace and the new one
// added; no config ever edits a member's host in place.
func TestRecreatedContainerNewIP(t *testing.T) {
	e := newEnv(t, envOptions{hosts: 4, addressSource: "container"})
	h := e.hosts
	e.addHosts(h[:3]...)
	e.waitSettled("3 hosts", h[:3])
	e.startWriter(h[:3])

	old, fresh := h[1], h[3]
	old.agent.terminate(30 * time.Second)
	if err := e.cluster.StopNode(old.addr); err != nil {
		t.Fatal(err)
	}
	e.startNode(fresh.addr)
	fresh.meta = old.meta
	fresh.ctr = e.tree.Service(stackName, "mongo").Replace(old.ctr)
	fresh.ctr.PrimaryIP, fresh.ctr.IPs = fresh.ip, []string{fresh.ip}
	old.ctr, old.meta = nil, nil
	e.meta.ClearSelf(old.ip)
	e.meta.SetSelf(fresh.ip, metadatatest.Self{ContainerUUID: fresh.ctr.UUID})
	e.publish()
	e.startAgent(fresh)

	e.waitSettled("host2 under its new address", []*host{h[0], fresh, h[2]})
	if e.obs != nil {
		for _, c := range e.obs.ConfigChanges() {
			if c.Prev == nil {
				continue
			}
			for _, m := range c.New.Members {
				for _, p := range c.Prev.Members {
					if p.ID == m.ID && p.Host != m.Host {
						t.Errorf("config v%d on %s changed member %d's host in place: %s → %s", c.New.Version, c.Node, m.ID, p.Host, m.Host)
					}
				}
			}
		}
	}
}
