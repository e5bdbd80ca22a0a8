package lcconfig

import (
	"testing"
	"time"
)

// TestSupervisor_policies drives each policy through the same membership history and checks that
// it restarts exactly when it promises, and never for a reordering of the same hosts.
func TestSupervisor_policies(t *testing.T) {
	type step struct {
		hosts   []string
		reorder bool // same hosts as before: no decision beyond "unchanged"
		restart map[RestartPolicy]bool
	}
	steps := []step{
		{hosts: []string{"10.0.0.3", "10.0.0.1", "10.0.0.2"}, reorder: true},
		{hosts: []string{"10.0.0.1", "10.0.0.2", "10.0.0.4"}, restart: map[RestartPolicy]bool{RestartAlways: true}},
		{hosts: []string{"10.0.0.5", "10.0.0.6"}, restart: map[RestartPolicy]bool{RestartAlways: true, RestartSeedsLost: true}},
		{hosts: []string{"10.0.0.6", "10.0.0.5"}, reorder: true},
		{hosts: []string{"10.0.0.6", "10.0.0.7"}, restart: map[RestartPolicy]bool{RestartAlways: true}},
	}
	for _, policy := range []RestartPolicy{RestartSeedsLost, RestartAlways, RestartNever} {
		t.Run(string(policy), func(t *testing.T) {
			h := newHarness(t, func(c *SupervisorConfig) { c.Policy = policy })
			h.update(0, "10.0.0.1", "10.0.0.2", "10.0.0.3")
			h.run()
			starts := h.waitStarts(1)
			wantURIs := []string{uriOf(t, "10.0.0.1", "10.0.0.2", "10.0.0.3")}
			changes, unchanged, noRestarts := 1, 0, 0
			for i, s := range steps {
				h.update(0, s.hosts...)
				switch {
				case s.reorder:
					unchanged++
					h.waitLogs("membership unchanged", unchanged)
				case s.restart[policy]:
					changes++
					wantURIs = append(wantURIs, uriOf(t, s.hosts...))
					starts = h.waitStarts(len(wantURIs))
				default:
					changes++
					noRestarts++
					h.waitLogs("no restart", noRestarts)
				}
				if got := len(h.logs.entries("database URI changed")); got != changes {
					t.Fatalf("step %d: %d URI changes adopted, want %d", i, got, changes)
				}
			}
			h.waitFor("no pending restart", func() bool { return h.sup.Status().PendingRestart == "" })
			res := h.stop()
			if res.err != nil || res.code != 0 {
				t.Fatalf("Run = %d, %v; want 0, nil", res.code, res.err)
			}

			starts = h.records("start")
			if len(starts) != len(wantURIs) {
				t.Fatalf("%d starts, want %d", len(starts), len(wantURIs))
			}
			for i, s := range starts {
				if s.URI != wantURIs[i] {
					t.Errorf("start %d saw LCB_DATABASE_URI=%s, want %s", i, s.URI, wantURIs[i])
				}
			}
			// Every child but the last was stopped with SIGTERM before the next one started.
			signals := h.records("signal")
			if len(signals) != len(starts) {
				t.Fatalf("%d signals for %d children: %+v", len(signals), len(starts), signals)
			}
			for i, sig := range signals {
				if sig.PID != starts[i].PID || sig.Signal != "terminated" {
					t.Errorf("signal %d: %+v, want SIGTERM to pid %d", i, sig, starts[i].PID)
				}
				if i+1 < len(starts) && sig.Time > starts[i+1].Time {
					t.Errorf("child %d started before child %d was stopped", i+1, i)
				}
			}
			st := h.sup.Status()
			wantReason := map[RestartPolicy]RestartReason{RestartAlways: ReasonChanged, RestartSeedsLost: ReasonSeedsLost}[policy]
			total := 0
			for reason, n := range st.Restarts {
				total += n
				if reason != wantReason {
					t.Errorf("restart counted under %q, want %q", reason, wantReason)
				}
			}
			if total != len(wantURIs)-1 || len(h.eventsOf(EventRestart)) != total {
				t.Errorf("restarts counted %v (%d events), want %d", st.Restarts, len(h.eventsOf(EventRestart)), len(wantURIs)-1)
			}
		})
	}
}

// TestSupervisor_burstCoalesces sends a burst of updates inside one settle delay: one decision,
// on the last.
func TestSupervisor_burstCoalesces(t *testing.T) {
	h := newHarness(t, func(c *SupervisorConfig) {
		c.Policy = RestartAlways
		c.SettleDelay = 300 * time.Millisecond // holds the burst even on a loaded machine
	})
	h.update(0, "10.0.0.1")
	h.run()
	h.waitStarts(1)
	for _, last := range []string{"10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"} {
		h.update(0, "10.0.0.1", last)
	}
	starts := h.waitStarts(2)
	if want := uriOf(t, "10.0.0.1", "10.0.0.5"); starts[1].URI != want {
		t.Fatalf("restart used %s, want the last update %s", starts[1].URI, want)
	}
	if got := len(h.logs.entries("database URI changed")); got != 2 {
		t.Fatalf("%d URI changes adopted, want 2 (first start and one for the burst)", got)
	}
	h.stop()
	if got := len(h.records("start")); got != 2 {
		t.Fatalf("%d starts, want 2", got)
	}
}

// TestSupervisor_changeBackCancelsScheduledRestart: a restart waits for the minimum interval
// since the last start, and when membership changes back meanwhile it is cancelled, not run.
func TestSupervisor_changeBackCancelsScheduledRestart(t *testing.T) {
	h := newHarness(t, func(c *SupervisorConfig) {
		c.Policy = RestartAlways
		c.MinRestartInterval = time.Second
	})
	h.update(0, "10.0.0.1")
	h.run()
	h.waitStarts(1)
	h.update(0, "10.0.0.2")
	h.waitLogs("restart scheduled", 1)
	if st := h.sup.Status(); st.PendingRestart != ReasonChanged {
		t.Fatalf("pending restart %q, want %q", st.PendingRestart, ReasonChanged)
	}
	h.update(0, "10.0.0.1")
	h.waitLogs("scheduled restart cancelled", 1)
	if got := len(h.logs.entries("database URI changed")); got != 3 {
		t.Fatalf("%d URI changes adopted, want 3", got)
	}
	h.stop()
	if got := len(h.records("start")); got != 1 {
		t.Fatalf("%d starts, want 1", got)
	}
	if n := len(h.logs.entries("restart scheduled")); n != 1 {
		t.Fatalf("%d restarts scheduled, want 1 (the change back must not schedule another)", n)
	}
}
