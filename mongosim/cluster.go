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
	// Seed seeds everything the simulation draws at random: the order in which nodes heartbeat,
	// replicate and stand in each step, election jitter and force-reconfig version jumps. Zero
	// means a random seed; either way it is logged when the cluster is created and returned by
	// Seed, so a failing run can be replayed with the same draws.
	Seed uint64
	// InitialSyncBase and InitialSyncPerEntry set how long a member without data stays in
	// STARTUP2: the base plus the per-entry cost for every entry of its sync source's oplog,
	// counted from when it found a source (losing the source restarts the attempt). Zero means
	// 2 × HeartbeatInterval and 100 µs.
	InitialSyncBase     time.Duration
	InitialSyncPerEntry time.Duration
	// OplogWindow is how many of its newest oplog entries a node keeps for members syncing from
	// it. A member whose last entry is older than every reachable source's window cannot catch
	// up: it goes RECOVERING (too stale) until such a source appears. Zero means 100000.
	OplogWindow int
	// RollbackTime is how long a member that diverged from its sync source stays in ROLLBACK
	// before its divergent entries are gone. Zero means 2 × HeartbeatInterval.
	RollbackTime time.Duration
	// DrainTime is how long a newly elected primary stays in drain mode: PRIMARY in
	// replSetGetStatus, but isWritablePrimary:false and refusing writes and reconfigs. Zero
	// means HeartbeatInterval.
	DrainTime time.Duration
	// HeartbeatRoundTrip is the latency of one heartbeat exchange outside the simulation steps:
	// a quorum check waits one, and every config install and node start triggers a heartbeat
	// round after one, as mongod restarts its heartbeats then. Zero means 1 ms.
	HeartbeatRoundTrip time.Duration
	// HeartbeatTimeout replaces settings.heartbeatTimeoutSecs: how long a member that runs but
	// cannot be reached (partitioned) goes unanswered before other members report it down,
	// and how long a quorum check waits for it. Zero means the election timeout in force (both
	// are 10 s by default in mongod).
	HeartbeatTimeout time.Duration
	// Version is the MongoDB series the nodes present (see ServerVersion); empty means
	// DefaultVersion. New panics on a series the emulator does not know.
	Version ServerVersion
	// Auth configures access control; the zero value is mongod without --auth.
	Auth AuthOptions
	// TestCommands is mongod's --setParameter enableTestCommands=1: configureFailPoint answers
	// (failCommand only, failpoint.go); without it, 59 CommandNotFound as from mongod.
	TestCommands bool
}

// Defaults for the Options fields that are not derived from the heartbeat interval.
const (
	defaultInitialSyncPerEntry = 100 * time.Microsecond
	defaultOplogWindow         = 100000
	defaultHeartbeatRoundTrip  = time.Millisecond
)

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
	seed    uint64
	// stepsPaused stops the simulation steps (tests only) while heartbeat rounds go on, to show
	// what happens between steps.
	stepsPaused bool
	// rounds are heartbeat rounds due outside the steps, by node address; kick wakes the
	// simulation goroutine when one is added.
	rounds map[string]time.Time
	kick   chan struct{}
	audit  audit
	// commands counts the commands answered, by name, opcode and result (legacy.go).
	commands map[commandKey]int
	// authz is each node's users and authorization latch (see nodeAuth).
	authz map[*node]*nodeAuth
	// failPoints is each running node's failCommand fail point (failpoint.go), by address.
	failPoints map[string]*failPoint
}

// New starts an empty cluster; add nodes with StartNode. Close it when done.
func New(opts Options) *Cluster {
	if opts.SetName == "" {
		opts.SetName = "rs0"
	}
	opts.Version = mustVersion(opts.Version)
	if opts.ElectionTimeout <= 0 {
		opts.ElectionTimeout = 400 * time.Millisecond
	}
	if opts.HeartbeatInterval <= 0 {
		opts.HeartbeatInterval = max(opts.ElectionTimeout/8, 5*time.Millisecond)
	}
	if opts.InitialSyncBase <= 0 {
		opts.InitialSyncBase = 2 * opts.HeartbeatInterval
	}
	if opts.InitialSyncPerEntry <= 0 {
		opts.InitialSyncPerEntry = defaultInitialSyncPerEntry
	}
	if opts.OplogWindow <= 0 {
		opts.OplogWindow = defaultOplogWindow
	}
	if opts.RollbackTime <= 0 {
		opts.RollbackTime = 2 * opts.HeartbeatInterval
	}
	if opts.DrainTime <= 0 {
		opts.DrainTime = opts.HeartbeatInterval
	}
	if opts.HeartbeatRoundTrip <= 0 {
		opts.HeartbeatRoundTrip = defaultHeartbeatRoundTrip
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
		seed:    seed,
		rounds:  map[string]time.Time{},
		kick:    make(chan struct{}, 1),

		failPoints: map[string]*failPoint{},
	}
	c.audit.winners = map[int64]string{}
	c.audit.acked = map[OpTime]bool{}
	c.log.WithField("seed", seed).WithField("set", opts.SetName).
		WithField("electionTimeout", opts.ElectionTimeout).WithField("heartbeatInterval", opts.HeartbeatInterval).
		Info("cluster created; replay its random draws with Options.Seed")
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

// Seed returns the seed of the cluster's random draws (the one given, or the one drawn).
func (c *Cluster) Seed() uint64 { return c.seed }

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

// run advances the simulation every HeartbeatInterval and runs the heartbeat rounds that config
// installs and node starts schedule between steps.
func (c *Cluster) run() {
	defer c.wg.Done()
	t := time.NewTicker(c.opts.HeartbeatInterval)
	defer t.Stop()
	due := time.NewTimer(time.Hour)
	defer due.Stop()
	for {
		select {
		case <-c.stop:
			return
		case now := <-t.C:
			c.mu.Lock()
			c.stepLocked(now)
			c.mu.Unlock()
		case now := <-due.C:
			c.mu.Lock()
			c.dueRoundsLocked(now)
			c.mu.Unlock()
		case <-c.kick:
		}
		c.mu.Lock()
		next, ok := c.nextRoundLocked()
		c.mu.Unlock()
		if ok {
			due.Reset(max(time.Until(next), 0))
		} else {
			due.Stop()
		}
	}
}

// scheduleRoundLocked makes n heartbeat every member of its config one round trip from now, as
// mongod restarts its heartbeats when it installs a config or starts.
func (c *Cluster) scheduleRoundLocked(n *node, now time.Time) {
	at := now.Add(c.opts.HeartbeatRoundTrip)
	if prev, ok := c.rounds[n.addr]; ok && !prev.After(at) {
		return
	}
	c.rounds[n.addr] = at
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *Cluster) nextRoundLocked() (time.Time, bool) {
	var next time.Time
	for _, at := range c.rounds {
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return next, !next.IsZero()
}

// dueRoundsLocked runs every heartbeat round whose time has come, in the seeded random order.
func (c *Cluster) dueRoundsLocked(now time.Time) {
	if c.closed {
		return
	}
	ran := false
	for _, n := range c.shuffledLocked() {
		at, ok := c.rounds[n.addr]
		if !ok || at.After(now) {
			continue
		}
		delete(c.rounds, n.addr)
		if n.running && n.config != nil {
			c.heartbeatRoundLocked(n, now)
			ran = true
		}
	}
	if ran {
		c.broadcastLocked()
	}
}

// shuffledLocked returns every node in an order drawn from the cluster's seeded generator, so
// that no node is favoured by its start order.
func (c *Cluster) shuffledLocked() []*node {
	out := make([]*node, len(c.order))
	for i, j := range c.rnd.Perm(len(c.order)) {
		out[i] = c.nodes[c.order[j]]
	}
	return out
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

// sleepLocked waits d, releasing the mutex, unless the node incarnation identified by down
// stops first: the emulator's stand-in for a network round trip.
func (c *Cluster) sleepLocked(down chan struct{}, d time.Duration) waitResult {
	deadline := time.Now().Add(d)
	res := c.waitLocked(down, deadline, func() bool { return false })
	if res == waitTimeout {
		return waitOK
	}
	return res
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

// heartbeatTimeoutLocked is Options.HeartbeatTimeout, or the election timeout in force.
func (c *Cluster) heartbeatTimeoutLocked() time.Duration {
	if c.opts.HeartbeatTimeout > 0 {
		return c.opts.HeartbeatTimeout
	}
	return c.opts.ElectionTimeout
}

func (c *Cluster) String() string { return fmt.Sprintf("mongosim.Cluster(%s)", c.opts.SetName) }
