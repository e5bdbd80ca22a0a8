package lcconfig

import (
	"errors"
	"maps"
	"slices"
	"testing"
	"time"
)

func TestParseInstancesMode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want InstancesMode
		err  bool
	}{
		{"", AllActive, false},
		{"all-active", AllActive, false},
		{"active-standby", ActiveStandby, false},
		{"Active-Standby", "", true},
		{"standby", "", true},
	} {
		got, err := ParseInstancesMode(tc.in)
		if got != tc.want || (err != nil) != tc.err || (err != nil && !errors.Is(err, ErrInvalidMode)) {
			t.Errorf("ParseInstancesMode(%q) = %q, %v", tc.in, got, err)
		}
	}
}

// inst is a running instance of the given health.
func inst(id string, order int, h Health) Instance {
	return Instance{ID: id, Order: order, Running: true, Health: h}
}

// The active–standby rule, as every instance applies it to its own view.
func TestChoose(t *testing.T) {
	a, b, c := "a", "b", "c"
	now := time.Unix(1_700_000_000, 0)
	later, earlier := now.Add(time.Minute), now.Add(-time.Millisecond)
	for _, tc := range []struct {
		name         string
		view         Instances
		prev         choice
		presumed     string
		chosen       bool
		wantSuspects []string
	}{
		{
			name: "not listed: never serves",
			view: Instances{Self: a, All: []Instance{inst(b, 2, HealthUnknown)}},
			prev: choice{chosen: true},
		},
		{
			name: "no self at all",
			view: Instances{All: []Instance{inst(a, 1, Healthy)}},
		},
		{
			name:   "start-up: no one passes the check yet, so everyone serves",
			view:   Instances{Self: b, All: []Instance{inst(a, 1, HealthUnknown), inst(b, 2, HealthUnknown), inst(c, 3, HealthUnknown)}},
			chosen: true,
		},
		{
			name:     "a handover between two others runs: a standby leaves the place to its successor",
			view:     Instances{Self: c, All: []Instance{inst(a, 1, Unhealthy), inst(b, 2, Unhealthy), inst(c, 3, Unhealthy)}},
			presumed: b,
		},
		{
			name:     "a successor that left is presumed nothing",
			view:     Instances{Self: c, All: []Instance{inst(a, 1, Unhealthy), inst(c, 3, Unhealthy)}},
			presumed: b,
			chosen:   true,
		},
		{
			name:     "a serving instance does not step down for a presumed successor",
			view:     Instances{Self: a, All: []Instance{inst(a, 1, Healthy), inst(b, 2, Unhealthy)}},
			prev:     choice{chosen: true},
			presumed: b,
			chosen:   true,
		},
		{
			name: "a standby stays one while another serves",
			view: Instances{Self: b, All: []Instance{inst(a, 1, Healthy), inst(b, 2, Unhealthy)}},
		},
		{
			name: "a younger instance that serves also keeps a standby out",
			view: Instances{Self: a, All: []Instance{inst(a, 1, Unhealthy), inst(b, 2, Healthy)}},
		},
		{
			name:   "the serving instance failed its check: the standbys serve",
			view:   Instances{Self: c, All: []Instance{inst(a, 1, Unhealthy), inst(b, 2, Unhealthy), inst(c, 3, Unhealthy)}},
			chosen: true,
		},
		{
			name:   "the serving instance left: the standby serves",
			view:   Instances{Self: b, All: []Instance{inst(b, 2, Unhealthy)}},
			chosen: true,
		},
		{
			name:   "a serving instance that is not running does not count",
			view:   Instances{Self: b, All: []Instance{{ID: a, Order: 1, Running: false, Health: Healthy}, inst(b, 2, Unhealthy)}},
			chosen: true,
		},
		{
			name: "two serve: the younger steps down",
			view: Instances{Self: c, All: []Instance{inst(b, 2, Healthy), inst(c, 3, Healthy)}},
			prev: choice{chosen: true},
		},
		{
			name:   "two serve: the older stays",
			view:   Instances{Self: b, All: []Instance{inst(b, 2, Healthy), inst(c, 3, Healthy)}},
			prev:   choice{chosen: true},
			chosen: true,
		},
		{
			name:   "serving: an older instance that does not pass the check is no reason to stop",
			view:   Instances{Self: c, All: []Instance{inst(a, 1, HealthUnknown), inst(b, 2, Unhealthy), inst(c, 3, Healthy)}},
			prev:   choice{chosen: true},
			chosen: true,
		},
		{
			name:         "after a handover, the older instance it replaced is doubted while metadata shows it serving",
			view:         Instances{Self: b, All: []Instance{inst(a, 1, Healthy), inst(b, 2, Unhealthy)}},
			prev:         choice{chosen: true, suspects: map[string]time.Time{a: later}},
			chosen:       true,
			wantSuspects: []string{a},
		},
		{
			name:   "once seen failing its check, the replaced instance is no longer doubted",
			view:   Instances{Self: b, All: []Instance{inst(a, 1, Unhealthy), inst(b, 2, Healthy)}},
			prev:   choice{chosen: true, suspects: map[string]time.Time{a: later}},
			chosen: true,
		},
		{
			name: "...and when it serves again later, the older one wins",
			view: Instances{Self: b, All: []Instance{inst(a, 1, Healthy), inst(b, 2, Healthy)}},
			prev: choice{chosen: true},
		},
		{
			name:   "a suspect that left is forgotten",
			view:   Instances{Self: b, All: []Instance{inst(b, 2, Healthy)}},
			prev:   choice{chosen: true, suspects: map[string]time.Time{a: later}},
			chosen: true,
		},
		{
			name: "a handover that was called off: once doubting ends, the older instance that still serves wins",
			view: Instances{Self: b, All: []Instance{inst(a, 1, Healthy), inst(b, 2, Healthy)}},
			prev: choice{chosen: true, suspects: map[string]time.Time{a: earlier}},
		},
		{
			name: "a doubted instance does not protect another older one",
			view: Instances{Self: c, All: []Instance{inst(a, 1, Healthy), inst(b, 2, Healthy), inst(c, 3, Healthy)}},
			prev: choice{chosen: true, suspects: map[string]time.Time{a: later}},
		},
		{
			name:   "order ties are broken by ID",
			view:   Instances{Self: a, All: []Instance{inst(a, 5, Healthy), inst(b, 5, Healthy)}},
			prev:   choice{chosen: true},
			chosen: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := choose(tc.view, tc.prev, now, tc.presumed)
			if got.chosen != tc.chosen {
				t.Fatalf("chosen = %v (%s), want %v", got.chosen, got.why, tc.chosen)
			}
			if got.why == "" {
				t.Error("no reason given")
			}
			if s := slices.Sorted(maps.Keys(got.suspects)); !slices.Equal(s, tc.wantSuspects) {
				t.Errorf("suspects %v, want %v", s, tc.wantSuspects)
			}
		})
	}
}

func TestClaimChoice(t *testing.T) {
	v := Instances{Self: "b", All: []Instance{inst("a", 1, Healthy), inst("b", 2, Unhealthy), inst("c", 3, Healthy), {ID: "d", Order: 4, Health: Healthy}}}
	now := time.Unix(1_700_000_000, 0)
	got := claimChoice(v, now.Add(time.Minute))
	if !got.chosen {
		t.Fatal("a claiming instance must serve")
	}
	if s := slices.Sorted(maps.Keys(got.suspects)); !slices.Equal(s, []string{"a", "c"}) {
		t.Fatalf("suspects %v, want every running instance shown serving", s)
	}
	// Right after the claim, metadata still shows the replaced instance serving: the successor
	// must not step down for it.
	if next := choose(v, got, now, ""); !next.chosen {
		t.Fatalf("the successor stepped down for the instance it replaces: %s", next.why)
	}
}

// No two instances that see the same settled view both stay chosen, and one always is.
func TestChoose_agreesOnOne(t *testing.T) {
	views := [][]Instance{
		{inst("a", 1, Healthy), inst("b", 2, Healthy), inst("c", 3, Healthy)},
		{inst("a", 1, Unhealthy), inst("b", 2, Healthy), inst("c", 3, Healthy)},
		{inst("b", 2, Healthy), inst("c", 3, Healthy)},
	}
	for _, all := range views {
		chosen := 0
		for _, self := range all {
			prev := choice{chosen: self.Health == Healthy}
			if choose(Instances{Self: self.ID, All: all}, prev, time.Now(), "").chosen {
				chosen++
			}
		}
		if chosen != 1 {
			t.Errorf("view %+v: %d instances stay chosen, want 1", all, chosen)
		}
	}
}
