package mongors

import (
	"errors"
	"fmt"
	"time"
)

// RuleError is a proposed action that breaks one of the safety rules; the planner turns it into a
// Wait, so it only surfaces in that Wait's reason and in tests.
type RuleError struct {
	// Rule is the number of the rule in the package's rule list (issue 4, rules 1–10; 11 is the
	// config limits MongoDB itself enforces).
	Rule int
	// Detail says what exactly was wrong.
	Detail string
}

// Error names the rule and what broke it.
func (e *RuleError) Error() string {
	return fmt.Sprintf("rule %d (%s): %s", e.Rule, ruleNames[e.Rule], e.Detail)
}

var ruleNames = map[int]string{
	1:  "initiate once, explicitly",
	2:  "only the primary reconfigures",
	3:  "one voting change per committed config",
	4:  "new members vote only once SECONDARY, voters within the limit",
	5:  "remove only what is gone for the grace and unreachable, or gone twice as long without a vote; keep a majority",
	6:  "never remove or demote the primary",
	7:  "never force",
	8:  "exactly one set",
	9:  "never edit a member's host in place",
	10: "roles from labels",
	11: "config limits",
}

func broke(rule int, format string, args ...any) error {
	return &RuleError{Rule: rule, Detail: fmt.Sprintf(format, args...)}
}

// checkAction is the one gate every action passes before Plan returns it.
func checkAction(a Action, d Desired, o Observed, now time.Time, s Settings) error {
	switch a.Kind {
	case KindNone, KindWait:
		if a.Config != nil {
			return broke(7, "a %s action carries a config", a.Kind)
		}
		return nil
	case KindInitiate:
		return checkInitiate(a, d, o, now, s)
	case KindReconfig:
		return checkReconfig(a, d, o, now, s)
	case KindStepDown:
		if !o.localIsPrimary() {
			return broke(2, "only the primary steps down, and the local node is not it")
		}
		return nil
	}
	return broke(7, "unknown action kind %q", a.Kind)
}

// emptyStanding reports whether a node's standing lets it be initiated (rule 1) or added (rule 8)
// as empty: replSetGetStatus 94, or, under access control, a node other than the local one that
// refuses the admin login while its hello names no set (StandingNoUsers).
func emptyStanding(s Standing) bool { return s == StandingEmpty || s == StandingNoUsers }

// standingFromStatus is rules 1 and 8's reading of replSetGetStatus on a node whose hello names
// no set (mongod builds that hello alike for a node never initiated and one removed from a set):
// an answer means a member, 94 empty, 93 removed (it keeps a set's data: never initiated, never
// seeds a set).
//
// Under access control a node other than the local one cannot be asked without logging in, and
// one without users refuses the admin login (the localhost exception is its own host's alone).
// Such a node is taken as empty (StandingNoUsers): users replicate with the data, so every node
// holding this set's data — a member, or one removed from the set — holds its admin user and
// accepts the login, and is then asked replSetGetStatus as without access control. The local node
// is always asked, with the login or through the localhost exception, so a refusal there is never
// taken as empty. Every other failure (13, no answer) is unknown and blocks initiation. Reason is
// the answer behind an unknown standing.
func standingFromStatus(err error, local bool) (s Standing, reason string) {
	switch {
	case err == nil:
		return StandingMember, ""
	case errors.Is(err, ErrNotInitialized):
		return StandingEmpty, ""
	case errors.Is(err, ErrInvalidConfig):
		return StandingRemoved, ""
	case errors.Is(err, ErrLoginRefused) && !local:
		return StandingNoUsers, ""
	}
	return StandingUnknown, err.Error()
}

// probeStanding is rule 8's reading of replSetGetConfig (cfgErr, not nil) on a listed member
// missing from the config, with the node's hello when it refused the login: 94 is empty; a node
// that refuses the admin login is empty when its hello names no set (see standingFromStatus) and
// unknown when it names one (a set without our admin user is not ours, or not readable by us);
// anything else is unknown.
func probeStanding(cfgErr error, h Hello, helloErr error) (s Standing, reason string) {
	switch {
	case errors.Is(cfgErr, ErrNotInitialized):
		return StandingEmpty, ""
	case errors.Is(cfgErr, ErrLoginRefused):
		switch {
		case helloErr != nil:
			return StandingUnknown, helloErr.Error()
		case h.HasConfig():
			return StandingUnknown, fmt.Sprintf("it refuses the admin login and belongs to set %q (config version %d)", h.SetName, h.SetVersion)
		case !h.ReplicaSetMode():
			return StandingUnknown, "it refuses the admin login and runs without --replSet"
		}
		return StandingNoUsers, ""
	}
	return StandingUnknown, cfgErr.Error()
}

// checkInitiate holds an initiate to rule 1: explicit config of exactly the listed members,
// sent by the first electable container of the whole service as listed (no peer created before
// it), on a view settled for Settings.InitiateSettle with nothing starting and fresh metadata,
// with every listed container — members and peers, the local node included — proven empty
// (hello without a set and replSetGetStatus 94: a removed ex-member, or one that cannot be told,
// may hold a set).
func checkInitiate(a Action, d Desired, o Observed, now time.Time, s Settings) error {
	cfg := a.Config
	if cfg == nil {
		return broke(1, "initiate without an explicit config")
	}
	if o.Config != nil || o.Local.Hello.HasConfig() {
		return broke(1, "a config already exists")
	}
	// The local node is always asked replSetGetStatus (with the login, or through the localhost
	// exception): only its 94 proves it empty.
	if !o.Local.ProvenEmpty() || o.Local.Standing != StandingEmpty {
		return broke(1, "the local node is not proven empty (standing %q)", o.Local.Standing)
	}
	if cfg.Name != s.SetName {
		return broke(8, "initiating set %q instead of %q", cfg.Name, s.SetName)
	}
	if cfg.Version != 1 {
		return broke(1, "initial version %d, want 1", cfg.Version)
	}
	if d.Stale {
		return broke(1, "metadata is stale")
	}
	if len(d.Starting) > 0 {
		return broke(1, "%v still starting", d.Starting)
	}
	if settled := since(o.Memory.ViewSince, now); settled < s.InitiateSettle {
		return broke(1, "view settled for %s, want %s", round(settled), s.InitiateSettle)
	}
	cands := d.ordered()
	if len(cands) < s.MinMembers {
		return broke(1, "%d candidates, need %d", len(cands), s.MinMembers)
	}
	if len(cfg.Members) != len(cands) {
		return broke(1, "config has %d members, %d candidates listed", len(cfg.Members), len(cands))
	}
	initiator, ok := firstElectable(cands)
	if !ok || initiator.Host != d.Self {
		return broke(1, "%s initiates, not %s", initiator.Host, d.Self)
	}
	for _, c := range cands {
		h, ok := helloOf(o, d, c.Host)
		if !ok || !h.ProvenEmpty() {
			return broke(1, "candidate %s is not proven empty", c.Host)
		}
		if _, ok := cfg.Member(c.Host); !ok {
			return broke(1, "candidate %s missing from the config", c.Host)
		}
	}
	for _, p := range d.peers() {
		if p.Order < initiator.Order {
			return broke(1, "peer %s was created before the initiator %s", p.label(), initiator.Host)
		}
		if p.Host == "" {
			return broke(1, "peer %s has no address to ask", p.label())
		}
		h, ok := peerHello(o, p.Host)
		if !ok || !h.ProvenEmpty() {
			return broke(1, "peer %s is not proven empty; it may hold the set", p.label())
		}
		if _, ok := cfg.Member(p.Host); ok {
			return broke(1, "peer %s (listed, not usable) is in the initial config", p.label())
		}
	}
	self, _ := cfg.Member(d.Self)
	if self.Votes != 1 || self.Priority <= 0 || self.Hidden {
		return broke(6, "the initiator %s must be electable", d.Self)
	}
	for _, m := range cfg.Members {
		dm, _ := d.member(m.Host)
		if err := checkRole(m, dm.Role); err != nil {
			return err
		}
	}
	return checkLimits(*cfg, s)
}

func checkReconfig(a Action, d Desired, o Observed, now time.Time, s Settings) error {
	next := a.Config
	if next == nil || o.Config == nil {
		return broke(3, "reconfig without a current and a new config")
	}
	cur := *o.Config
	if o.Primary == "" {
		return broke(7, "no primary: a reconfig now would need force")
	}
	if !o.localIsPrimary() {
		return broke(2, "the local node is not the writable primary")
	}
	if next.Name != s.SetName || cur.Name != s.SetName {
		return broke(8, "set %q→%q, managing %q", cur.Name, next.Name, s.SetName)
	}
	if f := foreignMembers(d, *next); len(f) > 0 {
		return broke(8, "config would hold %v of another stack or service", f)
	}
	if !o.Committed {
		return broke(3, "current config version %d is not committed", cur.Version)
	}
	if next.Version != cur.Version+1 {
		return broke(3, "version %d→%d, want +1 from the version just read", cur.Version, next.Version)
	}
	if err := checkLimits(*next, s); err != nil {
		return err
	}

	curByID := map[int]ConfigMember{}
	for _, m := range cur.Members {
		curByID[m.ID] = m
	}
	nextByID := map[int]ConfigMember{}
	changed, votingChanges := 0, 0
	var added, removed []ConfigMember
	for _, m := range next.Members {
		nextByID[m.ID] = m
		old, ok := curByID[m.ID]
		if !ok {
			if prev, taken := cur.Member(m.Host); taken {
				return broke(9, "host %s moves from _id %d to _id %d", m.Host, prev.ID, m.ID)
			}
			added = append(added, m)
			changed++
			continue
		}
		if old.Host != m.Host {
			return broke(9, "_id %d host %s→%s", m.ID, old.Host, m.Host)
		}
		if old.ArbiterOnly != m.ArbiterOnly {
			return broke(11, "_id %d arbiterOnly changed", m.ID)
		}
		if !sameManaged(old, m) {
			changed++
			if (old.Votes > 0) != (m.Votes > 0) {
				votingChanges++
			}
		}
	}
	for _, m := range cur.Members {
		if _, ok := nextByID[m.ID]; !ok {
			removed = append(removed, m)
			changed++
			if m.Votes > 0 {
				votingChanges++
			}
		}
	}
	// Exactly one member changing implies at most one voting change, which is what the server
	// demands of a non-force reconfig. The one exception is a batch of additions and nothing else,
	// all without a vote: safe reconfig limits voting changes only, and newlyAdded applies to new
	// voters only, so non-voters can join together (§9).
	if changed != 1 && !nonVotingBatch(added, changed) {
		return broke(3, "%d members change (%d of them voting); exactly one per reconfig, or only additions without a vote", changed, votingChanges)
	}

	v := newView(d, o, now, s)
	for _, m := range added {
		if m.Votes != 0 || m.Priority != 0 {
			return broke(4, "new member %s joins with votes %d, priority %g", m.Host, m.Votes, m.Priority)
		}
		if p := o.Probed[m.Host]; !emptyStanding(p.Standing) && p.Standing != StandingMember {
			return broke(8, "adding %s, not known to be empty or to hold this set (probe: %q)", m.Host, p.Standing)
		}
		dm, ok := d.member(m.Host)
		if !ok {
			return broke(5, "adding %s, which metadata does not list", m.Host)
		}
		if err := checkRole(m, dm.Role); err != nil {
			return err
		}
	}
	for _, m := range removed {
		if m.Host == d.Self {
			return broke(6, "removing the primary %s", m.Host)
		}
		if _, listed := d.member(m.Host); listed {
			return broke(5, "removing %s, which metadata still lists", m.Host)
		}
		a := since(o.Memory.AbsentSince[m.Host], now)
		if a < s.RemovalGrace {
			return broke(5, "%s gone from metadata for %s, grace %s", m.Host, round(a), s.RemovalGrace)
		}
		// Gone and unreachable for the grace; or gone for twice the grace and already without a
		// vote (demote first, then remove), so that a member still running cannot take the quorum
		// with it when it stops.
		u := since(o.Memory.UnreachableSince[m.Host], now)
		switch {
		case u >= s.RemovalGrace:
		case m.Votes > 0:
			return broke(5, "%s unreachable for %s (grace %s) and still voting: it loses its vote first", m.Host, round(u), s.RemovalGrace)
		case a < 2*s.RemovalGrace:
			return broke(5, "%s still reachable and gone for %s, under twice the grace %s", m.Host, round(a), 2*s.RemovalGrace)
		}
	}
	for _, m := range next.Members {
		old, ok := curByID[m.ID]
		if !ok || sameManaged(old, m) {
			continue
		}
		if old.Votes == 0 && m.Votes > 0 {
			st, _ := o.Status.Member(m.Host)
			if st.Health <= 0 || st.State != StateSecondary {
				return broke(4, "promoting %s in state %d", m.Host, st.State)
			}
		}
		if m.Host == d.Self && (m.Votes == 0 || m.Priority <= 0 || m.Hidden) {
			return broke(6, "demoting the primary %s", m.Host)
		}
		if dm, listed := d.member(m.Host); listed {
			if err := checkRole(m, dm.Role); err != nil {
				return err
			}
		} else if m.Votes > old.Votes {
			return broke(4, "giving a vote to %s, which metadata does not list", m.Host)
		}
	}
	if votingChanges > 0 {
		up, voters := v.votersUp(*next)
		if up < voters/2+1 {
			return broke(5, "%d of %d voters would be up", up, voters)
		}
	}
	return nil
}

// nonVotingBatch reports whether a reconfig's changes are all additions of members without a vote.
func nonVotingBatch(added []ConfigMember, changed int) bool {
	if len(added) == 0 || len(added) != changed {
		return false
	}
	for _, m := range added {
		if m.Votes != 0 {
			return false
		}
	}
	return true
}

// checkRole holds a member to what its role allows (rule 10).
func checkRole(m ConfigMember, r Role) error {
	if m.Hidden != r.Hidden {
		return broke(10, "%s hidden=%t, role says %t", m.Host, m.Hidden, r.Hidden)
	}
	if m.Votes > 0 && r.NonVoting {
		return broke(10, "%s votes but its role is non-voting", m.Host)
	}
	if m.Votes > 0 && m.Priority != r.votingPriority() {
		return broke(10, "%s priority %g, role says %g", m.Host, m.Priority, r.votingPriority())
	}
	return nil
}

// checkLimits holds a config to MongoDB's own limits, so the server never has to reject it.
func checkLimits(c Config, s Settings) error {
	if len(c.Members) == 0 || len(c.Members) > maxMembers {
		return broke(11, "%d members, want 1–%d", len(c.Members), maxMembers)
	}
	ids, hosts := map[int]bool{}, map[string]bool{}
	electable := false
	for _, m := range c.Members {
		if ids[m.ID] || m.ID < 0 {
			return broke(11, "_id %d duplicate or negative", m.ID)
		}
		if hosts[m.Host] {
			return broke(11, "host %s twice", m.Host)
		}
		if err := checkAddress(m.Host); err != nil {
			return broke(11, "%v", err)
		}
		ids[m.ID], hosts[m.Host] = true, true
		if m.Votes != 0 && m.Votes != 1 {
			return broke(11, "%s has votes %d", m.Host, m.Votes)
		}
		if m.Priority < 0 || m.Priority > 1000 {
			return broke(11, "%s has priority %g", m.Host, m.Priority)
		}
		if (m.Votes == 0 || m.Hidden) && m.Priority != 0 {
			return broke(4, "%s has priority %g without a visible vote", m.Host, m.Priority)
		}
		if m.Votes > 0 && m.Priority > 0 && !m.ArbiterOnly {
			electable = true
		}
	}
	if n := c.Voters(); n == 0 || n > s.MaxVoters {
		return broke(4, "%d voters, want 1–%d", n, s.MaxVoters)
	}
	if !electable {
		return broke(11, "no electable member")
	}
	return nil
}
