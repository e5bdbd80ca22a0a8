// Package fake is an in-memory replica set that implements mongors.Client for loop tests: nodes
// can be started, stopped and held in a state, commands can be made to fail, and every command is
// recorded. It models only what the reconciler reads and changes (configs, commitment, member
// states, one primary); it does not replicate data. It must not be used outside tests.
//
// Where it models a server behaviour, it follows mongod (see ../../shared reference §2–§9):
//
//	behaviour                          mongod                                   fake
//	hello on a node without a config   isreplicaset:true, no setName            same
//	hello on a member                  setName, setVersion, primary, members     same (hosts and passives as
//	                                   in hosts/passives/arbiters, not hidden    one list)
//	hello on a REMOVED node            built like the no-config reply: no       same (Removed nodes keep their data)
//	                                   setName, no setVersion
//	replSetGetStatus, no config        94 NotYetInitialized                     same
//	replSetGetStatus, REMOVED node     93 InvalidReplicaSetConfig               same
//	replSetGetConfig, REMOVED node     the config it last installed             the current config
//	replSetInitiate                    generates settings.replicaSetId; a       same; 103 for a member holding a
//	                                   member with a config fails the quorum    config (removed or of another set)
//	replSetReconfig                    keeps replicaSetId; only voting changes  same; newlyAdded is not modelled
//	                                   are limited (one per reconfig)           (new members join with votes 0)
//	replSetStepDown                    262 unless an electable secondary is     same (SetLag holds one behind)
//	                                   caught up within the catch-up period
//	node of another set                answers with its own set                 JoinOther
//
// A node is one of: empty (never initiated or wiped), a member of the set's one config, removed
// from it (it keeps the set's data and config), or a member of another set (JoinOther).
package fake

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/replset-agent/replset-agent/mongors"
)

// CatchUpPeriod is the secondaryCatchUpPeriodSecs the fake's step-down waits for: a secondary
// lagging the primary by more than this is not caught up (mongod's 262).
const CatchUpPeriod = 10 * time.Second

// Call is one command a client sent.
type Call struct {
	// Op is the command name ("hello", "replSetReconfig", …) and Addr the node it went to.
	Op, Addr string
	// Config is the config sent with replSetInitiate or replSetReconfig; nil otherwise.
	Config *mongors.Config
	// At is when the call was made, so tests can tell whether an action came too early.
	At time.Time
}

// Cluster is the in-memory set. Its zero value is not usable; call New.
type Cluster struct {
	mu         sync.Mutex
	setName    string
	up         map[string]bool // every node that exists, and whether it runs
	state      map[string]int  // member state while up
	cfg        *mongors.Config
	committed  bool
	holdCommit bool
	autoSync   bool
	primary    string
	failures   map[string][]error
	calls      []Call
	removed    map[string]bool            // left the config by a reconfig; keeps the set's data
	other      map[string]*mongors.Config // member of another set (JoinOther)
	lag        map[string]time.Duration   // how far a member's optime is behind the primary's
	hooks      map[string]func()          // run (without the lock) when a command starts
	ids        int                        // replicaSetIds handed out
}

// New returns a cluster of running nodes at addrs, none of them initiated, started with --replSet
// setName. Members added later reach SECONDARY at once unless SetAutoSync(false).
func New(setName string, addrs ...string) *Cluster {
	c := &Cluster{setName: setName, up: map[string]bool{}, state: map[string]int{}, autoSync: true, failures: map[string][]error{},
		removed: map[string]bool{}, other: map[string]*mongors.Config{}, lag: map[string]time.Duration{}, hooks: map[string]func(){}}
	for _, a := range addrs {
		c.up[a] = true
	}
	return c
}

// Client returns a mongors.Client whose local mongod is the node at local.
func (c *Cluster) Client(local string) mongors.Client { return &client{c: c, local: local} }

// AddNode creates a running node without a config.
func (c *Cluster) AddNode(addr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.up[addr] = true
}

// SetUp starts or stops a node. A primary that stops, or no longer sees a majority of voters,
// loses the role; the first electable voter that is up then wins an election if a majority of
// voters is up.
func (c *Cluster) SetUp(addr string, up bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.up[addr] = up
	if (!up && c.primary == addr) || !c.majorityUp() {
		if c.primary != "" && c.up[c.primary] {
			c.state[c.primary] = mongors.StateSecondary
		}
		c.primary = ""
	}
	c.elect()
}

// majorityUp reports whether a majority of the config's voters runs. Callers hold mu.
func (c *Cluster) majorityUp() bool {
	if c.cfg == nil {
		return true
	}
	voters, up := 0, 0
	for _, m := range c.cfg.Members {
		if m.Votes > 0 {
			voters++
			if c.up[m.Host] {
				up++
			}
		}
	}
	return up >= voters/2+1
}

// SetState holds a running member in a state (e.g. mongors.StateStartup2 while it syncs).
func (c *Cluster) SetState(addr string, state int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.state[addr] = state
}

// SetAutoSync says whether new members become SECONDARY at once (true) or stay STARTUP2.
func (c *Cluster) SetAutoSync(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.autoSync = on
}

// HoldCommit keeps every new config uncommitted while on; turning it off commits the current one.
func (c *Cluster) HoldCommit(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.holdCommit = on
	if !on {
		c.committed = true
	}
}

// FailNext makes the next command op (e.g. "replSetReconfig") fail with err, once per call.
func (c *Cluster) FailNext(op string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failures[op] = append(c.failures[op], err)
}

// SetConfig installs cfg as the set's committed config with primary as the primary, as if the set
// had been built by hand.
func (c *Cluster) SetConfig(cfg mongors.Config, primary string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl := cfg.Clone()
	if cl.ReplicaSetID() == "" {
		cl.Extra = c.newSetIDLocked(cl.Extra)
	}
	c.cfg, c.committed, c.primary = &cl, true, primary
	for _, m := range cfg.Members {
		if _, ok := c.state[m.Host]; !ok {
			c.state[m.Host] = mongors.StateSecondary
		}
	}
}

// JoinOther makes the node at addr a member of another set with cfg (its own replicaSetId, given
// in cfg or generated), as if it had been initiated elsewhere: it answers hello and
// replSetGetConfig with that set, and never takes part in this one.
func (c *Cluster) JoinOther(addr string, cfg mongors.Config) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl := cfg.Clone()
	if cl.ReplicaSetID() == "" {
		cl.Extra = c.newSetIDLocked(cl.Extra)
	}
	c.up[addr] = true
	c.other[addr] = &cl
	delete(c.removed, addr)
}

// Wipe deletes the node's data: it answers as a node that was never initiated.
func (c *Cluster) Wipe(addr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.removed, addr)
	delete(c.other, addr)
}

// Removed reports whether the node was removed from the set and still holds its data.
func (c *Cluster) Removed(addr string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.removed[addr]
}

// SetLag puts a member's optime d behind the primary's; one more than CatchUpPeriod behind is not
// caught up for a step-down.
func (c *Cluster) SetLag(addr string, d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lag[addr] = d
}

// OnCall runs f (outside the cluster's lock) each time a command op starts, before it is
// answered: a test uses it to act in the middle of a command (a signal during a reconfig).
func (c *Cluster) OnCall(op string, f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hooks[op] = f
}

// newSetIDLocked returns extra with a fresh settings.replicaSetId, as replSetInitiate makes one.
func (c *Cluster) newSetIDLocked(extra bson.D) bson.D {
	c.ids++
	var oid bson.ObjectID
	copy(oid[:], fmt.Sprintf("fake%08d", c.ids))
	out := bson.D{}
	for _, e := range extra {
		if e.Key != "settings" {
			out = append(out, e)
		}
	}
	return append(out, bson.E{Key: "settings", Value: bson.D{{Key: "replicaSetId", Value: oid}}})
}

// ReplicaSetIDs returns every replicaSetId a node holds (the set's, and those of other sets).
func (c *Cluster) ReplicaSetIDs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	add := func(cfg *mongors.Config) {
		if id := cfg.ReplicaSetID(); !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	if c.cfg != nil {
		add(c.cfg)
	}
	for _, o := range c.other {
		add(o)
	}
	sort.Strings(out)
	return out
}

// Config returns a copy of the current config, or nil before initiation.
func (c *Cluster) Config() *mongors.Config {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cfg == nil {
		return nil
	}
	cl := c.cfg.Clone()
	return &cl
}

// Primary returns the primary's address, or "".
func (c *Cluster) Primary() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.primary
}

// Calls returns every command sent so far, in order.
func (c *Cluster) Calls() []Call {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Call(nil), c.calls...)
}

// elect makes the lowest-_id electable voter that is up the primary when there is none and a
// majority of voters is up. Callers hold mu.
func (c *Cluster) elect() {
	if c.cfg == nil || c.primary != "" {
		return
	}
	var electable []mongors.ConfigMember
	for _, m := range c.cfg.Members {
		if m.Votes > 0 && m.Priority > 0 && !m.Hidden && c.up[m.Host] {
			electable = append(electable, m)
		}
	}
	if !c.majorityUp() || len(electable) == 0 {
		return
	}
	sort.Slice(electable, func(i, j int) bool { return electable[i].ID < electable[j].ID })
	c.setPrimary(electable[0].Host)
}

func (c *Cluster) setPrimary(addr string) {
	if c.primary != "" {
		c.state[c.primary] = mongors.StateSecondary
	}
	c.primary = addr
	c.state[addr] = mongors.StatePrimary
}

// begin records a call and returns the injected failure for op, if any. Callers hold mu.
func (c *Cluster) begin(op, addr string, cfg *mongors.Config) error {
	call := Call{Op: op, Addr: addr, At: time.Now()}
	if cfg != nil {
		cl := cfg.Clone()
		call.Config = &cl
	}
	c.calls = append(c.calls, call)
	if q := c.failures[op]; len(q) > 0 {
		c.failures[op] = q[1:]
		return q[0]
	}
	if !c.up[addr] {
		return &mongors.UnreachableError{Op: op, Addr: addr, Detail: "connection refused"}
	}
	return nil
}

func cmdErr(op, addr string, code int32, name, msg string) error {
	return &mongors.CommandError{Op: op, Addr: addr, Code: code, Name: name, Message: msg}
}

func (c *Cluster) member(addr string) (mongors.ConfigMember, bool) {
	if c.cfg == nil {
		return mongors.ConfigMember{}, false
	}
	return c.cfg.Member(addr)
}

type client struct {
	c     *Cluster
	local string
}

// hook runs the test's OnCall function for op, if any, before the command takes the lock.
func (k *client) hook(op string) {
	k.c.mu.Lock()
	f := k.c.hooks[op]
	k.c.mu.Unlock()
	if f != nil {
		f()
	}
}

var _ mongors.Client = (*client)(nil)

func (k *client) Local() string { return k.local }

func (k *client) Hello(_ context.Context, addr string) (mongors.Hello, error) {
	k.hook("hello")
	c := k.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin("hello", addr, nil); err != nil {
		return mongors.Hello{}, err
	}
	if o := c.other[addr]; o != nil {
		return mongors.Hello{SetName: o.Name, SetVersion: o.Version, IsWritablePrimary: true, Primary: addr, Me: addr}, nil
	}
	if _, ok := c.member(addr); !ok {
		// Never initiated, or REMOVED: mongod builds both replies alike, without setName.
		return mongors.Hello{IsReplicaSet: true}, nil
	}
	h := mongors.Hello{
		SetName:           c.cfg.Name,
		SetVersion:        c.cfg.Version,
		IsWritablePrimary: addr == c.primary,
		Secondary:         c.state[addr] == mongors.StateSecondary,
		Primary:           c.primary,
		Me:                addr,
	}
	for _, m := range c.cfg.Members {
		if !m.Hidden {
			h.Members = append(h.Members, m.Host)
		}
	}
	return h, nil
}

func (k *client) GetConfig(_ context.Context, addr string, commitment bool) (mongors.Config, bool, error) {
	k.hook("replSetGetConfig")
	c := k.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin("replSetGetConfig", addr, nil); err != nil {
		return mongors.Config{}, false, err
	}
	if o := c.other[addr]; o != nil {
		return o.Clone(), true, nil
	}
	if _, ok := c.member(addr); !ok && !c.removed[addr] {
		return mongors.Config{}, false, cmdErr("replSetGetConfig", addr, 94, "NotYetInitialized", "no replset config has been received")
	}
	if commitment && addr != c.primary {
		return mongors.Config{}, false, cmdErr("replSetGetConfig", addr, 10107, "NotWritablePrimary", "commitmentStatus is only supported on primary.")
	}
	return c.cfg.Clone(), c.committed, nil
}

func (k *client) GetStatus(_ context.Context, addr string) (mongors.ReplStatus, error) {
	k.hook("replSetGetStatus")
	c := k.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin("replSetGetStatus", addr, nil); err != nil {
		return mongors.ReplStatus{}, err
	}
	if o := c.other[addr]; o != nil {
		return mongors.ReplStatus{Set: o.Name, MyState: mongors.StatePrimary, Members: []mongors.MemberStatus{
			{Name: addr, Health: 1, State: mongors.StatePrimary, StateStr: "PRIMARY", Self: true, ConfigVersion: o.Version},
		}}, nil
	}
	if c.removed[addr] {
		return mongors.ReplStatus{}, cmdErr("replSetGetStatus", addr, 93, "InvalidReplicaSetConfig", "Our replica set config is invalid or we are not a member of it")
	}
	if _, ok := c.member(addr); !ok {
		return mongors.ReplStatus{}, cmdErr("replSetGetStatus", addr, 94, "NotYetInitialized", "no replset config has been received")
	}
	now := time.Now()
	st := mongors.ReplStatus{Set: c.cfg.Name, MyState: c.state[addr]}
	for _, m := range c.cfg.Members {
		ms := mongors.MemberStatus{ID: m.ID, Name: m.Host, Self: m.Host == addr, ConfigVersion: c.cfg.Version}
		switch {
		case c.other[m.Host] != nil:
			// A node of another set refuses our heartbeats (replica set IDs differ).
			ms.State = mongors.StateDown
		case c.up[m.Host]:
			ms.Health, ms.State = 1, c.state[m.Host]
			ms.Optime = now.Add(-c.lag[m.Host])
		default:
			ms.State = mongors.StateDown
		}
		ms.StateStr = stateStr(ms.State)
		st.Members = append(st.Members, ms)
	}
	return st, nil
}

func (k *client) Initiate(ctx context.Context, addr string, cfg mongors.Config) error {
	k.hook("replSetInitiate")
	return afterReply(ctx, "replSetInitiate", addr, k.initiate(addr, cfg))
}

func (k *client) initiate(addr string, cfg mongors.Config) error {
	c := k.c
	c.mu.Lock()
	defer c.mu.Unlock()
	const op = "replSetInitiate"
	if err := c.begin(op, addr, &cfg); err != nil {
		return err
	}
	if c.cfg != nil {
		return cmdErr(op, addr, 23, "AlreadyInitialized", "already initialized")
	}
	if c.removed[addr] || c.other[addr] != nil {
		return cmdErr(op, addr, 23, "AlreadyInitialized", "already initialized")
	}
	if cfg.Name != c.setName || cfg.Version != 1 {
		return cmdErr(op, addr, 93, "InvalidReplicaSetConfig", "set name or version")
	}
	if cfg.ReplicaSetID() != "" {
		return cmdErr(op, addr, 93, "InvalidReplicaSetConfig", "replicaSetId must not be set in replSetInitiate")
	}
	if _, ok := cfg.Member(addr); !ok {
		return cmdErr(op, addr, 93, "InvalidReplicaSetConfig", "no member maps to this node")
	}
	for _, m := range cfg.Members {
		if !c.up[m.Host] {
			return cmdErr(op, addr, 74, "NodeNotFound", "quorum check failed: "+m.Host+" did not respond")
		}
		if c.removed[m.Host] || c.other[m.Host] != nil {
			return cmdErr(op, addr, 103, "NewReplicaSetConfigurationIncompatible", "Our config version of 1 is no larger than the version on "+m.Host)
		}
	}
	cl := cfg.Clone()
	cl.Extra = c.newSetIDLocked(cl.Extra)
	c.cfg, c.committed = &cl, true
	for _, m := range cfg.Members {
		c.state[m.Host] = c.joinState()
	}
	c.setPrimary(addr)
	return nil
}

func (c *Cluster) joinState() int {
	if c.autoSync {
		return mongors.StateSecondary
	}
	return mongors.StateStartup2
}

func (k *client) Reconfig(ctx context.Context, addr string, cfg mongors.Config) error {
	k.hook("replSetReconfig")
	return afterReply(ctx, "replSetReconfig", addr, k.reconfig(addr, cfg))
}

func (k *client) reconfig(addr string, cfg mongors.Config) error {
	c := k.c
	c.mu.Lock()
	defer c.mu.Unlock()
	const op = "replSetReconfig"
	if err := c.begin(op, addr, &cfg); err != nil {
		return err
	}
	if c.cfg == nil {
		return cmdErr(op, addr, 94, "NotYetInitialized", "no replset config has been received")
	}
	if addr != c.primary {
		return cmdErr(op, addr, 10107, "NotWritablePrimary", "replSetReconfig should only be run on a writable PRIMARY")
	}
	if !c.committed {
		return cmdErr(op, addr, 308, "CurrentConfigNotCommittedYet", "current config is not majority committed")
	}
	if cfg.Version <= c.cfg.Version {
		return cmdErr(op, addr, 103, "NewReplicaSetConfigurationIncompatible", "version must be greater")
	}
	oldVoters, newVoters := map[int]bool{}, map[int]bool{}
	for _, m := range c.cfg.Members {
		if m.Votes > 0 {
			oldVoters[m.ID] = true
		}
	}
	diff := 0
	for _, m := range cfg.Members {
		if m.Votes > 0 {
			newVoters[m.ID] = true
			if !oldVoters[m.ID] {
				diff++
			}
		}
	}
	for id := range oldVoters {
		if !newVoters[id] {
			diff++
		}
	}
	if diff > 1 {
		return cmdErr(op, addr, 103, "NewReplicaSetConfigurationIncompatible", "Non force replica set reconfig can only add or remove at most 1 voting member.")
	}
	if len(newVoters) > 7 {
		return cmdErr(op, addr, 103, "NewReplicaSetConfigurationIncompatible", "too many voting members")
	}
	if id := cfg.ReplicaSetID(); id != "" && id != c.cfg.ReplicaSetID() {
		return cmdErr(op, addr, 103, "NewReplicaSetConfigurationIncompatible", "New and old configurations differ in replica set ID")
	}
	for _, m := range cfg.Members {
		if _, ok := c.cfg.Member(m.Host); !ok {
			c.state[m.Host] = c.joinState()
			delete(c.removed, m.Host)
		}
	}
	for _, m := range c.cfg.Members {
		if _, ok := cfg.Member(m.Host); !ok {
			c.removed[m.Host] = true
		}
	}
	cl := cfg.Clone()
	if cl.ReplicaSetID() == "" {
		cl.Extra = append(cl.Extra, c.cfg.Extra...)
	}
	cl.Term = c.cfg.Term
	c.cfg, c.committed = &cl, !c.holdCommit
	if _, ok := cl.Member(c.primary); !ok {
		c.primary = ""
		c.elect()
	}
	return nil
}

func (k *client) StepDown(ctx context.Context, addr string, _ time.Duration) error {
	k.hook("replSetStepDown")
	return afterReply(ctx, "replSetStepDown", addr, k.stepDown(addr))
}

func (k *client) stepDown(addr string) error {
	c := k.c
	c.mu.Lock()
	defer c.mu.Unlock()
	const op = "replSetStepDown"
	if err := c.begin(op, addr, nil); err != nil {
		return err
	}
	if addr != c.primary {
		return cmdErr(op, addr, 10107, "NotWritablePrimary", "not primary so can't step down")
	}
	for _, m := range c.cfg.Members {
		if m.Host != addr && m.Votes > 0 && m.Priority > 0 && !m.Hidden && c.up[m.Host] && c.state[m.Host] == mongors.StateSecondary && c.lag[m.Host] <= CatchUpPeriod {
			c.setPrimary(m.Host)
			return nil
		}
	}
	return cmdErr(op, addr, 262, "ExceededTimeLimit", "No electable secondaries caught up")
}

// afterReply is what the driver reports once the server has answered: the command's own result,
// unless the caller's context ended while it ran — then the client sees only its context error,
// whatever the server did (a reconfig it applied is applied all the same).
func afterReply(ctx context.Context, op, addr string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s on %s: %w", op, addr, ctx.Err())
	}
	return err
}

func stateStr(state int) string {
	switch state {
	case mongors.StatePrimary:
		return "PRIMARY"
	case mongors.StateSecondary:
		return "SECONDARY"
	case mongors.StateRecovering:
		return "RECOVERING"
	case mongors.StateStartup:
		return "STARTUP"
	case mongors.StateStartup2:
		return "STARTUP2"
	case mongors.StateDown:
		return "(not reachable/healthy)"
	}
	return fmt.Sprintf("state %d", state)
}
