package mongosim

import (
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// CodeInvalidOptions is returned for options only test builds accept.
const CodeInvalidOptions int32 = 72

func init() { codeNames[CodeInvalidOptions] = "InvalidOptions" }

func notYetInitialized() *CommandError {
	return &CommandError{
		Code:    CodeNotYetInitialized,
		Message: "no replset config has been received",
		Extra:   bson.D{{Key: "info", Value: "run rs.initiate(...) if not yet done for the set"}},
	}
}

// removedError is replSetGetStatus on a node whose config does not list it: mongod answers 93
// and still reports its own state and last optime ahead of the error fields.
func removedError(n *node, now time.Time) *CommandError {
	e := cmdErr(CodeInvalidReplicaSetConfig, "Our replica set config is invalid or we are not a member of it")
	e.Extra = bson.D{
		{Key: "state", Value: int32(n.state)},
		{Key: "stateStr", Value: n.state.String()},
		{Key: "uptime", Value: int32(now.Sub(n.startedAt).Seconds())},
		{Key: "optime", Value: n.lastOp().doc()},
		{Key: "optimeDate", Value: dateOf(time.Unix(int64(n.lastOp().TS.T), 0))},
		{Key: "lastHeartbeatMessage", Value: ""},
		{Key: "syncSourceHost", Value: ""},
		{Key: "syncSourceId", Value: int32(-1)},
		{Key: "infoMessage", Value: ""},
	}
	return e
}

func dateOf(t time.Time) bson.DateTime { return bson.NewDateTimeFromTime(t) }

func (cc *cmdCtx) replSetGetStatus() (bson.D, error) {
	c, n := cc.c, cc.n
	if n.config == nil {
		return nil, notYetInitialized()
	}
	now := time.Now()
	if _, ok := n.self(); !ok {
		return nil, removedError(n, now)
	}
	members := bson.A{}
	for _, m := range n.config.Members {
		members = append(members, c.memberStatusLocked(n, m, now))
	}
	voting, writable := 0, 0
	for _, m := range n.config.Members {
		if m.Voting() {
			voting++
			if !m.ArbiterOnly {
				writable++
			}
		}
	}
	syncID := int32(-1)
	if m, ok := n.config.Member(n.syncSource); ok {
		syncID = int32(m.ID)
	}
	last := n.lastOp()
	return bson.D{
		{Key: "set", Value: n.config.ID},
		{Key: "date", Value: dateOf(now)},
		{Key: "myState", Value: int32(n.state)},
		{Key: "term", Value: n.term},
		{Key: "syncSourceHost", Value: n.syncSource},
		{Key: "syncSourceId", Value: syncID},
		{Key: "heartbeatIntervalMillis", Value: c.opts.HeartbeatInterval.Milliseconds()},
		{Key: "majorityVoteCount", Value: int32(n.config.MajorityVoteCount())},
		{Key: "writeMajorityCount", Value: int32(n.config.WriteMajorityCount())},
		{Key: "votingMembersCount", Value: int32(voting)},
		{Key: "writableVotingMembersCount", Value: int32(writable)},
		{Key: "optimes", Value: bson.D{
			{Key: "lastCommittedOpTime", Value: n.commitPoint.doc()},
			{Key: "readConcernMajorityOpTime", Value: n.commitPoint.doc()},
			{Key: "appliedOpTime", Value: last.doc()},
			{Key: "durableOpTime", Value: last.doc()},
			{Key: "lastAppliedWallTime", Value: dateOf(lastWall(n.oplog))},
			{Key: "lastDurableWallTime", Value: dateOf(lastWall(n.oplog))},
		}},
		{Key: "members", Value: members},
	}, nil
}

func (c *Cluster) memberStatusLocked(n *node, m Member, now time.Time) bson.D {
	x := c.nodes[m.Host]
	d := bson.D{{Key: "_id", Value: int32(m.ID)}, {Key: "name", Value: m.Host}}
	if x == n {
		d = append(d,
			bson.E{Key: "health", Value: 1.0},
			bson.E{Key: "state", Value: int32(n.state)},
			bson.E{Key: "stateStr", Value: n.state.String()},
			bson.E{Key: "uptime", Value: int32(now.Sub(n.startedAt).Seconds())},
			bson.E{Key: "optime", Value: n.lastOp().doc()},
			bson.E{Key: "optimeDate", Value: dateOf(lastWall(n.oplog))},
			bson.E{Key: "lastAppliedWallTime", Value: dateOf(lastWall(n.oplog))},
			bson.E{Key: "lastDurableWallTime", Value: dateOf(lastWall(n.oplog))},
			bson.E{Key: "syncSourceHost", Value: n.syncSource},
			bson.E{Key: "syncSourceId", Value: c.memberID(n.config, n.syncSource)},
			bson.E{Key: "infoMessage", Value: ""},
		)
		if n.state == StatePrimary {
			d = append(d,
				bson.E{Key: "electionTime", Value: bson.Timestamp{T: uint32(n.electionTime.Unix()), I: 1}},
				bson.E{Key: "electionDate", Value: dateOf(n.electionTime)},
			)
		}
		return append(d,
			bson.E{Key: "configVersion", Value: int32(n.config.Version)},
			bson.E{Key: "configTerm", Value: n.config.Term},
			bson.E{Key: "self", Value: true},
			bson.E{Key: "lastHeartbeatMessage", Value: ""},
		)
	}
	lastHB := dateOf(n.lastContact[m.Host])
	if x != nil && x.running && !c.linkedLocked(n, x) && compatible(n, x) {
		// A member behind a partition does not refuse, it stays silent: mongod keeps reporting
		// what its last heartbeat said until the heartbeat timeout has passed.
		if seen, ok := n.peers[m.Host]; ok && now.Sub(n.lastContact[m.Host]) < c.heartbeatTimeoutLocked() {
			return append(d, c.seenMemberStatus(n.config, seen, lastHB, now)...)
		}
	}
	if x == nil || !c.linkedLocked(n, x) || !compatible(n, x) {
		zero := OpTime{Term: -1}
		return append(d,
			bson.E{Key: "health", Value: 0.0},
			bson.E{Key: "state", Value: int32(StateDown)},
			bson.E{Key: "stateStr", Value: StateDown.String()},
			bson.E{Key: "uptime", Value: int32(0)},
			bson.E{Key: "optime", Value: zero.doc()},
			bson.E{Key: "optimeDurable", Value: zero.doc()},
			bson.E{Key: "optimeDate", Value: dateOf(time.Unix(0, 0))},
			bson.E{Key: "optimeDurableDate", Value: dateOf(time.Unix(0, 0))},
			bson.E{Key: "lastAppliedWallTime", Value: dateOf(time.Unix(0, 0))},
			bson.E{Key: "lastDurableWallTime", Value: dateOf(time.Unix(0, 0))},
			bson.E{Key: "lastHeartbeat", Value: dateOf(now)},
			bson.E{Key: "lastHeartbeatRecv", Value: lastHB},
			bson.E{Key: "pingMs", Value: int64(0)},
			bson.E{Key: "lastHeartbeatMessage", Value: "Error connecting to " + m.Host + " :: caused by :: Connection refused"},
			bson.E{Key: "syncSourceHost", Value: ""},
			bson.E{Key: "syncSourceId", Value: int32(-1)},
			bson.E{Key: "infoMessage", Value: ""},
			bson.E{Key: "configVersion", Value: int32(-1)},
			bson.E{Key: "configTerm", Value: int64(-1)},
		)
	}
	state := x.state
	if x.config != nil {
		if _, in := x.self(); !in {
			state = StateRemoved
		}
	}
	cfgVersion, cfgTerm := int32(-2), int64(-1)
	if x.config != nil {
		cfgVersion, cfgTerm = int32(x.config.Version), x.config.Term
	}
	wall := dateOf(lastWall(x.oplog))
	return append(d,
		bson.E{Key: "health", Value: 1.0},
		bson.E{Key: "state", Value: int32(state)},
		bson.E{Key: "stateStr", Value: state.String()},
		bson.E{Key: "uptime", Value: int32(now.Sub(x.startedAt).Seconds())},
		bson.E{Key: "optime", Value: x.lastOp().doc()},
		bson.E{Key: "optimeDurable", Value: x.lastOp().doc()},
		bson.E{Key: "optimeDate", Value: wall},
		bson.E{Key: "optimeDurableDate", Value: wall},
		bson.E{Key: "lastAppliedWallTime", Value: wall},
		bson.E{Key: "lastDurableWallTime", Value: wall},
		bson.E{Key: "lastHeartbeat", Value: lastHB},
		bson.E{Key: "lastHeartbeatRecv", Value: dateOf(x.lastContact[n.addr])},
		bson.E{Key: "pingMs", Value: int64(0)},
		bson.E{Key: "lastHeartbeatMessage", Value: ""},
		bson.E{Key: "syncSourceHost", Value: x.syncSource},
		bson.E{Key: "syncSourceId", Value: c.memberID(n.config, x.syncSource)},
		bson.E{Key: "infoMessage", Value: ""},
		bson.E{Key: "configVersion", Value: cfgVersion},
		bson.E{Key: "configTerm", Value: cfgTerm},
	)
}

// seenMemberStatus is a member's entry from the last heartbeat it answered.
func (c *Cluster) seenMemberStatus(cfg *Config, seen peerView, lastHB bson.DateTime, now time.Time) bson.D {
	wall := dateOf(seen.lastWall)
	return bson.D{
		bson.E{Key: "health", Value: 1.0},
		bson.E{Key: "state", Value: int32(seen.state)},
		bson.E{Key: "stateStr", Value: seen.state.String()},
		bson.E{Key: "uptime", Value: int32(now.Sub(seen.startedAt).Seconds())},
		bson.E{Key: "optime", Value: seen.lastOp.doc()},
		bson.E{Key: "optimeDurable", Value: seen.lastOp.doc()},
		bson.E{Key: "optimeDate", Value: wall},
		bson.E{Key: "optimeDurableDate", Value: wall},
		bson.E{Key: "lastAppliedWallTime", Value: wall},
		bson.E{Key: "lastDurableWallTime", Value: wall},
		bson.E{Key: "lastHeartbeat", Value: lastHB},
		bson.E{Key: "lastHeartbeatRecv", Value: lastHB},
		bson.E{Key: "pingMs", Value: int64(0)},
		bson.E{Key: "lastHeartbeatMessage", Value: ""},
		bson.E{Key: "syncSourceHost", Value: seen.syncSource},
		bson.E{Key: "syncSourceId", Value: c.memberID(cfg, seen.syncSource)},
		bson.E{Key: "infoMessage", Value: ""},
		bson.E{Key: "configVersion", Value: int32(seen.config.version)},
		bson.E{Key: "configTerm", Value: seen.config.term},
	}
}

func (c *Cluster) memberID(cfg *Config, host string) int32 {
	if m, ok := cfg.Member(host); ok && host != "" {
		return int32(m.ID)
	}
	return -1
}

// replSetGetConfig answers with the installed config on any initiated node, a REMOVED one
// included (mongod checks only that the node is past STARTUP).
func (cc *cmdCtx) replSetGetConfig() (bson.D, error) {
	c, n := cc.c, cc.n
	if n.config == nil {
		return nil, notYetInitialized()
	}
	if v, err := cc.body.LookupErr("$_internalIncludeNewlyAdded"); err == nil {
		if b, _ := asBool(v); b {
			return nil, cmdErr(CodeInvalidOptions, "$_internalIncludeNewlyAdded cannot be used without enabling test commands")
		}
	}
	d := bson.D{{Key: "config", Value: n.config.document(false)}}
	if v, err := cc.body.LookupErr("commitmentStatus"); err == nil {
		if b, _ := asBool(v); b {
			if !n.writablePrimary() {
				return nil, cmdErr(CodeNotWritablePrimary, "commitmentStatus is only supported on primary.")
			}
			config, oplog := c.configCommitLocked(n)
			d = append(d, bson.E{Key: "commitmentStatus", Value: config && oplog})
		}
	}
	return d, nil
}
