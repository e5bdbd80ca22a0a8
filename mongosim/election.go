package mongosim

import (
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// electionsLocked lets every electable secondary stand when it has gone an election timeout
// without a primary, when the primary handed off to it, or when it outranks the primary by
// priority (priority takeover, after (rank+1) × electionTimeout and only when fresh enough).
func (c *Cluster) electionsLocked(now time.Time) {
	for _, n := range c.shuffledLocked() {
		if !n.electable(now) {
			n.handoff = false
			n.takeoverSince = time.Time{}
			continue
		}
		self, _ := n.self()
		reason := ""
		if p := c.primaryOfLocked(n); p != nil {
			n.lastPrimarySeen = now
			pm, _ := n.config.Member(p.addr)
			if self.Priority > pm.Priority && p.term == n.term {
				// mongod schedules the takeover when a heartbeat shows a lower-priority primary,
				// (rank+1) election timeouts plus the random offset ahead, and checks freshness
				// only when it fires; a failed check waits for the next schedule.
				delay := time.Duration(priorityRank(n.config, self.Priority)+1)*c.opts.ElectionTimeout + n.electionJitter
				if n.takeoverSince.IsZero() {
					n.takeoverSince = now
				}
				if now.Sub(n.takeoverSince) >= delay {
					n.takeoverSince = time.Time{}
					if c.freshForTakeoverLocked(n) {
						reason = "priority takeover"
					}
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

// priorityRank counts the members with a higher priority than pr: 0 for the highest.
func priorityRank(cfg *Config, pr float64) int {
	rank := 0
	for _, m := range cfg.Members {
		if m.Priority > pr {
			rank++
		}
	}
	return rank
}

// freshForTakeoverLocked is mongod's freshness rule for a priority takeover: n's last entry is
// in the term of the newest entry n knows of (its own or a reachable member's) and within two
// seconds of it, or within 1000 entries when both are in the same second.
func (c *Cluster) freshForTakeoverLocked(n *node) bool {
	latest := n.lastOp()
	for _, m := range n.config.Members {
		if x := c.nodes[m.Host]; x != nil && x != n && c.linkedLocked(n, x) && compatible(n, x) && x.lastOp().Compare(latest) > 0 {
			latest = x.lastOp()
		}
	}
	mine := n.lastOp()
	switch {
	case mine.Term != latest.Term:
		return false
	case mine.TS.T != latest.TS.T:
		return mine.TS.T+2 >= latest.TS.T
	default:
		return mine.TS.I+1000 >= latest.TS.I
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

// becomePrimaryLocked makes n PRIMARY in drain mode: it refuses writes until drainLocked
// finishes the transition.
func (c *Cluster) becomePrimaryLocked(n *node, now time.Time, reason string, votes int) {
	n.state = StatePrimary
	n.draining = true
	n.drainUntil = now.Add(c.opts.DrainTime)
	n.steppingDown = false
	n.electionTime = now
	n.majoritySeenAt = now
	n.takeoverSince = time.Time{}
	n.handoff = false
	if w, ok := c.audit.winners[n.term]; ok && w != n.addr {
		c.audit.violations = append(c.audit.violations, "two primaries in term "+itoa(n.term)+": "+w+" and "+n.addr)
	}
	c.audit.winners[n.term] = n.addr
	c.audit.add(Event{Time: now, Kind: EventElection, Node: n.addr, Term: n.term, Detail: reason})
	c.logf(n).WithField("term", n.term).WithField("votes", votes).WithField("reason", reason).
		WithField("drain", c.opts.DrainTime).Info("elected primary; draining before accepting writes")
	c.scheduleRoundLocked(n, now)
}

// drainLocked finishes the transition of every primary whose drain time has passed, as mongod's
// signalDrainComplete does: the config term moves to the primary's term, the primary writes the
// first entry of its term, and only then accepts writes.
func (c *Cluster) drainLocked(now time.Time) {
	for _, n := range c.shuffledLocked() {
		if !n.running || n.state != StatePrimary || !n.draining || now.Before(n.drainUntil) {
			continue
		}
		cfg := n.config.Clone()
		cfg.Term = n.term
		c.installLocked(n, cfg, OriginStepUp, now)
		if n.state != StatePrimary {
			continue
		}
		msg, _ := bson.Marshal(bson.D{{Key: "msg", Value: "new primary"}})
		e := Entry{OpTime: OpTime{TS: c.nextTimestampLocked(now), Term: n.term}, Wall: now, Op: "n", Doc: msg}
		n.oplog = append(n.oplog, e)
		n.firstOpOfTerm = e.OpTime
		n.draining = false
		c.audit.add(Event{Time: now, Kind: EventDrainComplete, Node: n.addr, Term: n.term})
		c.logf(n).WithField("term", n.term).Info("drain complete; accepting writes")
	}
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
