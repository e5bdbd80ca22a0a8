package mongosim

import (
	"slices"
	"time"
)

// stepLocked advances the simulation by one heartbeat round. The order mirrors cause and
// effect: learn (heartbeats), lose the role (liveness), copy (replication), commit, stand
// (elections), then the primary's own newlyAdded follow-up.
func (c *Cluster) stepLocked(now time.Time) {
	if c.closed {
		return
	}
	c.steps++
	c.heartbeatsLocked(now)
	c.livenessLocked(now)
	c.replicateLocked(now)
	c.commitLocked()
	c.electionsLocked(now)
	c.newlyAddedLocked(now)
	c.broadcastLocked()
}

// compatibleLocked reports whether b would answer a's heartbeats: same set and replicaSetId, or
// no config at all.
func compatible(a, b *node) bool {
	if a.config == nil || b.config == nil {
		return true
	}
	return a.config.ID == b.config.ID && a.config.ReplicaSetID == b.config.ReplicaSetID
}

func (c *Cluster) heartbeatsLocked(now time.Time) {
	for _, addr := range c.order {
		n := c.nodes[addr]
		if !n.running || n.config == nil {
			continue
		}
		for _, m := range slices.Clone(n.config.Members) {
			b := c.nodes[m.Host]
			if b == nil || b == n || !c.linkedLocked(n, b) || !compatible(n, b) || n.config == nil {
				continue
			}
			n.lastContact[b.addr] = now
			b.lastContact[n.addr] = now
			c.exchangeLocked(n, b, now)
		}
	}
}

// exchangeLocked is what one heartbeat round trip teaches both sides: the higher term, and the
// newer config (a node without config takes the config of a set that lists it).
func (c *Cluster) exchangeLocked(a, b *node, now time.Time) {
	if t := max(a.term, b.term); a.term != b.term {
		for _, x := range []*node{a, b} {
			if x.term < t {
				x.term = t
				if x.state == StatePrimary {
					c.stepDownLocked(x, now, "saw a higher term")
				}
			}
		}
	}
	switch {
	case b.config == nil:
		if !b.configBusy {
			c.installLocked(b, a.config, OriginHeartbeat, now)
		}
	case a.config.vt().newerThan(b.config.vt()):
		if !b.configBusy {
			c.installLocked(b, a.config, OriginHeartbeat, now)
		}
	case b.config.vt().newerThan(a.config.vt()):
		if !a.configBusy {
			c.installLocked(a, b.config, OriginHeartbeat, now)
		}
	}
}

// livenessLocked steps down a primary that has not seen a voting majority for an election
// timeout, as mongod does.
func (c *Cluster) livenessLocked(now time.Time) {
	for _, addr := range c.order {
		p := c.nodes[addr]
		if !p.running || p.state != StatePrimary {
			continue
		}
		seen := 0
		for _, m := range p.config.Members {
			if x := c.nodes[m.Host]; m.Voting() && x != nil && c.linkedLocked(p, x) && compatible(p, x) {
				seen++
			}
		}
		if seen >= p.config.MajorityVoteCount() {
			p.majoritySeenAt = now
		} else if now.Sub(p.majoritySeenAt) >= c.opts.ElectionTimeout {
			c.stepDownLocked(p, now, "cannot see a voting majority")
		}
	}
}

// primaryOfLocked returns the primary n knows of through heartbeats (itself included).
func (c *Cluster) primaryOfLocked(n *node) *node {
	if n.config == nil {
		return nil
	}
	var best *node
	for _, m := range n.config.Members {
		x := c.nodes[m.Host]
		if x == nil || x.state != StatePrimary || !c.linkedLocked(n, x) || !compatible(n, x) {
			continue
		}
		if best == nil || x.term > best.term {
			best = x
		}
	}
	return best
}

func (c *Cluster) stepDownLocked(n *node, now time.Time, reason string) {
	if n.state != StatePrimary {
		return
	}
	n.state = StateSecondary
	n.electionTime = time.Time{}
	n.lastPrimarySeen = now
	n.takeoverSince = time.Time{}
	c.audit.add(Event{Time: now, Kind: EventStepDown, Node: n.addr, Term: n.term, Detail: reason})
	c.logf(n).WithField("term", n.term).WithField("reason", reason).Info("stepped down")
	c.settleStateLocked(n)
}

// settleStateLocked derives the member state from the installed config.
func (c *Cluster) settleStateLocked(n *node) {
	if !n.running {
		return
	}
	if n.config == nil {
		n.state = StateStartup
		return
	}
	self, ok := n.self()
	if !ok || self.ArbiterOnly {
		if n.state == StatePrimary {
			c.stepDownLocked(n, time.Now(), "not electable in the new config")
		}
		n.state = StateRemoved
		if ok {
			n.state = StateArbiter
		}
		return
	}
	switch n.state {
	case StatePrimary:
		if !self.Electable() {
			c.stepDownLocked(n, time.Now(), "not electable in the new config")
		}
	case StateStartup, StateRemoved, StateArbiter, StateDown:
		if n.hasData() {
			n.state = StateSecondary
		} else {
			n.state = StateStartup2
		}
	}
}

// installLocked stores cfg as n's config and records it.
func (c *Cluster) installLocked(n *node, cfg *Config, origin ConfigOrigin, now time.Time) {
	prev := n.config
	n.config = cfg.Clone()
	c.audit.changes = append(c.audit.changes, ConfigChange{Time: now, Node: n.addr, Origin: origin, Prev: prev.Clone(), New: cfg.Clone()})
	c.audit.add(Event{Time: now, Kind: EventConfigInstalled, Node: n.addr, Term: n.term, Version: cfg.Version, ConfigTerm: cfg.Term, Origin: origin})
	if origin == OriginForce {
		c.audit.forced = true
	}
	if n.state == StatePrimary {
		n.configCommitted = false
		n.configOplogCommitted = false
		// Every write made under the previous config must commit under this one.
		n.configOplogTarget = n.lastOp()
	}
	if origin != OriginHeartbeat {
		c.logf(n).WithField("version", cfg.Version).WithField("configTerm", cfg.Term).
			WithField("origin", string(origin)).WithField("members", len(cfg.Members)).
			WithField("voters", cfg.Voters()).Info("config installed")
	}
	c.settleStateLocked(n)
}
