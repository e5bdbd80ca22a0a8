package mongosim

import (
	"fmt"
	"slices"
	"time"
)

// EventKind names what an Event records.
type EventKind string

// Event kinds.
const (
	EventElection        EventKind = "election"
	EventStepDown        EventKind = "stepdown"
	EventConfigInstalled EventKind = "config"
	EventRollback        EventKind = "rollback"
	EventNodeStarted     EventKind = "start"
	EventNodeStopped     EventKind = "stop"
	EventNodeCrashed     EventKind = "crash"
	EventNodeWiped       EventKind = "wipe"
	EventPartition       EventKind = "partition"
	EventHeal            EventKind = "heal"
	// Member state transitions that take time in mongod.
	EventInitialSyncStart EventKind = "initialSyncStart"
	EventInitialSyncDone  EventKind = "initialSyncDone"
	EventRollbackStart    EventKind = "rollbackStart"
	EventTooStale         EventKind = "tooStale"
	EventDrainComplete    EventKind = "drainComplete"
)

// ConfigOrigin says how a config came to be installed on a node.
type ConfigOrigin string

// Config origins.
const (
	OriginInitiate   ConfigOrigin = "initiate"
	OriginReconfig   ConfigOrigin = "reconfig"
	OriginForce      ConfigOrigin = "force"
	OriginNewlyAdded ConfigOrigin = "newlyAdded"
	OriginStepUp     ConfigOrigin = "stepup"
	OriginHeartbeat  ConfigOrigin = "heartbeat"
)

// Event is one entry of the cluster's event log.
type Event struct {
	Time time.Time
	Kind EventKind
	Node string
	// Term is the node's term after the event.
	Term int64
	// Version and ConfigTerm identify the config of a config event.
	Version, ConfigTerm int64
	Origin              ConfigOrigin
	Detail              string
}

// ConfigChange is one config installation on one node, with the config it replaced (nil for
// the first).
type ConfigChange struct {
	Time   time.Time
	Node   string
	Origin ConfigOrigin
	Prev   *Config
	New    *Config
}

type audit struct {
	events     []Event
	changes    []ConfigChange
	winners    map[int64]string
	violations []string
	acked      map[OpTime]bool
	lost       []Entry
	forced     bool
}

func (a *audit) add(e Event) { a.events = append(a.events, e) }

// Events returns the event log, oldest first.
func (c *Cluster) Events() []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.audit.events)
}

// ConfigChanges returns every config ever installed on any node, oldest first.
func (c *Cluster) ConfigChanges() []ConfigChange {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]ConfigChange, len(c.audit.changes))
	for i, ch := range c.audit.changes {
		out[i] = ConfigChange{Time: ch.Time, Node: ch.Node, Origin: ch.Origin, Prev: ch.Prev.Clone(), New: ch.New.Clone()}
	}
	return out
}

// ForceReconfigApplied reports whether any node ever installed a config through force:true.
func (c *Cluster) ForceReconfigApplied() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.audit.forced
}

// LostWrites returns every write acknowledged with w:"majority" that some node later rolled
// back, plus those missing from the current primary's oplog (a force reconfig can drop them
// without any rollback, by removing the members that hold them).
func (c *Cluster) LostWrites() []Entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lostWritesLocked()
}

func (c *Cluster) lostWritesLocked() []Entry {
	out := slices.Clone(c.audit.lost)
	seen := map[OpTime]bool{}
	for _, e := range out {
		seen[e.OpTime] = true
	}
	var p *node
	for _, a := range c.order {
		if n := c.nodes[a]; n.running && n.state == StatePrimary && (p == nil || n.term > p.term) {
			p = n
		}
	}
	if p == nil {
		return out
	}
	var missing []OpTime
	for o := range c.audit.acked {
		if !seen[o] && indexOf(p.oplog, o) < 0 {
			missing = append(missing, o)
		}
	}
	slices.SortFunc(missing, OpTime.Compare)
	for _, o := range missing {
		out = append(out, Entry{OpTime: o, Op: "i"})
	}
	return out
}

// MajorityAcknowledged returns how many writes were acknowledged with w:"majority".
func (c *Cluster) MajorityAcknowledged() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.audit.acked)
}

// SafetyViolations checks the whole history: two primaries elected in one term, a config with
// more than 50 members or 7 voters, a non-force config changing more than one voter against its
// predecessor on the node that made it, and a lost majority write when no force reconfig was ever
// applied. Empty means safe.
func (c *Cluster) SafetyViolations() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := slices.Clone(c.audit.violations)
	for _, ch := range c.audit.changes {
		if len(ch.New.Members) > maxMembers || ch.New.Voters() > maxVoters {
			out = append(out, fmt.Sprintf("config %s on %s has %d members, %d voters", ch.New.vt(), ch.Node, len(ch.New.Members), ch.New.Voters()))
		}
		if (ch.Origin == OriginReconfig || ch.Origin == OriginNewlyAdded) && ch.Prev != nil {
			if d := votingDiff(ch.Prev, ch.New); d > 1 {
				out = append(out, fmt.Sprintf("config %s on %s changes %d voters", ch.New.vt(), ch.Node, d))
			}
		}
	}
	if !c.audit.forced {
		for _, e := range c.lostWritesLocked() {
			out = append(out, fmt.Sprintf("majority-acknowledged write %v lost", e.OpTime))
		}
	}
	return out
}

// votingDiff counts voters present in one config and not the other.
func votingDiff(a, b *Config) int {
	in := map[int64]int{}
	for _, id := range a.votingIDs() {
		in[id]++
	}
	for _, id := range b.votingIDs() {
		in[id]--
	}
	d := 0
	for _, v := range in {
		if v != 0 {
			d++
		}
	}
	return d
}
