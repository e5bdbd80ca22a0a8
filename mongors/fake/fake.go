// Package fake is an in-memory replica set that implements mongors.Client for loop tests: nodes
// can be started, stopped and held in a state, commands can be made to fail, and every command is
// recorded. It models only what the reconciler reads and changes (configs, commitment, member
// states, one primary); it does not replicate data. It must not be used outside tests.
package fake

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/replset-agent/replset-agent/mongors"
)

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
}

// New returns a cluster of running nodes at addrs, none of them initiated, started with --replSet
// setName. Members added later reach SECONDARY at once unless SetAutoSync(false).
func New(setName string, addrs ...string) *Cluster {
	c := &Cluster{setName: setName, up: map[string]bool{}, state: map[string]int{}, autoSync: true, failures: map[string][]error{}}
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
	c.cfg, c.committed, c.primary = &cl, true, primary
	for _, m := range cfg.Members {
		if _, ok := c.state[m.Host]; !ok {
			c.state[m.Host] = mongors.StateSecondary
		}
	}
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

var _ mongors.Client = (*client)(nil)

func (k *client) Local() string { return k.local }

func (k *client) Hello(_ context.Context, addr string) (mongors.Hello, error) {
	c := k.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin("hello", addr, nil); err != nil {
		return mongors.Hello{}, err
	}
	if _, ok := c.member(addr); !ok {
		return mongors.Hello{IsReplicaSet: true}, nil
	}
	return mongors.Hello{
		SetName:           c.cfg.Name,
		SetVersion:        c.cfg.Version,
		IsWritablePrimary: addr == c.primary,
		Secondary:         c.state[addr] == mongors.StateSecondary,
		Primary:           c.primary,
		Me:                addr,
	}, nil
}

func (k *client) GetConfig(_ context.Context, addr string, commitment bool) (mongors.Config, bool, error) {
	c := k.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin("replSetGetConfig", addr, nil); err != nil {
		return mongors.Config{}, false, err
	}
	if _, ok := c.member(addr); !ok {
		return mongors.Config{}, false, cmdErr("replSetGetConfig", addr, 94, "NotYetInitialized", "no replset config has been received")
	}
	if commitment && addr != c.primary {
		return mongors.Config{}, false, cmdErr("replSetGetConfig", addr, 10107, "NotWritablePrimary", "commitmentStatus is only supported on primary.")
	}
	return c.cfg.Clone(), c.committed, nil
}

func (k *client) GetStatus(_ context.Context, addr string) (mongors.ReplStatus, error) {
	c := k.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin("replSetGetStatus", addr, nil); err != nil {
		return mongors.ReplStatus{}, err
	}
	if _, ok := c.member(addr); !ok {
		return mongors.ReplStatus{}, cmdErr("replSetGetStatus", addr, 94, "NotYetInitialized", "no replset config has been received")
	}
	st := mongors.ReplStatus{Set: c.cfg.Name, MyState: c.state[addr]}
	for _, m := range c.cfg.Members {
		ms := mongors.MemberStatus{ID: m.ID, Name: m.Host, Self: m.Host == addr, ConfigVersion: c.cfg.Version}
		if c.up[m.Host] {
			ms.Health, ms.State = 1, c.state[m.Host]
		} else {
			ms.State = mongors.StateDown
		}
		st.Members = append(st.Members, ms)
	}
	return st, nil
}

func (k *client) Initiate(_ context.Context, addr string, cfg mongors.Config) error {
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
	if cfg.Name != c.setName || cfg.Version != 1 {
		return cmdErr(op, addr, 93, "InvalidReplicaSetConfig", "set name or version")
	}
	if _, ok := cfg.Member(addr); !ok {
		return cmdErr(op, addr, 93, "InvalidReplicaSetConfig", "no member maps to this node")
	}
	for _, m := range cfg.Members {
		if !c.up[m.Host] {
			return cmdErr(op, addr, 74, "NodeNotFound", "quorum check failed: "+m.Host+" did not respond")
		}
	}
	cl := cfg.Clone()
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

func (k *client) Reconfig(_ context.Context, addr string, cfg mongors.Config) error {
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
	for _, m := range cfg.Members {
		if _, ok := c.cfg.Member(m.Host); !ok {
			c.state[m.Host] = c.joinState()
		}
	}
	cl := cfg.Clone()
	cl.Term = c.cfg.Term
	c.cfg, c.committed = &cl, !c.holdCommit
	if _, ok := cl.Member(c.primary); !ok {
		c.primary = ""
		c.elect()
	}
	return nil
}

func (k *client) StepDown(_ context.Context, addr string, _ time.Duration) error {
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
		if m.Host != addr && m.Votes > 0 && m.Priority > 0 && !m.Hidden && c.up[m.Host] && c.state[m.Host] == mongors.StateSecondary {
			c.setPrimary(m.Host)
			return nil
		}
	}
	return cmdErr(op, addr, 262, "ExceededTimeLimit", "No electable secondaries caught up")
}
