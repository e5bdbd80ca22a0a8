package mongosim

import (
	"slices"
	"time"
)

// replicateLocked moves every data-bearing member one step: initial sync (STARTUP2), rollback,
// or steady replication from its sync source (SECONDARY, RECOVERING).
func (c *Cluster) replicateLocked(now time.Time) {
	for _, n := range c.shuffledLocked() {
		if !n.running || n.config == nil {
			continue
		}
		if _, member := n.self(); !member {
			n.syncSource = ""
			continue
		}
		switch n.state {
		case StateStartup2:
			c.initialSyncLocked(n, now)
		case StateRollback:
			c.finishRollbackLocked(n, now)
		case StateSecondary, StateRecovering:
			c.steadySyncLocked(n, now)
		}
	}
}

// sourceCandidateLocked reports whether x can be n's sync source at all: a reachable member of
// the same set that is PRIMARY or SECONDARY (mongod syncs only from readable members).
func (c *Cluster) sourceCandidateLocked(n, x *node) bool {
	return x != nil && x != n && c.linkedLocked(n, x) && x.config != nil && compatible(n, x) &&
		(x.state == StatePrimary || x.state == StateSecondary)
}

// syncSourceLocked picks among the candidates ahead of n that pass ok the reachable primary,
// else (chaining) the one furthest ahead.
func (c *Cluster) syncSourceLocked(n *node, ok func(x *node) bool) *node {
	var best *node
	for _, m := range n.config.Members {
		x := c.nodes[m.Host]
		if !c.sourceCandidateLocked(n, x) || x.lastOp().Compare(n.lastOp()) <= 0 || !ok(x) {
			continue
		}
		switch {
		case best == nil:
			best = x
		case x.state == StatePrimary && best.state != StatePrimary:
			best = x
		case (x.state == StatePrimary) == (best.state == StatePrimary) && x.lastOp().Compare(best.lastOp()) > 0:
			best = x
		}
	}
	return best
}

// initialSyncLocked runs a member without data through initial sync: it needs a source for
// InitialSyncBase + InitialSyncPerEntry × the source's oplog length, then copies it and
// recovers. Losing the source restarts the attempt, as a failed mongod attempt does.
func (c *Cluster) initialSyncLocked(n *node, now time.Time) {
	if src := c.nodes[n.initialSyncFrom]; n.initialSyncFrom != "" && c.sourceCandidateLocked(n, src) && src.hasData() {
		if now.Before(n.initialSyncDone) {
			return
		}
		n.oplog = slices.Clone(src.oplog)
		if cp := minOpTime(src.commitPoint, n.lastOp()); cp.Compare(n.commitPoint) > 0 {
			n.commitPoint = cp
		}
		n.initialSyncFrom = ""
		n.state = StateRecovering
		c.audit.add(Event{Time: now, Kind: EventInitialSyncDone, Node: n.addr, Term: n.term, Detail: itoa(int64(len(n.oplog))) + " entries from " + src.addr})
		c.logf(n).WithField("syncSource", src.addr).WithField("entries", len(n.oplog)).Info("initial sync done")
		return
	}
	if n.initialSyncFrom != "" {
		c.logf(n).WithField("syncSource", n.initialSyncFrom).Info("initial sync attempt failed: sync source lost")
	}
	n.initialSyncFrom, n.syncSource = "", ""
	src := c.syncSourceLocked(n, func(x *node) bool { return x.hasData() })
	if src == nil {
		return
	}
	d := c.opts.InitialSyncBase + time.Duration(len(src.oplog))*c.opts.InitialSyncPerEntry
	n.initialSyncFrom, n.syncSource = src.addr, src.addr
	n.initialSyncDone = now.Add(d)
	c.audit.add(Event{Time: now, Kind: EventInitialSyncStart, Node: n.addr, Term: n.term, Detail: itoa(int64(len(src.oplog))) + " entries from " + src.addr})
	c.logf(n).WithField("syncSource", src.addr).WithField("entries", len(src.oplog)).
		WithField("duration", d).Info("initial sync started")
}

// servesLocked reports whether src still holds the entry n would resume from: the last entry n
// shares with it must be within src's oplog window.
func (c *Cluster) servesLocked(src, n *node) bool {
	k := commonPrefix(n.oplog, src.oplog)
	return k >= 1 && k-1 >= len(src.oplog)-c.opts.OplogWindow
}

// steadySyncLocked copies new entries from the sync source, starts a rollback when n diverged
// from it, and marks n too stale when no source still holds n's last entry. A RECOVERING member
// that is not too stale becomes SECONDARY.
func (c *Cluster) steadySyncLocked(n *node, now time.Time) {
	if !n.hasData() {
		n.state = StateStartup2
		n.initialSyncFrom = ""
		return
	}
	src := c.syncSourceLocked(n, func(x *node) bool { return c.servesLocked(x, n) })
	if src == nil {
		n.syncSource = ""
		if ahead := c.syncSourceLocked(n, func(*node) bool { return true }); ahead != nil && !n.tooStale {
			n.tooStale = true
			n.state = StateRecovering
			c.audit.add(Event{Time: now, Kind: EventTooStale, Node: n.addr, Term: n.term, Detail: "no source holds " + opTimeString(n.lastOp())})
			c.logf(n).WithField("lastOpTime", opTimeString(n.lastOp())).WithField("oplogWindow", c.opts.OplogWindow).
				WithField("nearest", ahead.addr).Warn("too stale to catch up: no sync source still holds our last entry")
		}
	} else {
		n.tooStale = false
		n.syncSource = src.addr
		if k := commonPrefix(n.oplog, src.oplog); k < len(n.oplog) {
			n.state = StateRollback
			n.rollbackFrom = src.addr
			n.rollbackUntil = now.Add(c.opts.RollbackTime)
			c.audit.add(Event{Time: now, Kind: EventRollbackStart, Node: n.addr, Term: n.term, Detail: itoa(int64(len(n.oplog)-k)) + " divergent entries, source " + src.addr})
			c.logf(n).WithField("syncSource", src.addr).WithField("divergent", len(n.oplog)-k).Warn("entering ROLLBACK")
			return
		}
		n.oplog = append(n.oplog, src.oplog[len(n.oplog):]...)
		if cp := minOpTime(src.commitPoint, n.lastOp()); cp.Compare(n.commitPoint) > 0 {
			n.commitPoint = cp
		}
	}
	if n.state == StateRecovering && !n.tooStale {
		n.state = StateSecondary
	}
}

// finishRollbackLocked truncates a member's divergent entries once RollbackTime has passed,
// against the source it diverged from; it then recovers. Without that source the attempt is
// abandoned and the next step looks again.
func (c *Cluster) finishRollbackLocked(n *node, now time.Time) {
	if now.Before(n.rollbackUntil) {
		return
	}
	src := c.nodes[n.rollbackFrom]
	n.rollbackFrom = ""
	n.state = StateRecovering
	if src == nil || !c.linkedLocked(n, src) || !compatible(n, src) {
		return
	}
	if k := commonPrefix(n.oplog, src.oplog); k < len(n.oplog) {
		c.rollbackLocked(n, k, src, now)
	}
}

// rollbackLocked truncates n's oplog to its first k entries and records what was lost.
func (c *Cluster) rollbackLocked(n *node, k int, src *node, now time.Time) {
	gone := slices.Clone(n.oplog[k:])
	n.oplog = slices.Clone(n.oplog[:k])
	n.rolledBack = append(n.rolledBack, gone...)
	lostAcked := 0
	for _, e := range gone {
		if c.audit.acked[e.OpTime] {
			c.audit.lost = append(c.audit.lost, e)
			lostAcked++
		}
	}
	if n.commitPoint.Compare(n.lastOp()) > 0 {
		n.commitPoint = n.lastOp()
	}
	c.audit.add(Event{Time: now, Kind: EventRollback, Node: n.addr, Term: n.term, Detail: itoa(int64(len(gone))) + " entries"})
	c.logf(n).WithField("entries", len(gone)).WithField("majorityAcknowledged", lostAcked).
		WithField("syncSource", src.addr).Warn("rolled back")
}

func minOpTime(a, b OpTime) OpTime {
	if a.Compare(b) < 0 {
		return a
	}
	return b
}

// commitLocked advances each primary's majority commit point and its config commitment.
func (c *Cluster) commitLocked() {
	for _, p := range c.shuffledLocked() {
		if !p.running || p.state != StatePrimary {
			continue
		}
		var ops []OpTime
		for _, m := range p.config.Members {
			x := c.nodes[m.Host]
			if x == nil || !m.Voting() {
				continue
			}
			reached := x == p || (c.linkedLocked(p, x) && x.config != nil && compatible(p, x))
			if !reached {
				continue
			}
			if m.dataBearingVoter() {
				// Only the part of x's oplog that matches the primary's counts.
				if k := commonPrefix(x.oplog, p.oplog); k > 0 {
					ops = append(ops, x.oplog[k-1].OpTime)
				}
			}
		}
		slices.SortFunc(ops, func(a, b OpTime) int { return b.Compare(a) })
		if need := p.config.WriteMajorityCount(); len(ops) >= need {
			// Raft's rule: only an entry of the primary's own term commits by counting replicas.
			if cand := ops[need-1]; cand.Term == p.term && cand.Compare(p.commitPoint) > 0 {
				p.commitPoint = cand
			}
		}
	}
}

// configCommitLocked evaluates, at the time of the call, the two conditions mongod checks
// before a safe reconfig and for commitmentStatus: a majority of the config's voters reported
// this config (version, term) in their last heartbeat with p (p counts itself), and p's commit
// point reached configOplogTarget. Nothing is latched: a member that later reports another
// config (wiped, or moved on by a force reconfig) stops counting.
func (c *Cluster) configCommitLocked(p *node) (config, oplog bool) {
	vt, have := p.config.vt(), 0
	for _, m := range p.config.Members {
		if !m.Voting() {
			continue
		}
		if seen, ok := p.peers[m.Host]; m.Host == p.addr || ok && seen.config == vt {
			have++
		}
	}
	return have >= p.config.MajorityVoteCount(), p.commitPoint.Compare(p.configOplogTarget()) >= 0
}

// readyForReconfigLocked is the precondition of a non-force reconfig: the current config is
// committed and, unless it is the first config or came from a force reconfig, so is the oplog.
func (c *Cluster) readyForReconfigLocked(p *node) (config, oplog bool) {
	config, oplog = c.configCommitLocked(p)
	return config, oplog || p.config.Version == 1 || p.config.Term == -1
}

// newlyAddedLocked is the primary's own follow-up reconfig: once a newlyAdded member is
// SECONDARY and the current config is committed, clear its flag at version+1.
func (c *Cluster) newlyAddedLocked(now time.Time) {
	for _, p := range c.shuffledLocked() {
		if !p.running || !p.writablePrimary() || p.configBusy {
			continue
		}
		if config, oplog := c.readyForReconfigLocked(p); !config || !oplog {
			continue
		}
		for i, m := range p.config.Members {
			x := c.nodes[m.Host]
			if !m.NewlyAdded || x == nil || !c.linkedLocked(p, x) || x.state != StateSecondary {
				continue
			}
			cfg := p.config.Clone()
			cfg.Members[i].NewlyAdded = false
			cfg.Version++
			cfg.Term = p.term
			c.installLocked(p, cfg, OriginNewlyAdded, now)
			break
		}
	}
}
