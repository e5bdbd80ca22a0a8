package mongosim

import (
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func firstValue(body bson.Raw) bson.RawValue {
	e, err := body.IndexErr(0)
	if err != nil {
		return bson.RawValue{}
	}
	return e.Value()
}

// quorumLocked runs a quorum check the way mongod's heartbeats do: the answers of reachable
// members arrive after one round trip, a stopped member refuses at once, and a member that runs
// but cannot be reached (partitioned) stays silent. While the outcome depends on silent members,
// the check waits for them up to the heartbeat timeout, then counts them as failed. check
// reports pending while it waits for silent members; final makes it count them failed.
func (c *Cluster) quorumLocked(cc *cmdCtx, cfg *Config, check func(final bool) (pending bool, err error)) error {
	if c.sleepLocked(cc.down, c.opts.HeartbeatRoundTrip) != waitOK {
		return cmdErr(CodeInterruptedDueToReplStateChange, "node shutting down")
	}
	pending, err := check(false)
	if !pending {
		return err
	}
	timeout := c.heartbeatTimeoutLocked()
	c.logf(cc.n).WithField("timeout", timeout).Info("quorum check waiting for members that do not answer")
	switch c.waitLocked(cc.down, time.Now().Add(timeout), func() bool {
		pending, err = check(false)
		return !pending
	}) {
	case waitNodeDown:
		return cmdErr(CodeInterruptedDueToReplStateChange, "node shutting down")
	case waitTimeout:
		_, err = check(true)
	}
	return err
}

func refused(host string) string {
	return host + " failed with Error connecting to " + host + " :: caused by :: Connection refused"
}

func timedOut(host string) string {
	return host + " failed with Request timed out: no heartbeat answer from " + host + " within the heartbeat timeout"
}

// replSetInitiate validates (every failure is 93), then runs the quorum check in-process: each
// proposed member must be a running node reachable from this one through the partition matrix,
// without a config (103) and without data (110).
func (cc *cmdCtx) replSetInitiate() (bson.D, error) {
	c, n := cc.c, cc.n
	if n.config != nil {
		return nil, alreadyInitialized()
	}
	if n.configBusy {
		return nil, cmdErr(CodeConfigurationInProgress, "Cannot run replSetInitiate because the node is currently updating its configuration")
	}
	arg := firstValue(cc.body)
	var cfg *Config
	defaulted := false
	if arg.Type == bson.TypeEmbeddedDocument && len(arg.Value) > 5 {
		var err error
		if cfg, err = c.parseInitiateConfig(n, bson.Raw(arg.Value)); err != nil {
			return nil, err
		}
	} else {
		defaulted = true
		cfg = &Config{ID: c.opts.SetName, Version: 1, Settings: defaultSettings(),
			Members: []Member{{ID: 0, Host: n.addr, BuildIndexes: true, Priority: 1, Votes: 1}}}
	}
	cfg.Term = 0
	n.configBusy = true
	defer func() { n.configBusy = false }()
	if err := c.quorumLocked(cc, cfg, func(final bool) (bool, error) {
		return c.initiateQuorumLocked(n, cfg, final)
	}); err != nil {
		return nil, err
	}
	if n.config != nil {
		return nil, alreadyInitialized()
	}
	now := time.Now()
	cfg.ReplicaSetID = bson.NewObjectID()
	msg, _ := bson.Marshal(bson.D{{Key: "msg", Value: "initiating set"}})
	n.oplog = append(n.oplog, Entry{OpTime: OpTime{TS: c.nextTimestampLocked(now), Term: n.term}, Wall: now, Op: "n", Doc: msg})
	c.installLocked(n, cfg, OriginInitiate, now)
	n.lastPrimarySeen = now
	if defaulted {
		return bson.D{
			{Key: "info2", Value: "no configuration specified. Using a default configuration for the set"},
			{Key: "me", Value: n.addr},
		}, nil
	}
	return bson.D{}, nil
}

func alreadyInitialized() *CommandError {
	return &CommandError{Code: CodeAlreadyInitialized, Message: "already initialized",
		Extra: bson.D{{Key: "info", Value: "try querying local.system.replset to see current configuration"}}}
}

func (c *Cluster) parseInitiateConfig(n *node, raw bson.Raw) (*Config, error) {
	bad := func(format string, args ...any) error {
		return cmdErr(CodeInvalidReplicaSetConfig, format, args...)
	}
	p, err := parseConfig(raw)
	if err != nil {
		return nil, bad("%s", err.Error())
	}
	cfg := p.cfg
	if cfg.ID != c.opts.SetName {
		return nil, bad("Rejecting initiate with a set name that differs from command line set name, initiate set name: %s, command line set name: %s", cfg.ID, c.opts.SetName)
	}
	if !p.versionGiven {
		cfg.Version = 1
	}
	if cfg.Version != 1 {
		return nil, bad("The config version must be 1 for replSetInitiate, found %d", cfg.Version)
	}
	if p.termGiven && p.term != 0 {
		return nil, bad("The config term must be 0 for replSetInitiate, found %d", p.term)
	}
	if p.hasSetID {
		return nil, bad("replica set configuration cannot contain 'replicaSetId' field when called from replSetInitiate")
	}
	if p.hasNewlyAdded {
		return nil, bad("Cannot provide newlyAdded field to member config during initiate.")
	}
	if err := validateConfig(cfg); err != nil {
		return nil, bad("%s", err.Error())
	}
	vt := versionTerm{1, 0}
	self, ok := cfg.Member(n.addr)
	if !ok {
		return nil, bad("No host described in new configuration with %s for replica set %s maps to this node", vt, cfg.ID)
	}
	if !self.Electable() {
		return nil, bad("This node, %s, with _id %d is not electable under the new configuration with %s for replica set %s", n.addr, self.ID, vt, cfg.ID)
	}
	return cfg, nil
}

// initiateQuorumLocked needs every proposed member to answer, without a config (103) and
// without data (110); a veto ends the check at once. A REMOVED member answers with
// InvalidReplicaSetConfig and no data flag, which mongod's quorum checker accepts: it passes,
// data and old config included (check_quorum_for_config_change.cpp).
func (c *Cluster) initiateQuorumLocked(n *node, cfg *Config, final bool) (bool, error) {
	var failed []string
	pending := false
	for _, m := range cfg.Members {
		x := c.nodes[m.Host]
		switch {
		case x == n:
			continue
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
		case x.config != nil && !servesConfig(x):
			continue
		case x.config != nil && x.config.ID != cfg.ID:
			return false, cmdErr(CodeNewReplicaSetConfigurationIncompatible, "Our set name did not match that of %s", m.Host)
		case x.config != nil:
			return false, cmdErr(CodeNewReplicaSetConfigurationIncompatible, "Our config version of %d is no larger than the version on %s, which is %d", cfg.Version, m.Host, x.config.Version)
		case x.hasData():
			return false, cmdErr(CodeCannotInitializeNodeWithData, "'%s' has data already, cannot initiate set.", m.Host)
		}
	}
	if pending {
		return true, nil
	}
	if len(failed) > 0 {
		return false, cmdErr(CodeNodeNotFound, "replSetInitiate quorum check failed because not all proposed set members responded affirmatively: %s", strings.Join(failed, ", "))
	}
	return false, nil
}
