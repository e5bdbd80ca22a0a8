package mongosim

import (
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Step-down error codes beyond the common set.
const (
	CodeConflictingOperationInProgress int32 = 117
	CodePrimarySteppedDown             int32 = 189
)

func init() {
	codeNames[CodeConflictingOperationInProgress] = "ConflictingOperationInProgress"
	codeNames[CodePrimarySteppedDown] = "PrimarySteppedDown"
}

// replSetStepDown follows mongod: the primary stops accepting writes, then waits up to
// secondaryCatchUpPeriodSecs until it is safe to step down (a majority of data-bearing voters
// holds its last entry and an electable secondary is caught up). It then steps down, freezes
// itself for the stepdown period and hands the election to the freshest electable secondary.
// If it never became safe it answers 262 and accepts writes again; with force it steps down
// anyway once the catch-up period is over.
func (cc *cmdCtx) replSetStepDown() (bson.D, error) {
	c, n := cc.c, cc.n
	if n.config == nil {
		return nil, notYetInitialized()
	}
	secs, ok := asInt(firstValue(cc.body))
	if !ok || secs < 0 {
		return nil, cmdErr(CodeBadValue, "stepdown period must be a positive integer")
	}
	if secs == 0 {
		secs = 60
	}
	force := false
	if v, err := cc.body.LookupErr("force"); err == nil {
		force, _ = asBool(v)
	}
	catchUp := int64(10)
	if force {
		catchUp = 0
	}
	if v, err := cc.body.LookupErr("secondaryCatchUpPeriodSecs"); err == nil {
		if catchUp, ok = asInt(v); !ok || catchUp < 0 {
			return nil, cmdErr(CodeBadValue, "secondaryCatchUpPeriodSecs period must be a positive or absent")
		}
	}
	if secs < catchUp {
		return nil, cmdErr(CodeBadValue, "stepdown period must be longer than secondaryCatchUpPeriodSecs")
	}
	if n.state != StatePrimary {
		return nil, cmdErr(CodeNotWritablePrimary, "not primary so can't step down")
	}
	if n.steppingDown {
		return nil, cmdErr(CodeConflictingOperationInProgress, "This node is already in the process of stepping down")
	}
	term := n.term
	n.steppingDown = true
	c.broadcastLocked()
	deadline := time.Now().Add(time.Duration(catchUp) * time.Second)
	safe := false
	res := c.waitLocked(cc.down, deadline, func() bool {
		safe = c.safeToStepDownLocked(n)
		return n.state != StatePrimary || n.term != term || safe
	})
	if res == waitNodeDown {
		return nil, cmdErr(CodeInterruptedDueToReplStateChange, "node shutting down")
	}
	if n.state != StatePrimary || n.term != term {
		return nil, cmdErr(CodePrimarySteppedDown, "While waiting for secondaries to catch up before stepping down, this node decided to step down for other reasons")
	}
	if !safe && !force {
		n.steppingDown = false
		c.broadcastLocked()
		now := time.Now()
		c.logf(n).WithField("catchUpSecs", catchUp).Info("replSetStepDown refused: no electable secondary caught up")
		return nil, cmdErr(CodeExceededTimeLimit, "No electable secondaries caught up as of %s. Please use the replSetStepDown command with the argument {force: true} to force node to step down.", now.UTC().Format("2006-01-02T15:04:05.000Z07:00"))
	}
	now := time.Now()
	target := c.handoffCandidateLocked(n)
	reason := "replSetStepDown"
	if !safe {
		reason = "replSetStepDown with force"
	}
	c.stepDownLocked(n, now, reason)
	n.stepDownUntil = now.Add(time.Duration(secs) * time.Second)
	if target != nil && !force {
		target.handoff = true
	}
	return bson.D{}, nil
}

// holdsLastOf reports whether x's oplog holds p's last entry (the same history up to it).
func holdsLastOf(x, p *node) bool {
	return len(p.oplog) > 0 && commonPrefix(x.oplog, p.oplog) == len(p.oplog)
}

// safeToStepDownLocked is mongod's isSafeToStepDown: a write majority of data-bearing voters
// (p included) holds p's last entry, and an electable secondary does too.
func (c *Cluster) safeToStepDownLocked(p *node) bool {
	caughtUp := 0
	for _, m := range p.config.Members {
		x := c.nodes[m.Host]
		if x == nil || !m.dataBearingVoter() || (x != p && !c.linkedLocked(p, x)) {
			continue
		}
		if x == p || holdsLastOf(x, p) {
			caughtUp++
		}
	}
	return caughtUp >= p.config.WriteMajorityCount() && c.handoffCandidateLocked(p) != nil
}

// handoffCandidateLocked returns the caught-up electable secondary with the highest priority
// (the first in config order on a tie), as mongod's chooseElectionHandoffCandidate.
func (c *Cluster) handoffCandidateLocked(p *node) *node {
	var best *node
	bestPriority := 0.0
	now := time.Now()
	for _, m := range p.config.Members {
		x := c.nodes[m.Host]
		if x == nil || x == p || !m.Electable() || !c.linkedLocked(p, x) || x.state != StateSecondary ||
			now.Before(x.stepDownUntil) || !holdsLastOf(x, p) {
			continue
		}
		if best == nil || m.Priority > bestPriority {
			best, bestPriority = x, m.Priority
		}
	}
	return best
}
