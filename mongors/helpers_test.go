package mongors

import (
	"fmt"
	"time"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func host(i int) string { return fmt.Sprintf("10.42.0.%d:27017", i) }

// listed builds a Desired for self listing hosts in order (Order = host number).
func listed(self int, hosts ...int) Desired {
	d := Desired{Self: host(self)}
	for _, h := range hosts {
		d.Members = append(d.Members, Member{Host: host(h), Order: h})
	}
	return d
}

func withRole(d Desired, h int, r Role) Desired {
	d.Members = append([]Member(nil), d.Members...)
	for i := range d.Members {
		if d.Members[i].Host == host(h) {
			d.Members[i].Role = r
		}
	}
	return d
}

// cm is a config member for host h with _id id; voters get priority 1.
func cm(h, id, votes int) ConfigMember {
	m := ConfigMember{ID: id, Host: host(h), Votes: votes}
	if votes > 0 {
		m.Priority = 1
	}
	return m
}

// voters builds a config where hosts vote and later ones (in nonVoters) do not; _id = position.
func config(version int, voting []int, nonVoting ...int) Config {
	c := Config{Name: "letschat", Version: version, Term: 1}
	id := 0
	for _, h := range voting {
		c.Members = append(c.Members, cm(h, id, 1))
		id++
	}
	for _, h := range nonVoting {
		c.Members = append(c.Members, cm(h, id, 0))
		id++
	}
	return c
}

// onPrimary is what the agent beside primary self observes: committed cfg, every member up and
// SECONDARY unless states says otherwise (state 8 means down).
func onPrimary(self int, cfg Config, states map[int]int) Observed {
	o := Observed{
		Local:     NodeHello{Addr: host(self), Hello: Hello{SetName: cfg.Name, SetVersion: cfg.Version, IsWritablePrimary: true, Primary: host(self), Me: host(self)}},
		Primary:   host(self),
		Source:    host(self),
		Committed: true,
	}
	c := cfg.Clone()
	o.Config = &c
	st := ReplStatus{Set: cfg.Name, MyState: StatePrimary}
	for _, m := range cfg.Members {
		ms := MemberStatus{ID: m.ID, Name: m.Host, Health: 1, State: StateSecondary}
		var h int
		fmt.Sscanf(m.Host, "10.42.0.%d:27017", &h)
		if m.Host == host(self) {
			ms.State, ms.Self = StatePrimary, true
		}
		if s, ok := states[h]; ok {
			ms.State = s
			if s == StateDown {
				ms.Health = 0
			}
		}
		st.Members = append(st.Members, ms)
	}
	o.Status = &st
	return o
}

// empty is the hello of a --replSet node never initiated: no set, replSetGetStatus 94.
func empty(addr string) NodeHello {
	return NodeHello{Addr: addr, Hello: Hello{IsReplicaSet: true}, Standing: StandingEmpty}
}

// removed is the hello of a node removed from a set: the same reply, but replSetGetStatus 93.
func removed(addr string) NodeHello {
	return NodeHello{Addr: addr, Hello: Hello{IsReplicaSet: true}, Standing: StandingRemoved}
}

// ghosts is what the agent beside self observes before initiation: every listed host answers
// without a config and is proven empty, except those in unreachable; the view has settled.
func ghosts(self int, d Desired, unreachable ...int) Observed {
	down := map[string]bool{}
	for _, h := range unreachable {
		down[host(h)] = true
	}
	o := Observed{Local: empty(host(self))}
	// The view has been the same for long: the settle period of rule 1 is over.
	o.Memory.ViewSince = t0.Add(-time.Hour)
	for _, m := range d.ordered() {
		if m.Host == d.Self {
			continue
		}
		nh := empty(m.Host)
		if down[m.Host] {
			nh = NodeHello{Addr: m.Host, Err: "connection refused"}
		}
		o.Candidates = append(o.Candidates, nh)
	}
	return o
}

// gone marks hosts absent from metadata and unreachable since at.
func gone(o Observed, absentAt, unreachableAt time.Time, hosts ...int) Observed {
	o.Memory = Memory{AbsentSince: map[string]time.Time{}, UnreachableSince: map[string]time.Time{}}
	for _, h := range hosts {
		o.Memory.AbsentSince[host(h)] = absentAt
		if !unreachableAt.IsZero() {
			o.Memory.UnreachableSince[host(h)] = unreachableAt
		}
	}
	return o
}

func votingIDs(c Config) map[int]bool {
	out := map[int]bool{}
	for _, m := range c.Members {
		if m.Votes > 0 {
			out[m.ID] = true
		}
	}
	return out
}

// votingDiff counts members whose vote differs between a and b (by _id, absent = no vote).
func votingDiff(a, b Config) int {
	va, vb := votingIDs(a), votingIDs(b)
	n := 0
	for id := range va {
		if !vb[id] {
			n++
		}
	}
	for id := range vb {
		if !va[id] {
			n++
		}
	}
	return n
}

// probedEmpty records that every member of d missing from o's config answered replSetGetConfig
// as empty (94), as the primary's Observe finds for fresh nodes.
func probedEmpty(d Desired, o Observed) Observed {
	if o.Config == nil {
		return o
	}
	probed := map[string]Probe{}
	for k, v := range o.Probed {
		probed[k] = v
	}
	for _, m := range d.Members {
		if _, in := o.Config.Member(m.Host); !in {
			if _, ok := probed[m.Host]; !ok {
				probed[m.Host] = Probe{Standing: StandingEmpty}
			}
		}
	}
	o.Probed = probed
	return o
}
