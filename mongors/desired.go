package mongors

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"time"
)

// Role is what the operator asked of one member through labels. The zero Role is an ordinary
// voting, visible member with priority 1.
type Role struct {
	// Priority is the election priority (0–1000) the member gets once it votes; zero means the
	// default 1. Non-voting and hidden members always run at priority 0 whatever this says.
	Priority float64 `json:"priority,omitempty"`
	// NonVoting keeps the member at votes 0 and priority 0 for good.
	NonVoting bool `json:"nonVoting,omitempty"`
	// Hidden hides the member from clients' discovery; it runs at priority 0 and may still vote.
	Hidden bool `json:"hidden,omitempty"`
}

// electable reports whether the role lets the member become primary.
func (r Role) electable() bool { return !r.NonVoting && !r.Hidden }

// votingPriority is the priority a voting member with this role runs at.
func (r Role) votingPriority() float64 {
	if r.Hidden {
		return 0
	}
	if r.Priority == 0 {
		return 1
	}
	return r.Priority
}

// Member is one mongod the orchestrator says should be in the set.
type Member struct {
	// Host is the canonical "ip:port" address the set records for the member.
	Host string `json:"host"`
	// Order is the member's creation order (Rancher's create_index); the lowest electable member
	// initiates the set and new members are added and promoted in this order. When several
	// containers share the member's address, it is the lowest of their orders, so that every view
	// of the service agrees on the first container whatever state each copy shows.
	Order int `json:"order"`
	// HostID identifies the machine behind Host so that an address change can be told apart from
	// a new member; it is stored as a member tag. Empty means unknown.
	HostID string `json:"hostID,omitempty"`
	// Role is the operator's wish for this member.
	Role Role `json:"role"`
}

// Desired is the membership the orchestrator wants, as seen by one agent.
type Desired struct {
	// SetName is the replica-set name the orchestrator expects; empty means Settings.SetName.
	SetName string `json:"setName,omitempty"`
	// Self is the canonical address of the mongod beside this agent.
	Self string `json:"self"`
	// Members is every mongod that should be in the set, in any order.
	Members []Member `json:"members"`
	// Foreign lists addresses the orchestrator knows belong to another stack or service; finding
	// one in the set's config stops all changes (rule 8).
	Foreign []string `json:"foreign,omitempty"`
	// Peers lists every other container of the service the orchestrator knows that is not in
	// Members: containers it does not count as usable (stopped, starting, unhealthy, a second
	// container on a host), with their creation order. They are never added to the set, but
	// initiation requires each of them to answer as a --replSet node proven empty, since a node we
	// cannot see may hold the set's config, and a peer created before the initiator blocks it
	// whatever its state (rule 1). A peer at the address of Self or a member is asked as such.
	Peers []Peer `json:"peers,omitempty"`
	// Starting names the containers of the service the orchestrator shows in a transitional state
	// (starting, restarting, health initializing). While any is listed, the view has not settled
	// and nothing is initiated (rule 1).
	Starting []string `json:"starting,omitempty"`
	// Stale says the orchestrator could not be read lately, so Members may be out of date: a
	// member missing from them may be back already. While it is set no member is removed (rule 5)
	// and the set is not initiated; everything else goes on.
	Stale bool `json:"stale,omitempty"`
	// Seen is when the orchestrator's change behind this state was first noticed, and Read when
	// the state was read, for the per-stage timings of a decision; zero when unknown.
	Seen time.Time `json:"seen,omitzero"`
	Read time.Time `json:"read,omitzero"`
}

// Peer is a container of the service that is not a usable member.
type Peer struct {
	// Host is its "host:port" address; empty when the orchestrator gives it no usable address
	// (it then blocks initiation, since it cannot be asked).
	Host string `json:"host,omitempty"`
	// Order is its creation order (create_index), comparable with Member.Order.
	Order int `json:"order"`
	// Name and State are the orchestrator's words for it, for reasons.
	Name  string `json:"name,omitempty"`
	State string `json:"state,omitempty"`
}

// label names the peer for a reason.
func (p Peer) label() string {
	name := p.Name
	if name == "" {
		name = p.Host
	}
	out := fmt.Sprintf("%s (order %d", name, p.Order)
	if p.State != "" {
		out += ", " + p.State
	}
	if p.Host != "" && p.Host != name {
		out += ", " + p.Host
	}
	return out + ")"
}

// peers returns Peers without those at the address of Self or a member, one per address (the
// lowest order wins), sorted by order.
func (d Desired) peers() []Peer {
	seen := map[string]bool{d.Self: true}
	for _, m := range d.Members {
		seen[m.Host] = true
	}
	byHost := map[string]int{}
	var out []Peer
	for _, p := range d.Peers {
		if p.Host == "" {
			out = append(out, p)
			continue
		}
		if seen[p.Host] {
			continue
		}
		if i, ok := byHost[p.Host]; ok {
			if p.Order < out[i].Order {
				out[i] = p
			}
			continue
		}
		byHost[p.Host] = len(out)
		out = append(out, p)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Order != out[j].Order {
			return out[i].Order < out[j].Order
		}
		return out[i].Host < out[j].Host
	})
	return out
}

// member returns the desired member at host.
func (d Desired) member(host string) (Member, bool) {
	for _, m := range d.Members {
		if m.Host == host {
			return m, true
		}
	}
	return Member{}, false
}

// ordered returns the members sorted by Order, then Host, so every agent sees the same order.
func (d Desired) ordered() []Member {
	ms := append([]Member(nil), d.Members...)
	sort.SliceStable(ms, func(i, j int) bool {
		if ms[i].Order != ms[j].Order {
			return ms[i].Order < ms[j].Order
		}
		return ms[i].Host < ms[j].Host
	})
	return ms
}

// problem returns why the desired state cannot be acted on, or "".
func (d Desired) problem(s Settings) string {
	if d.SetName != "" && d.SetName != s.SetName {
		return fmt.Sprintf("metadata describes set %q but this agent manages %q", d.SetName, s.SetName)
	}
	if err := checkAddress(d.Self); err != nil {
		return fmt.Sprintf("self address: %v", err)
	}
	hosts := map[string]bool{}
	ids := map[string]string{}
	foreign := map[string]bool{}
	for _, f := range d.Foreign {
		foreign[f] = true
	}
	for _, m := range d.Members {
		if err := checkAddress(m.Host); err != nil {
			return fmt.Sprintf("member address: %v", err)
		}
		if hosts[m.Host] {
			return fmt.Sprintf("member %s is listed twice", m.Host)
		}
		hosts[m.Host] = true
		if foreign[m.Host] {
			return fmt.Sprintf("member %s is also listed as belonging to another stack or service", m.Host)
		}
		if m.HostID != "" {
			if other, dup := ids[m.HostID]; dup {
				return fmt.Sprintf("members %s and %s claim the same host %q", other, m.Host, m.HostID)
			}
			ids[m.HostID] = m.Host
		}
		if m.Role.Priority < 0 || m.Role.Priority > 1000 {
			return fmt.Sprintf("member %s has priority %g outside 0–1000", m.Host, m.Role.Priority)
		}
	}
	for _, p := range d.Peers {
		if p.Host == "" {
			continue
		}
		if err := checkAddress(p.Host); err != nil {
			return fmt.Sprintf("peer address: %v", err)
		}
		if foreign[p.Host] {
			return fmt.Sprintf("peer %s is also listed as belonging to another stack or service", p.Host)
		}
	}
	return ""
}

// checkAddress accepts a "host:port" address with a non-empty host and a numeric port.
func checkAddress(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port", addr)
	}
	if host == "" {
		return fmt.Errorf("%q has no host", addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
		return fmt.Errorf("%q has no valid port", addr)
	}
	return nil
}
