package mongosim

import (
	"sort"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// forceVersionJump is the random part of a force reconfig's version bump, as in mongod.
const forceVersionJump = 100000

// replSetReconfig follows mongod's order: state checks (94, 109, 10107), wait for the current
// config to commit (308 on maxTimeMS), parse (93), validate (103), self (74, 104), quorum (74),
// install, wait for the new config to reach a majority (50 on maxTimeMS, config kept).
func (cc *cmdCtx) replSetReconfig() (bson.D, error) {
	c, n := cc.c, cc.n
	if n.config == nil {
		return nil, notYetInitialized()
	}
	arg := firstValue(cc.body)
	if arg.Type != bson.TypeEmbeddedDocument {
		return nil, cmdErr(CodeTypeMismatch, "BSON field 'replSetReconfig' is the wrong type '%s', expected type 'object'", typeName(arg.Type))
	}
	force := false
	if v, err := cc.body.LookupErr("force"); err == nil {
		force, _ = asBool(v)
	}
	deadline, err := cc.deadline()
	if err != nil {
		return nil, err
	}
	if n.configBusy {
		return nil, inProgress()
	}
	if !force {
		if err := c.awaitCommittedConfigLocked(cc, deadline); err != nil {
			return nil, err
		}
	}
	n.configBusy = true
	defer func() { n.configBusy = false }()
	term := n.term
	next, err := c.buildReconfigLocked(n, bson.Raw(arg.Value), force)
	if err != nil {
		return nil, err
	}
	if !force {
		if err := c.quorumLocked(cc, next, func(final bool) (bool, error) {
			return c.reconfigQuorumLocked(n, next, final)
		}); err != nil {
			return nil, err
		}
		if !n.writablePrimary() || n.term != term {
			return nil, notPrimaryForReconfig(n)
		}
	}
	now := time.Now()
	origin := OriginReconfig
	if force {
		origin = OriginForce
	}
	c.installLocked(n, next, origin, now)
	n.configBusy = false
	if force {
		return bson.D{}, nil
	}
	installed := next.vt()
	switch c.waitLocked(cc.down, deadline, func() bool {
		if n.state != StatePrimary || n.config.vt() != installed {
			return true
		}
		config, _ := c.configCommitLocked(n)
		return config
	}) {
	case waitTimeout:
		return nil, cmdErr(CodeMaxTimeMSExpired, "Reconfig finished but failed to propagate to a majority of nodes")
	case waitNodeDown:
		return nil, cmdErr(CodeInterruptedDueToReplStateChange, "node shutting down")
	}
	if n.state != StatePrimary {
		return nil, cmdErr(CodeInterruptedDueToReplStateChange, "Reconfig finished but the node stepped down before it propagated to a majority of nodes")
	}
	return bson.D{}, nil
}

func inProgress() *CommandError {
	return cmdErr(CodeConfigurationInProgress, "Cannot run replSetReconfig because the node is currently updating its configuration")
}

// notPrimaryForReconfig is the answer of a node that does not accept writes: not primary,
// draining after an election (state PRIMARY), or attempting a step-down.
func notPrimaryForReconfig(n *node) *CommandError {
	return cmdErr(CodeNotWritablePrimary, "New config is rejected :: caused by :: replSetReconfig should only be run on a writable PRIMARY. Current state %s;", n.state)
}

// awaitCommittedConfigLocked is phase 1 of a safe reconfig: wait until the current config is
// committed, re-evaluated on every change (readyForReconfigLocked).
func (c *Cluster) awaitCommittedConfigLocked(cc *cmdCtx, deadline time.Time) error {
	n := cc.n
	if !n.writablePrimary() {
		return notPrimaryForReconfig(n)
	}
	term := n.term
	var config, oplog bool
	res := c.waitLocked(cc.down, deadline, func() bool {
		config, oplog = c.readyForReconfigLocked(n)
		return n.state != StatePrimary || n.term != term || config && oplog
	})
	switch {
	case res == waitNodeDown:
		return cmdErr(CodeInterruptedDueToReplStateChange, "node shutting down")
	case !n.writablePrimary() || n.term != term:
		return notPrimaryForReconfig(n)
	case res == waitTimeout && !config:
		return cmdErr(CodeCurrentConfigNotCommittedYet, "Cannot run replSetReconfig because the current config: %s is not majority committed.", n.config.vt())
	case res == waitTimeout:
		return cmdErr(CodeCurrentConfigNotCommittedYet, "Last committed optime from previous config (%s) is not committed in the current config.", opTimeString(n.configOplogTarget()))
	case n.configBusy:
		return inProgress()
	}
	return nil
}

func opTimeString(o OpTime) string {
	return "{ ts: Timestamp(" + itoa(int64(o.TS.T)) + ", " + itoa(int64(o.TS.I)) + "), t: " + itoa(o.Term) + " }"
}

// buildReconfigLocked parses and validates the proposed config against the installed one and
// returns what would be installed.
func (c *Cluster) buildReconfigLocked(n *node, raw bson.Raw, force bool) (*Config, error) {
	old := n.config
	p, err := parseConfig(raw)
	if err != nil {
		return nil, cmdErr(CodeInvalidReplicaSetConfig, "%s", err.Error())
	}
	next := p.cfg
	switch {
	case next.ID != old.ID:
		return nil, cmdErr(CodeInvalidReplicaSetConfig, "New and old configurations differ in replica set name; old was %s, and new is %s", old.ID, next.ID)
	case p.hasNewlyAdded:
		return nil, cmdErr(CodeInvalidReplicaSetConfig, "Cannot provide newlyAdded field to member config during reconfig.")
	case !p.versionGiven:
		return nil, cmdErr(CodeInvalidReplicaSetConfig, "BSON field 'ReplSetConfig.version' is missing but a required field")
	case p.hasSetID && p.replicaSetID != old.ReplicaSetID:
		return nil, cmdErr(CodeNewReplicaSetConfigurationIncompatible, "New and old configurations differ in replica set ID; old was %s, and new is %s", old.ReplicaSetID.Hex(), p.replicaSetID.Hex())
	}
	next.ReplicaSetID = old.ReplicaSetID
	if force {
		next.Version = max(old.Version, next.Version) + 10000 + c.rnd.Int64N(forceVersionJump)
		next.Term = -1
	} else {
		next.Term = n.term
	}
	incompatible := func(format string, args ...any) error {
		return cmdErr(CodeNewReplicaSetConfigurationIncompatible, format, args...)
	}
	if err := validateConfig(next); err != nil {
		return nil, incompatible("%s", err.Error())
	}
	if !force && !next.vt().newerThan(old.vt()) {
		return nil, incompatible("New replica set configuration version and term must be greater than old, but %s is not greater than %s for replica set %s", next.vt(), old.vt(), old.ID)
	}
	oldByID := map[int64]Member{}
	for _, m := range old.Members {
		oldByID[m.ID] = m
	}
	for i, m := range next.Members {
		if om, ok := old.Member(m.Host); ok && om.ID != m.ID {
			return nil, incompatible("New and old configurations both have members with host of %s but in the new configuration the _id field is %d and in the old configuration it is %d for replica set %s", m.Host, m.ID, om.ID, old.ID)
		}
		om, existed := oldByID[m.ID]
		if existed && om.ArbiterOnly != m.ArbiterOnly {
			return nil, incompatible("New and old configurations differ in the setting of the arbiterOnly field for member %s; to make this change, remove then re-add the member", m.Host)
		}
		if existed && om.BuildIndexes != m.BuildIndexes {
			return nil, incompatible("New and old configurations differ in the setting of the buildIndexes field for member %s; to make this change, remove then re-add the member", m.Host)
		}
		if force || m.Votes == 0 || m.ArbiterOnly {
			continue
		}
		// New voters start as newlyAdded; members still flagged keep the flag the client never saw.
		if !existed || (om.NewlyAdded && om.Votes > 0) {
			next.Members[i].NewlyAdded = true
		}
	}
	if !force && votingDiff(old, next) > 1 {
		return nil, incompatible("Non force replica set reconfig can only add or remove at most 1 voting member.")
	}
	if old.implicitMajorityWC() != next.implicitMajorityWC() {
		return nil, incompatible("Reconfig attempted to install a config that would change the implicit default write concern. Use the setDefaultRWConcern command to set a cluster-wide write concern and try the reconfig again.")
	}
	if !force && psaGuard(old, next) {
		return nil, incompatible("Rejecting reconfig where the new config has a PSA topology and the secondary is electable, but the old config contains only one writable node")
	}
	self, ok := next.Member(n.addr)
	if !ok {
		return nil, cmdErr(CodeNodeNotFound, "No host described in new configuration with %s for replica set %s maps to this node", next.vt(), next.ID)
	}
	if !force && !self.Electable() {
		return nil, cmdErr(CodeNodeNotElectable, "This node, %s, with _id %d is not electable under the new configuration with %s for replica set %s", n.addr, self.ID, next.vt(), next.ID)
	}
	return next, nil
}

// psaGuard reports a reconfig into primary-secondary-arbiter with an electable secondary from a
// config that had only one writable voter.
func psaGuard(old, next *Config) bool {
	count := func(c *Config) (voters, arbiters, writable, electable int) {
		for _, m := range c.Members {
			if !m.Voting() {
				continue
			}
			voters++
			if m.ArbiterOnly {
				arbiters++
				continue
			}
			writable++
			if m.Priority > 0 {
				electable++
			}
		}
		return
	}
	v, a, w, e := count(next)
	_, _, oldW, _ := count(old)
	return v == 3 && a == 1 && w == 2 && e == 2 && oldW == 1
}

// reconfigQuorumLocked is mongod's quorum check for a reconfig: a heartbeat goes to every
// member of the new config. A member of another set (name or replicaSetId) or one holding a
// config at least as new vetoes with 103; otherwise a majority of the new config's voters,
// including an electable one, must answer (this node counts). A REMOVED member of this set
// answers with InvalidReplicaSetConfig, which the check accepts as an answer; one removed from
// another set still vetoes by its replicaSetId.
func (c *Cluster) reconfigQuorumLocked(n *node, next *Config, final bool) (bool, error) {
	var ok, failed []string
	electable, pending := false, false
	for _, m := range next.Members {
		x := c.nodes[m.Host]
		switch {
		case x == n:
		case x == nil || !x.running:
			failed = append(failed, refused(m.Host))
			continue
		case !c.linkedLocked(n, x):
			if final {
				failed = append(failed, timedOut(m.Host))
			} else {
				pending = true
			}
			continue
		case x.config == nil:
		case !servesConfig(x) && x.config.ReplicaSetID == next.ReplicaSetID:
		case x.config.ID != next.ID:
			return false, cmdErr(CodeNewReplicaSetConfigurationIncompatible, "Our set name did not match that of %s", m.Host)
		case x.config.ReplicaSetID != next.ReplicaSetID:
			return false, cmdErr(CodeNewReplicaSetConfigurationIncompatible, "Our replica set ID of %s did not match that of %s, which is %s", next.ReplicaSetID.Hex(), m.Host, x.config.ReplicaSetID.Hex())
		case !next.vt().newerThan(x.config.vt()):
			return false, cmdErr(CodeNewReplicaSetConfigurationIncompatible, "Our config version of %d is no larger than the version on %s, which is %d", next.Version, m.Host, x.config.Version)
		}
		if m.Voting() {
			ok = append(ok, m.Host)
		}
		if m.Electable() {
			electable = true
		}
	}
	need := next.MajorityVoteCount()
	if len(ok) >= need && electable {
		return false, nil
	}
	if pending {
		return true, nil
	}
	sort.Strings(ok)
	if len(ok) < need {
		return false, cmdErr(CodeNodeNotFound, "Quorum check failed because not enough voting nodes responded; required %d but only the following %d voting nodes responded: %s; the following nodes did not respond affirmatively: %s",
			need, len(ok), strings.Join(ok, ", "), strings.Join(failed, ", "))
	}
	return false, cmdErr(CodeNodeNotFound, "Quorum check failed because no electable nodes responded; at least one required for config")
}
