package e2e

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkIdleMongoAgent measures what an idle mongo agent costs at the product's defaults
// (--recheck-interval 5s, --heartbeat-interval 2s, metadata long-poll defaults) beside a settled
// set of 3 and of 50 members (emulated, every agent a process): CPU share of one core and RSS of
// the primary's agent and of a secondary's, over IDLE_WINDOW (default 60 s) after IDLE_WARMUP
// (default 75 s); IDLE_MEMBERS picks one size.
//
//	go test -run '^$' -bench IdleMongoAgent -benchtime 1x -timeout 30m ./e2e/
func BenchmarkIdleMongoAgent(b *testing.B) {
	if b.N > 1 {
		b.Skip("one run is the measurement; use -benchtime 1x")
	}
	window, warmup := 60*time.Second, 75*time.Second
	if d, err := time.ParseDuration(os.Getenv("IDLE_WINDOW")); err == nil && d > 0 {
		window = d
	}
	if d, err := time.ParseDuration(os.Getenv("IDLE_WARMUP")); err == nil && d > 0 {
		warmup = d
	}
	sizes := []int{3, 50}
	if n, err := strconv.Atoi(os.Getenv("IDLE_MEMBERS")); err == nil && n > 0 {
		sizes = []int{n}
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			defaults := []string{"--recheck-interval", "5s", "--heartbeat-interval", "2s",
				"--metadata-min-interval", "1s", "--metadata-max-wait", "30s", "--metadata-backoff-cap", "30s"}
			e := newEnv(b, envOptions{hosts: n, mongoFlags: defaults})
			e.addHosts(e.hosts...)
			v := e.waitSettled(fmt.Sprintf("idle: %d hosts", n), e.hosts)
			p := e.primaryHost(v)
			var sec *host
			for _, h := range e.hosts {
				if h != p {
					sec = h
					break
				}
			}
			// Let the convergence's aftermath pass before measuring: promotions, first long-polls, and
			// the driver pools opened to every candidate before the initiate (closed once idle
			// for a minute).
			time.Sleep(warmup)
			procs := []*proc{p.agent, sec.agent}
			t0 := cpuTicks(b, procs)
			time.Sleep(window)
			prim := usageSince(b, procs[:1], t0[:1], window)
			second := usageSince(b, procs[1:], t0[1:], window)
			b.Logf("%d members, idle %s: primary's agent %.2f%% CPU, %.1f MiB RSS; secondary's agent %.2f%% CPU, %.1f MiB RSS",
				n, window, prim.cpu, prim.rssMiB, second.cpu, second.rssMiB)
			b.ReportMetric(prim.cpu, "primary-cpu-%")
			b.ReportMetric(prim.rssMiB, "primary-rss-MiB")
			b.ReportMetric(second.cpu, "secondary-cpu-%")
			b.ReportMetric(second.rssMiB, "secondary-rss-MiB")
		})
	}
}

// BenchmarkScale3to50 grows a settled set of 3 to 50 members (7 voters), an agent process per
// host at the default --recheck-interval 5s, and reports the time from the metadata change to the
// settled set and the reconfigs it took.
//
//	go test -run '^$' -bench Scale3to50 -benchtime 1x -timeout 30m ./e2e/
func BenchmarkScale3to50(b *testing.B) {
	if b.N > 1 {
		b.Skip("one run is the measurement; use -benchtime 1x")
	}
	e := newEnv(b, envOptions{hosts: benchScaleMembers, mongoFlags: []string{"--recheck-interval", "5s"}})
	h := e.hosts
	e.addHosts(h[:3]...)
	e.waitSettled("scale: 3 hosts", h[:3])
	before := reconfigs(e)
	rest := h[3:]
	for _, x := range rest {
		e.startNode(x.addr)
		e.startAgent(x)
	}
	for _, x := range rest {
		e.list(x)
	}
	start := time.Now()
	e.publish()
	e.waitSettled("scale: 50 members", h)
	took := time.Since(start)
	e.checkSafety(b)
	n := reconfigs(e) - before
	b.Logf("3 → 50 members: %s, %d reconfigs", took.Round(10*time.Millisecond), n)
	if path := os.Getenv("SCALE_TRACE"); path != "" {
		// The decisions of every agent, for finding where the time went (benchmark logs are cut
		// short).
		var out []string
		for _, x := range h {
			for _, l := range x.agent.logLines() {
				switch l["msg"] {
				case "decision", "action done", "config committed", "action failed; retrying":
					out = append(out, fmt.Sprintf("%v %s %v %v %v", l["time"], x.name, l["msg"], l["step"], l["reason"]))
				}
			}
		}
		sort.Strings(out)
		if err := os.WriteFile(path, []byte(strings.Join(out, "\n")+"\n"), 0o644); err != nil {
			b.Log(err)
		}
	}
}

// reconfigs counts the configs the emulator installed by replSetReconfig on the node that ran it.
func reconfigs(e *env) int {
	if e.obs == nil {
		return 0
	}
	n := 0
	for _, ch := range e.obs.ConfigChanges() {
		if ch.Origin == "reconfig" {
			n++
		}
	}
	return n
}
