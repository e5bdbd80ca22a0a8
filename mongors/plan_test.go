package mongors

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

type planCase struct {
	name   string
	d      Desired
	o      Observed
	now    time.Time
	s      Settings
	kind   ActionKind
	step   Step
	member string
	check  func(t *testing.T, a Action)
}

func runPlanCases(t *testing.T, cases []planCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			now := tc.now
			if now.IsZero() {
				now = t0
			}
			a := Plan(tc.d, probedEmpty(tc.d, tc.o), now, tc.s)
			if a.Kind != tc.kind || a.Step != tc.step || (tc.member != "" && a.Member != tc.member) {
				t.Fatalf("got %s\nwant %s/%s %s", a, tc.kind, tc.step, tc.member)
			}
			if a.Reason == "" {
				t.Errorf("action without a reason: %s", a)
			}
			if a.Kind == KindWait && strings.HasPrefix(a.Reason, "refusing") {
				t.Errorf("planner proposed something the safety check refused: %s", a.Reason)
			}
			if tc.check != nil {
				tc.check(t, a)
			}
		})
	}
}

func TestPlan_rule1Initiate(t *testing.T) {
	three := listed(1, 1, 2, 3)
	wantHosts := func(hosts ...int) func(*testing.T, Action) {
		return func(t *testing.T, a Action) {
			c := a.Config
			if c.Version != 1 || c.Name != "letschat" || len(c.Members) != len(hosts) {
				t.Fatalf("config %+v", c)
			}
			for i, h := range hosts {
				if c.Members[i].Host != host(h) || c.Members[i].ID != i {
					t.Errorf("member %d = %+v, want host %s _id %d", i, c.Members[i], host(h), i)
				}
			}
		}
	}
	runPlanCases(t, []planCase{
		{name: "one host listed", d: listed(1, 1), o: ghosts(1, listed(1, 1)), kind: KindWait},
		{name: "two hosts listed", d: listed(1, 1, 2), o: ghosts(1, listed(1, 1, 2)), kind: KindWait},
		{name: "three hosts, self lowest", d: three, o: ghosts(1, three), kind: KindInitiate, step: StepInitiate,
			check: func(t *testing.T, a Action) {
				wantHosts(1, 2, 3)(t, a)
				if a.Config.Voters() != 3 {
					t.Errorf("voters = %d, want 3", a.Config.Voters())
				}
			}},
		{name: "three hosts, self not lowest", d: listed(2, 1, 2, 3), o: ghosts(2, listed(2, 1, 2, 3)), kind: KindWait,
			check: func(t *testing.T, a Action) {
				if !strings.Contains(a.Reason, host(1)) {
					t.Errorf("reason should name the initiator: %s", a.Reason)
				}
			}},
		{name: "a peer does not answer", d: three, o: ghosts(1, three, 3), kind: KindWait},
		{name: "a peer already has a config", d: three, kind: KindWait,
			o: func() Observed {
				o := ghosts(1, three)
				o.Candidates[1].Hello = Hello{SetName: "letschat", SetVersion: 4, Primary: host(2)}
				return o
			}(),
			check: func(t *testing.T, a Action) {
				if !strings.Contains(a.Reason, "second set") {
					t.Errorf("reason: %s", a.Reason)
				}
			}},
		{name: "a peer was removed from a set", d: three, kind: KindWait,
			o: func() Observed {
				o := ghosts(1, three)
				o.Candidates[0].Hello = Hello{SetName: "letschat"}
				return o
			}()},
		{name: "a peer runs without --replSet", d: three, kind: KindWait,
			o: func() Observed {
				o := ghosts(1, three)
				o.Candidates[0].Hello = Hello{}
				return o
			}()},
		{name: "four hosts: three voters", d: listed(1, 1, 2, 3, 4), o: ghosts(1, listed(1, 1, 2, 3, 4)),
			kind: KindInitiate, step: StepInitiate,
			check: func(t *testing.T, a Action) {
				wantHosts(1, 2, 3, 4)(t, a)
				if a.Config.Voters() != 3 || a.Config.Members[3].Votes != 0 || a.Config.Members[3].Priority != 0 {
					t.Errorf("want first three voting, got %+v", a.Config.Members)
				}
			}},
		{name: "nine hosts: seven voters", d: listed(1, 1, 2, 3, 4, 5, 6, 7, 8, 9), o: ghosts(1, listed(1, 1, 2, 3, 4, 5, 6, 7, 8, 9)),
			kind: KindInitiate, step: StepInitiate,
			check: func(t *testing.T, a Action) {
				if a.Config.Voters() != 7 {
					t.Errorf("voters = %d, want 7", a.Config.Voters())
				}
			}},
		{name: "min members 1", d: listed(1, 1), o: ghosts(1, listed(1, 1)), s: Settings{MinMembers: 1},
			kind: KindInitiate, step: StepInitiate, check: wantHosts(1)},
		{name: "lowest is non-voting: next initiates", d: withRole(listed(2, 1, 2, 3), 1, Role{NonVoting: true}),
			o: ghosts(2, listed(2, 1, 2, 3)), kind: KindInitiate, step: StepInitiate,
			check: func(t *testing.T, a Action) {
				if m, _ := a.Config.Member(host(1)); m.Votes != 0 || m.Priority != 0 {
					t.Errorf("non-voting member %+v", m)
				}
				if a.Config.Voters() != 1 {
					t.Errorf("voters = %d, want 1 (two eligible, odd)", a.Config.Voters())
				}
			}},
		{name: "local hello unreadable", d: three, o: Observed{Local: NodeHello{Addr: host(1), Err: "refused"}}, kind: KindWait},
	})
}

func TestPlan_rule2OnlyPrimaryActs(t *testing.T) {
	o := onPrimary(1, config(3, []int{1, 2, 3}), nil)
	o.Local = NodeHello{Addr: host(2), Hello: Hello{SetName: "letschat", SetVersion: 3, Secondary: true, Primary: host(1), Me: host(2)}}
	runPlanCases(t, []planCase{
		{name: "secondary with a member to add", d: listed(2, 1, 2, 3, 4), o: o, kind: KindNone},
		{name: "secondary while config readable only locally", d: listed(2, 1, 2, 3, 4), kind: KindNone,
			o: func() Observed { o := o; o.Source = host(2); o.Committed = false; return o }()},
	})
}

func TestPlan_rule3OneChangePerCommittedConfig(t *testing.T) {
	cfg := config(7, []int{1, 2, 3})
	runPlanCases(t, []planCase{
		{name: "not committed yet", d: listed(1, 1, 2, 3, 4), kind: KindWait,
			o: func() Observed { o := onPrimary(1, cfg, nil); o.Committed = false; return o }()},
		{name: "two missing: both added without a vote in one reconfig, version read+1", d: listed(1, 1, 2, 3, 4, 5), o: onPrimary(1, cfg, nil),
			kind: KindReconfig, step: StepAdd, member: host(4),
			check: func(t *testing.T, a Action) {
				if a.Config.Version != 8 {
					t.Errorf("version %d, want 8", a.Config.Version)
				}
				if len(a.Config.Members) != 5 || votingDiff(cfg, *a.Config) != 0 {
					t.Errorf("members %+v, want 5 with the same voters", a.Config.Members)
				}
			}},
		{name: "two promotable: one vote at a time", d: listed(1, 1, 2, 3, 4, 5), o: onPrimary(1, config(9, []int{1, 2, 3}, 4, 5), nil),
			kind: KindReconfig, step: StepPromote, member: host(4),
			check: func(t *testing.T, a Action) {
				if n := votingDiff(*onPrimary(1, config(9, []int{1, 2, 3}, 4, 5), nil).Config, *a.Config); n != 1 {
					t.Errorf("voting changes %d", n)
				}
			}},
	})
}

func TestPlan_rule4NewMembersVoteOnceSecondary(t *testing.T) {
	runPlanCases(t, []planCase{
		{name: "added without a vote", d: listed(1, 1, 2, 3, 4), o: onPrimary(1, config(2, []int{1, 2, 3}), nil),
			kind: KindReconfig, step: StepAdd, member: host(4),
			check: func(t *testing.T, a Action) {
				m, _ := a.Config.Member(host(4))
				if m.Votes != 0 || m.Priority != 0 || m.ID != 3 {
					t.Errorf("new member %+v", m)
				}
			}},
		{name: "syncing member not promoted", d: listed(1, 1, 2, 3, 4, 5),
			o: onPrimary(1, config(2, []int{1, 2, 3}, 4, 5), map[int]int{4: StateStartup2, 5: StateStartup2}), kind: KindNone},
		{name: "odd voters, one secondary: stays non-voting", d: listed(1, 1, 2, 3, 4),
			o: onPrimary(1, config(2, []int{1, 2, 3}, 4), nil), kind: KindNone,
			check: func(t *testing.T, a Action) {
				if !a.Converged {
					t.Errorf("want converged: %s", a.Reason)
				}
			}},
		{name: "odd voters, two secondaries: promote first by order", d: listed(1, 1, 2, 3, 4, 5),
			o: onPrimary(1, config(2, []int{1, 2, 3}, 5, 4), nil), kind: KindReconfig, step: StepPromote, member: host(4)},
		{name: "even voters, one secondary: promote", d: listed(1, 1, 2, 3, 4, 5),
			o: onPrimary(1, config(2, []int{1, 2, 3, 4}, 5), nil), kind: KindReconfig, step: StepPromote, member: host(5),
			check: func(t *testing.T, a Action) {
				m, _ := a.Config.Member(host(5))
				if m.Votes != 1 || m.Priority != 1 {
					t.Errorf("promoted %+v", m)
				}
			}},
		{name: "seven voters: the rest stay non-voting", d: listed(1, 1, 2, 3, 4, 5, 6, 7, 8, 9),
			o: onPrimary(1, config(2, []int{1, 2, 3, 4, 5, 6, 7}, 8, 9), nil), kind: KindNone},
		{name: "limit of five", d: listed(1, 1, 2, 3, 4, 5, 6, 7), s: Settings{MaxVoters: 5},
			o: onPrimary(1, config(2, []int{1, 2, 3, 4, 5}, 6, 7), nil), kind: KindNone},
		{name: "eight voters: demote the latest", d: listed(1, 1, 2, 3, 4, 5, 6, 7, 8),
			o: onPrimary(1, config(2, []int{1, 2, 3, 4, 5, 6, 7, 8}), nil), kind: KindReconfig, step: StepDemote, member: host(8),
			s: Settings{MaxVoters: 7}, check: func(t *testing.T, a Action) {
				if a.Config.Voters() != 7 {
					t.Errorf("voters %d", a.Config.Voters())
				}
			}},
		{name: "even voters, one down: drop its vote", d: listed(1, 1, 2, 3, 4),
			o: onPrimary(1, config(2, []int{1, 2, 3, 4}), map[int]int{2: StateDown}), kind: KindReconfig, step: StepDemote, member: host(2)},
		{name: "even voters, all healthy, nothing to promote: odd again", d: listed(1, 1, 2, 3, 4),
			o: onPrimary(1, config(2, []int{1, 2, 3, 4}), nil), kind: KindReconfig, step: StepDemote, member: host(4)},
		{name: "even voters while a member syncs: wait for it", d: listed(1, 1, 2, 3, 4, 5),
			o: onPrimary(1, config(2, []int{1, 2, 3, 4}, 5), map[int]int{5: StateStartup2}), kind: KindNone},
	})
}

func TestPlan_rule5Removal(t *testing.T) {
	grace := DefaultRemovalGrace
	cfg := config(5, []int{1, 2, 3, 4, 5})
	d := listed(1, 1, 2, 3, 4)
	long := t0.Add(-grace - time.Second)
	short := t0.Add(-grace / 2)
	runPlanCases(t, []planCase{
		{name: "gone for less than the grace", d: d, kind: KindNone,
			o: gone(onPrimary(1, cfg, map[int]int{5: StateDown}), short, long, 5)},
		{name: "gone long but still reachable: the vote goes first", d: d, kind: KindReconfig, step: StepDemote, member: host(5),
			o: gone(onPrimary(1, cfg, nil), long, time.Time{}, 5),
			check: func(t *testing.T, a Action) {
				if m, _ := a.Config.Member(host(5)); m.Votes != 0 || m.Priority != 0 || len(a.Config.Members) != 5 {
					t.Errorf("config %+v, want %s kept without a vote", a.Config.Members, host(5))
				}
				if !strings.Contains(a.Reason, "still reachable") {
					t.Errorf("reason: %s", a.Reason)
				}
			}},
		{name: "gone, reachable, non-voting, under twice the grace: kept for now", d: d, kind: KindNone,
			o: gone(onPrimary(1, config(6, []int{1, 2, 3}, 4, 5), nil), long, time.Time{}, 5),
			check: func(t *testing.T, a Action) {
				if a.Converged || !strings.Contains(a.Reason, "twice the grace") {
					t.Errorf("reason: %s", a.Reason)
				}
				if want := 2*grace - t0.Sub(long); a.RecheckIn != want {
					t.Errorf("recheck in %s, want %s (when twice the grace is over)", a.RecheckIn, want)
				}
			}},
		{name: "gone, reachable, non-voting, twice the grace: removed", d: d, kind: KindReconfig, step: StepRemove, member: host(5),
			o: gone(onPrimary(1, config(6, []int{1, 2, 3}, 4, 5), nil), t0.Add(-2*grace), time.Time{}, 5),
			check: func(t *testing.T, a Action) {
				if _, ok := a.Config.Member(host(5)); ok {
					t.Errorf("config %+v still holds %s", a.Config.Members, host(5))
				}
			}},
		{name: "unreachable for less than the grace: the vote goes first", d: d, kind: KindReconfig, step: StepDemote, member: host(5),
			o: gone(onPrimary(1, cfg, map[int]int{5: StateDown}), long, short, 5)},
		{name: "unreachable for less than the grace, non-voting: kept", d: d, kind: KindNone,
			o: gone(onPrimary(1, config(6, []int{1, 2, 3}, 4, 5), map[int]int{5: StateDown}), long, short, 5),
			check: func(t *testing.T, a Action) {
				if want := grace - t0.Sub(short); a.RecheckIn != want {
					t.Errorf("recheck in %s, want %s (when the unreachable grace is over)", a.RecheckIn, want)
				}
			}},
		{name: "gone and unreachable past the grace", d: d, kind: KindReconfig, step: StepRemove, member: host(5),
			o: gone(onPrimary(1, cfg, map[int]int{5: StateDown}), long, long, 5),
			check: func(t *testing.T, a Action) {
				if _, ok := a.Config.Member(host(5)); ok || len(a.Config.Members) != 4 {
					t.Errorf("config %+v", a.Config.Members)
				}
			}},
		{name: "non-voter goes before voter", d: listed(1, 1, 2, 3), kind: KindReconfig, step: StepRemove, member: host(5),
			o: gone(onPrimary(1, config(5, []int{1, 2, 3, 4}, 5), map[int]int{4: StateDown, 5: StateDown}), long, long, 4, 5)},
		{name: "removal would lose the voting majority", d: listed(1, 1, 2, 3), kind: KindNone,
			o: gone(onPrimary(1, config(5, []int{1, 2, 3, 4, 5}), map[int]int{3: StateDown, 4: StateDown, 5: StateDown}), long, long, 4),
			check: func(t *testing.T, a Action) {
				if !strings.Contains(a.Reason, "voters up") {
					t.Errorf("reason: %s", a.Reason)
				}
			}},
		{name: "custom grace", d: d, kind: KindReconfig, step: StepRemove, s: Settings{RemovalGrace: time.Second},
			o: gone(onPrimary(1, cfg, map[int]int{5: StateDown}), t0.Add(-2*time.Second), t0.Add(-2*time.Second), 5)},
		{name: "stale metadata: no removal, however long", d: stale(d), kind: KindNone,
			o: gone(onPrimary(1, cfg, map[int]int{5: StateDown}), long, long, 5),
			check: func(t *testing.T, a Action) {
				if !strings.Contains(a.Reason, "stale") {
					t.Errorf("reason: %s", a.Reason)
				}
			}},
	})
}

func TestPlan_rule6NeverRemoveOrDemoteThePrimary(t *testing.T) {
	long := t0.Add(-time.Hour)
	runPlanCases(t, []planCase{
		{name: "primary's role turns non-voting", d: withRole(listed(1, 1, 2, 3), 1, Role{NonVoting: true}),
			o: onPrimary(1, config(3, []int{1, 2, 3}), nil), kind: KindStepDown, step: StepStepDown},
		{name: "primary's role turns hidden", d: withRole(listed(1, 1, 2, 3), 1, Role{Hidden: true}),
			o: onPrimary(1, config(3, []int{1, 2, 3}), nil), kind: KindStepDown, step: StepStepDown},
		{name: "primary due for removal", d: listed(1, 2, 3, 4),
			o: gone(onPrimary(1, config(3, []int{1, 2, 3}, 4), nil), long, long, 1), kind: KindStepDown, step: StepStepDown},
		{name: "no electable secondary up: wait instead of stepping down", d: withRole(listed(1, 1, 2, 3), 1, Role{Hidden: true}),
			o: onPrimary(1, config(3, []int{1, 2, 3}), map[int]int{2: StateDown, 3: StateRecovering}), kind: KindWait,
			check: func(t *testing.T, a Action) {
				if !strings.Contains(a.Reason, "not stepping down") {
					t.Errorf("reason: %s", a.Reason)
				}
			}},
		{name: "parity demotion never picks the primary", d: listed(1, 1, 2, 3, 4),
			o: onPrimary(1, config(2, []int{4, 3, 2, 1}), nil), kind: KindReconfig, step: StepDemote, member: host(4)},
	})
}

func TestPlan_rule7NeverForce(t *testing.T) {
	noPrimary := func(since time.Time) Observed {
		o := onPrimary(1, config(3, []int{1, 2, 3}), map[int]int{2: StateDown, 3: StateDown})
		o.Local.Hello.IsWritablePrimary, o.Local.Hello.Secondary, o.Local.Hello.Primary = false, true, ""
		o.Primary, o.Committed = "", false
		o.Memory.NoPrimarySince = since
		return o
	}
	runPlanCases(t, []planCase{
		{name: "no primary briefly", d: listed(1, 1, 2, 3), o: noPrimary(t0.Add(-time.Second)), kind: KindWait,
			check: func(t *testing.T, a Action) {
				if a.Alarm {
					t.Error("alarm too early")
				}
			}},
		{name: "no primary past the alarm", d: listed(1, 1, 2, 3), o: noPrimary(t0.Add(-time.Minute)), kind: KindWait,
			check: func(t *testing.T, a Action) {
				if !a.Alarm || !strings.Contains(a.Reason, "never forcing") {
					t.Errorf("want a loud wait, got %s", a)
				}
			}},
		{name: "no primary and members gone: still no reconfig", d: listed(1, 1),
			o: gone(noPrimary(t0.Add(-time.Hour)), t0.Add(-time.Hour), t0.Add(-time.Hour), 2, 3), kind: KindWait},
	})
}

func TestPlan_rule8ExactlyOneSet(t *testing.T) {
	other := config(3, []int{1, 2, 3})
	other.Name = "other"
	d := listed(1, 1, 2, 3, 4)
	runPlanCases(t, []planCase{
		{name: "config of another set", d: d, o: onPrimary(1, other, nil), kind: KindWait},
		{name: "local node in another set", d: d, kind: KindWait,
			o: func() Observed {
				o := onPrimary(1, config(3, []int{1, 2, 3}), nil)
				o.Local.Hello.SetName = "other"
				return o
			}()},
		{name: "metadata names another set", d: Desired{SetName: "other", Self: d.Self, Members: d.Members}, o: onPrimary(1, config(3, []int{1, 2, 3}), nil), kind: KindWait},
		{name: "foreign member in the config", d: Desired{Self: d.Self, Members: d.Members, Foreign: []string{host(3)}}, kind: KindWait,
			o: onPrimary(1, config(3, []int{1, 2, 3}), nil)},
		{name: "settings choose the set", d: d, o: onPrimary(1, other, nil), s: Settings{SetName: "other"}, kind: KindReconfig, step: StepAdd},
		{name: "candidate of another set blocks initiate", d: listed(1, 1, 2, 3), kind: KindWait,
			o: func() Observed {
				o := ghosts(1, listed(1, 1, 2, 3))
				o.Candidates[0].Hello = Hello{SetName: "other", SetVersion: 1}
				return o
			}()},
		{name: "duplicate member", d: Desired{Self: host(1), Members: []Member{{Host: host(1)}, {Host: host(1), Order: 2}, {Host: host(3)}}},
			o: ghosts(1, listed(1, 1, 3)), kind: KindWait},
	})
}

func TestPlan_rule9AddressChange(t *testing.T) {
	// Host "h3" moves from .3 to .13: the new address is added as a new member; the old one is
	// never edited, and leaves only through the removal rules.
	withIDs := func(self int, hosts ...int) Desired {
		d := listed(self, hosts...)
		for i := range d.Members {
			d.Members[i].HostID = "h" + strings.TrimSuffix(strings.TrimPrefix(d.Members[i].Host, "10.42.0."), ":27017")
		}
		d.Members[len(d.Members)-1].HostID = "h3"
		return d
	}
	d := withIDs(1, 1, 2, 13)
	cfg := config(4, []int{1, 2, 3})
	cfg.Members[2].Tags = map[string]string{HostTag: "h3"}
	long := t0.Add(-time.Hour)
	runPlanCases(t, []planCase{
		{name: "new address added beside the old", d: d, kind: KindReconfig, step: StepAdd, member: host(13),
			o: gone(onPrimary(1, cfg, map[int]int{3: StateDown}), t0, t0, 3),
			check: func(t *testing.T, a Action) {
				old, _ := a.Config.Member(host(3))
				if old.ID != 2 || old.Votes != 1 {
					t.Errorf("old member changed: %+v", old)
				}
				nm, _ := a.Config.Member(host(13))
				if nm.ID != 3 || nm.Votes != 0 || nm.Tags[HostTag] != "h3" {
					t.Errorf("new member %+v", nm)
				}
				if !strings.Contains(a.Reason, "was "+host(3)) {
					t.Errorf("reason: %s", a.Reason)
				}
			}},
		{name: "old address removed after the grace", d: d, kind: KindReconfig, step: StepRemove, member: host(3),
			o: func() Observed {
				c := cfg.Clone()
				c.Members = append(c.Members, ConfigMember{ID: 3, Host: host(13), Tags: map[string]string{HostTag: "h3"}})
				return gone(onPrimary(1, c, map[int]int{3: StateDown}), long, long, 3)
			}(),
			check: func(t *testing.T, a Action) {
				if !strings.Contains(a.Reason, "moved to "+host(13)) {
					t.Errorf("reason: %s", a.Reason)
				}
			}},
	})
}

func TestPlan_rule10Roles(t *testing.T) {
	cfg := config(3, []int{1, 2, 3}, 4)
	runPlanCases(t, []planCase{
		{name: "priority label applied", d: withRole(listed(1, 1, 2, 3, 4), 2, Role{Priority: 5}), o: onPrimary(1, cfg, nil),
			kind: KindReconfig, step: StepFix, member: host(2),
			check: func(t *testing.T, a Action) {
				if m, _ := a.Config.Member(host(2)); m.Priority != 5 || m.Votes != 1 {
					t.Errorf("member %+v", m)
				}
			}},
		{name: "hidden label applied with priority 0", d: withRole(listed(1, 1, 2, 3, 4), 3, Role{Hidden: true}), o: onPrimary(1, cfg, nil),
			kind: KindReconfig, step: StepFix, member: host(3),
			check: func(t *testing.T, a Action) {
				if m, _ := a.Config.Member(host(3)); !m.Hidden || m.Priority != 0 || m.Votes != 1 {
					t.Errorf("member %+v", m)
				}
			}},
		{name: "non-voting voter demoted", d: withRole(listed(1, 1, 2, 3, 4), 3, Role{NonVoting: true}), o: onPrimary(1, cfg, nil),
			kind: KindReconfig, step: StepDemote, member: host(3)},
		{name: "non-voting member never promoted", d: withRole(withRole(listed(1, 1, 2, 3, 4, 5), 4, Role{NonVoting: true}), 5, Role{NonVoting: true}),
			o: onPrimary(1, config(3, []int{1, 2, 3}, 4, 5), nil), kind: KindNone},
		{name: "new hidden member joins hidden", d: withRole(listed(1, 1, 2, 3, 4, 5), 5, Role{Hidden: true}), o: onPrimary(1, cfg, nil),
			kind: KindReconfig, step: StepAdd, member: host(5),
			check: func(t *testing.T, a Action) {
				if m, _ := a.Config.Member(host(5)); !m.Hidden || m.Priority != 0 || m.Votes != 0 {
					t.Errorf("member %+v", m)
				}
			}},
	})
}

func TestPlan_memberIDs(t *testing.T) {
	high := config(3, []int{1, 2, 3})
	high.Members[2].ID = 255
	runPlanCases(t, []planCase{
		{name: "max plus one", d: listed(1, 1, 2, 3, 4), o: onPrimary(1, config(3, []int{1, 2, 3}), nil), kind: KindReconfig, step: StepAdd,
			check: func(t *testing.T, a Action) {
				if m, _ := a.Config.Member(host(4)); m.ID != 3 {
					t.Errorf("_id %d", m.ID)
				}
			}},
		{name: "past 255: lowest free", d: listed(1, 1, 2, 3, 4), o: onPrimary(1, high, nil), kind: KindReconfig, step: StepAdd,
			check: func(t *testing.T, a Action) {
				if m, _ := a.Config.Member(host(4)); m.ID != 2 {
					t.Errorf("_id %d", m.ID)
				}
			}},
	})
}

func TestPlan_stepOrder(t *testing.T) {
	// A role fix, a removal, an addition and a promotion are all due: they happen in that order,
	// one per pass.
	long := t0.Add(-time.Hour)
	d := withRole(listed(1, 1, 2, 3, 5, 6), 2, Role{Priority: 2})
	cfg := config(3, []int{1, 2, 3}, 4, 5, 6)
	o := gone(onPrimary(1, cfg, map[int]int{4: StateDown}), long, long, 4)
	var steps []Step
	for range 6 {
		a := Plan(d, probedEmpty(d, o), t0, Settings{})
		if !a.Acts() {
			break
		}
		steps = append(steps, a.Step)
		o.Config = a.Config
		st := *o.Status
		st.Members = nil
		for _, m := range a.Config.Members {
			ms := MemberStatus{ID: m.ID, Name: m.Host, Health: 1, State: StateSecondary}
			if m.Host == host(4) {
				ms.Health, ms.State = 0, StateDown
			}
			st.Members = append(st.Members, ms)
		}
		o.Status = &st
	}
	want := []Step{StepFix, StepRemove, StepPromote, StepPromote}
	if strings.Join(stepNames(steps), ",") != strings.Join(stepNames(want), ",") {
		t.Fatalf("steps %v, want %v", steps, want)
	}
}

func stepNames(s []Step) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = string(x)
	}
	return out
}

// withPeers lists peers (hosts of the service that are not usable members) in d and records their
// hellos in o: each answers without a config unless changed by the caller.
func withPeers(d Desired, o Observed, peers ...int) (Desired, Observed) {
	for _, p := range peers {
		d.Peers = append(d.Peers, Peer{Host: host(p), Order: p, Name: fmt.Sprintf("mongo-%d", p), State: "stopped"})
		o.Peers = append(o.Peers, empty(host(p)))
	}
	return d, o
}

// TestPlan_rule1Peers covers the hosts metadata lists but does not count as usable: they are
// never initiated, and any of them that has a config or does not answer blocks initiation (the
// host-replacement scenario where the old members still hold the set).
func TestPlan_rule1Peers(t *testing.T) {
	three := listed(1, 1, 2, 3)
	peersOf := func(self int, d Desired, change func(o *Observed), peers ...int) (Desired, Observed) {
		d, o := withPeers(d, ghosts(self, d), peers...)
		if change != nil {
			change(&o)
		}
		return d, o
	}
	reasonHas := func(parts ...string) func(*testing.T, Action) {
		return func(t *testing.T, a Action) {
			for _, p := range parts {
				if !strings.Contains(a.Reason, p) {
					t.Errorf("reason %q lacks %q", a.Reason, p)
				}
			}
		}
	}
	hasCfg := func(o *Observed) {
		o.Peers[1].Hello = Hello{SetName: "letschat", SetVersion: 7, Secondary: true, Me: host(8)}
	}
	down := func(o *Observed) { o.Peers[1] = NodeHello{Addr: host(8), Err: "connection refused"} }
	var cases []planCase
	add := func(name string, d Desired, o Observed, s Settings, kind ActionKind, step Step, check func(*testing.T, Action)) {
		cases = append(cases, planCase{name: name, d: d, o: o, s: s, kind: kind, step: step, check: check})
	}
	d, o := peersOf(1, three, hasCfg, 7, 8)
	add("peer with a config blocks the initiator", d, o, Settings{}, KindWait, "", reasonHas(host(8), "second set"))
	d, o = peersOf(2, listed(2, 1, 2, 3), hasCfg, 7, 8)
	add("peer with a config named to the other agents too", d, o, Settings{}, KindWait, "", reasonHas(host(8), "second set"))
	d, o = peersOf(1, three, down, 7, 8)
	add("unreachable peer blocks", d, o, Settings{}, KindWait, "", reasonHas(host(8), "does not answer", "may hold the set's config"))
	d, o = peersOf(1, three, func(o *Observed) { o.Peers = o.Peers[:1] }, 7, 8)
	add("peer not asked blocks", d, o, Settings{}, KindWait, "", reasonHas(host(8), "not been asked"))
	d, o = peersOf(1, three, func(o *Observed) { o.Peers[0].Hello = Hello{} }, 7, 8)
	add("peer without --replSet blocks", d, o, Settings{}, KindWait, "", reasonHas(host(7), "--replSet"))
	d, o = peersOf(1, three, func(o *Observed) { o.Peers[0].Hello = Hello{SetName: "letschat"} }, 7, 8)
	add("peer removed from a set blocks", d, o, Settings{}, KindWait, "", reasonHas(host(7)))
	d, o = peersOf(1, listed(1, 1), hasCfg, 7, 8)
	add("min members 1: a wiped node alone does not start a second set", d, o, Settings{MinMembers: 1}, KindWait, "", reasonHas(host(8), "second set"))
	d, o = peersOf(1, three, nil, 7, 8)
	add("peers all config-less and reachable: initiate with members only", d, o, Settings{}, KindInitiate, StepInitiate,
		func(t *testing.T, a Action) {
			if len(a.Config.Members) != 3 {
				t.Fatalf("config %+v, want the three members only", a.Config.Members)
			}
			for i, m := range a.Config.Members {
				if m.Host != host(i+1) {
					t.Errorf("member %d = %s, want %s", i, m.Host, host(i+1))
				}
			}
		})
	d, o = peersOf(1, three, nil)
	d.Peers = []Peer{{Host: host(2), Order: 2}, {Host: host(1), Order: 1}} // a member and Self listed as peers too: asked as such already
	add("peer duplicating a member or self is skipped", d, o, Settings{}, KindInitiate, StepInitiate, nil)
	d, o = peersOf(1, three, nil, 7)
	d.Peers = append(d.Peers, Peer{Host: "not-an-address", Order: 9})
	add("invalid peer address", d, o, Settings{}, KindWait, "", reasonHas("peer address"))
	d, o = peersOf(1, three, nil, 7)
	d.Foreign = []string{host(7)}
	add("peer also foreign", d, o, Settings{}, KindWait, "", reasonHas(host(7), "another stack"))
	runPlanCases(t, cases)
}

func stale(d Desired) Desired {
	d.Stale = true
	return d
}
