package lcconfig

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSupervisor_staggersAcrossInstances gives three instances the same seeds-lost change at
// once: they restart in rank order.
func TestSupervisor_staggersAcrossInstances(t *testing.T) {
	ranks := []int{2, 0, 1} // created out of order on purpose
	hs := make([]*harness, len(ranks))
	for i, rank := range ranks {
		hs[i] = newHarness(t, func(c *SupervisorConfig) { c.StaggerInterval = 300 * time.Millisecond })
		hs[i].update(rank, "10.0.0.1")
		hs[i].run()
	}
	for _, h := range hs {
		h.waitStarts(1)
	}
	for i, h := range hs {
		h.update(ranks[i], "10.0.0.2")
	}
	type restart struct {
		rank           int
		stopped, start int64
	}
	var got []restart
	for i, h := range hs {
		starts := h.waitStarts(2)
		signals := h.records("signal")
		if len(signals) != 1 || signals[0].PID != starts[0].PID {
			t.Fatalf("rank %d: signals %+v", ranks[i], signals)
		}
		got = append(got, restart{ranks[i], signals[0].Time, starts[1].Time})
	}
	slices.SortFunc(got, func(a, b restart) int { return int(a.start - b.start) })
	for i, r := range got {
		if r.rank != i {
			t.Fatalf("restart order by rank: %+v, want ranks 0, 1, 2", got)
		}
		if i > 0 && r.stopped < got[i-1].start {
			t.Errorf("rank %d stopped its child before rank %d had a new one", r.rank, got[i-1].rank)
		}
	}
}

// TestSupervisor_crashRestartsWithBackoff lets the child crash four times on its own: each is
// restarted after a doubling delay, logged and counted, and a child that stays up ends the run.
func TestSupervisor_crashRestartsWithBackoff(t *testing.T) {
	const crashes = 4
	crashFile := filepath.Join(t.TempDir(), "crash")
	writeFile(t, crashFile, "")
	h := newHarness(t, nil, "FAKECHAT_CRASH_WHILE="+crashFile)
	h.update(0, "10.0.0.1")
	h.run()
	h.waitFor("four crashes", func() bool { return len(h.records("exit")) >= crashes })
	if err := os.Remove(crashFile); err != nil {
		t.Fatal(err)
	}
	removed := time.Now().UnixNano()
	h.waitFor("a child that stays up", func() bool {
		starts := h.records("start")
		last := starts[len(starts)-1]
		st := h.sup.Status()
		return last.Time > removed && st.State == StateRunning && st.PID == last.PID
	})
	h.stop()

	exits := h.records("exit")
	starts := h.records("start")
	var crashed []chatRecord
	for _, e := range exits {
		if e.Code == 7 {
			crashed = append(crashed, e)
		}
	}
	if len(crashed) < crashes || len(starts) != len(crashed)+1 {
		t.Fatalf("%d starts for %d crashes", len(starts), len(crashed))
	}
	lines := h.logs.entries("Let's Chat exited on its own")
	if len(lines) != len(crashed) {
		t.Fatalf("%d crash log lines for %d crashes", len(lines), len(crashed))
	}
	for i, line := range lines {
		want := backoffDelay(i, 20*time.Millisecond, time.Second).String()
		if line["restart_in"] != want || line["exit_code"] != float64(7) {
			t.Errorf("crash %d logged restart_in=%v exit_code=%v, want %s and 7", i, line["restart_in"], line["exit_code"], want)
		}
	}
	if got := h.sup.Status().Restarts[ReasonCrashed]; got != len(crashed) {
		t.Errorf("counted %d crash restarts, want %d", got, len(crashed))
	}
	for i, s := range starts {
		if s.URI != uriOf(t, "10.0.0.1") {
			t.Errorf("start %d saw %q", i, s.URI)
		}
	}
}

// TestSupervisor_neverPolicyServesNextStart: under "never" a new URI waits for the next start,
// which a crash provides.
func TestSupervisor_neverPolicyServesNextStart(t *testing.T) {
	h := newHarness(t, func(c *SupervisorConfig) { c.Policy = RestartNever })
	h.update(0, "10.0.0.1")
	h.run()
	first := h.waitStarts(1)[0]
	h.update(0, "10.0.0.2")
	h.waitLogs("no restart", 1)
	if err := syscall.Kill(first.PID, syscall.SIGUSR1); err != nil { // crash on demand
		t.Fatal(err)
	}
	starts := h.waitStarts(2)
	if want := uriOf(t, "10.0.0.2"); starts[1].URI != want {
		t.Fatalf("next start saw %s, want %s", starts[1].URI, want)
	}
	if st := h.sup.Status(); st.Restarts[ReasonCrashed] != 1 || *st.LastExitCode != 9 {
		t.Fatalf("status %+v, want one crash restart after exit code 9", st)
	}
}

func TestSupervisor_shutdown(t *testing.T) {
	tests := []struct {
		name       string
		env        []string
		killAfter  time.Duration
		stop       func(h *harness)
		wantCode   int
		wantSignal string
		wantKilled bool
	}{
		{name: "SIGTERM forwarded, child's exit status returned", env: []string{"FAKECHAT_TERM_CODE=3"},
			stop: func(h *harness) { _ = h.sup.Signal(syscall.SIGTERM) }, wantCode: 3, wantSignal: "terminated"},
		{name: "SIGINT forwarded as SIGINT", env: []string{"FAKECHAT_TERM_CODE=4"},
			stop: func(h *harness) { _ = h.sup.Signal(syscall.SIGINT) }, wantCode: 4, wantSignal: "interrupt"},
		{name: "context cancelled: SIGTERM, killed-by-signal status", env: []string{"FAKECHAT_TERM_CODE=die"},
			stop: func(h *harness) { h.cancel() }, wantCode: 128 + int(syscall.SIGTERM), wantSignal: "terminated"},
		{name: "SIGTERM ignored: SIGKILL after the kill timeout", env: []string{"FAKECHAT_IGNORE_TERM=1"}, killAfter: 200 * time.Millisecond,
			stop: func(h *harness) { _ = h.sup.Signal(syscall.SIGTERM) }, wantCode: 128 + int(syscall.SIGKILL), wantSignal: "terminated", wantKilled: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(c *SupervisorConfig) {
				if tc.killAfter > 0 {
					c.KillTimeout = tc.killAfter
				}
			}, tc.env...)
			h.update(0, "10.0.0.1")
			h.run()
			h.waitStarts(1)
			tc.stop(h)
			res := h.wait()
			if res.err != nil || res.code != tc.wantCode {
				t.Fatalf("Run = %d, %v; want %d", res.code, res.err, tc.wantCode)
			}
			signals := h.records("signal")
			if len(signals) != 1 || signals[0].Signal != tc.wantSignal {
				t.Fatalf("child saw signals %+v, want one %s", signals, tc.wantSignal)
			}
			if killed := len(h.logs.entries("Let's Chat did not exit in time")) == 1; killed != tc.wantKilled {
				t.Errorf("killed = %v, want %v", killed, tc.wantKilled)
			}
			if got := len(h.records("start")); got != 1 {
				t.Errorf("%d starts: a shutdown must not be taken for a crash", got)
			}
			if st := h.sup.Status(); st.State != StateStopped || st.PID != 0 {
				t.Errorf("status after Run: %+v", st)
			}
		})
	}
}

func TestSupervisor_forwardsOtherSignals(t *testing.T) {
	h := newHarness(t, nil)
	if err := h.sup.Signal(syscall.SIGHUP); !errors.Is(err, ErrNoChild) {
		t.Fatalf("Signal before start = %v, want ErrNoChild", err)
	}
	h.update(0, "10.0.0.1")
	h.run()
	first := h.waitStarts(1)[0]
	if err := h.sup.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	h.waitFor("SIGHUP recorded", func() bool { return len(h.records("signal")) == 1 })
	if sig := h.records("signal")[0]; sig.Signal != "hangup" || sig.PID != first.PID {
		t.Fatalf("child saw %+v", sig)
	}
	if st := h.sup.Status(); st.PID != first.PID || st.State != StateRunning {
		t.Fatalf("SIGHUP changed the child: %+v", st)
	}
	h.stop()
	if got := len(h.records("start")); got != 1 {
		t.Fatalf("%d starts", got)
	}
}

// TestSupervisor_waitsForMembers: no members, no child; bad updates keep it waiting; the first
// good one starts it.
func TestSupervisor_waitsForMembers(t *testing.T) {
	h := newHarness(t, nil)
	h.run()
	h.waitLogs("still waiting for replica-set members", 2)
	if err := h.sup.Update(Members{}); !errors.Is(err, ErrNoHosts) {
		t.Fatalf("Update(no members) = %v, want ErrNoHosts", err)
	}
	if err := h.sup.Update(Members{Hosts: MembersOf("[::1]:27017")}); !errors.Is(err, ErrInvalidHost) {
		t.Fatalf("Update(IPv6) = %v, want ErrInvalidHost", err)
	}
	if got := h.records("start"); len(got) != 0 {
		t.Fatalf("started without members: %+v", got)
	}
	st := h.sup.Status()
	if st.State != StateWaiting || st.URI != "" || !strings.Contains(st.LastError, "IPv6") {
		t.Fatalf("status while waiting: %+v", st)
	}
	h.update(0, "10.0.0.1")
	starts := h.waitStarts(1)
	if starts[0].URI != uriOf(t, "10.0.0.1") {
		t.Fatalf("first start saw %q", starts[0].URI)
	}
	// Losing every member afterwards keeps the last good URI: nothing restarts.
	if err := h.sup.Update(Members{}); !errors.Is(err, ErrNoHosts) {
		t.Fatalf("Update(no members) = %v", err)
	}
	h.waitLogs("membership update refused", 3)
	h.stop()
	if got := len(h.records("start")); got != 1 {
		t.Fatalf("%d starts", got)
	}
	if st := h.sup.Status(); st.URI != uriOf(t, "10.0.0.1") {
		t.Fatalf("kept URI %q", st.URI)
	}
}

// TestSupervisor_startWithoutMembers starts at once with the environment untouched; the first
// members then replace that child (its URI had no member).
func TestSupervisor_startWithoutMembers(t *testing.T) {
	h := newHarness(t, func(c *SupervisorConfig) { c.StartWithoutMembers = true })
	h.run()
	first := h.waitStarts(1)[0]
	if first.URI != "mongodb://mongo/letschat" {
		t.Fatalf("first start saw %q, want the environment's own value", first.URI)
	}
	h.update(0, "10.0.0.1")
	starts := h.waitStarts(2)
	if starts[1].URI != uriOf(t, "10.0.0.1") {
		t.Fatalf("restart saw %q", starts[1].URI)
	}
	if got := h.sup.Status().Restarts[ReasonSeedsLost]; got != 1 {
		t.Fatalf("seeds-lost restarts = %d, want 1", got)
	}
}

// TestSupervisor_settingsDelivery writes config/settings.yml, blanks LCB_DATABASE_URI, keeps the
// child running when a write fails and restarts it once the write succeeds.
func TestSupervisor_settingsDelivery(t *testing.T) {
	var target string
	h := newHarness(t, func(c *SupervisorConfig) {
		target = filepath.Join(c.Dir, "config", "settings.yml")
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := LoadSettings(filepath.Join("testdata", "settings", "base.yml"), target)
		if err != nil {
			t.Fatal(err)
		}
		c.Delivery, c.Settings, c.Policy = DeliverSettings, f, RestartAlways
		c.CookieSecret = "" // the base's own secrets.cookie serves
		c.Env = append(c.Env, "FAKECHAT_SETTINGS="+target, "LCB_SECRETS_COOKIE=baked")
	})
	h.update(0, "10.0.0.1")
	h.run()
	checkStart := func(s chatRecord, addrs ...string) {
		t.Helper()
		if !s.URISet || s.URI != "" || !s.CookieSet || s.Cookie != "" {
			t.Errorf("child saw LCB_DATABASE_URI set=%v %q, LCB_SECRETS_COOKIE set=%v %q; want both set and empty", s.URISet, s.URI, s.CookieSet, s.Cookie)
		}
		got, err := ResolveDatabaseURI(map[string]string{"LCB_DATABASE_URI": s.URI}, map[string][]byte{"config/settings.yml": []byte(s.Settings)})
		if want := uriOf(t, addrs...); err != nil || got.URI != want {
			t.Errorf("Let's Chat would use %+v (%v), want %s", got, err, want)
		}
		if !strings.Contains(s.Settings, `cookie: "K7#q9!vW2-not-a-number"`) {
			t.Errorf("secrets.cookie lost:\n%s", s.Settings)
		}
	}
	checkStart(h.waitStarts(1)[0], "10.0.0.1")

	h.update(0, "10.0.0.2")
	checkStart(h.waitStarts(2)[1], "10.0.0.2")

	// Make the target unwritable: a non-empty directory where the file was.
	if err := os.Remove(target); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(target, "blocker"), "x")
	h.update(0, "10.0.0.3")
	h.waitLogs("settings write failed", 2) // the first failure and at least one retry
	st := h.sup.Status()
	if st.State != StateRunning || st.PID != h.records("start")[1].PID || st.URI != uriOf(t, "10.0.0.2") || st.LastError == "" {
		t.Fatalf("after a failed write: %+v; want the old child running on the old URI", st)
	}
	if err := os.RemoveAll(target); err != nil {
		t.Fatal(err)
	}
	checkStart(h.waitStarts(3)[2], "10.0.0.3")
	h.stop()
	if got := len(h.records("start")); got != 3 {
		t.Fatalf("%d starts, want 3", got)
	}
}

func TestSupervisor_warnsAboutOverrides(t *testing.T) {
	tests := []struct {
		name     string
		delivery Delivery
		env      []string
		want     []string
	}{
		{"env delivery with MONGOLAB_URI", DeliverEnv, []string{"MONGOLAB_URI=mongodb://b/x"}, []string{"MONGOLAB_URI is set"}},
		{"settings delivery with MONGODB_URI", DeliverSettings, []string{"MONGODB_URI=mongodb://c/x"}, []string{"MONGODB_URI is set", "LCB_DATABASE_URI from the environment is blanked"}},
		{"settings delivery, clean", DeliverSettings, nil, []string{"LCB_DATABASE_URI from the environment is blanked"}},
		{"env delivery, clean", DeliverEnv, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(c *SupervisorConfig) {
				c.Delivery = tc.delivery
				if tc.delivery == DeliverSettings {
					f, err := LoadSettings("", filepath.Join(c.Dir, "config", "settings.yml"))
					if err != nil {
						t.Fatal(err)
					}
					c.Settings = f
				}
			}, tc.env...)
			h.run()
			h.waitLogs("waiting for replica-set members", 1)
			warnings := h.logs.entries("")
			var got []string
			for _, w := range warnings {
				msg := w["msg"].(string)
				if w["level"] == "warning" || strings.Contains(msg, "blanked") {
					for _, want := range tc.want {
						if strings.HasPrefix(msg, want) {
							got = append(got, want)
						}
					}
					if w["level"] == "warning" && len(tc.want) == 0 {
						t.Errorf("unexpected warning %q", msg)
					}
				}
			}
			slices.Sort(got)
			slices.Sort(tc.want)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("logged %v, want %v\n%s", got, tc.want, h.logs.text())
			}
		})
	}
}

// TestSupervisor_keepsSecretsOutOfLogs runs through starts, restarts, crashes, a refused update
// carrying credentials and a failed settings write, and looks for the password everywhere the
// supervisor reports.
func TestSupervisor_keepsSecretsOutOfLogs(t *testing.T) {
	const password = "Sup3r-S3cret!"
	escaped := escapeUserinfo(password)
	h := newHarness(t, func(c *SupervisorConfig) {
		c.Policy = RestartAlways
		c.URI = URIOptions{Username: "chat", Password: password, AuthSource: "admin"}
	})
	h.update(0, "10.0.0.1")
	h.run()
	first := h.waitStarts(1)[0]
	if !strings.Contains(first.URI, "chat:"+escaped+"@") {
		t.Fatalf("the child did not get the credentials: %q", first.URI)
	}
	if err := h.sup.Update(Members{Hosts: MembersOf("chat:" + password + "@10.0.0.9")}); !errors.Is(err, ErrInvalidHost) {
		t.Fatalf("Update with credentials in an address = %v", err)
	} else if strings.Contains(err.Error(), password) {
		t.Fatalf("error leaks the password: %v", err)
	}
	h.update(0, "10.0.0.2")
	second := h.waitStarts(2)[1]
	if err := syscall.Kill(second.PID, syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	h.waitStarts(3)
	status, err := json.Marshal(h.sup.Status())
	if err != nil {
		t.Fatal(err)
	}
	events, err := json.Marshal(h.allEvents())
	if err != nil {
		t.Fatal(err)
	}
	h.stop()
	for name, text := range map[string]string{"logs": h.logs.text(), "status": string(status), "events": string(events)} {
		if strings.Contains(text, password) || strings.Contains(text, escaped) {
			t.Errorf("%s leak the password:\n%s", name, text)
		}
	}
	if !strings.Contains(string(status), "chat:xxxxx@") || !strings.Contains(h.logs.text(), "chat:xxxxx@") {
		t.Errorf("redacted URI missing from status or logs: %s", status)
	}
}

func TestNewSupervisor_badConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  SupervisorConfig
	}{
		{"empty command", SupervisorConfig{Command: []string{}}},
		{"empty program", SupervisorConfig{Command: []string{""}}},
		{"settings delivery without a file", SupervisorConfig{Delivery: DeliverSettings}},
		{"unknown delivery", SupervisorConfig{Delivery: Delivery(7)}},
		{"unknown policy", SupervisorConfig{Policy: "sometimes"}},
		{"negative kill timeout", SupervisorConfig{KillTimeout: -time.Second}},
		{"backoff cap below start", SupervisorConfig{BackoffInitial: time.Minute, BackoffMax: time.Second}},
		{"bad URI options", SupervisorConfig{URI: URIOptions{Password: "x"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if s, err := NewSupervisor(tc.cfg); !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("NewSupervisor = %v, %v; want ErrInvalidConfig", s, err)
			}
		})
	}
}

func TestSupervisor_commandThatCannotStart(t *testing.T) {
	h := newHarness(t, func(c *SupervisorConfig) { c.Command = []string{filepath.Join(c.Dir, "no-such-program")} })
	h.update(0, "10.0.0.1")
	h.run()
	res := h.wait()
	if res.err == nil || res.code != 1 {
		t.Fatalf("Run = %d, %v; want 1 and an error", res.code, res.err)
	}
	if _, err := h.sup.Run(context.Background()); !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("second Run = %v, want ErrAlreadyRunning", err)
	}
}

// A replacement that cannot be started (the program vanished for a while) is retried after
// backoff; the supervisor does not give up once Let's Chat has run.
func TestSupervisor_failedRestartIsRetried(t *testing.T) {
	var prog string
	h := newHarness(t, func(c *SupervisorConfig) {
		prog = filepath.Join(c.Dir, "letschat.sh")
		c.Command = []string{prog}
	})
	// The first run removes the program and crashes, so the restart after backoff cannot start it.
	writeFile(t, prog, "#!/bin/sh\nrm -f \"$0\"\nexit 7\n")
	if err := os.Chmod(prog, 0o755); err != nil {
		t.Fatal(err)
	}
	h.update(0, "10.0.0.1")
	h.run()
	h.waitLogs("Let's Chat could not be started again; retrying after backoff", 1)
	writeFile(t, prog, "#!/bin/sh\nexec sleep 30\n")
	if err := os.Chmod(prog, 0o755); err != nil {
		t.Fatal(err)
	}
	h.waitFor("the program running again", func() bool { return h.sup.Status().State == StateRunning })
	select {
	case res := <-h.done:
		t.Fatalf("Run returned %d, %v after a failed restart", res.code, res.err)
	default:
	}
	h.stop()
}

// With NoSettle an update is adopted as soon as Run sees it, without the batching window (here an
// hour, which the test would never outlast), and a burst still ends on its latest membership.
func TestSupervisor_noSettleAdoptsAtOnce(t *testing.T) {
	h := newHarness(t, func(c *SupervisorConfig) {
		c.Policy = RestartNever
		c.SettleDelay = time.Hour
		c.NoSettle = true
	})
	h.update(0, "10.0.0.1")
	h.run()
	h.waitStarts(1)
	h.update(0, "10.0.0.2")
	h.waitFor("the second URI adopted", func() bool { return len(h.eventsOf(EventURIChanged)) >= 2 })
	for _, a := range []string{"10.0.0.3", "10.0.0.4", "10.0.0.5"} {
		h.update(0, a)
	}
	want := Redact(uriOf(t, "10.0.0.5"))
	h.waitFor("the burst's last URI adopted", func() bool { return h.sup.Status().URI == want })
	if got := h.records("start"); len(got) != 1 {
		t.Errorf("%d starts under the never policy, want 1", len(got))
	}
}
