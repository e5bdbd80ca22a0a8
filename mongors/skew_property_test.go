package mongors

import (
	"container/heap"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestProperty_initiationUnderMetadataSkew drives the planner through a simulated deploy, once per
// seed: the containers of the mongo service are created one after the other, each becomes running
// and healthy at its own pace (some restart, some stay starting for long), each mongod starts
// answering a little after its container starts, and every host's metadata copy lags the truth by
// its own, changing delay, so each agent sees a different subset of the containers in different
// states. Agents start at random times, plan at random moments (a view change, a re-check, when a
// settle period ends), and an initiate reaches its node a little after the pass that decided it,
// after a re-read. The simulated mongod answers hello, replSetGetStatus (94/93) and
// replSetGetConfig like mongod, runs replSetInitiate's quorum check (every member up and without a
// config) and spreads a new config to empty members by heartbeat after a delay.
//
// The property: never two replicaSetIds, and once the deploy has settled, exactly one set. A
// metadata copy is a snapshot of Rancher's database at an earlier moment, so it lists containers
// in the order their rows were committed (a commit can overtake an earlier create for a moment)
// with the states they had then (which lag the containers, rancher/rancher#5284).
//
// PROPERTY_SEEDS sets the number of seeds (default 1000), SKEW_SEED replays one.
func TestProperty_initiationUnderMetadataSkew(t *testing.T) {
	t.Parallel()
	seeds := 1000
	if n, err := strconv.Atoi(os.Getenv("PROPERTY_SEEDS")); err == nil && n > 0 {
		seeds = n
	}
	first := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("SKEW_SEED"), 10, 64); err == nil {
		first, seeds = s, 1
	}
	t.Logf("seeds %d..%d (SKEW_SEED=n replays one)", first, first+uint64(seeds)-1)
	formed, noSet := 0, 0
	for i := range seeds {
		seed := first + uint64(i)
		w := newSkewWorld(seed)
		res := w.run()
		if len(res.ids) > 1 {
			t.Fatalf("seed %d (SKEW_SEED=%d): %d replica sets started: %v\n%s", seed, seed, len(res.ids), res.ids, w.trace())
		}
		switch {
		case len(res.ids) == 1:
			formed++
		case w.electable() >= w.minMembers:
			t.Fatalf("seed %d (SKEW_SEED=%d): no set after the deploy settled (%d containers, min %d)\n%s", seed, seed, len(w.ctrs), w.minMembers, w.trace())
		default:
			noSet++
		}
	}
	t.Logf("%d seeds: %d formed exactly one set, %d had too few electable containers (none, as they should)", seeds, formed, noSet)
}

// skewCtr is one container of the service and its mongod, with its timeline.
type skewCtr struct {
	order     int // create_index
	name      string
	addr      string
	nonVoting bool
	committed time.Duration // when its row is in the database (listed from then on)
	started   time.Duration // when docker started it
	running   time.Duration // when the database says running (lags started)
	healthy   time.Duration // when its health check passed
	mongodUp  time.Duration // when mongod answers
	restart   [2]time.Duration
	// mongod state
	cfg     *Config
	removed bool
}

// state is the container's state in the database at time at.
func (c *skewCtr) state(at time.Duration) (state, health string, listed bool) {
	if at < c.committed {
		return "", "", false
	}
	switch {
	case at < c.running:
		return "starting", "", true
	case c.restart[0] > 0 && at >= c.restart[0] && at < c.restart[1]:
		return "restarting", "", true
	case at < c.healthy:
		return "running", "initializing", true
	}
	return "running", "healthy", true
}

func (c *skewCtr) up(at time.Duration) bool {
	if at < c.mongodUp {
		return false
	}
	return !(c.restart[0] > 0 && at >= c.restart[0] && at < c.restart[1]+300*time.Millisecond)
}

type skewAgent struct {
	c       *skewCtr
	started time.Duration
	mem     Memory
	lastKey string
	copyAt  time.Duration // the database moment its host's metadata copy shows
}

type skewEvent struct {
	at  time.Duration
	seq int
	run func()
}

type skewQueue []*skewEvent

func (q skewQueue) Len() int { return len(q) }
func (q skewQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q skewQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *skewQueue) Push(x any)   { *q = append(*q, x.(*skewEvent)) }
func (q *skewQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

type skewWorld struct {
	rng        *rand.Rand
	now        time.Duration
	q          skewQueue
	seq        int
	ctrs       []*skewCtr
	byAddr     map[string]*skewCtr
	agents     []*skewAgent
	minMembers int
	settle     time.Duration
	ids        map[string]bool
	log        []string
	mu         sync.Mutex // the simulated client is called from Observe's goroutines
}

type skewResult struct{ ids []string }

const skewEnd = 150 * time.Second

func newSkewWorld(seed uint64) *skewWorld {
	rng := rand.New(rand.NewPCG(seed, seed*0x9e3779b97f4a7c15+1))
	w := &skewWorld{rng: rng, byAddr: map[string]*skewCtr{}, ids: map[string]bool{},
		minMembers: 1 + rng.IntN(3), settle: time.Duration(2+rng.IntN(9)) * time.Second}
	n := 2 + rng.IntN(6)
	created := time.Duration(0)
	for i := range n {
		created += w.dur(0, 2*time.Second)
		c := &skewCtr{order: i + 1, name: fmt.Sprintf("mongo-%d", i+1), addr: fmt.Sprintf("10.42.7.%d:27017", i+1)}
		c.nonVoting = rng.IntN(8) == 0
		c.committed = created + w.dur(0, 1500*time.Millisecond) // a commit may overtake an earlier create
		c.started = c.committed + w.dur(300*time.Millisecond, 4*time.Second)
		if rng.IntN(6) == 0 {
			c.started += w.dur(5*time.Second, 30*time.Second) // an image pull that takes long
		}
		c.running = c.started + w.dur(0, 3*time.Second)
		c.healthy = c.running + w.dur(0, 4*time.Second)
		c.mongodUp = c.started + w.dur(200*time.Millisecond, 3*time.Second)
		if rng.IntN(5) == 0 {
			at := c.healthy + w.dur(0, 10*time.Second)
			c.restart = [2]time.Duration{at, at + w.dur(time.Second, 4*time.Second)}
		}
		w.ctrs = append(w.ctrs, c)
		w.byAddr[c.addr] = c
	}
	return w
}

func (w *skewWorld) dur(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(w.rng.Int64N(int64(hi-lo)+1))
}

func (w *skewWorld) electable() int {
	n := 0
	for _, c := range w.ctrs {
		if !c.nonVoting {
			n++
		}
	}
	return n
}

func (w *skewWorld) at(d time.Duration, f func()) {
	w.seq++
	heap.Push(&w.q, &skewEvent{at: d, seq: w.seq, run: f})
}

func (w *skewWorld) logf(format string, args ...any) {
	w.log = append(w.log, fmt.Sprintf("%8s ", w.now.Round(time.Millisecond))+fmt.Sprintf(format, args...))
}

func (w *skewWorld) trace() string {
	out := ""
	for _, c := range w.ctrs {
		out += fmt.Sprintf("%s: committed %s started %s running %s healthy %s mongod %s restart %v nonVoting %t\n",
			c.name, c.committed, c.started, c.running, c.healthy, c.mongodUp, c.restart, c.nonVoting)
	}
	start := max(0, len(w.log)-60)
	for _, l := range w.log[start:] {
		out += l + "\n"
	}
	return out
}

func (w *skewWorld) run() skewResult {
	// Every change in Rancher's database reaches each host's metadata copy after that host's own
	// delay (a reload takes ms to a second), and the copy's long-poll wakes its agent: agents plan
	// at nearly the same moments, on views that differ while the copies catch up.
	var changes []time.Duration
	for _, c := range w.ctrs {
		changes = append(changes, c.committed, c.running, c.healthy)
		if c.restart[0] > 0 {
			changes = append(changes, c.restart[0], c.restart[1])
		}
	}
	for _, c := range w.ctrs {
		a := &skewAgent{c: c, started: c.started + w.dur(0, time.Second)}
		w.agents = append(w.agents, a)
		w.at(a.started, func() { w.recheck(a) })
		for _, ch := range changes {
			arrives := max(ch+w.dur(5*time.Millisecond, 1500*time.Millisecond), a.started)
			w.at(arrives, func() {
				a.copyAt = max(a.copyAt, ch)
				w.at(w.now+w.dur(time.Millisecond, 20*time.Millisecond), func() { w.agentPass(a) })
			})
		}
	}
	for w.q.Len() > 0 {
		e := heap.Pop(&w.q).(*skewEvent)
		if e.at > skewEnd {
			break
		}
		w.now = e.at
		e.run()
	}
	var ids []string
	for id := range w.ids {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return skewResult{ids: ids}
}

// recheck is the agent's periodic pass (about every 5 s), on its copy as it stands.
func (w *skewWorld) recheck(a *skewAgent) {
	w.agentPass(a)
	w.at(w.now+w.dur(4500*time.Millisecond, 5500*time.Millisecond), func() { w.recheck(a) })
}

// view is what agent a's host's metadata copy says now, as the Desired the agent hands over:
// members are running and healthy containers, the others peers, transitional states starting.
func (w *skewWorld) view(a *skewAgent) (Desired, bool) {
	d := Desired{Self: a.c.addr}
	self := false
	for _, c := range w.ctrs {
		state, health, listed := c.state(a.copyAt)
		if !listed {
			continue
		}
		if c == a.c {
			self = true
		}
		switch {
		case state == "running" && health == "healthy":
			d.Members = append(d.Members, Member{Host: c.addr, Order: c.order, Role: Role{NonVoting: c.nonVoting}})
		default:
			d.Peers = append(d.Peers, Peer{Host: c.addr, Order: c.order, Name: c.name, State: state})
			if state != "running" || health == "initializing" {
				d.Starting = append(d.Starting, c.name)
			}
		}
	}
	return d, self && len(d.Members) > 0
}

// agentPass is one planning pass of agent a; an initiate is read again and sent a little later.
func (w *skewWorld) agentPass(a *skewAgent) {
	d, ok := w.view(a)
	if !ok {
		return // its own container is not listed yet: the agent waits
	}
	s := Settings{SetName: "letschat", MinMembers: w.minMembers, InitiateSettle: w.settle}
	c := &skewClient{w: w, local: a.c.addr}
	o := Observe(context.Background(), c, d)
	now := time.Unix(0, 0).Add(w.now)
	a.mem = a.mem.Update(d, o, now)
	o.Memory = a.mem
	act := Plan(d, o, now, s)
	if act.RecheckIn > 0 {
		w.at(w.now+act.RecheckIn, func() { w.agentPass(a) })
	}
	if key := string(act.Kind) + act.Reason[:min(len(act.Reason), 40)]; key != a.lastKey {
		a.lastKey = key
		w.logf("%s %s", a.c.name, act)
	}
	if act.Kind != KindInitiate {
		return
	}
	// The loop reads the set once more just before sending; then the command travels and
	// mongod runs its quorum check.
	w.at(w.now+w.dur(time.Millisecond, 30*time.Millisecond), func() {
		o2 := Observe(context.Background(), c, d)
		now2 := time.Unix(0, 0).Add(w.now)
		o2.Memory = a.mem.Update(d, o2, now2)
		act2 := Plan(d, o2, now2, s)
		if act2.Kind != KindInitiate {
			w.logf("%s re-check called the initiate off: %s", a.c.name, act2)
			return
		}
		w.at(w.now+w.dur(time.Millisecond, 100*time.Millisecond), func() { w.initiate(a.c, *act2.Config) })
	})
}

// initiate is replSetInitiate arriving at c: mongod's checks and quorum check, then the config is
// installed there and spreads to the other members by heartbeat.
func (w *skewWorld) initiate(c *skewCtr, cfg Config) {
	if !c.up(w.now) {
		w.logf("initiate on %s: unreachable", c.name)
		return
	}
	if c.cfg != nil || c.removed {
		w.logf("initiate on %s: 23 already initialized", c.name)
		return
	}
	for _, m := range cfg.Members {
		x := w.byAddr[m.Host]
		if x == nil || !x.up(w.now) {
			w.logf("initiate on %s: 74 quorum check failed (%s)", c.name, m.Host)
			return
		}
		if x.cfg != nil || x.removed {
			w.logf("initiate on %s: 103 %s has a config", c.name, m.Host)
			return
		}
	}
	id := fmt.Sprintf("set-%d", len(w.ids)+1)
	w.ids[id] = true
	cl := cfg.Clone()
	cl.Extra = nil
	cl.Extra = append(cl.Extra, settingsWithID(id)...)
	c.cfg = &cl
	w.logf("INITIATE on %s: %s with %d members", c.name, id, len(cfg.Members))
	for _, m := range cfg.Members {
		x := w.byAddr[m.Host]
		if x == c {
			continue
		}
		w.heartbeat(x, &cl)
	}
}

// heartbeat brings cfg to x after a heartbeat's delay, again and again while x is down; a node
// that got a config meanwhile keeps its own (mongod refuses another set's heartbeats).
func (w *skewWorld) heartbeat(x *skewCtr, cfg *Config) {
	w.at(w.now+w.dur(10*time.Millisecond, 2*time.Second), func() {
		switch {
		case x.cfg != nil || x.removed:
		case x.up(w.now):
			x.cfg = cfg
		default:
			w.heartbeat(x, cfg)
		}
	})
}

func settingsWithID(id string) bson.D {
	return bson.D{{Key: "settings", Value: bson.D{{Key: "replicaSetId", Value: id}}}}
}

// skewClient is the Client of one agent against the simulated mongods, at the world's clock.
type skewClient struct {
	w     *skewWorld
	local string
}

func (k *skewClient) node(op, addr string) (*skewCtr, error) {
	c := k.w.byAddr[addr]
	if c == nil || !c.up(k.w.now) {
		return nil, &UnreachableError{Op: op, Addr: addr, Detail: "connection refused"}
	}
	return c, nil
}

func (k *skewClient) Local() string { return k.local }

func (k *skewClient) Hello(_ context.Context, addr string) (Hello, error) {
	k.w.mu.Lock()
	defer k.w.mu.Unlock()
	c, err := k.node("hello", addr)
	if err != nil {
		return Hello{}, err
	}
	if c.cfg == nil {
		return Hello{IsReplicaSet: true}, nil
	}
	h := Hello{SetName: c.cfg.Name, SetVersion: c.cfg.Version, Me: addr}
	if p := k.primary(c.cfg); p != "" {
		h.Primary = p
		h.IsWritablePrimary = p == addr
		h.Secondary = p != addr
	}
	return h, nil
}

// primary is the first electable member of cfg that is up and holds cfg: a stand-in for the
// election the property does not need.
func (k *skewClient) primary(cfg *Config) string {
	for _, m := range cfg.Members {
		x := k.w.byAddr[m.Host]
		if m.Votes > 0 && m.Priority > 0 && x != nil && x.cfg == cfg && x.up(k.w.now) {
			return m.Host
		}
	}
	return ""
}

func (k *skewClient) GetConfig(_ context.Context, addr string, commitment bool) (Config, bool, error) {
	k.w.mu.Lock()
	defer k.w.mu.Unlock()
	c, err := k.node("replSetGetConfig", addr)
	if err != nil {
		return Config{}, false, err
	}
	if c.cfg == nil {
		return Config{}, false, &CommandError{Op: "replSetGetConfig", Addr: addr, Code: 94, Name: "NotYetInitialized"}
	}
	return c.cfg.Clone(), true, nil
}

func (k *skewClient) GetStatus(_ context.Context, addr string) (ReplStatus, error) {
	k.w.mu.Lock()
	defer k.w.mu.Unlock()
	c, err := k.node("replSetGetStatus", addr)
	if err != nil {
		return ReplStatus{}, err
	}
	if c.cfg == nil {
		return ReplStatus{}, &CommandError{Op: "replSetGetStatus", Addr: addr, Code: 94, Name: "NotYetInitialized"}
	}
	st := ReplStatus{Set: c.cfg.Name}
	for _, m := range c.cfg.Members {
		x := k.w.byAddr[m.Host]
		ms := MemberStatus{ID: m.ID, Name: m.Host, State: StateDown}
		if x != nil && x.up(k.w.now) && x.cfg == c.cfg {
			ms.Health, ms.State = 1, StateSecondary
		}
		st.Members = append(st.Members, ms)
	}
	return st, nil
}

func (k *skewClient) Initiate(context.Context, string, Config) error {
	panic("the property test sends initiates itself")
}
func (k *skewClient) Reconfig(context.Context, string, Config) error { return nil }
func (k *skewClient) StepDown(context.Context, string, time.Duration) error {
	return nil
}
