package mongosim

import (
	"slices"
	"time"
)

// stepLocked advances the simulation by one heartbeat round. The order mirrors cause and
// effect: learn (heartbeats), lose the role (liveness), copy (replication, initial sync,
// rollback), commit, finish draining, stand (elections), then the primary's own newlyAdded
// follow-up. Within each phase nodes act in an order drawn from the seeded generator.
func (c *Cluster) stepLocked(now time.Time) {
	if c.closed || c.stepsPaused {
		return
	}
	c.heartbeatsLocked(now)
	c.livenessLocked(now)
	c.replicateLocked(now)
	c.commitLocked()
	c.drainLocked(now)
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
	for _, n := range c.shuffledLocked() {
		if n.running && n.config != nil {
			c.heartbeatRoundLocked(n, now)
		}
	}
}

// heartbeatRoundLocked is n heartbeating every member of its config, in a random order.
func (c *Cluster) heartbeatRoundLocked(n *node, now time.Time) {
	members := slices.Clone(n.config.Members)
	for _, i := range c.rnd.Perm(len(members)) {
		b := c.nodes[members[i].Host]
		if b == nil || b == n || n.config == nil || !c.linkedLocked(n, b) || !compatible(n, b) {
			continue
		}
		n.lastContact[b.addr] = now
		b.lastContact[n.addr] = now
		c.exchangeLocked(n, b, now)
	}
}

// servesConfig reports whether x answers heartbeats with its config: a REMOVED node answers
// with InvalidReplicaSetConfig instead, so it never hands its config to anyone.
func servesConfig(x *node) bool {
	_, member := x.self()
	return member
}

// exchangeLocked is what one heartbeat round trip teaches both sides: the higher term, the
// config version each side reports, and the newer config (a node without config takes the
// config of a set that lists it).
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
	a.peers[b.addr] = viewOf(b)
	b.peers[a.addr] = viewOf(a)
	switch {
	case b.config == nil:
		if !b.configBusy && servesConfig(a) {
			c.installLocked(b, a.config, OriginHeartbeat, now)
		}
	case a.config.vt().newerThan(b.config.vt()):
		if !b.configBusy && servesConfig(a) {
			c.installLocked(b, a.config, OriginHeartbeat, now)
		}
	case b.config.vt().newerThan(a.config.vt()):
		if !a.configBusy && servesConfig(b) {
			c.installLocked(a, b.config, OriginHeartbeat, now)
		}
	}
}

// reportedConfig is the config (version, term) x reports in a heartbeat; -2 without a config,
// as mongod reports it.
func reportedConfig(x *node) versionTerm {
	if x.config == nil {
		return versionTerm{version: -2, term: -1}
	}
	return x.config.vt()
}

// livenessLocked steps down a primary that has not seen a voting majority for an election
// timeout, as mongod does.
func (c *Cluster) livenessLocked(now time.Time) {
	for _, p := range c.shuffledLocked() {
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
	n.draining, n.steppingDown = false, false
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
		// A member with data recovers before it is SECONDARY; one without data starts an
		// initial sync, as mongod does on startup and when it is added.
		n.tooStale = false
		if n.hasData() {
			n.state = StateRecovering
		} else {
			n.state = StateStartup2
			n.initialSyncFrom = ""
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
	// What was committed under the previous config must commit under this one.
	n.lastCommittedInPrevConfig = n.commitPoint
	// mongod restarts its heartbeats on every config install, so the members learn of the
	// config one round trip later instead of at the next step.
	c.scheduleRoundLocked(n, now)
	if origin != OriginHeartbeat {
		c.logf(n).WithField("version", cfg.Version).WithField("configTerm", cfg.Term).
			WithField("origin", string(origin)).WithField("members", len(cfg.Members)).
			WithField("voters", cfg.Voters()).Info("config installed")
	}
	c.settleStateLocked(n)
}
