package mongosim

import (
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// replSetStepDown waits up to the catch-up period for an electable secondary with the
// primary's last optime, steps down, freezes this node for the stepdown period, and hands the
// election to that secondary.
func (cc *cmdCtx) replSetStepDown() (bson.D, error) {
	c, n := cc.c, cc.n
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
			return nil, cmdErr(CodeBadValue, "secondaryCatchUpPeriodSecs must be a positive or absent")
		}
	}
	if secs < catchUp {
		return nil, cmdErr(CodeBadValue, "stepdown period must be longer than secondaryCatchUpPeriodSecs")
	}
	if n.state != StatePrimary {
		return nil, cmdErr(CodeNotWritablePrimary, "not primary so can't step down")
	}
	term := n.term
	deadline := time.Now().Add(time.Duration(catchUp) * time.Second)
	var target *node
	res := c.waitLocked(cc.down, deadline, func() bool {
		target = c.caughtUpElectableLocked(n)
		return n.state != StatePrimary || n.term != term || target != nil
	})
	if res == waitNodeDown {
		return nil, cmdErr(CodeInterruptedDueToReplStateChange, "node shutting down")
	}
	if n.state != StatePrimary || n.term != term {
		return nil, cmdErr(CodeNotWritablePrimary, "not primary so can't step down")
	}
	if target == nil && !force {
		return nil, cmdErr(CodeExceededTimeLimit, "No electable secondaries caught up as of %s. Please use the replSetStepDown command with the argument {force: true} to force node to step down.", time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00"))
	}
	now := time.Now()
	c.stepDownLocked(n, now, "replSetStepDown")
	n.stepDownUntil = now.Add(time.Duration(secs) * time.Second)
	if target != nil {
		target.handoff = true
	}
	return bson.D{}, nil
}

func (c *Cluster) caughtUpElectableLocked(p *node) *node {
	for _, m := range p.config.Members {
		x := c.nodes[m.Host]
		if x == nil || x == p || !m.Electable() || !c.linkedLocked(p, x) || x.state != StateSecondary {
			continue
		}
		if x.lastOp() == p.lastOp() {
			return x
		}
	}
	return nil
}
