package mongosim

import (
	"net"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// node is one simulated mongod. Fields under "disk" survive stop and crash; the rest is process
// state rebuilt on start. Everything is guarded by Cluster.mu.
type node struct {
	addr string

	// disk
	config        *Config
	oplog         []Entry
	term          int64
	lastVotedTerm int64

	// process
	running   bool
	state     MemberState
	ln        net.Listener
	conns     map[net.Conn]struct{}
	down      chan struct{}
	processID bson.ObjectID
	startedAt time.Time
	connIDs   int32

	// replication view
	lastContact     map[string]time.Time
	lastPrimarySeen time.Time
	electionJitter  time.Duration
	takeoverSince   time.Time
	stepDownUntil   time.Time
	handoff         bool
	majoritySeenAt  time.Time
	electionTime    time.Time
	commitPoint     OpTime
	syncSource      string
	// peers is this node's heartbeat data: what each member reported in its last heartbeat
	// exchange with this node. Like mongod's member data it is not cleared when a member stops
	// answering.
	peers map[string]peerView

	// primary modes: a new primary drains until drainUntil before it accepts writes; a primary
	// attempting replSetStepDown refuses writes while it waits for a secondary to catch up.
	draining     bool
	drainUntil   time.Time
	steppingDown bool
	// firstOpOfTerm is the entry a primary wrote when it finished draining.
	firstOpOfTerm OpTime

	// initial sync: the source of the current attempt and when the copy completes.
	initialSyncFrom string
	initialSyncDone time.Time
	// tooStale is set while no reachable source still holds this node's last entry.
	tooStale bool
	// rollback in progress: the source it diverged from and when the truncation happens.
	rollbackFrom  string
	rollbackUntil time.Time

	// config state: configBusy spans an initiate or reconfig between its checks and install.
	configBusy bool
	// lastCommittedInPrevConfig is the commit point when the current config was installed.
	lastCommittedInPrevConfig OpTime

	// observation (kept across wipe: it is what the node did, not what it stores)
	rolledBack []Entry

	// data is the document store derived from the oplog, and the open cursors (data.go).
	data *nodeData
}

// peerView is what one heartbeat told a node about a member.
type peerView struct {
	config     versionTerm
	state      MemberState
	lastOp     OpTime
	lastWall   time.Time
	syncSource string
	startedAt  time.Time
}

func viewOf(x *node) peerView {
	return peerView{config: reportedConfig(x), state: x.state, lastOp: x.lastOp(), lastWall: lastWall(x.oplog),
		syncSource: x.syncSource, startedAt: x.startedAt}
}

func (n *node) self() (Member, bool) { return n.config.Member(n.addr) }

func (n *node) lastOp() OpTime { return lastOpTime(n.oplog) }

// hasData reports whether the node holds anything a new set would overwrite.
func (n *node) hasData() bool { return len(n.oplog) > 0 }

// writablePrimary reports whether n accepts writes: PRIMARY, drained, and not attempting a
// step-down (mongod's canAcceptNonLocalWrites).
func (n *node) writablePrimary() bool {
	return n.state == StatePrimary && !n.draining && !n.steppingDown
}

// configOplogTarget is the optime that must be majority-committed under the current config
// before the next safe reconfig: the previous config's last committed optime, or the first entry
// of this primary's term if later (mongod's getConfigOplogCommitmentOpTime).
func (n *node) configOplogTarget() OpTime {
	if n.firstOpOfTerm.Compare(n.lastCommittedInPrevConfig) > 0 {
		return n.firstOpOfTerm
	}
	return n.lastCommittedInPrevConfig
}

// electable reports whether n may stand for election now.
func (n *node) electable(now time.Time) bool {
	if !n.running || n.config == nil || n.state != StateSecondary || now.Before(n.stepDownUntil) {
		return false
	}
	m, ok := n.self()
	return ok && m.Electable()
}
