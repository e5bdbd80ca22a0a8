package mongosim

import (
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// electionsLocked lets every electable secondary stand when it has gone an election timeout
// without a primary, when the primary handed off to it, or when it outranks the primary by
// priority and has caught up (priority takeover).
func (c *Cluster) electionsLocked(now time.Time) {
	idx := c.rnd.Perm(len(c.order))
	for _, i := range idx {
		n := c.nodes[c.order[i]]
		if !n.electable(now) {
			n.handoff = false
			continue
		}
		self, _ := n.self()
		reason := ""
		if p := c.primaryOfLocked(n); p != nil {
			n.lastPrimarySeen = now
			pm, _ := n.config.Member(p.addr)
			if self.Priority > pm.Priority && n.lastOp().Compare(p.lastOp()) >= 0 {
				if n.takeoverSince.IsZero() {
					n.takeoverSince = now
				}
				if now.Sub(n.takeoverSince) >= c.opts.ElectionTimeout {
					reason = "priority takeover"
				}
			} else {
				n.takeoverSince = time.Time{}
			}
			if n.handoff {
				reason = "stepdown handoff"
			}
		} else if n.handoff {
			reason = "stepdown handoff"
		} else if now.Sub(n.lastPrimarySeen) >= c.opts.ElectionTimeout+n.electionJitter {
			reason = "election timeout"
		}
		n.handoff = false
		if reason == "" {
			continue
		}
		if !c.runElectionLocked(n, now, reason) {
			n.lastPrimarySeen = now
			n.takeoverSince = time.Time{}
			n.electionJitter = c.jitterLocked()
		}
	}
}

// runElectionLocked is a dry run and, if it would win, the real election in term+1.
func (c *Cluster) runElectionLocked(n *node, now time.Time, reason string) bool {
	term := n.term + 1
	var granted []*node
	votes := 0
	for _, m := range n.config.Members {
		v := c.nodes[m.Host]
		if !m.Voting() || v == nil {
			continue
		}
		if v == n {
			if n.lastVotedTerm < term {
				votes++
			}
			continue
		}
		if c.grantsVoteLocked(v, n, term) {
			votes++
			granted = append(granted, v)
		}
	}
	need := n.config.MajorityVoteCount()
	if votes < need {
		c.logf(n).WithField("term", term).WithField("votes", votes).WithField("needed", need).
			WithField("reason", reason).Debug("election lost in dry run")
		return false
	}
	n.term = term
	n.lastVotedTerm = term
	for _, v := range granted {
		v.term = term
		v.lastVotedTerm = term
		if v.state == StatePrimary {
			c.stepDownLocked(v, now, "voted for a candidate in a higher term")
		}
	}
	c.becomePrimaryLocked(n, now, reason, votes)
	return true
}

// grantsVoteLocked applies a voter's rules: reachable, same set, config not newer than the
// candidate's, not yet voted in the term, and a candidate oplog at least as fresh as its own.
func (c *Cluster) grantsVoteLocked(v, cand *node, term int64) bool {
	switch {
	case !c.linkedLocked(v, cand), v.config == nil, !compatible(v, cand):
		return false
	case v.config.vt().newerThan(cand.config.vt()):
		return false
	case term < v.term, v.lastVotedTerm >= term:
		return false
	case cand.lastOp().Compare(v.lastOp()) < 0:
		return false
	}
	return true
}

func (c *Cluster) becomePrimaryLocked(n *node, now time.Time, reason string, votes int) {
	n.state = StatePrimary
	n.electionTime = now
	n.majoritySeenAt = now
	n.takeoverSince = time.Time{}
	n.handoff = false
	if w, ok := c.audit.winners[n.term]; ok && w != n.addr {
		c.audit.violations = append(c.audit.violations, "two primaries in term "+itoa(n.term)+": "+w+" and "+n.addr)
	}
	c.audit.winners[n.term] = n.addr
	c.audit.add(Event{Time: now, Kind: EventElection, Node: n.addr, Term: n.term, Detail: reason})
	c.logf(n).WithField("term", n.term).WithField("votes", votes).WithField("reason", reason).Info("elected primary")
	msg, _ := bson.Marshal(bson.D{{Key: "msg", Value: "new primary"}})
	n.oplog = append(n.oplog, Entry{OpTime: OpTime{TS: c.nextTimestampLocked(now), Term: n.term}, Wall: now, Op: "n", Doc: msg})
	cfg := n.config.Clone()
	cfg.Term = n.term
	c.installLocked(n, cfg, OriginStepUp, now)
}

// electionID is the primary's electionId: 0x7fffffff followed by the term.
func electionID(term int64) bson.ObjectID {
	var id bson.ObjectID
	id[0], id[1], id[2], id[3] = 0x7f, 0xff, 0xff, 0xff
	for i := 0; i < 8; i++ {
		id[11-i] = byte(term >> (8 * i))
	}
	return id
}
