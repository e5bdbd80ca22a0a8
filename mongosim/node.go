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

	// config state: configBusy spans an initiate or reconfig between its checks and install.
	configBusy           bool
	configCommitted      bool
	configOplogTarget    OpTime
	configOplogCommitted bool

	// observation (kept across wipe: it is what the node did, not what it stores)
	rolledBack []Entry

	// data is the document store derived from the oplog, and the open cursors (data.go).
	data *nodeData
}

func (n *node) self() (Member, bool) { return n.config.Member(n.addr) }

func (n *node) lastOp() OpTime { return lastOpTime(n.oplog) }

// hasData reports whether the node holds anything a new set would overwrite.
func (n *node) hasData() bool { return len(n.oplog) > 0 }

// electable reports whether n may stand for election now.
func (n *node) electable(now time.Time) bool {
	if !n.running || n.config == nil || n.state != StateSecondary || now.Before(n.stepDownUntil) {
		return false
	}
	m, ok := n.self()
	return ok && m.Electable()
}
