package e2e

import (
	"fmt"
	"strings"
	"time"
)

// benchReport is one run of BenchmarkConvergence; parts that did not run are nil.
type benchReport struct {
	started               time.Time
	took                  time.Duration
	loadBefore, loadAfter string
	lp, poll              *modeResult
	solo                  *modeResult // one host's agents awake (benchSolo)
	scale                 *scaleResult
	rss                   *rssResult
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

func ratio(slow, fast time.Duration) float64 {
	return float64(slow) / float64(max(fast, time.Microsecond))
}

// render writes the run as Markdown: issue 14's targets, the per-stage breakdown and the rest.
func (r benchReport) render() string {
	var sb strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&sb, format+"\n", args...) }
	w("## Performance (issue 14)")
	w("")
	w("Machine: %s. MongoDB played by the mongosim emulator (5.0, heartbeat step 62.5 ms, heartbeat round trip 1 ms); every agent a separate process of the shipped binary. %s UTC, %s for the whole run; load average (1, 5, 15 min) %s before and %s after.",
		machine(), r.started.UTC().Format("2006-01-02 15:04"), r.took.Round(time.Second), r.loadBefore, r.loadAfter)
	w("")
	w("Command: `go test -run '^$' -bench Convergence -benchtime 1x -timeout 60m ./e2e/`.")
	w("")
	w("Agents run with the product's defaults (`--recheck-interval 5s`, `--heartbeat-interval 2s`, `--metadata-min-interval 1s`, `--metadata-max-wait 30s`) except `--removal-grace 100ms` (resets between changes are not measured) and Let's Chat's `--settle-delay 0` (no batching window). World for the latencies: 3 hosts, 1 host that joins (measured) and leaves (not measured), 2 Let's Chat instances, and another stack whose service changes.")
	w("")
	w("| measurement | target | now, p50 / p99 | |")
	w("|---|---|---|---|")
	if so := r.solo; so != nil {
		s := so.sent()
		w("| change → reconfig sent, the agent's own, one host's agents awake (the primary's mongo agent and a Let's Chat agent; %d changes) | p99 < 20 ms | %s | %s |", len(s), s.pair(), verdict(len(s) > 0 && s.p(99) < 20*time.Millisecond))
		w("| change → the Let's Chat URI updated, same host, `--settle-delay 0` | p99 < 25 ms | %s | %s |", so.lcDone.pair(), verdict(so.lcDone.p(99) < 25*time.Millisecond))
	}
	if lp := r.lp; lp != nil {
		s := lp.sent()
		w("| change → reconfig sent, every agent of the world awake on the 2 cores (4 mongo, 2 Let's Chat; %d changes; breakdown below) | p99 < 20 ms | %s | %s |", len(s), s.pair(), verdict(len(s) > 0 && s.p(99) < 20*time.Millisecond))
		w("| change → member in the committed config (the emulator's commitmentStatus, read in its memory every 1 ms) | p99 < 50 ms | %s | %s |", lp.committed.pair(), verdict(lp.committed.p(99) < 50*time.Millisecond))
		w("| change → every Let's Chat URI updated, every agent awake, `--settle-delay 0` (agents' log, rounded up to the ms) | p99 < 25 ms | %s | %s |", lp.lcDone.pair(), verdict(lp.lcDone.p(99) < 25*time.Millisecond))
	}
	if lp, poll := r.lp, r.poll; lp != nil && poll != nil {
		p50, p99 := ratio(poll.committed.p(50), lp.committed.p(50)), ratio(poll.committed.p(99), lp.committed.p(99))
		w("| poll every 5 s vs long-poll, change → committed, same run (%d / %d changes) | ≥ 50× at p50 and p99 | %.0f× / %.0f× (poll %s) | %s |",
			len(poll.committed), len(lp.committed), p50, p99, poll.committed.pair(), verdict(p50 >= 50 && p99 >= 50))
	}
	if s := r.scale; s != nil {
		w("| 3 → 50 members (7 voters), an agent process per host, product defaults | < 5 s, ≤ 6 reconfigs | %s, %d reconfigs | %s |",
			s.took.Round(10*time.Millisecond), s.reconfigs, verdict(s.took < 5*time.Second && s.reconfigs <= 6))
	}
	if x := r.rss; x != nil {
		w("| peak RSS of a mongo agent reading a %.0f MB tree (%d hosts, %d services) %d times | < 40 MiB | %.1f MiB peak, %.1f MiB after | %s |",
			x.treeMB, x.hosts, x.services, x.reads, x.peakMiB, x.afterMiB, verdict(x.peakMiB < 40))
	}
	if lp := r.lp; lp != nil && len(lp.idle) > 0 {
		worst := usage{}
		for _, u := range lp.idle {
			worst.cpu, worst.rssMiB = max(worst.cpu, u.cpu), max(worst.rssMiB, u.rssMiB)
		}
		w("| idle mongo agent, product defaults, 3 members, %s: primary's / busiest secondary's | < 0.2 %% of a core, < 25 MiB RSS | %s / %s | %s |",
			benchIdleLongPoll, fmtUsage(lp.idle[0]), fmtUsage(busiest(lp.idle[1:])), verdict(worst.cpu < 0.2 && worst.rssMiB < 25))
	}
	if s := r.scale; s != nil && len(s.idle) == 2 {
		w("| the same beside 50 members: primary's / a secondary's | < 0.2 %% of a core, < 25 MiB RSS | %s / %s | %s |",
			fmtUsage(s.idle[0]), fmtUsage(s.idle[1]), verdict(max(s.idle[0].cpu, s.idle[1].cpu) < 0.2 && max(s.idle[0].rssMiB, s.idle[1].rssMiB) < 25))
	}
	if lp := r.lp; lp != nil && lp.outside != nil {
		o := lp.outside
		w("| metadata requests per change per agent | 2 | %.2f | %s |", lp.reqPerChange, verdict(lp.reqPerChange < 2.05))
		w("| a change outside the watched stack (%d changes × %d agents): requests per change per agent, tree reads, snapshots handed over, reconcile passes caused | 2; 0 passes | %.2f, %.2f, %.0f, %.0f | %s |",
			o.changes, o.agents, o.reqPerChange, o.treeReads, o.snapshots, o.passes, verdict(o.reqPerChange < 2.05 && o.snapshots == 0 && o.passes == 0))
	}
	if lp := r.lp; lp != nil && r.poll == nil { // a long-poll-only run (BENCH_PARTS=long-poll)
		w("")
		sb.WriteString(stageTable([]string{"long-poll"}, [][]stages{lp.stages}))
		w("")
		w("| change → member committed, min / p50 / p90 / p99 / max | %s |", spread(lp.committed))
		w("| change → every Let's Chat URI, min / p50 / p90 / p99 / max | %s |", spread(lp.lcDone))
		w("| CPU per change, mean per mongo agent / letschat agent / test process | %.1f / %.1f / %.1f ms |", lp.cpuPerChange, lp.lcCPUPerChange, lp.selfCPUPerChange)
	}
	if lp, poll := r.lp, r.poll; lp != nil && poll != nil {
		w("")
		w("### Where the time goes: change → committed, stage by stage")
		w("")
		w("From the acting agent's own log (`action done` / `config committed`: `stagesFrom` and `seenMs` … `committedMs`) and the moment the benchmark published the change; %d / %d changes (%d / %d without a logged action).",
			len(lp.stages), len(poll.stages), lp.missing, poll.missing)
		w("")
		cols, samples := []string{"long-poll, every agent awake", "poll 5 s"}, [][]stages{lp.stages, poll.stages}
		if so := r.solo; so != nil {
			cols = []string{"long-poll, every agent awake", "long-poll, one host's agents", "poll 5 s"}
			samples = [][]stages{lp.stages, so.stages, poll.stages}
		}
		sb.WriteString(stageTable(cols, samples))
		w("")
		w("### Other measurements")
		w("")
		w("| measurement | long-poll (default) | poll every 5 s |")
		w("|---|---|---|")
		w("| change → member committed, min / p50 / p90 / p99 / max | %s | %s |", spread(lp.committed), spread(poll.committed))
		w("| change → every Let's Chat URI, min / p50 / p90 / p99 / max | %s | %s |", spread(lp.lcDone), spread(poll.lcDone))
		if so := r.solo; so != nil {
			w("| one host's agents awake: change → member committed / → its Let's Chat URI, min / p50 / p90 / p99 / max | %s / %s | |", spread(so.committed), spread(so.lcDone))
		}
		w("| CPU per change (host joins and leaves), mean per mongo agent / letschat agent / test process (emulator, metadata, probe) | %.1f / %.1f / %.1f ms | %.1f / %.1f / %.1f ms |",
			lp.cpuPerChange, lp.lcCPUPerChange, lp.selfCPUPerChange, poll.cpuPerChange, poll.lcCPUPerChange, poll.selfCPUPerChange)
		w("| metadata requests per change per agent (poll: with the polls between changes) | %.2f | %.2f |", lp.reqPerChange, poll.reqPerChange)
		w("| metadata requests per minute per idle agent | %.1f | %.1f |", lp.idleReqPerMin, poll.idleReqPerMin)
		w("| mongo agents idle (%d), mean | %s | %s |", len(lp.idle), fmtUsage(mean(lp.idle)), fmtUsage(mean(poll.idle)))
		w("| letschat agents idle (%d), mean | %s | %s |", len(lp.lcIdle), fmtUsage(mean(lp.lcIdle)), fmtUsage(mean(poll.lcIdle)))
		w("| mongo agents during a burst of 100 version bumps (window %s / %s), mean | %s | %s |",
			lp.burstWindow.Round(10*time.Millisecond), poll.burstWindow.Round(10*time.Millisecond), fmtUsage(lp.burstCPU), fmtUsage(poll.burstCPU))
		w("| letschat agents, same burst | %s | %s |", fmtUsage(lp.lcBurstCPU), fmtUsage(poll.lcBurstCPU))
		w("| peak RSS of any agent (VmHWM) | %.1f MiB | %.1f MiB |", max(lp.burstCPU.peakMiB, lp.lcBurstCPU.peakMiB), max(poll.burstCPU.peakMiB, poll.lcBurstCPU.peakMiB))
	}
	if s := r.scale; s != nil {
		w("")
		w("### 3 → 50: the actions, as the agents logged them")
		w("")
		w("CPU used during the growth: all agents %.1f s, the test process (50 emulated mongods, metadata server, probe) %.1f s, over %s of wall time on 2 cores.",
			s.agentsCPU, s.emulatorCPU, s.took.Round(10*time.Millisecond))
		w("")
		for _, a := range s.actions {
			w("- %s", a)
		}
	}
	if x := r.rss; x != nil {
		w("")
		w("Large tree: first snapshot %s after the agent started, then %s per read.", x.firstRead.Round(time.Millisecond), x.perRead.Round(time.Millisecond))
	}
	w("")
	w("CPU is utime+stime from /proc/<pid>/stat (10 ms ticks) over the window, in %% of one core; RSS is VmRSS from /proc/<pid>/status.")
	return sb.String()
}

func fmtUsage(u usage) string { return fmt.Sprintf("%.2f %% CPU, %.1f MiB", u.cpu, u.rssMiB) }

func busiest(us []usage) usage {
	var b usage
	for _, u := range us {
		if u.cpu >= b.cpu {
			b = u
		}
	}
	return b
}

func mean(us []usage) usage {
	var m usage
	for _, u := range us {
		m.cpu += u.cpu
		m.rssMiB += u.rssMiB
		m.peakMiB = max(m.peakMiB, u.peakMiB)
	}
	if n := float64(len(us)); n > 0 {
		m.cpu /= n
		m.rssMiB /= n
	}
	m.measured = len(us)
	return m
}

func spread(d durations) string {
	if len(d) == 0 {
		return "n/a"
	}
	return strings.Join([]string{fmtMs(d.p(0)), fmtMs(d.p(50)), fmtMs(d.p(90)), fmtMs(d.p(99)), fmtMs(d.p(100))}, " / ")
}
