package mongors

import (
	"testing"
	"time"
)

func TestMemory_update(t *testing.T) {
	earlier := t0.Add(-time.Minute)
	prev := Memory{
		AbsentSince:      map[string]time.Time{host(4): earlier},
		UnreachableSince: map[string]time.Time{host(4): earlier, host(2): earlier},
		NoPrimarySince:   earlier,
	}
	cfg := config(3, []int{1, 2, 3}, 4)
	d := listed(1, 1, 2, 3)
	cases := []struct {
		name         string
		o            Observed
		absent4      time.Time
		unreach4     time.Time
		unreach2     time.Time
		noPrimarySin time.Time
	}{
		{name: "primary's view keeps the first sighting and forgets healed members",
			o:       onPrimary(1, cfg, map[int]int{4: StateDown}),
			absent4: earlier, unreach4: earlier},
		{name: "no config: absence kept, not restarted",
			o:       Observed{Local: NodeHello{Addr: host(1), Err: "refused"}},
			absent4: earlier, unreach4: earlier, unreach2: earlier, noPrimarySin: earlier},
		{name: "status from a secondary does not count",
			o: func() Observed {
				o := onPrimary(1, cfg, nil)
				o.Local.Hello.IsWritablePrimary = false
				o.Primary, o.Source = "", host(1)
				return o
			}(),
			absent4: earlier, unreach4: earlier, unreach2: earlier, noPrimarySin: earlier},
		{name: "uninitiated set raises no no-primary clock",
			o: ghosts(1, d), absent4: earlier, unreach4: earlier, unreach2: earlier},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := prev.Update(d, tc.o, t0)
			if m.AbsentSince[host(4)] != tc.absent4 || m.UnreachableSince[host(4)] != tc.unreach4 ||
				m.UnreachableSince[host(2)] != tc.unreach2 || m.NoPrimarySince != tc.noPrimarySin {
				t.Fatalf("got %+v", m)
			}
			if len(prev.AbsentSince) != 1 || len(prev.UnreachableSince) != 2 {
				t.Fatal("Update changed its receiver")
			}
		})
	}
	fresh := Memory{}.Update(listed(1, 1, 2), onPrimary(1, cfg, map[int]int{3: StateDown}), t0)
	if fresh.AbsentSince[host(3)] != t0 || fresh.UnreachableSince[host(3)] != t0 {
		t.Fatalf("first sighting not recorded: %+v", fresh)
	}
}
