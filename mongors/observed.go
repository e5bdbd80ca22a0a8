package mongors

import "go.mongodb.org/mongo-driver/v2/bson"

// Member states as reported by replSetGetStatus.
const (
	StateStartup    = 0
	StatePrimary    = 1
	StateSecondary  = 2
	StateRecovering = 3
	StateStartup2   = 5
	StateUnknown    = 6
	StateArbiter    = 7
	StateDown       = 8
	StateRollback   = 9
	StateRemoved    = 10
)

// Hello is the part of a node's hello reply the planner reads.
type Hello struct {
	// SetName is the node's replica-set name; empty for a node without a config.
	SetName string `json:"setName,omitempty"`
	// SetVersion is the version of the node's config; zero when it has none (or was removed).
	SetVersion int `json:"setVersion,omitempty"`
	// IsWritablePrimary is true on the primary only.
	IsWritablePrimary bool `json:"isWritablePrimary"`
	// Secondary is true on a secondary.
	Secondary bool `json:"secondary"`
	// Primary is the primary's address as this node knows it; empty if unknown.
	Primary string `json:"primary,omitempty"`
	// Me is the node's own address in its config; empty without a config.
	Me string `json:"me,omitempty"`
	// IsReplicaSet is set by a node started with --replSet that has no usable config.
	IsReplicaSet bool `json:"isReplicaSet,omitempty"`
}

// HasConfig reports whether the node belongs to some set already (including a removed member).
func (h Hello) HasConfig() bool { return h.SetVersion > 0 || h.SetName != "" }

// ReplicaSetMode reports whether the node runs with --replSet at all.
func (h Hello) ReplicaSetMode() bool { return h.IsReplicaSet || h.SetName != "" }

// NodeHello is one node's hello, or why it could not be read.
type NodeHello struct {
	// Addr is the address the node was dialled at.
	Addr string `json:"addr"`
	// Hello is the reply; zero when Err is set.
	Hello Hello `json:"hello"`
	// Err is why the node did not answer; empty when it did.
	Err string `json:"err,omitempty"`
}

// Reachable reports whether the node answered.
func (n NodeHello) Reachable() bool { return n.Err == "" }

// ConfigMember is one member of a replica-set config; the fields mirror the server's member
// document (priority 0–1000, votes 0 or 1).
type ConfigMember struct {
	ID          int               `json:"_id"`
	Host        string            `json:"host"`
	ArbiterOnly bool              `json:"arbiterOnly,omitempty"`
	Hidden      bool              `json:"hidden,omitempty"`
	Priority    float64           `json:"priority"`
	Votes       int               `json:"votes"`
	Tags        map[string]string `json:"tags,omitempty"`
	// Extra holds the member fields this package does not manage (buildIndexes,
	// secondaryDelaySecs, …), written back unchanged.
	Extra bson.D `json:"-"`
}

// Config is a replica-set config document; Version and Term are the server's (version, term) pair.
type Config struct {
	// Name is the set name (the document's _id).
	Name    string         `json:"_id"`
	Version int            `json:"version"`
	Term    int64          `json:"term"`
	Members []ConfigMember `json:"members"`
	// Extra holds the top-level fields this package does not manage (protocolVersion, settings
	// with replicaSetId, …), written back unchanged.
	Extra bson.D `json:"-"`
}

// Clone returns a copy whose members can be changed without touching c.
func (c Config) Clone() Config {
	out := c
	out.Members = make([]ConfigMember, len(c.Members))
	for i, m := range c.Members {
		out.Members[i] = m
		if m.Tags != nil {
			out.Members[i].Tags = make(map[string]string, len(m.Tags))
			for k, v := range m.Tags {
				out.Members[i].Tags[k] = v
			}
		}
	}
	return out
}

// Member returns the member at host.
func (c Config) Member(host string) (ConfigMember, bool) {
	for _, m := range c.Members {
		if m.Host == host {
			return m, true
		}
	}
	return ConfigMember{}, false
}

// Voters counts the members with a vote.
func (c Config) Voters() int {
	n := 0
	for _, m := range c.Members {
		if m.Votes > 0 {
			n++
		}
	}
	return n
}

// MemberStatus is one member's line in replSetGetStatus (Health 1 up, 0 unreachable; State as
// the State constants).
type MemberStatus struct {
	ID            int     `json:"_id"`
	Name          string  `json:"name"`
	Health        float64 `json:"health"`
	State         int     `json:"state"`
	StateStr      string  `json:"stateStr"`
	Self          bool    `json:"self,omitempty"`
	ConfigVersion int     `json:"configVersion,omitempty"`
}

// Up reports whether the member is reachable and in a state that counts towards a majority.
func (m MemberStatus) Up() bool {
	return m.Health > 0 && (m.State == StatePrimary || m.State == StateSecondary || m.State == StateArbiter)
}

// Unreachable reports whether the set cannot reach the member at all.
func (m MemberStatus) Unreachable() bool {
	return m.Health == 0 || m.State == StateDown || m.State == StateUnknown
}

// ReplStatus is the part of replSetGetStatus the planner reads, as seen by one node.
type ReplStatus struct {
	Set     string         `json:"set"`
	MyState int            `json:"myState"`
	Term    int64          `json:"term"`
	Members []MemberStatus `json:"members"`
}

// Member returns the status line for host.
func (s ReplStatus) Member(host string) (MemberStatus, bool) {
	for _, m := range s.Members {
		if m.Name == host {
			return m, true
		}
	}
	return MemberStatus{}, false
}

// Observed is everything one pass read from the set, plus the memory the loop keeps across passes.
type Observed struct {
	// Local is the hello of the mongod beside this agent.
	Local NodeHello `json:"local"`
	// Primary is the address of the writable primary as the nodes report it; empty when none is
	// known.
	Primary string `json:"primary,omitempty"`
	// Source is the address Config and Status were read from: the primary when it could be read,
	// else the local node (for display only).
	Source string `json:"source,omitempty"`
	// Config is the set's config; nil when no reachable node has one.
	Config *Config `json:"config,omitempty"`
	// Committed is the primary's commitmentStatus for Config.
	Committed bool `json:"committed"`
	// Status is replSetGetStatus from the same node as Config; nil when unreadable.
	Status *ReplStatus `json:"status,omitempty"`
	// Candidates holds each desired member's hello, read only when the local node has no config.
	Candidates []NodeHello `json:"candidates,omitempty"`
	// Peers holds the hello of each Desired.Peers address (mongods of the service that are not
	// usable members), read only when the local node has no config; any of them with a config, or
	// not answering, blocks initiation.
	Peers []NodeHello `json:"peers,omitempty"`
	// Errors lists reads that failed during the pass, for status output.
	Errors []string `json:"errors,omitempty"`
	// Memory is what the loop remembers across passes (see Memory.Update).
	Memory Memory `json:"memory"`
}

// localIsPrimary reports whether this agent's mongod is the writable primary Config came from.
func (o Observed) localIsPrimary() bool {
	return o.Local.Reachable() && o.Local.Hello.IsWritablePrimary && o.Primary != "" &&
		o.Primary == o.Local.Addr && o.Source == o.Primary
}

// fromPrimary reports whether Config and Status are the primary's view.
func (o Observed) fromPrimary() bool { return o.Primary != "" && o.Source == o.Primary }

// candidate returns the hello read from addr.
func (o Observed) candidate(addr string) (NodeHello, bool) {
	for _, c := range o.Candidates {
		if c.Addr == addr {
			return c, true
		}
	}
	return NodeHello{}, false
}

// peer returns the hello read from the peer at addr.
func (o Observed) peer(addr string) (NodeHello, bool) {
	for _, p := range o.Peers {
		if p.Addr == addr {
			return p, true
		}
	}
	return NodeHello{}, false
}
