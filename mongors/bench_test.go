package mongors_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/replset-agent/replset-agent/mongors"
)

// BenchmarkPlan50 plans one pass for a 50-member set (7 voting) with one member to add, one to
// remove after its grace, and promotions pending: the worst case the planner meets.
func BenchmarkPlan50(b *testing.B) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var d mongors.Desired
	cfg := mongors.Config{Name: "letschat", Version: 40, Term: 2}
	st := mongors.ReplStatus{Set: "letschat", MyState: mongors.StatePrimary}
	for i := range 50 {
		h := fmt.Sprintf("10.42.%d.%d:27017", i/200, i%200+1)
		if i > 0 {
			d.Members = append(d.Members, mongors.Member{Host: h, Order: i})
		}
		m := mongors.ConfigMember{ID: i, Host: h}
		if i < 7 {
			m.Votes, m.Priority = 1, 1
		}
		cfg.Members = append(cfg.Members, m)
		st.Members = append(st.Members, mongors.MemberStatus{ID: i, Name: h, Health: 1, State: mongors.StateSecondary})
	}
	d.Self = cfg.Members[1].Host
	d.Members = append(d.Members, mongors.Member{Host: "10.42.9.9:27017", Order: 99})
	st.Members[1].State, st.Members[1].Self = mongors.StatePrimary, true
	st.Members[0].Health, st.Members[0].State = 0, mongors.StateDown
	long := now.Add(-time.Hour)
	o := mongors.Observed{
		Local:     mongors.NodeHello{Addr: d.Self, Hello: mongors.Hello{SetName: "letschat", SetVersion: 40, IsWritablePrimary: true, Primary: d.Self, Me: d.Self}},
		Primary:   d.Self,
		Source:    d.Self,
		Config:    &cfg,
		Committed: true,
		Status:    &st,
		Memory: mongors.Memory{
			AbsentSince:      map[string]time.Time{cfg.Members[0].Host: long},
			UnreachableSince: map[string]time.Time{cfg.Members[0].Host: long},
		},
	}
	a := mongors.Plan(d, o, now, mongors.Settings{})
	if a.Kind != mongors.KindReconfig || a.Step != mongors.StepRemove {
		b.Fatalf("unexpected plan %s", a)
	}
	b.ReportAllocs()
	for b.Loop() {
		mongors.Plan(d, o, now, mongors.Settings{})
	}
}

// BenchmarkConverge3to7 measures, on the emulator with one agent per node, the time from listing
// four more hosts beside a running three-member set to a committed config with all seven voting.
func BenchmarkConverge3to7(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		ls := newLiveSet(b, 7, liveLoop())
		obs := ls.observer(ls.addrs[0])
		for _, a := range ls.addrs {
			ls.start(a)
		}
		ls.desire(ls.addrs[:3]...)
		ls.waitFor(30*time.Second, obs, 3, ls.addrs[:3]...)
		b.StartTimer()
		ls.desire(ls.addrs...)
		ls.waitFor(60*time.Second, obs, 7, ls.addrs...)
		b.StopTimer()
		ls.stopAll()
		ls.cluster.Close()
		b.StartTimer()
	}
}

// BenchmarkObservePrimary measures one Observe by the primary's agent against the emulator: of a
// settled set of 3, and with a fourth listed node not in the config, which Observe probes with
// replSetGetConfig (never adding a node of another set) while it reads the primary's config and
// status — over a pool already open to that node, and over a fresh one (the first sight of a new
// host: the driver dials, handshakes, and waits for its first check of the node).
//
//	go test -run '^$' -bench ObservePrimary ./mongors/
func BenchmarkObservePrimary(b *testing.B) {
	ls := newLiveSet(b, 4, liveLoop())
	obs := ls.observer(ls.addrs[0])
	for _, a := range ls.addrs[:3] {
		ls.start(a)
	}
	ls.desire(ls.addrs[:3]...)
	ls.waitFor(30*time.Second, obs, 3, ls.addrs[:3]...)
	primary, _, _ := ls.primaryConfig(obs, ls.addrs[:3])
	ls.stopAll() // the agents would add the fourth node
	if err := ls.cluster.StartNode(ls.addrs[3]); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	newClient := func(b *testing.B) *mongors.DriverClient {
		dc, err := mongors.NewDriverClient(connFor(primary))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := dc.Hello(ctx, primary); err != nil { // the local pool is warm, as in a running agent
			b.Fatal(err)
		}
		return dc
	}
	closeClient := func(dc *mongors.DriverClient) {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_ = dc.Close(cctx)
	}
	three, four := desiredOf(primary, ls.addrs[:3]...), desiredOf(primary, ls.addrs...)
	check := func(b *testing.B, o mongors.Observed, probed bool) {
		if o.Config == nil || !o.Committed || o.Status == nil || (probed && o.Probed[ls.addrs[3]].Standing != mongors.StandingEmpty) {
			b.Fatalf("observe incomplete: %+v", o)
		}
	}
	b.Run("settled", func(b *testing.B) {
		dc := newClient(b)
		defer closeClient(dc)
		for b.Loop() {
			check(b, mongors.Observe(ctx, dc, three), false)
		}
	})
	b.Run("new member, open pool", func(b *testing.B) {
		dc := newClient(b)
		defer closeClient(dc)
		mongors.Observe(ctx, dc, four)
		for b.Loop() {
			check(b, mongors.Observe(ctx, dc, four), true)
		}
	})
	b.Run("new member, first sight", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			dc := newClient(b)
			b.StartTimer()
			check(b, mongors.Observe(ctx, dc, four), true)
			b.StopTimer()
			closeClient(dc)
			b.StartTimer()
		}
	})
}
