package mongosim

import (
	"fmt"
	"net"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// StartNode starts the node at addr ("host:port"), creating it empty the first time, or restarts
// it with the config and oplog it kept. Starting a running node does nothing.
func (c *Cluster) StartNode(addr string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	n := c.nodes[addr]
	if n == nil {
		n = &node{addr: addr}
		c.nodes[addr] = n
		c.order = append(c.order, addr)
	}
	if n.running {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("start node %s: %w", addr, err)
	}
	now := time.Now()
	delete(c.failPoints, addr) // a fail point lives in the process, not on disk
	n.running = true
	n.ln = ln
	n.conns = map[net.Conn]struct{}{}
	n.down = make(chan struct{})
	n.processID = bson.NewObjectID()
	n.startedAt = now
	n.lastContact = map[string]time.Time{}
	n.peers = map[string]peerView{}
	n.lastPrimarySeen = now
	n.majoritySeenAt = now
	n.electionJitter = c.jitterLocked()
	n.stepDownUntil = time.Time{}
	n.commitPoint = OpTime{}
	n.configBusy = false
	n.handoff = false
	n.draining, n.steppingDown = false, false
	n.initialSyncFrom, n.rollbackFrom = "", ""
	n.state = StateStartup
	c.settleStateLocked(n)
	c.audit.add(Event{Time: now, Kind: EventNodeStarted, Node: addr})
	c.logf(n).WithField("state", n.state.String()).Info("node started")
	c.scheduleRoundLocked(n, now)
	c.wg.Add(1)
	go c.acceptLoop(n, ln, n.down)
	c.broadcastLocked()
	return nil
}

// StopNode shuts the node down cleanly: a primary first lets reachable secondaries catch up, as
// mongod's shutdown does, then the listener and every connection close. Data is kept.
func (c *Cluster) StopNode(addr string) error {
	return c.halt(addr, EventNodeStopped, true)
}

// CrashNode kills the node at once: writes not yet replicated stay only on its disk.
func (c *Cluster) CrashNode(addr string) error {
	return c.halt(addr, EventNodeCrashed, false)
}

func (c *Cluster) halt(addr string, kind EventKind, clean bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[addr]
	if n == nil {
		return fmt.Errorf("stop %s: %w", addr, ErrUnknownNode)
	}
	if !n.running {
		return nil
	}
	if clean && n.state == StatePrimary {
		// mongod's clean shutdown of a primary gives the secondaries a chance to catch up.
		now := time.Now()
		for _, m := range n.config.Members {
			if x := c.nodes[m.Host]; x != nil && x != n && x.running && (x.state == StateSecondary || x.state == StateRecovering) {
				c.steadySyncLocked(x, now)
			}
		}
	}
	c.shutdownLocked(n)
	c.audit.add(Event{Time: time.Now(), Kind: kind, Node: addr})
	c.logf(n).WithField("clean", clean).Info("node stopped")
	c.broadcastLocked()
	return nil
}

// WipeNode stops the node if it runs and deletes its config and oplog: it restarts empty and
// uninitiated. The node's rolled-back record is kept because it is an observation.
func (c *Cluster) WipeNode(addr string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[addr]
	if n == nil {
		return fmt.Errorf("wipe %s: %w", addr, ErrUnknownNode)
	}
	if n.running {
		c.shutdownLocked(n)
	}
	n.config = nil
	n.oplog = nil
	n.term = 0
	n.lastVotedTerm = 0
	c.audit.add(Event{Time: time.Now(), Kind: EventNodeWiped, Node: addr})
	c.logf(n).Info("node wiped")
	c.broadcastLocked()
	return nil
}

func (c *Cluster) shutdownLocked(n *node) {
	n.running = false
	n.state = StateDown
	_ = n.ln.Close()
	for conn := range n.conns {
		_ = conn.Close()
	}
	n.conns = nil
	close(n.down)
}

// Partition cuts the network between nodes so that only nodes in the same group reach each
// other; a node in no group is isolated. Client connections are not affected.
func (c *Cluster) Partition(groups ...[]string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := map[string]int{}
	for i, grp := range groups {
		for _, a := range grp {
			if _, dup := g[a]; dup {
				return fmt.Errorf("partition: %s is in two groups", a)
			}
			g[a] = i
		}
	}
	c.group = g
	c.audit.add(Event{Time: time.Now(), Kind: EventPartition, Detail: fmt.Sprint(groups)})
	c.log.WithField("groups", fmt.Sprint(groups)).Info("network partitioned")
	c.broadcastLocked()
	return nil
}

// Heal restores full connectivity between nodes.
func (c *Cluster) Heal() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.group = nil
	c.audit.add(Event{Time: time.Now(), Kind: EventHeal})
	c.log.Info("network healed")
	c.broadcastLocked()
	return nil
}

// SeedDocuments writes documents straight into a node's storage, as if it had run standalone
// before: the node then "has data", and an initiate that lists it fails with 110.
func (c *Cluster) SeedDocuments(addr, ns string, docs ...bson.Raw) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[addr]
	if n == nil {
		return fmt.Errorf("seed %s: %w", addr, ErrUnknownNode)
	}
	now := time.Now()
	for _, d := range docs {
		n.oplog = append(n.oplog, Entry{OpTime: OpTime{TS: c.nextTimestampLocked(now), Term: n.term}, Wall: now, Op: "i", NS: ns, Doc: slices.Clone(d)})
	}
	return nil
}

// Nodes lists every node ever started, in start order.
func (c *Cluster) Nodes() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.order)
}

// Primary returns the address of the running primary with the highest term, if any.
func (c *Cluster) Primary() (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var best *node
	for _, a := range c.order {
		n := c.nodes[a]
		if n.running && n.state == StatePrimary && (best == nil || n.term > best.term) {
			best = n
		}
	}
	if best == nil {
		return "", false
	}
	return best.addr, true
}

// NodeStatus is a snapshot of one node for tests and the demo.
type NodeStatus struct {
	Addr    string
	Running bool
	State   MemberState
	Term    int64
	// Config is a copy of the installed config, nil when uninitiated.
	Config      *Config
	LastOpTime  OpTime
	CommitPoint OpTime
	OplogLen    int
	// Writable is true for a primary that accepts writes: not draining after its election and
	// not attempting a step-down.
	Writable bool
	// SyncSource is the member the node copies from (initial sync included), "" when none.
	SyncSource string
}

// Status returns a snapshot of the node at addr.
func (c *Cluster) Status(addr string) (NodeStatus, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[addr]
	if n == nil {
		return NodeStatus{}, fmt.Errorf("status %s: %w", addr, ErrUnknownNode)
	}
	return NodeStatus{
		Addr: n.addr, Running: n.running, State: n.state, Term: n.term,
		Config: n.config.Clone(), LastOpTime: n.lastOp(), CommitPoint: n.commitPoint,
		OplogLen: len(n.oplog), Writable: n.running && n.writablePrimary(), SyncSource: n.syncSource,
	}, nil
}

// Oplog returns a copy of the node's oplog.
func (c *Cluster) Oplog(addr string) ([]Entry, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[addr]
	if n == nil {
		return nil, fmt.Errorf("oplog %s: %w", addr, ErrUnknownNode)
	}
	return slices.Clone(n.oplog), nil
}

// RolledBack returns every entry the node has ever rolled back, oldest first.
func (c *Cluster) RolledBack(addr string) ([]Entry, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[addr]
	if n == nil {
		return nil, fmt.Errorf("rolled back %s: %w", addr, ErrUnknownNode)
	}
	return slices.Clone(n.rolledBack), nil
}

func (c *Cluster) jitterLocked() time.Duration {
	// Up to 15% of the timeout, as mongod randomizes its election timeout.
	return time.Duration(c.rnd.Int64N(int64(c.opts.ElectionTimeout)*15/100 + 1))
}

// SetElectionTimeout changes the election timeout of every node from the next step on; zero or
// negative is ignored.
func (c *Cluster) SetElectionTimeout(d time.Duration) {
	if d <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.opts.ElectionTimeout = d
	for _, n := range c.nodes {
		n.electionJitter = c.jitterLocked()
	}
}

// Commitment returns a copy of the config installed on the primary at addr and whether it is
// committed, as replSetGetConfig with commitmentStatus answers it, without a connection: a
// benchmark can watch for a commit every millisecond without loading the machine it measures.
func (c *Cluster) Commitment(addr string) (*Config, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[addr]
	switch {
	case n == nil:
		return nil, false, fmt.Errorf("commitment %s: %w", addr, ErrUnknownNode)
	case !n.running:
		return nil, false, fmt.Errorf("commitment %s: node is not running", addr)
	case n.config == nil:
		return nil, false, notYetInitialized()
	case !n.writablePrimary():
		return nil, false, cmdErr(CodeNotWritablePrimary, "commitmentStatus is only supported on primary.")
	}
	config, oplog := c.configCommitLocked(n)
	return n.config.Clone(), config && oplog, nil
}
