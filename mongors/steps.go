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
	notes []string      // why pending work is not done yet, for the None reason
	due   time.Duration // the soonest a time-based condition falls due; zero: none
	poll  bool          // a member is syncing or catching up: the set changes by itself soon
}

func newView(d Desired, o Observed, now time.Time, s Settings) *view {
	return &view{d: d, o: o, now: now, s: s, cfg: *o.Config}
}

func (v *view) note(format string, args ...any) {
	v.notes = append(v.notes, fmt.Sprintf(format, args...))
}

// dueIn records that a time-based condition falls due after d, so the loop plans again then.
func (v *view) dueIn(d time.Duration) {
	if d > 0 && (v.due == 0 || d < v.due) {
		v.due = d
	}
}

// catchUpWindow is how far behind the primary's last applied operation a secondary may be and
// still count as caught up: mongod's default secondaryCatchUpPeriodSecs, the window a step-down
// gives secondaries to catch up.
const catchUpWindow = 10 * time.Second

// caughtUp reports whether a member's last applied operation is within catchUpWindow of the
// primary's; unknown optimes count as caught up.
func (v *view) caughtUp(st MemberStatus) bool {
	p, ok := v.o.Status.Member(v.d.Self)
	if !ok || p.Optime.IsZero() || st.Optime.IsZero() {
		return true
	}
	return p.Optime.Sub(st.Optime) <= catchUpWindow
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
		return wait("%s, but no electable member is SECONDARY, up and caught up to take over; not stepping down", why), true
	}
	return Action{Kind: KindStepDown, Step: StepStepDown, Member: v.d.Self, Reason: why + "; " + successor + " can take over"}, true
}

// successor returns a member other than this primary that could win an election now: it votes,
// has priority, is not hidden, and the primary sees it up as SECONDARY and caught up.
func (v *view) successor() (string, bool) {
	if v.o.Status == nil {
		return "", false
	}
	for _, m := range v.cfg.Members {
		if m.Host == v.d.Self || m.Votes == 0 || m.Priority <= 0 || m.Hidden || m.ArbiterOnly {
			continue
		}
		if st, ok := v.o.Status.Member(m.Host); ok && st.Health > 0 && st.State == StateSecondary && v.caughtUp(st) {
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

// removeStep deals with one member gone from metadata for the grace (rule 5). One the set cannot
// reach for the grace either is removed. One it still reaches (decommissioned, still stopping)
// first loses its vote, so that it cannot take the quorum with it when it stops later, and is
// removed once gone for twice the grace. The primary itself steps down first (rule 6). Each
// change keeps a voting majority up; non-voters go first, then demotions, then voters.
func (v *view) removeStep() (Action, bool) {
	type candidate struct {
		m                   ConfigMember
		absent, unreachable time.Duration
		why                 string
		demote              bool
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
			v.dueIn(grace - c.absent)
		case m.Host == v.d.Self, c.unreachable >= grace:
			cands = append(cands, c)
		case m.Votes > 0:
			c.demote = true
			cands = append(cands, c)
		case c.absent >= 2*grace:
			cands = append(cands, c)
		default:
			v.note("%s %s for %s and still reachable: without a vote now, removed once gone for %s (twice the grace)", m.Host, c.why, round(c.absent), 2*grace)
			v.dueIn(2*grace - c.absent)
			if at, ok := v.o.Memory.UnreachableSince[m.Host]; ok && !at.IsZero() {
				v.dueIn(grace - c.unreachable)
			}
		}
	}
	rank := func(c candidate) int {
		switch {
		case c.m.Host == v.d.Self:
			return 3
		case c.demote:
			return 1
		case c.m.Votes > 0:
			return 2
		}
		return 0
	}
	sort.SliceStable(cands, func(i, j int) bool {
		if ri, rj := rank(cands[i]), rank(cands[j]); ri != rj {
			return ri < rj
		}
		if cands[i].unreachable != cands[j].unreachable {
			return cands[i].unreachable > cands[j].unreachable
		}
		return cands[i].m.ID < cands[j].m.ID
	})
	for _, c := range cands {
		if c.m.Host == v.d.Self {
			return v.stepDown("this primary %s %s for %s (grace %s); stepping down so that the next primary takes its vote and removes it", c.m.Host, c.why, round(c.absent), grace)
		}
		if c.demote {
			w := c.m
			w.Votes, w.Priority = 0, 0
			next := v.replaced(w)
			up, voters := v.votersUp(next)
			if up < voters/2+1 {
				v.note("taking the vote of %s would leave %d of %d voters up", c.m.Host, up, voters)
				continue
			}
			reach := "still reachable"
			if c.unreachable > 0 {
				reach = fmt.Sprintf("unreachable for only %s", round(c.unreachable))
			}
			return v.reconfig(StepDemote, c.m.Host, next,
				"%s (_id %d) %s for %s (grace %s), %s: votes 1→0 first, removed once gone for %s or unreachable for the grace; %d of %d voters up after",
				c.m.Host, c.m.ID, c.why, round(c.absent), grace, reach, 2*grace, up, voters)
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
		reach := fmt.Sprintf("unreachable for %s", round(c.unreachable))
		if c.unreachable < grace {
			reach = "still reachable, without a vote"
		}
		return v.reconfig(StepRemove, c.m.Host, next,
			"remove %s (_id %d, votes %d): %s for %s, %s (grace %s); %d of %d voters up after",
			c.m.Host, c.m.ID, c.m.Votes, c.why, round(c.absent), reach, grace, up, voters)
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

// addStep adds every listed member missing from the config in one reconfig, each with votes 0
// and priority 0 (rule 4): a change of non-voters touches no voting set, which is all a safe
// reconfig limits, and newlyAdded is only set on new voters (rule 3 allows the batch). Only a
// member whose replSetGetConfig said it is empty or holds this set is added: one holding another
// replica set never is (rule 8), one that did not answer waits. A new address of a known host is
// added like any new member; the old address leaves through removeStep, never by editing a
// member's host (rule 9).
func (v *view) addStep() (Action, bool) {
	var missing []Member
	for _, dm := range v.d.ordered() {
		if _, ok := v.cfg.Member(dm.Host); ok {
			continue
		}
		p, probed := v.o.Probed[dm.Host]
		switch {
		case !probed:
			v.note("%s has not said yet whether it holds a replica set; added once it does", dm.Host)
			v.poll = true
		case emptyStanding(p.Standing) || p.Standing == StandingMember:
			missing = append(missing, dm)
		case p.Standing == StandingForeign:
			v.note("%s holds another replica set; never adding it (see the foreign-set alarm)", dm.Host)
		default:
			v.note("%s cannot be asked whether it holds a replica set (%s); added once it answers", dm.Host, p.Reason)
		}
	}
	if len(missing) == 0 {
		return Action{}, false
	}
	room := maxMembers - len(v.cfg.Members)
	if room <= 0 {
		v.note("%d members listed but missing; the config is at the %d-member limit", len(missing), maxMembers)
		return Action{}, false
	}
	if len(missing) > room {
		v.note("%d listed members wait for room; the config holds at most %d", len(missing)-room, maxMembers)
		missing = missing[:room]
	}
	next := v.cfg.Clone()
	var added []string
	for _, dm := range missing {
		m := ConfigMember{ID: nextID(next), Host: dm.Host, Hidden: dm.Role.Hidden, Tags: hostTags(dm)}
		next.Members = append(next.Members, m)
		moved := ""
		if dm.HostID != "" {
			for _, old := range v.cfg.Members {
				if old.Tags[HostTag] == dm.HostID {
					moved = fmt.Sprintf(" (new address of host %s, which was %s)", dm.HostID, old.Host)
				}
			}
		}
		added = append(added, fmt.Sprintf("%s as _id %d%s", dm.Host, m.ID, moved))
	}
	return v.reconfig(StepAdd, missing[0].Host, next,
		"add %d member(s) with votes 0, priority 0 in one reconfig: %s; each gets a vote once SECONDARY",
		len(missing), strings.Join(added, ", "))
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

// votesStep keeps the votes with healthy members (rule 4). It promotes SECONDARY members that are
// caught up, one at a time, keeping voters within MaxVoters and their count odd where it can. A
// listed voter the set has not reached for the grace gives its vote to a healthy non-voter when
// one waits (one voting change per reconfig: the weak voter loses its vote first when the count is
// at the limit or odd, the non-voter gains one next). It demotes otherwise only to get back within
// the limit or to an odd count. A member syncing for longer than the grace no longer holds that up.
func (v *view) votesStep() (Action, bool) {
	voters := v.cfg.Voters()
	grace := v.s.RemovalGrace
	var promotable []ConfigMember
	catchingUp := 0
	for _, dm := range v.d.ordered() {
		m, ok := v.cfg.Member(dm.Host)
		if !ok || m.Votes > 0 || m.ArbiterOnly || dm.Role.NonVoting {
			continue
		}
		st, _ := v.o.Status.Member(m.Host)
		switch {
		case st.Health > 0 && st.State == StateSecondary && v.caughtUp(st):
			promotable = append(promotable, m)
		case st.Health > 0 && st.State == StateSecondary:
			v.note("%s is SECONDARY but more than %s behind the primary; it votes once caught up", m.Host, catchUpWindow)
			v.poll = true
			catchingUp++
		case st.syncing():
			if d := since(v.o.Memory.SyncingSince[m.Host], v.now); d < grace {
				catchingUp++
				v.poll = true
				v.dueIn(grace - d)
			} else {
				v.note("%s has been %s for %s (over the %s grace); not waiting for it", m.Host, stateName(st), round(d), grace)
			}
		}
	}
	weak := v.weakVoters()
	limit := v.s.MaxVoters
	even := voters%2 == 0
	switch {
	case voters > limit:
		if m, ok := v.demotable(false); ok {
			return v.demote(m, "%d voters exceed the limit of %d", voters, limit)
		}
	case len(weak) > 0 && len(promotable) > 0 && (voters >= limit || !even):
		w := weak[0]
		return v.demote(w.m, "voter %s unreachable for %s (grace %s); its vote goes to %s (SECONDARY, caught up) next",
			w.m.Host, round(w.unreachable), grace, promotable[0].Host)
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
	for _, w := range weak {
		if len(promotable) == 0 {
			v.note("voter %s unreachable for %s; no healthy non-voter to give its vote to", w.m.Host, round(w.unreachable))
		}
	}
	if catchingUp > 0 && voters < limit {
		v.note("%d members still syncing before they can vote", catchingUp)
	}
	return Action{}, false
}

// weakVoter is a listed voter the set has not reached for the grace.
type weakVoter struct {
	m           ConfigMember
	unreachable time.Duration
}

// weakVoters returns the listed voters (not this primary, no arbiters) unreachable for at least
// the grace, longest first; members gone from metadata are removeStep's.
func (v *view) weakVoters() []weakVoter {
	var out []weakVoter
	for _, m := range v.cfg.Members {
		if m.Votes == 0 || m.ArbiterOnly || m.Host == v.d.Self {
			continue
		}
		if _, listed := v.d.member(m.Host); !listed {
			continue
		}
		at, ok := v.o.Memory.UnreachableSince[m.Host]
		if !ok || at.IsZero() {
			continue
		}
		u := since(at, v.now)
		if u < v.s.RemovalGrace {
			v.dueIn(v.s.RemovalGrace - u)
			continue
		}
		out = append(out, weakVoter{m: m, unreachable: u})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].unreachable > out[j].unreachable })
	return out
}

func stateName(st MemberStatus) string {
	if st.StateStr != "" {
		return st.StateStr
	}
	switch st.State {
	case StateStartup:
		return "STARTUP"
	case StateStartup2:
		return "STARTUP2"
	case StateRecovering:
		return "RECOVERING"
	}
	return fmt.Sprintf("state %d", st.State)
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
	a.RecheckIn, a.Poll = v.due, v.poll
	if len(v.notes) > 0 {
		a.Reason += "; pending: " + strings.Join(v.notes, "; ")
		return a
	}
	a.Converged = true
	return a
}

func round(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
