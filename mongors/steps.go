package mongors

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// view is one planning pass over a configured set whose primary is the local node. Its steps are
// tried in a fixed order (fix, remove, add, votes) and the first that has something to do wins, so
// each pass changes at most one member.
type view struct {
	d     Desired
	o     Observed
	now   time.Time
	s     Settings
	cfg   Config
	notes []string // why pending work is not done yet, for the None reason
}

func newView(d Desired, o Observed, now time.Time, s Settings) *view {
	return &view{d: d, o: o, now: now, s: s, cfg: *o.Config}
}

func (v *view) note(format string, args ...any) {
	v.notes = append(v.notes, fmt.Sprintf(format, args...))
}

// up reports whether host counts towards a majority right now; the local primary always does.
func (v *view) up(host string) bool {
	if host == v.d.Self {
		return true
	}
	st, ok := v.o.Status.Member(host)
	return ok && st.Up()
}

// votersUp counts c's voters and how many of them are up.
func (v *view) votersUp(c Config) (up, voters int) {
	for _, m := range c.Members {
		if m.Votes > 0 {
			voters++
			if v.up(m.Host) {
				up++
			}
		}
	}
	return up, voters
}

func (v *view) reconfig(step Step, host string, next Config, format string, args ...any) (Action, bool) {
	next.Version = v.cfg.Version + 1
	return Action{Kind: KindReconfig, Step: step, Member: host, Config: &next, Reason: fmt.Sprintf(format, args...)}, true
}

// stepDown asks this primary to step down, but only when another member can take over: a
// step-down with no electable secondary caught up fails after its catch-up period (262), and mongod
// blocks writes while it waits, so retrying it would keep the primary unwritable most of the time.
func (v *view) stepDown(format string, args ...any) (Action, bool) {
	why := fmt.Sprintf(format, args...)
	successor, ok := v.successor()
	if !ok {
		return wait("%s, but no electable member is SECONDARY and up to take over; not stepping down", why), true
	}
	return Action{Kind: KindStepDown, Step: StepStepDown, Member: v.d.Self, Reason: why + "; " + successor + " can take over"}, true
}

// successor returns a member other than this primary that could win an election now: it votes,
// has priority, is not hidden, and the primary sees it up as SECONDARY.
func (v *view) successor() (string, bool) {
	if v.o.Status == nil {
		return "", false
	}
	for _, m := range v.cfg.Members {
		if m.Host == v.d.Self || m.Votes == 0 || m.Priority <= 0 || m.Hidden || m.ArbiterOnly {
			continue
		}
		if st, ok := v.o.Status.Member(m.Host); ok && st.Health > 0 && st.State == StateSecondary {
			return m.Host, true
		}
	}
	return "", false
}

// replaced returns the config with member m swapped in for the member with the same _id.
func (v *view) replaced(m ConfigMember) Config {
	next := v.cfg.Clone()
	for i := range next.Members {
		if next.Members[i].ID == m.ID {
			next.Members[i] = m
		}
	}
	return next
}

// wanted is the member as its role asks, keeping its current vote except where the role forbids
// one (rule 10).
func wanted(m ConfigMember, r Role) ConfigMember {
	w := m
	w.Hidden = r.Hidden
	switch {
	case m.Votes > 0 && r.NonVoting:
		w.Votes, w.Priority = 0, 0
	case m.Votes > 0:
		w.Priority = r.votingPriority()
	default:
		w.Priority = 0
	}
	return w
}

func sameManaged(a, b ConfigMember) bool {
	return a.Votes == b.Votes && a.Priority == b.Priority && a.Hidden == b.Hidden
}

// fixStep brings one listed member's votes, priority and hidden flag in line with its role; the
// primary steps down first when its own role would make it unelectable (rule 6).
func (v *view) fixStep() (Action, bool) {
	for _, m := range v.cfg.Members {
		dm, ok := v.d.member(m.Host)
		if !ok || m.ArbiterOnly {
			continue
		}
		w := wanted(m, dm.Role)
		if sameManaged(m, w) {
			continue
		}
		change := fmt.Sprintf("votes %d→%d, priority %g→%g, hidden %t→%t", m.Votes, w.Votes, m.Priority, w.Priority, m.Hidden, w.Hidden)
		if m.Host == v.d.Self && (w.Votes == 0 || w.Priority == 0 || w.Hidden) {
			return v.stepDown("role of this primary %s asks for %s; stepping down so the next primary applies it", m.Host, change)
		}
		next := v.replaced(w)
		if w.Votes == m.Votes {
			return v.reconfig(StepFix, m.Host, next, "apply role of %s (_id %d): %s", m.Host, m.ID, change)
		}
		up, voters := v.votersUp(next)
		if up < voters/2+1 {
			v.note("demoting %s would leave %d of %d voters up", m.Host, up, voters)
			continue
		}
		return v.reconfig(StepDemote, m.Host, next, "role of %s (_id %d) is non-voting: %s; %d of %d voters up after", m.Host, m.ID, change, up, voters)
	}
	return Action{}, false
}

// removeStep removes one member that is gone from metadata and unreachable to the set, both for
// at least the grace, keeping a voting majority up (rule 5). Non-voters go first.
func (v *view) removeStep() (Action, bool) {
	type candidate struct {
		m                   ConfigMember
		absent, unreachable time.Duration
		why                 string
	}
	var cands []candidate
	grace := v.s.RemovalGrace
	for _, m := range v.cfg.Members {
		if _, ok := v.d.member(m.Host); ok {
			continue
		}
		if v.d.Stale {
			v.note("%s is missing from metadata, but metadata is stale; removals wait for a fresh read", m.Host)
			continue
		}
		c := candidate{
			m:           m,
			absent:      since(v.o.Memory.AbsentSince[m.Host], v.now),
			unreachable: since(v.o.Memory.UnreachableSince[m.Host], v.now),
			why:         v.goneWhy(m),
		}
		switch {
		case c.absent < grace:
			v.note("%s %s for %s of %s grace", m.Host, c.why, round(c.absent), grace)
		case c.unreachable == 0:
			v.note("%s %s for %s but the set still reaches it; not removing", m.Host, c.why, round(c.absent))
		case c.unreachable < grace:
			v.note("%s unreachable for %s of %s grace", m.Host, round(c.unreachable), grace)
		default:
			cands = append(cands, c)
		}
	}
	sort.SliceStable(cands, func(i, j int) bool {
		if (cands[i].m.Votes > 0) != (cands[j].m.Votes > 0) {
			return cands[i].m.Votes == 0
		}
		if cands[i].unreachable != cands[j].unreachable {
			return cands[i].unreachable > cands[j].unreachable
		}
		return cands[i].m.ID < cands[j].m.ID
	})
	for _, c := range cands {
		if c.m.Host == v.d.Self {
			return v.stepDown("this primary %s is due for removal; stepping down first", c.m.Host)
		}
		next := v.cfg.Clone()
		next.Members = next.Members[:0]
		for _, m := range v.cfg.Members {
			if m.ID != c.m.ID {
				next.Members = append(next.Members, m)
			}
		}
		up, voters := v.votersUp(next)
		if c.m.Votes > 0 && up < voters/2+1 {
			v.note("removing %s would leave %d of %d voters up", c.m.Host, up, voters)
			continue
		}
		return v.reconfig(StepRemove, c.m.Host, next,
			"remove %s (_id %d, votes %d): %s for %s and unreachable for %s (grace %s); %d of %d voters up after",
			c.m.Host, c.m.ID, c.m.Votes, c.why, round(c.absent), round(c.unreachable), grace, up, voters)
	}
	return Action{}, false
}

// goneWhy says whether a member left metadata or its host moved to a new address (rule 9).
func (v *view) goneWhy(m ConfigMember) string {
	if id := m.Tags[HostTag]; id != "" {
		for _, dm := range v.d.Members {
			if dm.HostID == id {
				return "moved to " + dm.Host
			}
		}
	}
	return "gone from metadata"
}

// addStep adds the first listed member missing from the config, without a vote (rule 4). A new
// address of a known host is added like any new member; the old address leaves through
// removeStep, never by editing a member's host (rule 9).
func (v *view) addStep() (Action, bool) {
	var missing []Member
	for _, dm := range v.d.ordered() {
		if _, ok := v.cfg.Member(dm.Host); !ok {
			missing = append(missing, dm)
		}
	}
	if len(missing) == 0 {
		return Action{}, false
	}
	if len(v.cfg.Members) >= maxMembers {
		v.note("%d members listed but missing; the config is at the %d-member limit", len(missing), maxMembers)
		return Action{}, false
	}
	dm := missing[0]
	m := ConfigMember{ID: nextID(v.cfg), Host: dm.Host, Hidden: dm.Role.Hidden, Tags: hostTags(dm)}
	next := v.cfg.Clone()
	next.Members = append(next.Members, m)
	moved := ""
	if dm.HostID != "" {
		for _, old := range v.cfg.Members {
			if old.Tags[HostTag] == dm.HostID {
				moved = fmt.Sprintf("; new address of host %s, which was %s", dm.HostID, old.Host)
			}
		}
	}
	return v.reconfig(StepAdd, dm.Host, next,
		"add %s as _id %d with votes 0, priority 0 (%d missing); it gets a vote once SECONDARY%s",
		dm.Host, m.ID, len(missing), moved)
}

// nextID is one above the highest _id in the config, or the lowest free _id when that would pass
// 255. No _id of a current member is reused; the _id of a member removed earlier may come back,
// which MongoDB allows.
func nextID(c Config) int {
	used := map[int]bool{}
	highest := -1
	for _, m := range c.Members {
		used[m.ID] = true
		highest = max(highest, m.ID)
	}
	if highest+1 <= 255 {
		return highest + 1
	}
	for id := 0; id <= 255; id++ {
		if !used[id] {
			return id
		}
	}
	return highest + 1
}

// votesStep promotes SECONDARY members one at a time, keeping voters within MaxVoters and their
// count odd where it can; it demotes only to get back within the limit or to an odd count (rule 4).
func (v *view) votesStep() (Action, bool) {
	voters := v.cfg.Voters()
	var promotable []ConfigMember
	catchingUp := 0
	for _, dm := range v.d.ordered() {
		m, ok := v.cfg.Member(dm.Host)
		if !ok || m.Votes > 0 || m.ArbiterOnly || dm.Role.NonVoting {
			continue
		}
		st, _ := v.o.Status.Member(m.Host)
		switch {
		case st.Health > 0 && st.State == StateSecondary:
			promotable = append(promotable, m)
		case st.Health > 0 && (st.State == StateStartup || st.State == StateStartup2 || st.State == StateRecovering):
			catchingUp++
		}
	}
	limit := v.s.MaxVoters
	even := voters%2 == 0
	switch {
	case voters > limit:
		if m, ok := v.demotable(false); ok {
			return v.demote(m, "%d voters exceed the limit of %d", voters, limit)
		}
	case even && voters < limit && len(promotable) > 0:
		return v.promote(promotable[0], voters)
	case !even && voters+2 <= limit && len(promotable) >= 2:
		return v.promote(promotable[0], voters)
	case even && voters > 1:
		if m, ok := v.demotable(true); ok {
			return v.demote(m, "%d voters is even and %s cannot vote usefully", voters, m.Host)
		}
		if catchingUp == 0 {
			if m, ok := v.demotable(false); ok {
				return v.demote(m, "%d voters is even and no member waits for a vote", voters)
			}
		}
	}
	if catchingUp > 0 && voters < limit {
		v.note("%d members still syncing before they can vote", catchingUp)
	}
	return Action{}, false
}

func (v *view) promote(m ConfigMember, voters int) (Action, bool) {
	dm, _ := v.d.member(m.Host)
	w := m
	w.Votes, w.Priority = 1, dm.Role.votingPriority()
	next := v.replaced(w)
	up, after := v.votersUp(next)
	return v.reconfig(StepPromote, m.Host, next,
		"promote %s (_id %d, SECONDARY) to votes 1, priority %g: voters %d→%d of at most %d, %d up",
		m.Host, m.ID, w.Priority, voters, after, v.s.MaxVoters, up)
}

func (v *view) demote(m ConfigMember, format string, args ...any) (Action, bool) {
	w := m
	w.Votes, w.Priority = 0, 0
	next := v.replaced(w)
	up, after := v.votersUp(next)
	if up < after/2+1 {
		v.note("demoting %s would leave %d of %d voters up", m.Host, up, after)
		return Action{}, false
	}
	return v.reconfig(StepDemote, m.Host, next, "demote %s (_id %d) to votes 0: %s; %d of %d voters up after",
		m.Host, m.ID, fmt.Sprintf(format, args...), up, after)
}

// demotable picks the voter to give up its vote: members gone from metadata first, then members
// that are down, then the latest by order. weakOnly restricts the pick to the first two kinds.
// The primary and arbiters are never picked.
func (v *view) demotable(weakOnly bool) (ConfigMember, bool) {
	best, bestRank, bestOrder := ConfigMember{}, -1, 0
	for _, m := range v.cfg.Members {
		if m.Votes == 0 || m.ArbiterOnly || m.Host == v.d.Self {
			continue
		}
		dm, listed := v.d.member(m.Host)
		rank := 0
		switch {
		case !listed:
			rank = 2
		case !v.up(m.Host):
			rank = 1
		case weakOnly:
			continue
		}
		if rank > bestRank || (rank == bestRank && dm.Order > bestOrder) {
			best, bestRank, bestOrder = m, rank, dm.Order
		}
	}
	return best, bestRank >= 0
}

// converged is the None of a pass with nothing to do; Converged is set only when nothing is pending.
func (v *view) converged() Action {
	up, voters := v.votersUp(v.cfg)
	a := none("%d members, %d voting (%d up), config version %d", len(v.cfg.Members), voters, up, v.cfg.Version)
	if len(v.notes) > 0 {
		a.Reason += "; pending: " + strings.Join(v.notes, "; ")
		return a
	}
	a.Converged = true
	return a
}

func round(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
