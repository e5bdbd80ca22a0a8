package agent

import (
	"testing"

	"github.com/replset-agent/replset-agent/lcconfig"
	"github.com/replset-agent/replset-agent/metadata"
)

func TestInstanceHealth(t *testing.T) {
	for state, want := range map[string]lcconfig.Health{
		"healthy":            lcconfig.Healthy,
		"updating-healthy":   lcconfig.Healthy,
		"unhealthy":          lcconfig.Unhealthy,
		"updating-unhealthy": lcconfig.Unhealthy,
		"":                   lcconfig.HealthUnknown, // no health check: no verdict
		"initializing":       lcconfig.HealthUnknown,
		"reinitializing":     lcconfig.HealthUnknown,
		"degraded":           lcconfig.HealthUnknown,
	} {
		if got := instanceHealth(state); got != want {
			t.Errorf("instanceHealth(%q) = %v, want %v", state, got, want)
		}
	}
}

// The active–standby view is every container of this agent's own Let's Chat service, running or
// not, with its create_index and health; another stack's same-named service is not in it.
func TestInstancesView(t *testing.T) {
	snap := metadata.Snapshot{Services: []metadata.Service{
		{Name: "letschat", StackName: "chat", Containers: []metadata.Container{
			{Name: "lc-1", UUID: "u1", CreateIndex: 4, State: "running", HealthState: "healthy"},
			{Name: "lc-2", UUID: "u2", CreateIndex: 9, State: "running", HealthState: "unhealthy"},
			{Name: "lc-3", UUID: "u3", CreateIndex: 2, State: "stopped", HealthState: "unhealthy"},
		}},
		{Name: "letschat", StackName: "other", Containers: []metadata.Container{{Name: "x", UUID: "x1", CreateIndex: 1, State: "running", HealthState: "healthy"}}},
	}}
	own := place{Stack: "chat", Container: &metadata.Container{UUID: "u2"}}
	v, err := instancesView(snap, own, "letschat")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]lcconfig.Instance{
		"u1": {ID: "u1", Order: 4, Running: true, Health: lcconfig.Healthy},
		"u2": {ID: "u2", Order: 9, Running: true, Health: lcconfig.Unhealthy},
		"u3": {ID: "u3", Order: 2, Running: false, Health: lcconfig.Unhealthy},
	}
	if v.Self != "u2" || len(v.All) != len(want) {
		t.Fatalf("view %+v", v)
	}
	for _, in := range v.All {
		if in != want[in.ID] {
			t.Errorf("instance %+v, want %+v", in, want[in.ID])
		}
	}
	if _, err := instancesView(snap, place{Stack: "nowhere"}, "letschat"); err == nil {
		t.Error("a view of a missing service was given")
	}
}

// The lease's client is replaced only when none of its seeds is a member any more: a host joining
// or leaving costs no new client (a connection and a login to every member, on every Let's Chat
// agent at once), and a set whose members were all replaced still gets one.
func TestNeedsReseed(t *testing.T) {
	for _, tc := range []struct {
		name           string
		seeds, members []string
		want           bool
	}{
		{"unchanged", []string{"a:1", "b:1", "c:1"}, []string{"a:1", "b:1", "c:1"}, false},
		{"a host joins", []string{"a:1", "b:1", "c:1"}, []string{"a:1", "b:1", "c:1", "d:1"}, false},
		{"two of three leave", []string{"a:1", "b:1", "c:1"}, []string{"c:1", "d:1", "e:1"}, false},
		{"every seed replaced", []string{"a:1", "b:1", "c:1"}, []string{"d:1", "e:1", "f:1"}, true},
		{"same host, another port", []string{"a:1"}, []string{"a:2"}, true},
		{"no seeds yet", nil, []string{"a:1"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := needsReseed(tc.seeds, tc.members); got != tc.want {
				t.Fatalf("needsReseed(%v, %v) = %v, want %v", tc.seeds, tc.members, got, tc.want)
			}
		})
	}
}
