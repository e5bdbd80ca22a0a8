package mongosim

import (
	"slices"
	"time"
)

// replicateLocked lets every data-bearing non-primary copy the oplog from its sync source,
// rolling back entries the source does not have.
func (c *Cluster) replicateLocked(now time.Time) {
	for _, addr := range c.order {
		n := c.nodes[addr]
		if !n.running || n.config == nil {
			continue
		}
		switch n.state {
		case StateSecondary, StateStartup2, StateRecovering:
		default:
			continue
		}
		src := c.syncSourceLocked(n)
		if src == nil {
			n.syncSource = ""
			continue
		}
		c.syncFromLocked(n, src, now)
	}
}

// syncSourceLocked picks the reachable primary, or (chaining) the reachable member furthest
// ahead; a source must be ahead of n.
func (c *Cluster) syncSourceLocked(n *node) *node {
	var best *node
	for _, m := range n.config.Members {
		x := c.nodes[m.Host]
		if x == nil || x == n || !c.linkedLocked(n, x) || x.config == nil || !compatible(n, x) {
			continue
		}
		if x.state != StatePrimary && x.state != StateSecondary {
			continue
		}
		if x.lastOp().Compare(n.lastOp()) <= 0 {
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

func (c *Cluster) syncFromLocked(n, src *node, now time.Time) {
	k := commonPrefix(n.oplog, src.oplog)
	if k < len(n.oplog) {
		c.rollbackLocked(n, k, src, now)
	}
	n.oplog = append(n.oplog, src.oplog[len(n.oplog):]...)
	if cp := minOpTime(src.commitPoint, n.lastOp()); cp.Compare(n.commitPoint) > 0 {
		n.commitPoint = cp
	}
	n.syncSource = src.addr
	if n.state == StateStartup2 {
		n.state = StateSecondary
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
	for _, addr := range c.order {
		p := c.nodes[addr]
		if !p.running || p.state != StatePrimary {
			continue
		}
		var ops []OpTime
		votersWithConfig := 0
		for _, m := range p.config.Members {
			x := c.nodes[m.Host]
			if x == nil || !m.Voting() {
				continue
			}
			reached := x == p || (c.linkedLocked(p, x) && x.config != nil && compatible(p, x))
			if !reached {
				continue
			}
			if x.config.vt() == p.config.vt() {
				votersWithConfig++
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
		if !p.configCommitted && votersWithConfig >= p.config.MajorityVoteCount() {
			p.configCommitted = true
		}
		if !p.configOplogCommitted && p.commitPoint.Compare(p.configOplogTarget) >= 0 {
			p.configOplogCommitted = true
		}
	}
}

// newlyAddedLocked is the primary's own follow-up reconfig: once a newlyAdded member is
// SECONDARY and the current config is committed, clear its flag at version+1.
func (c *Cluster) newlyAddedLocked(now time.Time) {
	for _, addr := range c.order {
		p := c.nodes[addr]
		if !p.running || p.state != StatePrimary || !p.configCommitted || !p.configOplogCommitted || p.configBusy {
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
