package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// chatRecord is one line of the stand-in's records.
type chatRecord struct {
	Event  string `json:"event"`
	PID    int    `json:"pid"`
	Time   int64  `json:"time"`
	URI    string `json:"uri"`
	Signal string `json:"signal"`
	Code   int    `json:"code"`
}

func readChat(path string) []chatRecord {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []chatRecord
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r chatRecord
		if json.Unmarshal(sc.Bytes(), &r) == nil {
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(a, b chatRecord) int { return int(a.Time - b.Time) })
	return out
}

func syscallKillGroup(pid int) error { return syscall.Kill(-pid, syscall.SIGKILL) }

// downSpan is an instance down for a policy restart: from its child's SIGTERM to the first
// later child of the same instance that is ready.
type downSpan struct {
	instance   string
	start, end time.Time
}

// policyDowntimes reads an instance's down spans from its stand-in's records; an open one ends
// at end.
func policyDowntimes(ci *chatInstance, end time.Time) []downSpan {
	recs := readChat(ci.chatLog)
	var out []downSpan
	for i, r := range recs {
		if r.Event != "signal" || r.Signal != "terminated" {
			continue
		}
		d := downSpan{instance: ci.name, start: time.Unix(0, r.Time), end: end}
		for _, later := range recs[i+1:] {
			if later.PID != r.PID && later.Event == "ready" {
				d.end = time.Unix(0, later.Time)
				break
			}
		}
		out = append(out, d)
	}
	return out
}

// TestLetschatRestartInvariant runs two Let's Chat services of three instances each, one
// all-active and one active-standby, every instance a letschat agent process over the stand-in
// (it boots for half a second), through membership churn that forces policy restarts (policy
// always: every change of the set's hosts restarts every instance), with the restart lease in the
// emulated set and a stand-in for Rancher's health check polling each agent's /readyz and
// publishing health_state in metadata. A sampler polls every agent's /readyz; the stand-ins record
// every start, readiness and signal.
//
// It asserts the restart invariant of each mode — all-active: never two instances down for a
// policy restart at once; active-standby: never a sample without a ready instance — and reports
// the longest time any instance was down and the longest time no instance was ready. Then it loses
// the serving active–standby instance's host and logs how long until a standby serves (a
// measurement, not an assertion).
func TestLetschatRestartInvariant(t *testing.T) {
	if testing.Short() {
		t.Skip("long end-to-end scenario")
	}
	e := newEnv(t, envOptions{hosts: 5})
	h := e.hosts
	e.mu.Lock()
	e.addHosts(h[:3]...)
	e.mu.Unlock()
	e.waitSettled("3 hosts", h[:3])

	// Timings scaled down together: the health check every 200 ms, healthy after 2 passes,
	// unhealthy after 3 failures, so the load balancer reacts within 3 × 200 ms + 200 ms; the
	// handover delay covers that.
	const checkEvery = 200 * time.Millisecond
	common := []string{"--stagger", "1s", "--min-restart-interval", "1s", "--gate-retry", "300ms", "--lease-ttl", "5s",
		"--ready-timeout", "30s", "--handover-delay", "1s", "--handover-timeout", "15s"}
	aa := e.addChatService("lc-aa", "always", 3, 500*time.Millisecond, 100*time.Millisecond, append([]string{"--instances", "all-active"}, common...)...)
	as := e.addChatService("lc-as", "always", 3, 500*time.Millisecond, 100*time.Millisecond, append([]string{"--instances", "active-standby"}, common...)...)
	all := append(slices.Clone(aa), as...)
	checker := startHealthChecker(e, checkEvery, 2, 3, all)
	sampler := startReadySampler(t, 25*time.Millisecond, map[string][]*chatInstance{"all-active": aa, "active-standby": as})

	servingOf := func(g []*chatInstance) []*chatInstance {
		var out []*chatInstance
		for _, ci := range g {
			if readyzOK(ci.proc, 3*time.Second) {
				out = append(out, ci)
			}
		}
		return out
	}
	waitFor(t, "every all-active instance ready, one active-standby instance serving", settleTimeout, func() (bool, string) {
		a, s := servingOf(aa), servingOf(as)
		return len(a) == 3 && len(s) == 1 && checker.health(s[0].name) == "healthy", fmt.Sprintf("%d all-active ready, %d active-standby serving", len(a), len(s))
	})
	begin := time.Now()

	// Churn: each change of the set's hosts restarts every instance; changes come while the
	// restarts of the previous one still run.
	steps := []struct {
		what      string
		add, lose []*host
		want      []*host
	}{
		{what: "host 4 joins", add: h[3:4], want: h[:4]},
		{what: "host 1 lost", lose: h[0:1], want: h[1:4]},
		{what: "host 5 joins", add: h[4:5], want: h[1:5]},
		{what: "host 2 lost", lose: h[1:2], want: h[2:5]},
	}
	for _, s := range steps {
		if len(s.add) > 0 {
			e.mu.Lock()
			for _, x := range s.add {
				e.startNode(x.addr)
				e.list(x)
			}
			e.publish()
			e.mu.Unlock()
			for _, x := range s.add {
				e.startAgent(x)
			}
		}
		if len(s.lose) > 0 {
			e.mu.Lock()
			e.loseHosts(s.lose...)
			e.mu.Unlock()
		}
		e.waitSettled(s.what, s.want)
	}
	final := slices.Sorted(slices.Values(addrsOf(h[2:5])))
	waitFor(t, "every instance on the final URI, nothing pending, one active-standby instance serving", 3*settleTimeout, func() (bool, string) {
		for _, ci := range all {
			st, err := ci.proc.letschatStatus()
			if err != nil {
				return false, ci.name + ": " + err.Error()
			}
			if st.Supervisor.State != "running" || st.Supervisor.Pending != "" || !slices.Equal(uriHosts(st.Supervisor.ChildURI), final) {
				return false, fmt.Sprintf("%s: %+v", ci.name, st.Supervisor)
			}
		}
		if s := servingOf(as); len(s) != 1 {
			return false, fmt.Sprintf("%d active-standby instances serve", len(s))
		}
		return len(servingOf(aa)) == 3, "all-active instances not all ready"
	})
	end := time.Now()

	// The invariants.
	var aaDown []downSpan
	longestDown := map[string]time.Duration{}
	for group, g := range map[string][]*chatInstance{"all-active": aa, "active-standby": as} {
		for _, ci := range g {
			spans := policyDowntimes(ci, end)
			if len(spans) == 0 {
				t.Errorf("%s: no policy restart happened", ci.name)
			}
			for _, d := range spans {
				longestDown[group] = max(longestDown[group], d.end.Sub(d.start))
			}
			if group == "all-active" {
				aaDown = append(aaDown, spans...)
			}
		}
	}
	slices.SortFunc(aaDown, func(a, b downSpan) int { return a.start.Compare(b.start) })
	for i, a := range aaDown {
		for _, b := range aaDown[i+1:] {
			if b.start.After(a.end) {
				break
			}
			if b.instance != a.instance {
				t.Errorf("all-active: %s was down for a policy restart (%s..%s) while %s was (%s..%s)", b.instance,
					b.start.Format("15:04:05.000"), b.end.Format("15:04:05.000"), a.instance, a.start.Format("15:04:05.000"), a.end.Format("15:04:05.000"))
			}
		}
	}
	for _, group := range []string{"all-active", "active-standby"} {
		longest, zero, total := sampler.noneReady(group, begin, end)
		t.Logf("%s: longest policy downtime of one instance %s; no instance ready in %d of %d samples (every 25 ms), longest such run %s; at most %d ready at once",
			group, longestDown[group].Round(time.Millisecond), zero, total, longest.Round(time.Millisecond), sampler.mostReady(group, begin, end))
		if zero > 0 {
			t.Errorf("%s: %d samples with no instance ready (longest run %s)", group, zero, longest)
		}
	}
	handed := sumOver(t, procsOf(as), "replset_agent_letschat_handovers_total", `outcome="handed-over"`)
	took := sumOver(t, procsOf(as), "replset_agent_letschat_handovers_total", `outcome="took-over"`)
	off := sumOver(t, procsOf(as), "replset_agent_letschat_handovers_total", `outcome="called-off"`)
	t.Logf("active-standby: %v handovers (%v taken over, %v called off) in %s of churn", handed, took, off, end.Sub(begin).Round(time.Second))
	for _, ci := range as {
		for _, l := range ci.proc.logLines() {
			if msg := fmt.Sprint(l["msg"]); strings.HasPrefix(msg, "handover") || strings.HasPrefix(msg, "took over") {
				t.Logf("  %s %s: %s (successor %v)", l["time"], ci.name, msg, l["successor"])
			}
		}
	}
	if handed < 1 || took < handed {
		t.Errorf("active-standby: %v handovers given, %v taken: every restart of the serving instance must go through one", handed, took)
	}

	// Failover: the serving instance's host is lost (agent and stand-in killed; its check fails,
	// so Rancher marks it unhealthy). Measured until a standby's /readyz passes.
	active := servingOf(as)[0]
	st, _ := active.proc.letschatStatus()
	lostAt := time.Now()
	active.proc.kill()
	if st.Supervisor.PID > 0 {
		_ = syscallKillGroup(st.Supervisor.PID)
	}
	var successor *chatInstance
	waitFor(t, "a standby serves after the active host was lost", settleTimeout, func() (bool, string) {
		s := servingOf(as)
		if len(s) > 0 {
			successor = s[0]
			return true, ""
		}
		return false, "no instance serves"
	})
	servedAfter := time.Since(lostAt)
	var unhealthyAfter time.Duration
	for _, f := range checker.flips() {
		if f.instance == active.name && f.health == "unhealthy" && f.at.After(lostAt) {
			unhealthyAfter = f.at.Sub(lostAt)
			break
		}
	}
	t.Logf("active-standby failover: active host lost → its check failing in metadata %s → %s serves %s (health check every %s, unhealthy after 3 failures)",
		unhealthyAfter.Round(time.Millisecond), successor.name, servedAfter.Round(time.Millisecond), checkEvery)
	if successor == active {
		t.Fatal("the lost instance still answers")
	}
}

func procsOf(g []*chatInstance) []*proc {
	var out []*proc
	for _, ci := range g {
		if ci.proc.running() {
			out = append(out, ci.proc)
		}
	}
	return out
}
