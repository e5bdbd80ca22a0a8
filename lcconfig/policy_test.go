package lcconfig

import (
	"errors"
	"testing"
	"time"
)

func TestRestartNeeded(t *testing.T) {
	abc := []string{"10.0.0.1:27017", "10.0.0.2:27017", "10.0.0.3:27017"}
	abd := []string{"10.0.0.1:27017", "10.0.0.2:27017", "10.0.0.4:27017"}
	ef := []string{"10.0.0.5:27017", "10.0.0.6:27017"}
	tests := []struct {
		name             string
		policy           RestartPolicy
		running, desired []string
		want             RestartReason
		restart          bool
	}{
		{"seeds-lost: same hosts", RestartSeedsLost, abc, abc, "", false},
		{"seeds-lost: one seed replaced", RestartSeedsLost, abc, abd, "", false},
		{"seeds-lost: a single survivor is enough", RestartSeedsLost, abc, []string{"10.0.0.3:27017", "10.0.0.9:27017"}, "", false},
		{"seeds-lost: all seeds gone", RestartSeedsLost, abc, ef, ReasonSeedsLost, true},
		{"seeds-lost: started without members", RestartSeedsLost, nil, abc, ReasonSeedsLost, true},
		{"always: same hosts", RestartAlways, abc, abc, "", false},
		{"always: one seed replaced", RestartAlways, abc, abd, ReasonChanged, true},
		{"always: a host added", RestartAlways, abd[:2], abd, ReasonChanged, true},
		{"always: started without members", RestartAlways, nil, abc, ReasonChanged, true},
		{"never: all seeds gone", RestartNever, abc, ef, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reason, restart := restartNeeded(tc.policy, tc.running, tc.desired)
			if reason != tc.want || restart != tc.restart {
				t.Fatalf("restartNeeded = %q, %v; want %q, %v", reason, restart, tc.want, tc.restart)
			}
		})
	}
}

func TestRestartNeeded_reorderingIsNoChange(t *testing.T) {
	a, err := normalizeMembers(MembersOf("10.0.0.3", "10.0.0.1", "10.0.0.2"))
	if err != nil {
		t.Fatal(err)
	}
	// Health moves members around in the URI, but not in the host set.
	b, err := normalizeMembers([]Member{{Addr: "10.0.0.2", Health: Healthy}, {Addr: "10.0.0.3", Health: Unhealthy}, {Addr: "10.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	uriA, _ := formatURI(a, URIOptions{})
	uriB, _ := formatURI(b, URIOptions{})
	if uriA == uriB {
		t.Fatalf("expected different seed orders, got %s twice", uriA)
	}
	for _, p := range []RestartPolicy{RestartSeedsLost, RestartAlways, RestartNever} {
		if reason, restart := restartNeeded(p, hostSet(a), hostSet(b)); restart {
			t.Errorf("%s: reordering restarts (%s)", p, reason)
		}
	}
}

func TestParseRestartPolicy(t *testing.T) {
	tests := []struct {
		in   string
		want RestartPolicy
		err  error
	}{
		{"", RestartSeedsLost, nil},
		{"seeds-lost", RestartSeedsLost, nil},
		{"always", RestartAlways, nil},
		{"never", RestartNever, nil},
		{"Always", "", ErrInvalidPolicy},
		{"sometimes", "", ErrInvalidPolicy},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseRestartPolicy(tc.in)
			if got != tc.want || !errors.Is(err, tc.err) {
				t.Fatalf("ParseRestartPolicy(%q) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.err)
			}
		})
	}
}

// TestRestartSlot: the slot is rank × stagger after the change, moved later only by the minimum
// interval since the last start, never by the sum of both (which pushed rank 0 into rank 2's slot
// under the defaults: 30 s leftover + 0 × 15 s against 2 × 15 s).
func TestRestartSlot(t *testing.T) {
	change := time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		lastStart time.Time
		rank      int
		want      time.Duration // after the change
	}{
		{"rank 0 long after the last start", change.Add(-time.Hour), 0, 0},
		{"rank 2 waits two stagger slots", change.Add(-time.Hour), 2, 20 * time.Second},
		{"negative rank counts as 0", change.Add(-time.Hour), -1, 0},
		{"rest of the minimum interval first", change.Add(-10 * time.Second), 0, 20 * time.Second},
		{"the minimum interval does not add to the stagger", change.Add(-10 * time.Second), 1, 20 * time.Second},
		{"the stagger beyond the minimum interval", change.Add(-25 * time.Second), 1, 10 * time.Second},
		{"never started", time.Time{}, 1, 10 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := restartSlot(change, tc.lastStart, tc.rank, 10*time.Second, 30*time.Second).Sub(change)
			if got != tc.want {
				t.Fatalf("restartSlot = change + %v, want + %v", got, tc.want)
			}
		})
	}
}

func TestBackoffDelay(t *testing.T) {
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	for attempt, w := range want {
		if got := backoffDelay(attempt, time.Second, 10*time.Second); got != w {
			t.Errorf("backoffDelay(%d) = %v, want %v", attempt, got, w)
		}
	}
	if got := backoffDelay(1000, time.Second, time.Minute); got != time.Minute {
		t.Errorf("backoffDelay(1000) = %v, want the cap", got)
	}
}
