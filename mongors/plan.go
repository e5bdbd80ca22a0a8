package mongors

import (
	"fmt"
	"strings"
	"time"
)

// Plan returns the one next action for the set, with its reason. It is pure: everything it needs,
// including what earlier passes saw (o.Memory), comes in as arguments, and it never does I/O.
//
// Every Initiate, Reconfig or StepDown it returns has passed the safety rules in rules.go; a
// proposal that breaks one is turned into a Wait that names the rule, so an unsafe config can
// never leave the planner.
func Plan(d Desired, o Observed, now time.Time, s Settings) Action {
	s = s.WithDefaults()
	a := plan(d, o, now, s)
	if err := checkAction(a, d, o, now, s); err != nil {
		return wait("refusing %s: %v", a, err)
	}
	return a
}

func plan(d Desired, o Observed, now time.Time, s Settings) Action {
	if p := d.problem(s); p != "" {
		return wait("desired state unusable: %s", p)
	}
	if !o.Local.Reachable() {
		return wait("local mongod %s unreachable: %s", o.Local.Addr, o.Local.Err)
	}
	lh := o.Local.Hello
	if !lh.ReplicaSetMode() {
		return wait("local mongod %s is not running with --replSet", o.Local.Addr)
	}
	if lh.SetName != "" && lh.SetName != s.SetName {
		return wait("local mongod belongs to set %q, not %q; managing nothing", lh.SetName, s.SetName)
	}
	if o.Config == nil {
		if lh.HasConfig() && o.Primary != "" {
			return wait("cannot read the config from the primary %s: %v", o.Primary, o.Errors)
		}
		if lh.HasConfig() {
			return noPrimary(o, now, s)
		}
		return planInitiate(d, o, now, s)
	}
	cfg := o.Config
	if cfg.Name != s.SetName {
		return wait("config is for set %q, not %q; managing nothing", cfg.Name, s.SetName)
	}
	if f := foreignMembers(d, *cfg); len(f) > 0 {
		return wait("config holds %v, which belong to another stack or service; managing nothing", f)
	}
	if o.Primary == "" {
		return noPrimary(o, now, s)
	}
	if !o.localIsPrimary() {
		if o.Local.Standing == StandingRemoved {
			return none("local mongod is not a member of the set (removed); the primary %s adds it back while metadata lists it", o.Primary)
		}
		return none("not the primary (%s is); observing only", o.Primary)
	}
	if lh.Me != "" && lh.Me != d.Self {
		// Its host is never edited in place (rule 9): the next primary removes the old address and
		// adds the new one.
		why := fmt.Sprintf("this primary is member %s but metadata names it %s", lh.Me, d.Self)
		if o.Status == nil || !o.Committed {
			return wait("%s; waiting for a committed config and a status before stepping down", why)
		}
		a, _ := newView(d, o, now, s).stepDown("%s", why)
		return a
	}
	if !o.Committed {
		a := wait("config version %d term %d is not majority-committed yet", cfg.Version, cfg.Term)
		a.Poll = true
		return a
	}
	if o.Status == nil {
		return wait("no replSetGetStatus from the primary")
	}
	v := newView(d, o, now, s)
	for _, step := range []func() (Action, bool){v.fixStep, v.removeStep, v.addStep, v.votesStep} {
		if a, ok := step(); ok {
			return a
		}
	}
	return v.converged()
}

// noPrimary is the wait for a configured set without a writable primary: never a forced reconfig
// (rule 7), and an alarm once it lasts beyond Settings.NoPrimaryAlarm.
func noPrimary(o Observed, now time.Time, s Settings) Action {
	gone := since(o.Memory.NoPrimarySince, now).Round(time.Millisecond)
	if gone >= s.NoPrimaryAlarm {
		a := wait("no primary for %s (alarm after %s); never forcing a reconfig: bring a majority of voting members back", gone, s.NoPrimaryAlarm)
		a.Alarm = true
		return a
	}
	// An election is expected soon (after an initiate, a step-down): poll for it, and plan again
	// when the alarm falls due.
	a := wait("no primary for %s; waiting for an election", gone)
	a.Poll, a.RecheckIn = true, s.NoPrimaryAlarm-gone
	return a
}

func foreignMembers(d Desired, cfg Config) []string {
	var out []string
	for _, f := range d.Foreign {
		if _, ok := cfg.Member(f); ok {
			out = append(out, f)
		}
	}
	return out
}

// planInitiate decides whether this agent starts the set (rule 1). The view of the service
// differs from host to host while metadata copies catch up, so the initiator is the lowest
// electable member of the whole service as listed (a container created before it, in any state,
// blocks it), the view must have settled, and every container listed must be proven empty.
func planInitiate(d Desired, o Observed, now time.Time, s Settings) Action {
	if why := o.Local.notEmpty(); why != "" {
		a := wait("local mongod %s %s; it never starts a set", o.Local.Addr, why)
		if o.Local.Standing == StandingRemoved {
			a.Reason += ": the set's primary adds it back while metadata lists it, or move its data aside to start it empty"
		}
		return a
	}
	cands := d.ordered()
	if len(cands) < s.MinMembers {
		return wait("%d members listed; initiating needs at least %d", len(cands), s.MinMembers)
	}
	initiator, ok := firstElectable(cands)
	if !ok {
		return wait("no listed member may become primary; cannot initiate")
	}
	if p, ok := earlierPeer(d, initiator); ok {
		return wait("peer %s was created before %s (order %d) and is not usable yet; the first container of the service initiates, whatever state this view shows", p.label(), initiator.Host, initiator.Order)
	}
	if d.Stale {
		return wait("metadata is stale; initiating only on a fresh view")
	}
	if len(d.Starting) > 0 {
		return wait("%s starting; initiating only once the view has settled for %s", strings.Join(d.Starting, ", "), s.InitiateSettle)
	}
	if settled := since(o.Memory.ViewSince, now); settled < s.InitiateSettle {
		a := wait("view of %d members and %d peers unchanged for %s of the %s settle period", len(cands), len(d.peers()), round(settled), s.InitiateSettle)
		a.RecheckIn = s.InitiateSettle - settled
		return a
	}
	for _, c := range cands {
		h, ok := helloOf(o, d, c.Host)
		if !ok {
			return wait("%s has not been asked yet; initiating only when every listed container is proven empty", c.Host)
		}
		if why := h.notEmpty(); why != "" {
			return wait("%s %s; initiating only when every listed container is proven empty (not starting a second set)", c.Host, why)
		}
	}
	if why := peerBlocks(d, o); why != "" {
		return wait("%s", why)
	}
	if initiator.Host != d.Self {
		return wait("%s (order %d) initiates; this agent waits", initiator.Host, initiator.Order)
	}
	cfg := initialConfig(cands, s)
	a := Action{Kind: KindInitiate, Step: StepInitiate, Member: d.Self, Config: &cfg}
	a.Reason = fmt.Sprintf("%d listed members and %d peers proven empty, view settled for %s; initiating %q with %d members, %d voting",
		len(cands), len(d.peers()), round(since(o.Memory.ViewSince, now)), s.SetName, len(cfg.Members), cfg.Voters())
	return a
}

// firstElectable is the first member by order that may become primary: the initiator.
func firstElectable(cands []Member) (Member, bool) {
	for _, c := range cands {
		if c.Role.electable() {
			return c, true
		}
	}
	return Member{}, false
}

// earlierPeer returns a peer created before the initiator: whatever its state in this view, in
// another host's copy of metadata it may be the initiator.
func earlierPeer(d Desired, initiator Member) (Peer, bool) {
	for _, p := range d.peers() {
		if p.Order < initiator.Order {
			return p, true
		}
	}
	return Peer{}, false
}

// peerBlocks says why a peer (a container of the service that is not a usable member) stops the
// initiation, or "": each must be asked and proven empty, because one we cannot see, or one
// that holds a set, may hold this set (rule 1). Only members are ever initiated.
func peerBlocks(d Desired, o Observed) string {
	for _, p := range d.peers() {
		if p.Host == "" {
			return fmt.Sprintf("peer %s listed in metadata has no address; it cannot be asked and may hold the set's config", p.label())
		}
		h, ok := peerHello(o, p.Host)
		if !ok {
			return fmt.Sprintf("peer %s listed in metadata (not usable) has not been asked yet; initiating only when every peer is proven empty", p.label())
		}
		if why := h.notEmpty(); why != "" {
			return fmt.Sprintf("peer %s listed in metadata (not usable) %s; it may hold the set's config (not starting a second set)", p.label(), why)
		}
	}
	return ""
}

// peerHello returns the hello read from the peer at addr (the local read if it is the local node).
func peerHello(o Observed, addr string) (NodeHello, bool) {
	if addr == o.Local.Addr {
		return o.Local, true
	}
	return o.peer(addr)
}

// helloOf returns the hello read for host, using the local read for Self.
func helloOf(o Observed, d Desired, host string) (NodeHello, bool) {
	if host == d.Self {
		return o.Local, true
	}
	return o.candidate(host)
}

// initialConfig lists every candidate explicitly; the first ones by order get the votes, as many
// as keep the count odd and within MaxVoters.
func initialConfig(cands []Member, s Settings) Config {
	eligible := 0
	for _, c := range cands {
		if !c.Role.NonVoting {
			eligible++
		}
	}
	voters := oddAtMost(min(eligible, s.MaxVoters))
	cfg := Config{Name: s.SetName, Version: 1}
	for i, c := range cands {
		cfg.Members = append(cfg.Members, ConfigMember{ID: i, Host: c.Host, Hidden: c.Role.Hidden, Tags: hostTags(c)})
	}
	// Electable members get the votes first so that the initiator always votes.
	for _, electableFirst := range []bool{true, false} {
		for i, c := range cands {
			if voters == 0 || c.Role.NonVoting || c.Role.electable() != electableFirst {
				continue
			}
			cfg.Members[i].Votes = 1
			cfg.Members[i].Priority = c.Role.votingPriority()
			voters--
		}
	}
	return cfg
}

// oddAtMost is the largest odd number ≤ n, or 0.
func oddAtMost(n int) int {
	if n <= 0 {
		return 0
	}
	if n%2 == 0 {
		return n - 1
	}
	return n
}

// HostTag is the member tag that records Member.HostID in the config.
const HostTag = "replsetAgentHost"

func hostTags(m Member) map[string]string {
	if m.HostID == "" {
		return nil
	}
	return map[string]string{HostTag: m.HostID}
}
