package lcconfig

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/replset-agent/replset-agent/lcconfig/gatetest"
)

// freeAddr returns a loopback address no one listens on right now.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// withProbe makes the harness's fakechat serve HTTP at a fresh address, booting after delay, and
// probes it.
func withProbe(t testing.TB, delay time.Duration) (func(*SupervisorConfig), []string) {
	addr := freeAddr(t)
	return func(c *SupervisorConfig) {
		c.Probe = HTTPProbe("http://" + addr + "/login")
		c.ProbeInterval = 5 * time.Millisecond
	}, []string{"FAKECHAT_HTTP_ADDR=" + addr, "FAKECHAT_BOOT_DELAY=" + delay.String()}
}

func both(fs ...func(*SupervisorConfig)) func(*SupervisorConfig) {
	return func(c *SupervisorConfig) {
		for _, f := range fs {
			f(c)
		}
	}
}

// The gate is taken before the old child gets SIGTERM and given back only once the replacement
// serves: that window is the instance's whole downtime.
func TestSupervisor_gateHeldUntilReplacementReady(t *testing.T) {
	gate := gatetest.New()
	probe, env := withProbe(t, 200*time.Millisecond)
	h := newHarness(t, both(probe, func(c *SupervisorConfig) {
		c.Policy = RestartAlways
		c.Gate = gate.For("a")
	}), env...)
	h.update(0, "10.0.0.1")
	h.run()
	h.waitFor("first child ready", func() bool { return h.sup.Status().Ready })
	if len(gate.Holds()) != 0 {
		t.Fatalf("a first start took the gate: %+v", gate.Holds())
	}
	h.update(0, "10.0.0.2")
	h.waitFor("restart complete", func() bool {
		st := h.sup.Status()
		return st.Ready && st.ChildURI == uriOf(t, "10.0.0.2") && !st.GateHeld && !gate.Held()
	})
	holds := gate.Holds()
	if len(holds) != 1 || holds[0].Expired {
		t.Fatalf("holds %+v, want one released hold", holds)
	}
	signals, readies := h.records("signal"), h.records("ready")
	if len(signals) != 1 || len(readies) != 2 {
		t.Fatalf("signals %+v readies %+v", signals, readies)
	}
	if acquired := holds[0].Acquired.UnixNano(); acquired > signals[0].Time {
		t.Errorf("SIGTERM before the gate was taken")
	}
	if released := holds[0].Released.UnixNano(); released < readies[1].Time {
		t.Errorf("gate released before the replacement served")
	}
	done := h.eventsOf(EventRestartDone)
	if len(done) != 1 || done[0].Downtime < 200*time.Millisecond {
		t.Errorf("restart-done events %+v, want one with the boot delay in its downtime", done)
	}
}

// No gate, no policy restart: it is retried until the gate is available, and then done once.
func TestSupervisor_gateUnavailableDefersRestart(t *testing.T) {
	gate := gatetest.New()
	gate.SetAvailable(false)
	h := newHarness(t, func(c *SupervisorConfig) {
		c.Policy = RestartAlways
		c.Gate = gate.For("a")
		c.GateRetry = 10 * time.Millisecond
	})
	h.update(0, "10.0.0.1")
	h.run()
	h.waitStarts(1)
	h.update(0, "10.0.0.2")
	h.waitLogs("restart deferred: the restart gate is not available", 3)
	if got := len(h.records("signal")); got != 0 {
		t.Fatalf("%d signals while the gate was unavailable", got)
	}
	if st := h.sup.Status(); st.PendingRestart != ReasonChanged {
		t.Fatalf("pending restart %q while deferred", st.PendingRestart)
	}
	gate.SetAvailable(true)
	starts := h.waitStarts(2)
	if starts[1].URI != uriOf(t, "10.0.0.2") {
		t.Fatalf("restarted on %s", starts[1].URI)
	}
	if got := len(h.eventsOf(EventGateDeferred)); got < 3 {
		t.Errorf("%d gate-deferred events", got)
	}
}

// Another instance holds the gate: this one waits for it, however long its own slot has passed.
func TestSupervisor_waitsForAnotherInstancesRestart(t *testing.T) {
	gate := gatetest.New()
	other, err := gate.For("b").Acquire(context.Background(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(c *SupervisorConfig) {
		c.Policy = RestartSeedsLost
		c.Gate = gate.For("a")
		c.GateRetry = 10 * time.Millisecond
	})
	h.update(0, "10.0.0.1")
	h.run()
	h.waitStarts(1)
	h.update(0, "10.0.0.2")
	h.waitLogs("restart deferred", 2)
	if got := len(h.records("signal")); got != 0 {
		t.Fatalf("restarted while another instance held the gate")
	}
	other()
	h.waitStarts(2)
	if holds := gate.Holds(); len(holds) != 2 || holds[1].Holder != "a" {
		t.Fatalf("holds %+v", holds)
	}
}

// A rank that changes while a restart waits for its slot moves it to the new slot: with a stagger
// of an hour, rank 3's restart happens at once when the instance becomes rank 0.
func TestSupervisor_rankChangeRederivesSlot(t *testing.T) {
	h := newHarness(t, func(c *SupervisorConfig) {
		c.Policy = RestartAlways
		c.StaggerInterval = time.Hour
	})
	h.update(3, "10.0.0.1")
	h.run()
	h.waitStarts(1)
	h.update(3, "10.0.0.2")
	h.waitLogs("restart scheduled", 1)
	if st := h.sup.Status(); st.RestartDue == nil || time.Until(*st.RestartDue) < 2*time.Hour {
		t.Fatalf("rank 3 due at %v, want about 3h ahead", st.RestartDue)
	}
	h.update(0, "10.0.0.2") // same hosts, new rank
	starts := h.waitStarts(2)
	if starts[1].URI != uriOf(t, "10.0.0.2") {
		t.Fatalf("restarted on %s", starts[1].URI)
	}
	if got := h.logs.entries("restart rescheduled"); len(got) != 1 || got[0]["rank"] != float64(0) {
		t.Fatalf("rescheduling logged as %v", got)
	}
}

// An instance not listed yet has no slot: it waits for its rank instead of taking rank 0's.
func TestSupervisor_unknownRankWaits(t *testing.T) {
	h := newHarness(t, func(c *SupervisorConfig) { c.Policy = RestartAlways })
	h.update(RankUnknown, "10.0.0.1")
	h.run()
	h.waitStarts(1) // a first start takes nobody down: it needs no rank
	h.update(RankUnknown, "10.0.0.2")
	h.waitLogs("restart needed; waiting for this instance to be listed", 1)
	if st := h.sup.Status(); st.Rank != RankUnknown || st.PendingRestart != ReasonChanged || st.RestartDue != nil {
		t.Fatalf("status %+v", st)
	}
	h.update(1, "10.0.0.2")
	starts := h.waitStarts(2)
	if starts[1].URI != uriOf(t, "10.0.0.2") {
		t.Fatalf("restarted on %s", starts[1].URI)
	}
}

// A child waiting out a crash backoff is started at once when the members change: its seeds may be
// why it crashed, and the new ones must not wait for the backoff's cap.
func TestSupervisor_membershipChangeEndsCrashBackoff(t *testing.T) {
	h := newHarness(t, func(c *SupervisorConfig) {
		c.BackoffInitial, c.BackoffMax = time.Hour, time.Hour
	})
	h.update(0, "10.0.0.1")
	h.run()
	first := h.waitStarts(1)[0]
	if err := syscall.Kill(first.PID, syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	h.waitFor("backoff", func() bool { return h.sup.Status().State == StateBackoff })
	h.update(0, "10.0.0.2")
	starts := h.waitStarts(2)
	if starts[1].URI != uriOf(t, "10.0.0.2") {
		t.Fatalf("started on %s, want the new members", starts[1].URI)
	}
	h.waitLogs("membership changed during crash backoff", 1)
	// Same members again during a backoff: the backoff stands.
	if err := syscall.Kill(starts[1].PID, syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	h.waitFor("second backoff", func() bool { return h.sup.Status().State == StateBackoff })
	h.update(1, "10.0.0.2")
	h.waitLogs("membership unchanged", 1)
	if got := len(h.records("start")); got != 2 {
		t.Fatalf("%d starts: an unchanged membership ended the backoff", got)
	}
}

// A child that ran healthy for HealthyRun resets the crash count, whatever ended it (here a policy
// restart): the next crash waits the initial backoff, not the doubled one.
func TestSupervisor_healthyRunResetsCrashCount(t *testing.T) {
	crashFile := t.TempDir() + "/crash"
	writeFile(t, crashFile, "")
	h := newHarness(t, func(c *SupervisorConfig) {
		c.Policy = RestartAlways
		c.BackoffInitial, c.BackoffMax = 20*time.Millisecond, 10*time.Second
		c.HealthyRun = 300 * time.Millisecond
	}, "FAKECHAT_CRASH_WHILE="+crashFile)
	h.update(0, "10.0.0.1")
	h.run()
	h.waitFor("three crashes", func() bool { return len(h.records("exit")) >= 3 })
	if err := os.Remove(crashFile); err != nil {
		t.Fatal(err)
	}
	h.waitFor("a child that stays up", func() bool {
		st := h.sup.Status()
		return st.State == StateRunning && len(h.logs.entries("Let's Chat exited on its own")) == len(h.records("exit"))
	})
	stable := h.sup.Status().PID
	h.waitFor("a healthy run", func() bool {
		starts := h.records("start")
		return starts[len(starts)-1].PID == stable && time.Since(time.Unix(0, starts[len(starts)-1].Time)) > 400*time.Millisecond
	})
	crashes := len(h.logs.entries("Let's Chat exited on its own"))
	h.update(0, "10.0.0.2") // policy restart of the healthy child
	h.waitLogs("the child ran healthy long enough; crash count reset", 1)
	// Wait for the replacement's start record: fakechat writes it once it handles SIGUSR1, which
	// Go ignores before that.
	var last chatRecord
	h.waitFor("the replacement", func() bool {
		starts := h.records("start")
		last = starts[len(starts)-1]
		return last.URI == uriOf(t, "10.0.0.2") && h.sup.Status().PID == last.PID
	})
	if err := syscall.Kill(last.PID, syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	lines := h.waitLogs("Let's Chat exited on its own", crashes+1)
	if last := lines[len(lines)-1]; last["restart_in"] != "20ms" || last["consecutive"] != float64(1) {
		t.Fatalf("crash after a healthy run: restart_in=%v consecutive=%v, want 20ms and 1 (after %d crashes)", last["restart_in"], last["consecutive"], crashes)
	}
}

// An update that arrives while the old child is still shutting down is what the replacement starts
// with: it must not start on members already gone and need a second restart.
func TestSupervisor_updateDuringStopReachesReplacement(t *testing.T) {
	h := newHarness(t, func(c *SupervisorConfig) {
		c.Policy = RestartAlways
		c.SettleDelay = 20 * time.Millisecond
	}, "FAKECHAT_TERM_DELAY=500ms")
	h.update(0, "10.0.0.1")
	h.run()
	h.waitStarts(1)
	h.update(0, "10.0.0.2")
	h.waitFor("the old child signalled", func() bool { return len(h.records("signal")) == 1 })
	h.update(0, "10.0.0.3")
	starts := h.waitStarts(2)
	if want := uriOf(t, "10.0.0.3"); starts[1].URI != want {
		t.Fatalf("the replacement started on %s, want the update that arrived during the stop: %s", starts[1].URI, want)
	}
	h.waitFor("settled", func() bool { st := h.sup.Status(); return st.PendingRestart == "" && st.State == StateRunning })
	h.stop()
	if got := len(h.records("start")); got != 2 {
		t.Fatalf("%d starts, want 2: the replacement needed a second restart", got)
	}
}

// `npm start` exits at once on SIGTERM; the app behind it takes its time. The stop waits for the
// whole group, so the app finishes its graceful exit, and a replacement never overlaps it.
func TestSupervisor_waitsForTheWholeGroup(t *testing.T) {
	addr := freeAddr(t)
	out, err := os.Create(filepath.Join(t.TempDir(), "output"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	h := newHarness(t, func(c *SupervisorConfig) {
		c.Policy = RestartAlways
		c.KillTimeout = 20 * time.Second
		// A file, as in production: no pipe whose end the app holds keeps the leader's Wait open.
		c.Stdout, c.Stderr = out, out
	}, "FAKECHAT_NPM=1", "FAKECHAT_TERM_DELAY=400ms", "FAKECHAT_HTTP_ADDR="+addr)
	h.update(0, "10.0.0.1")
	h.run()
	h.waitFor("the app serves", func() bool { return len(h.records("ready")) == 1 })
	h.update(0, "10.0.0.2")
	h.waitFor("the second app serves", func() bool { return len(h.records("ready")) == 2 })
	h.sup.Signal(syscall.SIGTERM)
	if res := h.wait(); res.code != 0 || res.err != nil {
		t.Fatalf("Run = %d, %v", res.code, res.err)
	}
	var apps []chatRecord
	exits := map[int]chatRecord{}
	for _, r := range h.records("") {
		switch {
		case r.Role == "node" && r.Event == "start":
			apps = append(apps, r)
		case r.Role == "node" && r.Event == "exit":
			exits[r.PID] = r
		}
	}
	if len(apps) != 2 {
		t.Fatalf("%d app starts, want 2", len(apps))
	}
	for i, app := range apps {
		exit, ok := exits[app.PID]
		if !ok || exit.Code != 0 {
			t.Errorf("app %d (pid %d) did not finish its graceful exit (killed with npm?): %+v", i, app.PID, exit)
		}
	}
	if exit := exits[apps[0].PID]; exit.Time > apps[1].Time {
		t.Errorf("the replacement app started before the old one had exited")
	}
	if n := len(h.logs.entries("Let's Chat did not exit in time")); n != 0 {
		t.Errorf("the group was killed %d times", n)
	}
	for _, e := range h.records("exit") {
		if e.Code == 8 {
			t.Errorf("an app found its port taken: %+v", e)
		}
	}
}

// Members Let's Chat's driver cannot use are dropped, each with a warning; the rest are delivered.
// Nothing usable keeps the last good URI.
func TestSupervisor_mixedAddressFamilies(t *testing.T) {
	h := newHarness(t, nil)
	if err := h.sup.Update(Members{Hosts: MembersOf("10.0.0.1", "[fd00::7]:27017", "10.0.0.2")}); err != nil {
		t.Fatalf("Update with one IPv6 member: %v", err)
	}
	h.run()
	starts := h.waitStarts(1)
	if want := uriOf(t, "10.0.0.1", "10.0.0.2"); starts[0].URI != want {
		t.Fatalf("started on %s, want %s", starts[0].URI, want)
	}
	warned := h.waitLogs("member dropped from Let's Chat's URI", 1)
	if warned[0]["member"] != "[fd00::7]:27017" || !strings.Contains(warned[0]["msg"].(string), "IPv6") || warned[0]["level"] != "warning" {
		t.Fatalf("warning %v", warned[0])
	}
	if st := h.sup.Status(); len(st.Dropped) != 1 {
		t.Fatalf("status dropped %v", st.Dropped)
	}
	// The same update again does not repeat the warning.
	h.update(0, "10.0.0.1", "[fd00::7]:27017", "10.0.0.2")
	h.waitLogs("membership unchanged", 1)
	if got := len(h.logs.entries("member dropped")); got != 1 {
		t.Fatalf("%d warnings for the same dropped member", got)
	}
	err := h.sup.Update(Members{Hosts: MembersOf("[fd00::7]:27017", "[fd00::8]:27017")})
	if err == nil || !strings.Contains(err.Error(), "no replica-set members") {
		t.Fatalf("Update with only IPv6 members = %v", err)
	}
	if st := h.sup.Status(); st.URI != uriOf(t, "10.0.0.1", "10.0.0.2") {
		t.Fatalf("kept URI %s", st.URI)
	}
}
