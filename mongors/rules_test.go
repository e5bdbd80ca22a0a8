package mongors

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestCheckReconfig feeds the safety gate proposals that each break one rule, as a buggy step
// would; every one must be refused with that rule's number, and the unbroken proposal accepted.
func TestCheckReconfig(t *testing.T) {
	long := t0.Add(-time.Hour)
	base := func() (Desired, Observed, Config) {
		d := listed(1, 1, 2, 3, 4, 5)
		o := gone(onPrimary(1, config(10, []int{1, 2, 3}, 4, 5, 6), map[int]int{6: StateDown}), long, long, 6)
		next := o.Config.Clone()
		next.Version = 11
		return d, o, next
	}
	edit := func(c *Config, h int, f func(*ConfigMember)) {
		for i := range c.Members {
			if c.Members[i].Host == host(h) {
				f(&c.Members[i])
			}
		}
	}
	promote := func(h int) func(*Config) {
		return func(c *Config) { edit(c, h, func(m *ConfigMember) { m.Votes, m.Priority = 1, 1 }) }
	}
	cases := []struct {
		name   string
		change func(d *Desired, o *Observed, next *Config)
		rule   int // 0: accepted
	}{
		{"valid promotion", func(_ *Desired, _ *Observed, n *Config) { promote(4)(n) }, 0},
		{"valid addition", func(d *Desired, _ *Observed, n *Config) {
			d.Members = append(d.Members, Member{Host: host(7), Order: 7})
			n.Members = append(n.Members, ConfigMember{ID: 6, Host: host(7)})
		}, 0},
		{"valid removal", func(_ *Desired, _ *Observed, n *Config) { n.Members = n.Members[:5] }, 0},
		{"local is a secondary", func(_ *Desired, o *Observed, n *Config) {
			promote(4)(n)
			o.Local.Hello.IsWritablePrimary = false
		}, 2},
		{"config read from a secondary", func(_ *Desired, o *Observed, n *Config) { promote(4)(n); o.Source = host(2) }, 2},
		{"no primary at all", func(_ *Desired, o *Observed, n *Config) { promote(4)(n); o.Primary = "" }, 7},
		{"forced-style version jump", func(_ *Desired, _ *Observed, n *Config) { promote(4)(n); n.Version += 10000 }, 3},
		{"version not bumped", func(_ *Desired, _ *Observed, n *Config) { promote(4)(n); n.Version = 10 }, 3},
		{"current config not committed", func(_ *Desired, o *Observed, n *Config) { promote(4)(n); o.Committed = false }, 3},
		{"two voting changes", func(_ *Desired, _ *Observed, n *Config) { promote(4)(n); promote(5)(n) }, 3},
		{"addition of a member that did not answer", func(d *Desired, o *Observed, n *Config) {
			d.Members = append(d.Members, Member{Host: host(7), Order: 7})
			n.Members = append(n.Members, ConfigMember{ID: 6, Host: host(7)})
			o.Probed = map[string]Probe{host(7): {Standing: StandingUnknown, Reason: "connection refused"}}
		}, 8},
		{"addition of a member of another set", func(d *Desired, o *Observed, n *Config) {
			d.Members = append(d.Members, Member{Host: host(7), Order: 7})
			n.Members = append(n.Members, ConfigMember{ID: 6, Host: host(7)})
			o.Probed = map[string]Probe{host(7): {Standing: StandingForeign}}
		}, 8},
		{"addition of a member that refuses the admin login and names no set", func(d *Desired, o *Observed, n *Config) {
			d.Members = append(d.Members, Member{Host: host(7), Order: 7})
			n.Members = append(n.Members, ConfigMember{ID: 6, Host: host(7)})
			o.Probed = map[string]Probe{host(7): {Standing: StandingNoUsers}}
		}, 0},
		{"addition of a member removed from this set", func(d *Desired, o *Observed, n *Config) {
			d.Members = append(d.Members, Member{Host: host(7), Order: 7})
			n.Members = append(n.Members, ConfigMember{ID: 6, Host: host(7)})
			o.Probed = map[string]Probe{host(7): {Standing: StandingMember}}
		}, 0},
		{"batch of additions without a vote", func(d *Desired, _ *Observed, n *Config) {
			d.Members = append(d.Members, Member{Host: host(7), Order: 7}, Member{Host: host(8), Order: 8})
			n.Members = append(n.Members, ConfigMember{ID: 6, Host: host(7)}, ConfigMember{ID: 7, Host: host(8)})
		}, 0},
		{"batch of additions, one with a vote", func(d *Desired, _ *Observed, n *Config) {
			d.Members = append(d.Members, Member{Host: host(7), Order: 7}, Member{Host: host(8), Order: 8})
			n.Members = append(n.Members, ConfigMember{ID: 6, Host: host(7)}, ConfigMember{ID: 7, Host: host(8), Votes: 1, Priority: 1})
		}, 3},
		{"an addition and a promotion", func(d *Desired, _ *Observed, n *Config) {
			d.Members = append(d.Members, Member{Host: host(7), Order: 7})
			n.Members = append(n.Members, ConfigMember{ID: 6, Host: host(7)})
			promote(4)(n)
		}, 3},
		{"an addition and a removal", func(d *Desired, _ *Observed, n *Config) {
			d.Members = append(d.Members, Member{Host: host(7), Order: 7})
			n.Members = append(n.Members[:5], ConfigMember{ID: 6, Host: host(7)})
		}, 3},
		{"two promotions' worth of role fixes", func(d *Desired, _ *Observed, n *Config) {
			*d = withRole(withRole(*d, 2, Role{Priority: 2}), 3, Role{Priority: 3})
			edit(n, 2, func(m *ConfigMember) { m.Priority = 2 })
			edit(n, 3, func(m *ConfigMember) { m.Priority = 3 })
		}, 3},
		{"new member with a vote", func(d *Desired, _ *Observed, n *Config) {
			d.Members = append(d.Members, Member{Host: host(7), Order: 7})
			n.Members = append(n.Members, ConfigMember{ID: 6, Host: host(7), Votes: 1, Priority: 1})
		}, 4},
		{"promotion of a syncing member", func(_ *Desired, o *Observed, n *Config) {
			promote(4)(n)
			o.Status.Members[3].State = StateStartup2
		}, 4},
		{"eight voters", func(d *Desired, o *Observed, n *Config) {
			c := config(10, []int{1, 2, 3, 4, 5, 6, 7}, 8)
			*o = onPrimary(1, c, nil)
			*d = listed(1, 1, 2, 3, 4, 5, 6, 7, 8)
			*n = c.Clone()
			n.Version = 11
			promote(8)(n)
		}, 4},
		{"non-voter with priority", func(_ *Desired, _ *Observed, n *Config) {
			edit(n, 4, func(m *ConfigMember) { m.Priority = 1 })
		}, 4},
		{"removal of a listed member", func(_ *Desired, o *Observed, n *Config) {
			n.Members = append(n.Members[:4], n.Members[5:]...)
			o.Status.Members[4].Health, o.Status.Members[4].State = 0, StateDown
		}, 5},
		{"removal inside the absence grace", func(_ *Desired, o *Observed, n *Config) {
			n.Members = n.Members[:5]
			o.Memory.AbsentSince[host(6)] = t0.Add(-time.Second)
		}, 5},
		{"removal inside the unreachable grace, gone under twice the grace", func(_ *Desired, o *Observed, n *Config) {
			n.Members = n.Members[:5]
			o.Memory.UnreachableSince[host(6)] = t0.Add(-time.Second)
			o.Memory.AbsentSince[host(6)] = t0.Add(-DefaultRemovalGrace * 3 / 2)
		}, 5},
		{"removal of a reachable member gone under twice the grace", func(_ *Desired, o *Observed, n *Config) {
			n.Members = n.Members[:5]
			delete(o.Memory.UnreachableSince, host(6))
			o.Memory.AbsentSince[host(6)] = t0.Add(-DefaultRemovalGrace * 3 / 2)
		}, 5},
		{"removal of a reachable non-voter gone twice the grace", func(_ *Desired, o *Observed, n *Config) {
			n.Members = n.Members[:5]
			delete(o.Memory.UnreachableSince, host(6))
		}, 0},
		{"removal of a reachable voter gone twice the grace", func(d *Desired, o *Observed, n *Config) {
			d.Members = d.Members[:4] // host 5 leaves metadata too
			edit(o.Config, 5, func(m *ConfigMember) { m.Votes, m.Priority = 1, 1 })
			*n = o.Config.Clone()
			n.Version = 11
			n.Members = append(n.Members[:4], n.Members[5])
			o.Memory.AbsentSince[host(5)] = long
		}, 5},
		{"demotion of a gone, reachable voter", func(d *Desired, o *Observed, n *Config) {
			d.Members = d.Members[:4]
			edit(o.Config, 5, func(m *ConfigMember) { m.Votes, m.Priority = 1, 1 })
			*n = o.Config.Clone()
			n.Version = 11
			edit(n, 5, func(m *ConfigMember) { m.Votes, m.Priority = 0, 0 })
			o.Memory.AbsentSince[host(5)] = long
		}, 0},
		{"removal losing the majority", func(d *Desired, o *Observed, n *Config) {
			c := config(10, []int{1, 2, 3, 4, 5})
			*d = listed(1, 1, 2, 3, 4)
			*o = gone(onPrimary(1, c, map[int]int{4: StateDown, 5: StateDown}), long, long, 5)
			*n = c.Clone()
			n.Version = 11
			n.Members = n.Members[:4]
			o.Status.Members[2].Health, o.Status.Members[2].State = 0, StateDown
		}, 5},
		{"removal of the primary", func(d *Desired, o *Observed, n *Config) {
			d.Members = d.Members[1:]
			o.Memory.AbsentSince[host(1)], o.Memory.UnreachableSince[host(1)] = long, long
			n.Members = n.Members[1:]
		}, 6},
		{"demotion of the primary", func(_ *Desired, _ *Observed, n *Config) {
			edit(n, 1, func(m *ConfigMember) { m.Votes, m.Priority = 0, 0 })
		}, 6},
		{"primary made hidden", func(d *Desired, _ *Observed, n *Config) {
			*d = withRole(*d, 1, Role{Hidden: true})
			edit(n, 1, func(m *ConfigMember) { m.Hidden, m.Priority = true, 0 })
		}, 6},
		{"set renamed", func(_ *Desired, _ *Observed, n *Config) { promote(4)(n); n.Name = "other" }, 8},
		{"foreign host in the config", func(d *Desired, _ *Observed, n *Config) {
			d.Foreign = []string{host(9)}
			n.Members = append(n.Members, ConfigMember{ID: 6, Host: host(9)})
		}, 8},
		{"voter's host edited in place", func(d *Desired, _ *Observed, n *Config) {
			edit(n, 3, func(m *ConfigMember) { m.Host = host(13) })
		}, 9},
		{"host re-keyed to a new _id", func(_ *Desired, _ *Observed, n *Config) {
			edit(n, 5, func(m *ConfigMember) { m.ID = 40 })
		}, 9},
		{"non-voting role gets a vote", func(d *Desired, _ *Observed, n *Config) {
			*d = withRole(*d, 4, Role{NonVoting: true})
			promote(4)(n)
		}, 10},
		{"hidden role ignored on promotion", func(d *Desired, o *Observed, n *Config) {
			*d = withRole(*d, 4, Role{Hidden: true})
			promote(4)(n)
		}, 10},
		{"duplicate _id", func(d *Desired, _ *Observed, n *Config) {
			d.Members = append(d.Members, Member{Host: host(7), Order: 7})
			n.Members = append(n.Members, ConfigMember{ID: 1, Host: host(7)})
		}, 11},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, o, next := base()
			tc.change(&d, &o, &next)
			err := checkAction(Action{Kind: KindReconfig, Config: &next}, d, probedEmpty(d, o), t0, Settings{}.WithDefaults())
			assertRule(t, err, tc.rule)
		})
	}
}

func TestCheckInitiate(t *testing.T) {
	s := Settings{}.WithDefaults()
	valid := func() (Desired, Observed, Config) {
		d := listed(1, 1, 2, 3)
		return d, ghosts(1, d), initialConfig(d.ordered(), s)
	}
	cases := []struct {
		name   string
		change func(d *Desired, o *Observed, c *Config)
		rule   int
	}{
		{"valid", func(*Desired, *Observed, *Config) {}, 0},
		{"config already there", func(_ *Desired, o *Observed, _ *Config) {
			o.Local.Hello.SetVersion = 1
			o.Local.Hello.SetName = "letschat"
		}, 1},
		{"peer has a config", func(_ *Desired, o *Observed, _ *Config) { o.Candidates[0].Hello.SetVersion = 3 }, 1},
		{"peer unreachable", func(_ *Desired, o *Observed, _ *Config) { o.Candidates[1].Err = "refused" }, 1},
		{"listed peer has a config", func(d *Desired, o *Observed, _ *Config) {
			*d, *o = withPeers(*d, *o, 7, 8)
			o.Peers[1].Hello = Hello{SetName: "letschat", SetVersion: 3, Primary: host(7)}
		}, 1},
		{"listed peer unreachable", func(d *Desired, o *Observed, _ *Config) {
			*d, *o = withPeers(*d, *o, 7)
			o.Peers[0].Err = "refused"
		}, 1},
		{"listed peer not asked", func(d *Desired, _ *Observed, _ *Config) { d.Peers = []Peer{{Host: host(7), Order: 7}} }, 1},
		{"listed peers without a config", func(d *Desired, o *Observed, _ *Config) { *d, *o = withPeers(*d, *o, 7, 8) }, 0},
		{"candidate removed from a set", func(_ *Desired, o *Observed, _ *Config) { o.Candidates[0] = removed(host(2)) }, 1},
		{"local node removed from a set", func(_ *Desired, o *Observed, _ *Config) { o.Local = removed(host(1)) }, 1},
		{"candidate of unknown standing", func(_ *Desired, o *Observed, _ *Config) { o.Candidates[1].Standing = StandingUnknown }, 1},
		{"candidate not checked", func(_ *Desired, o *Observed, _ *Config) { o.Candidates[1].Standing = StandingUnchecked }, 1},
		{"candidates without users (access control)", func(_ *Desired, o *Observed, _ *Config) {
			o.Candidates[0].Standing, o.Candidates[1].Standing = StandingNoUsers, StandingNoUsers
		}, 0},
		{"listed peer without users (access control)", func(d *Desired, o *Observed, _ *Config) {
			*d, *o = withPeers(*d, *o, 7)
			o.Peers[0].Standing = StandingNoUsers
		}, 0},
		{"candidate without users but with a config", func(_ *Desired, o *Observed, _ *Config) {
			o.Candidates[0].Standing = StandingNoUsers
			o.Candidates[0].Hello = Hello{SetName: "letschat", SetVersion: 2}
		}, 1},
		{"local node is never taken as empty without its 94", func(_ *Desired, o *Observed, _ *Config) { o.Local.Standing = StandingNoUsers }, 1},
		{"listed peer removed from a set", func(d *Desired, o *Observed, _ *Config) {
			*d, *o = withPeers(*d, *o, 7)
			o.Peers[0] = removed(host(7))
		}, 1},
		{"peer created before the initiator", func(d *Desired, o *Observed, _ *Config) {
			*d, *o = withPeers(*d, *o, 7)
			d.Peers[0].Order = 0
		}, 1},
		{"peer without an address", func(d *Desired, _ *Observed, _ *Config) { d.Peers = []Peer{{Order: 9, Name: "mongo-9"}} }, 1},
		{"view not settled", func(_ *Desired, o *Observed, _ *Config) { o.Memory.ViewSince = t0.Add(-time.Second) }, 1},
		{"a container starting", func(d *Desired, _ *Observed, _ *Config) { d.Starting = []string{"mongo-4"} }, 1},
		{"stale metadata", func(d *Desired, _ *Observed, _ *Config) { d.Stale = true }, 1},
		{"too few", func(d *Desired, o *Observed, c *Config) {
			d.Members = d.Members[:2]
			c.Members = c.Members[:2]
		}, 1},
		{"not the initiator", func(d *Desired, o *Observed, _ *Config) {
			d.Self = host(2)
			*o = ghosts(2, *d)
		}, 1},
		{"candidate left out", func(_ *Desired, _ *Observed, c *Config) { c.Members[2].Host = host(9) }, 1},
		{"version not 1", func(_ *Desired, _ *Observed, c *Config) { c.Version = 2 }, 1},
		{"wrong set name", func(_ *Desired, _ *Observed, c *Config) { c.Name = "other" }, 8},
		{"initiator unelectable", func(_ *Desired, _ *Observed, c *Config) { c.Members[0].Votes, c.Members[0].Priority = 0, 0 }, 6},
		{"hidden role ignored", func(d *Desired, _ *Observed, _ *Config) { *d = withRole(*d, 3, Role{Hidden: true}) }, 10},
		{"duplicate _id", func(_ *Desired, _ *Observed, c *Config) { c.Members[2].ID = 1 }, 11},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, o, c := valid()
			tc.change(&d, &o, &c)
			assertRule(t, checkAction(Action{Kind: KindInitiate, Config: &c}, d, o, t0, s), tc.rule)
		})
	}
}

func TestCheckStepDownAndWait(t *testing.T) {
	o := onPrimary(1, config(3, []int{1, 2, 3}), nil)
	sec := o
	sec.Local.Hello.IsWritablePrimary = false
	s := Settings{}.WithDefaults()
	assertRule(t, checkAction(Action{Kind: KindStepDown}, listed(1, 1, 2, 3), o, t0, s), 0)
	assertRule(t, checkAction(Action{Kind: KindStepDown}, listed(1, 1, 2, 3), sec, t0, s), 2)
	c := config(4, []int{1})
	assertRule(t, checkAction(Action{Kind: KindWait, Config: &c}, listed(1, 1, 2, 3), o, t0, s), 7)
	assertRule(t, checkAction(Action{Kind: "force"}, listed(1, 1, 2, 3), o, t0, s), 7)
}

// TestPlan_refusesUnsafeProposal shows that the gate sits on Plan's only exit: an observed config
// that already breaks MongoDB's limits (a member with two votes, as a hand edit could leave)
// makes the proposal built on it fail the gate, and Plan returns a Wait naming the rule.
func TestPlan_refusesUnsafeProposal(t *testing.T) {
	d := listed(1, 1, 2, 3, 4, 5)
	o := onPrimary(1, config(3, []int{1, 2, 3}, 4, 5), nil)
	if a := Plan(d, o, t0, Settings{}); a.Kind != KindReconfig {
		t.Fatalf("want a reconfig from the sound config, got %s", a)
	}
	c := o.Config.Clone()
	c.Members[1].Votes = 2
	o.Config = &c
	a := Plan(d, o, t0, Settings{})
	if a.Kind != KindWait || !strings.Contains(a.Reason, "rule 11") {
		t.Fatalf("want the gate to refuse with rule 11, got %s", a)
	}
}

func assertRule(t *testing.T, err error, rule int) {
	t.Helper()
	if rule == 0 {
		if err != nil {
			t.Fatalf("want accepted, got %v", err)
		}
		return
	}
	var re *RuleError
	if !errors.As(err, &re) {
		t.Fatalf("want rule %d broken, got %v", rule, err)
	}
	if re.Rule != rule {
		t.Fatalf("want rule %d, got %v", rule, err)
	}
}

// TestStandingUnderAccessControl is the rule that lets a set with access control be initiated and
// grown: a node other than the local one that refuses the admin login and whose hello names no
// set holds no users, hence none of this set's data (every member holds the set's admin user), and
// counts as empty; one that accepts the login is read as without access control (94 empty, 93
// removed); every other failure blocks as unknown. The local node is read through the localhost
// exception, so a refused login there never counts as empty.
func TestStandingUnderAccessControl(t *testing.T) {
	refused := &LoginRefusedError{Op: "replSetGetStatus", Addr: host(2)}
	unauthorized := &CommandError{Op: "replSetGetStatus", Addr: host(2), Code: 13, Name: "Unauthorized", Message: "command replSetGetStatus requires authentication"}
	authFailed := &CommandError{Op: "replSetGetStatus", Addr: host(1), Code: 18, Name: "AuthenticationFailed", Message: "Authentication failed."}
	statusCases := []struct {
		name  string
		err   error
		local bool
		want  Standing
	}{
		{"answered", nil, false, StandingMember},
		{"94 after a login", &CommandError{Code: 94}, false, StandingEmpty},
		{"93 after a login", &CommandError{Code: 93}, false, StandingRemoved},
		{"remote refuses the admin login", refused, false, StandingNoUsers},
		{"local refusal is never empty", refused, true, StandingUnknown},
		{"local AuthenticationFailed", authFailed, true, StandingUnknown},
		{"remote AuthenticationFailed from the server is no refusal the client handled", authFailed, false, StandingUnknown},
		{"unauthorized without a login", unauthorized, false, StandingUnknown},
		{"no answer", &UnreachableError{Op: "replSetGetStatus", Addr: host(2), Detail: "i/o timeout"}, false, StandingUnknown},
	}
	for _, tc := range statusCases {
		t.Run("status/"+tc.name, func(t *testing.T) {
			got, reason := standingFromStatus(tc.err, tc.local)
			if got != tc.want {
				t.Fatalf("standing %q, want %q", got, tc.want)
			}
			if (got == StandingUnknown) != (reason != "") {
				t.Errorf("reason %q for standing %q", reason, got)
			}
		})
	}
	cfgRefused := &LoginRefusedError{Op: "replSetGetConfig", Addr: host(7)}
	probeCases := []struct {
		name     string
		err      error
		hello    Hello
		helloErr error
		want     Standing
		reason   string
	}{
		{"94", &CommandError{Code: 94}, Hello{}, nil, StandingEmpty, ""},
		{"refused, no set", cfgRefused, Hello{IsReplicaSet: true}, nil, StandingNoUsers, ""},
		{"refused, a set of its own", cfgRefused, Hello{SetName: "letschat", SetVersion: 4}, nil, StandingUnknown, `belongs to set "letschat"`},
		{"refused, no --replSet", cfgRefused, Hello{}, nil, StandingUnknown, "without --replSet"},
		{"refused, no hello", cfgRefused, Hello{}, errors.New("hello on x: unreachable"), StandingUnknown, "unreachable"},
		{"unauthorized", &CommandError{Code: 13, Name: "Unauthorized", Message: "requires authentication"}, Hello{}, nil, StandingUnknown, "requires authentication"},
	}
	for _, tc := range probeCases {
		t.Run("probe/"+tc.name, func(t *testing.T) {
			got, reason := probeStanding(tc.err, tc.hello, tc.helloErr)
			if got != tc.want || !strings.Contains(reason, tc.reason) {
				t.Fatalf("standing %q (%q), want %q (%q)", got, reason, tc.want, tc.reason)
			}
		})
	}
	// The planner initiates over candidates without users, and adds such a node.
	three := listed(1, 1, 2, 3)
	o := ghosts(1, three)
	for i := range o.Candidates {
		o.Candidates[i].Standing = StandingNoUsers
	}
	if a := Plan(three, o, t0, Settings{}); a.Kind != KindInitiate {
		t.Errorf("candidates without users: want an initiate, got %s", a)
	}
	o.Candidates[1].Standing, o.Candidates[1].StandingReason = StandingUnknown, unauthorized.Error()
	if a := Plan(three, o, t0, Settings{}); a.Kind != KindWait || !strings.Contains(a.Reason, "requires authentication") {
		t.Errorf("a candidate of unknown standing: want a wait naming it, got %s", a)
	}
}
