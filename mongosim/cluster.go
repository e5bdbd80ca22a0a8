package mongosim

import (
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Options configure a Cluster.
type Options struct {
	// SetName is the --replSet name every node runs with; empty means "rs0".
	SetName string
	// ElectionTimeout replaces settings.electionTimeoutMillis for every node: how long a
	// secondary waits without a primary before standing, and how long a primary keeps its role
	// without a voting majority. Zero means 400 ms.
	ElectionTimeout time.Duration
	// HeartbeatInterval is the period of the simulation step (heartbeats, replication,
	// elections, commitment). Zero means ElectionTimeout/8, at least 5 ms.
	HeartbeatInterval time.Duration
	// Logger receives one line per decision (election, step-down, config install, rollback).
	// Nil means a discard logger.
	Logger logrus.FieldLogger
	// Seed seeds election jitter and force-reconfig version jumps; zero means a random seed.
	Seed uint64
	// Auth configures access control; the zero value is mongod without --auth.
	Auth AuthOptions
}

// Cluster is a simulated replica set: every node answers the wire protocol on its own TCP
// listener, and one goroutine advances heartbeats, replication, elections and commitment in
// logical steps. All state lives under one mutex.
type Cluster struct {
	opts Options
	log  logrus.FieldLogger

	mu      sync.Mutex
	nodes   map[string]*node
	order   []string
	group   map[string]int
	changed chan struct{}
	closed  bool
	stop    chan struct{}
	wg      sync.WaitGroup
	rnd     *rand.Rand
	lastTS  bson.Timestamp
	// steps counts simulation steps, so a command can wait for one heartbeat round.
	steps uint64
	audit audit
	// authz is each node's users and authorization latch (see nodeAuth).
	authz map[*node]*nodeAuth
}

// New starts an empty cluster; add nodes with StartNode. Close it when done.
func New(opts Options) *Cluster {
	if opts.SetName == "" {
		opts.SetName = "rs0"
	}
	if opts.ElectionTimeout <= 0 {
		opts.ElectionTimeout = 400 * time.Millisecond
	}
	if opts.HeartbeatInterval <= 0 {
		opts.HeartbeatInterval = max(opts.ElectionTimeout/8, 5*time.Millisecond)
	}
	log := opts.Logger
	if log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		log = l
	}
	seed := opts.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	c := &Cluster{
		opts:    opts,
		log:     log.WithField("component", "mongosim"),
		nodes:   map[string]*node{},
		changed: make(chan struct{}),
		stop:    make(chan struct{}),
		rnd:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}
	c.audit.winners = map[int64]string{}
	c.audit.acked = map[OpTime]bool{}
	c.wg.Add(1)
	go c.run()
	return c
}

// SetName returns the --replSet name of every node.
func (c *Cluster) SetName() string { return c.opts.SetName }

// ElectionTimeout returns the election timeout in force.
func (c *Cluster) ElectionTimeout() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.opts.ElectionTimeout
}

// HeartbeatInterval returns the simulation step period.
func (c *Cluster) HeartbeatInterval() time.Duration { return c.opts.HeartbeatInterval }

// Close stops every node and the simulation goroutine; safe to call twice.
func (c *Cluster) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	close(c.stop)
	for _, a := range c.order {
		if n := c.nodes[a]; n.running {
			c.shutdownLocked(n)
		}
	}
	c.broadcastLocked()
	c.mu.Unlock()
	c.wg.Wait()
}

func (c *Cluster) run() {
	defer c.wg.Done()
	t := time.NewTicker(c.opts.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case now := <-t.C:
			c.mu.Lock()
			c.stepLocked(now)
			c.mu.Unlock()
		}
	}
}

// broadcastLocked wakes every command waiting for the state to change.
func (c *Cluster) broadcastLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// nextTimestampLocked hands out cluster-wide increasing timestamps, so every oplog entry of the
// simulation has a unique optime.
func (c *Cluster) nextTimestampLocked(now time.Time) bson.Timestamp {
	secs := uint32(now.Unix())
	if secs <= c.lastTS.T {
		c.lastTS.I++
	} else {
		c.lastTS = bson.Timestamp{T: secs, I: 1}
	}
	return c.lastTS
}

// linkedLocked reports whether a and b can exchange heartbeats.
func (c *Cluster) linkedLocked(a, b *node) bool {
	if a == b {
		return a.running
	}
	if !a.running || !b.running {
		return false
	}
	if c.group == nil {
		return true
	}
	ga, oka := c.group[a.addr]
	gb, okb := c.group[b.addr]
	return oka && okb && ga == gb
}

type waitResult int

const (
	waitOK waitResult = iota
	waitTimeout
	waitNodeDown
)

// waitLocked blocks, releasing the mutex, until cond holds, the deadline passes (zero: never),
// or the node incarnation identified by down stops.
func (c *Cluster) waitLocked(down chan struct{}, deadline time.Time, cond func() bool) waitResult {
	var timer *time.Timer
	var expired <-chan time.Time
	if !deadline.IsZero() {
		timer = time.NewTimer(time.Until(deadline))
		defer timer.Stop()
		expired = timer.C
	}
	for {
		if cond() {
			return waitOK
		}
		select {
		case <-down:
			return waitNodeDown
		default:
		}
		if c.closed {
			return waitNodeDown
		}
		if !deadline.IsZero() && !time.Now().Before(deadline) {
			return waitTimeout
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-expired:
		case <-down:
		}
		c.mu.Lock()
	}
}

func (c *Cluster) logf(n *node) logrus.FieldLogger { return c.log.WithField("node", n.addr) }

func (c *Cluster) String() string { return fmt.Sprintf("mongosim.Cluster(%s)", c.opts.SetName) }
