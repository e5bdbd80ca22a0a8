package e2e

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"
)

// BenchmarkIdleMongoAgent measures what an idle mongo agent costs at the product's defaults
// (--recheck-interval 5s, --heartbeat-interval 2s, metadata long-poll defaults) beside a settled
// set of 3 and of 50 members (emulated, every agent a process): CPU share of one core and RSS of
// the primary's agent and of a secondary's, over BENCH_IDLE (default 60 s) after BENCH_IDLE_WARMUP
// (default 75 s); IDLE_MEMBERS picks one size. BenchmarkConvergence measures the same as part of
// its run; this one is for a focused look.
//
//	go test -run '^$' -bench IdleMongoAgent -benchtime 1x -timeout 30m ./e2e/
func BenchmarkIdleMongoAgent(b *testing.B) {
	if b.N > 1 {
		b.Skip("one run is the measurement; use -benchtime 1x")
	}
	sizes := []int{3, 50}
	if n, err := strconv.Atoi(os.Getenv("IDLE_MEMBERS")); err == nil && n > 0 {
		sizes = []int{n}
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			e := newEnv(b, envOptions{hosts: n, mongoFlags: productMongoFlags})
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
			time.Sleep(benchIdleWarmup)
			procs := []*proc{p.agent, sec.agent}
			t0 := cpuTicks(b, procs)
			time.Sleep(benchIdleLongPoll)
			prim := usageSince(b, procs[:1], t0[:1], benchIdleLongPoll)
			second := usageSince(b, procs[1:], t0[1:], benchIdleLongPoll)
			b.Logf("%d members, idle %s: primary's agent %s; secondary's agent %s", n, benchIdleLongPoll, fmtUsage(prim), fmtUsage(second))
			b.ReportMetric(prim.cpu, "primary-cpu-%")
			b.ReportMetric(prim.rssMiB, "primary-rss-MiB")
			b.ReportMetric(second.cpu, "secondary-cpu-%")
			b.ReportMetric(second.rssMiB, "secondary-rss-MiB")
		})
	}
}

// BenchmarkScale3to50 grows a settled set of 3 to 50 members (7 voters), an agent process per
// host at the product defaults, and reports the time from the metadata change to the settled set
// and the reconfigs it took (BenchmarkConvergence measures the same as part of its run).
// SCALE_TRACE=file writes every agent's decisions with their times.
//
//	go test -run '^$' -bench Scale3to50 -benchtime 1x -timeout 30m ./e2e/
func BenchmarkScale3to50(b *testing.B) {
	if b.N > 1 {
		b.Skip("one run is the measurement; use -benchtime 1x")
	}
	s := benchScale(b, false)
	b.ReportMetric(s.took.Seconds(), "scale-3to50-s")
	b.ReportMetric(float64(s.reconfigs), "reconfigs")
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
