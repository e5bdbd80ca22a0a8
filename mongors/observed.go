package mongors

import (
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

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
	// Members lists the config's members the node advertises (hosts, passives and arbiters:
	// every member but hidden ones).
	Members []string `json:"members,omitempty"`
}

// sameRole reports whether two hellos show the node in the same role of the same config.
func (h Hello) sameRole(o Hello) bool {
	return h.SetName == o.SetName && h.SetVersion == o.SetVersion && h.IsWritablePrimary == o.IsWritablePrimary &&
		h.Secondary == o.Secondary && h.Primary == o.Primary && h.Me == o.Me && h.IsReplicaSet == o.IsReplicaSet
}

// HasConfig reports whether the node belongs to some set already (including a removed member).
func (h Hello) HasConfig() bool { return h.SetVersion > 0 || h.SetName != "" }

// ReplicaSetMode reports whether the node runs with --replSet at all.
func (h Hello) ReplicaSetMode() bool { return h.IsReplicaSet || h.SetName != "" }

// Standing is what a node whose hello names no set really is. mongod builds the same hello reply
// for a node that was never initiated and for one removed from a set (no setName, no setVersion);
// replSetGetStatus tells them apart (94 and 93).
type Standing string

// The standings of a node whose hello names no set.
const (
	// StandingUnchecked: not asked (the hello names a set, or the node did not answer hello).
	StandingUnchecked Standing = ""
	// StandingEmpty: replSetGetStatus 94 NotYetInitialized, a node never initiated (or wiped).
	StandingEmpty Standing = "empty"
	// StandingRemoved: replSetGetStatus 93 InvalidReplicaSetConfig, a node removed from a set. It
	// keeps that set's data and config: it blocks initiation and never seeds a new set.
	StandingRemoved Standing = "removed"
	// StandingMember: replSetGetStatus answered, so the node got a config after its hello.
	StandingMember Standing = "member"
	// StandingNoUsers: another node than the local one that refuses the admin login and whose
	// hello names no set. Under access control that is all a client can learn of a node without
	// users (replSetGetStatus needs a login, or the localhost exception, which only the node's own
	// host has). It counts as empty (see standingFromStatus in rules.go): every member of this set
	// holds the set's admin user, so a node without it holds none of this set's data.
	StandingNoUsers Standing = "no-users"
	// StandingUnknown: any other answer (13 Unauthorized, no answer): it may be either, so it
	// blocks initiation like a node that does not answer.
	StandingUnknown Standing = "unknown"
	// StandingForeign: a listed member's config names another replica set (Observed.Probed).
	StandingForeign Standing = "foreign"
)

// NodeHello is one node's hello, or why it could not be read.
type NodeHello struct {
	// Addr is the address the node was dialled at.
	Addr string `json:"addr"`
	// Hello is the reply; zero when Err is set.
	Hello Hello `json:"hello"`
	// Err is why the node did not answer; empty when it did.
	Err string `json:"err,omitempty"`
	// Standing says, for a node whose hello names no set, what replSetGetStatus made of it.
	Standing Standing `json:"standing,omitempty"`
	// StandingReason is the replSetGetStatus answer behind an unknown Standing.
	StandingReason string `json:"standingReason,omitempty"`
}

// Reachable reports whether the node answered.
func (n NodeHello) Reachable() bool { return n.Err == "" }

// HoldsSet reports whether the node answered and belongs, or belonged, to a set: its hello names
// one, or it was removed from one (it keeps that set's data).
func (n NodeHello) HoldsSet() bool {
	return n.Reachable() && (n.Hello.HasConfig() || n.Standing == StandingRemoved || n.Standing == StandingMember)
}

// ProvenEmpty reports whether the node is known to hold no set: it answers as a --replSet node
// without a config and replSetGetStatus said 94 (or, under access control, another node refused
// the admin login: StandingNoUsers). Only such nodes may be initiated.
func (n NodeHello) ProvenEmpty() bool {
	return n.Reachable() && n.Hello.ReplicaSetMode() && !n.Hello.HasConfig() && emptyStanding(n.Standing)
}

// notEmpty says why a listed node is not proven empty ("" when it is), in words for a reason.
func (n NodeHello) notEmpty() string {
	switch {
	case !n.Reachable():
		return "does not answer (" + n.Err + ")"
	case n.Hello.HasConfig():
		return fmt.Sprintf("already belongs to set %q (config version %d)", n.Hello.SetName, n.Hello.SetVersion)
	case !n.Hello.ReplicaSetMode():
		return "runs without --replSet"
	case n.Standing == StandingRemoved:
		return "was removed from a replica set and keeps its data (replSetGetStatus 93)"
	case n.Standing == StandingMember:
		return "got a config since its hello"
	case n.Standing == StandingUnknown:
		return "cannot be told empty or removed (replSetGetStatus: " + n.StandingReason + ")"
	case n.Standing == StandingUnchecked:
		return "has not been checked with replSetGetStatus"
	}
	return ""
}

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

// ReplicaSetID is the set's settings.replicaSetId in hex, which mongod generates at initiation
// and never changes: two configs with different IDs belong to different sets, whatever their
// names. Empty when the config carries none (one not yet initiated).
func (c Config) ReplicaSetID() string {
	for _, e := range c.Extra {
		if e.Key != "settings" {
			continue
		}
		raw, err := bson.Marshal(bson.D{{Key: "s", Value: e.Value}})
		if err != nil {
			return ""
		}
		v, err := bson.Raw(raw).LookupErr("s", "replicaSetId")
		if err != nil {
			return ""
		}
		if oid, ok := v.ObjectIDOK(); ok {
			return oid.Hex()
		}
		return v.String()
	}
	return ""
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
	// Optime is the wall time of the member's last applied operation (optimeDate); zero when
	// unknown.
	Optime time.Time `json:"optimeDate,omitzero"`
}

// Up reports whether the member is reachable and in a state that counts towards a majority.
func (m MemberStatus) Up() bool {
	return m.Health > 0 && (m.State == StatePrimary || m.State == StateSecondary || m.State == StateArbiter)
}

// syncing reports whether the member is up but not yet able to vote usefully: starting, in
// initial sync, or recovering.
func (m MemberStatus) syncing() bool {
	return m.Health > 0 && (m.State == StateStartup || m.State == StateStartup2 || m.State == StateRecovering)
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
	// Candidates holds desired members' hellos (and standings), read only when the local node
	// has no config: the first few listed when they lead to the set's primary and its config,
	// else every one. A member not in it has not been asked, which blocks initiation.
	Candidates []NodeHello `json:"candidates,omitempty"`
	// Peers holds the hello of each Desired.Peers address (mongods of the service that are not
	// usable members), read only when the local node has no config and the first candidates led
	// to no config; any of them with a config, or not answering, blocks initiation.
	Peers []NodeHello `json:"peers,omitempty"`
	// Probed holds, on the primary's agent, what each listed member missing from the config
	// answered to replSetGetConfig: only one known to be empty or to hold this set is added.
	Probed map[string]Probe `json:"probed,omitempty"`
	// Foreign lists mongods of the service found holding another replica set (another name or
	// replicaSetId): never added, and an alarm until a human acts. Only the primary's agent looks
	// for them among the members it would add, and an agent without a config among its candidates.
	Foreign []ForeignNode `json:"foreign,omitempty"`
	// Errors lists reads that failed during the pass, for status output.
	Errors []string `json:"errors,omitempty"`
	// ReadAt is when the pass began reading. Light says it read only the local node's hello and
	// kept Config, Status and Foreign from the last full read, made at FullReadAt (see
	// ReconcilerConfig.Recheck).
	ReadAt     time.Time `json:"readAt,omitzero"`
	Light      bool      `json:"light,omitempty"`
	FullReadAt time.Time `json:"fullReadAt,omitzero"`
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
