package mongors

import (
	"fmt"
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
		return planInitiate(d, o, s)
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
		return wait("config version %d term %d is not majority-committed yet", cfg.Version, cfg.Term)
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
	return wait("no primary for %s; waiting for an election", gone)
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

// planInitiate decides whether this agent starts the set (rule 1).
func planInitiate(d Desired, o Observed, s Settings) Action {
	cands := d.ordered()
	if len(cands) < s.MinMembers {
		return wait("%d members listed; initiating needs at least %d", len(cands), s.MinMembers)
	}
	var initiator *Member
	for i := range cands {
		if cands[i].Role.electable() {
			initiator = &cands[i]
			break
		}
	}
	if initiator == nil {
		return wait("no listed member may become primary; cannot initiate")
	}
	for _, c := range cands {
		h, ok := helloOf(o, d, c.Host)
		if !ok {
			return wait("%s has not been asked yet; initiating only when every listed member answers", c.Host)
		}
		if !h.Reachable() {
			return wait("%s does not answer (%s); initiating only when every listed member answers", c.Host, h.Err)
		}
		if h.Hello.HasConfig() {
			return wait("%s already belongs to set %q (config version %d); not starting a second set", c.Host, h.Hello.SetName, h.Hello.SetVersion)
		}
		if !h.Hello.ReplicaSetMode() {
			return wait("%s is not running with --replSet", c.Host)
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
	a.Reason = fmt.Sprintf("%d listed members answer without a config; initiating %q with %d members, %d voting", len(cands), s.SetName, len(cfg.Members), cfg.Voters())
	return a
}

// peerBlocks says why a peer (a mongod of the service that is not a usable member) stops the
// initiation, or "": each must answer as a --replSet node without a config, because one we cannot
// see, or one that has a config, may hold the set (rule 1). Only members are ever initiated.
func peerBlocks(d Desired, o Observed) string {
	for _, p := range d.peers() {
		h, ok := peerHello(o, p)
		switch {
		case !ok:
			return fmt.Sprintf("peer %s listed in metadata (not usable) has not been asked yet; initiating only when every peer answers without a config", p)
		case !h.Reachable():
			return fmt.Sprintf("peer %s listed in metadata (not usable) does not answer (%s); it may hold the set's config", p, h.Err)
		case h.Hello.HasConfig():
			return fmt.Sprintf("peer %s listed in metadata (not usable) already belongs to set %q (config version %d); not starting a second set", p, h.Hello.SetName, h.Hello.SetVersion)
		case !h.Hello.ReplicaSetMode():
			return fmt.Sprintf("peer %s listed in metadata (not usable) runs without --replSet; it may hold the set's config", p)
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
