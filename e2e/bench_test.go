package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Benchmark sizes. Poll mode takes about 5 s per change and 5 s per reset, so it gets fewer
// changes than long-poll mode; the table says how many each had.
const (
	benchChangesLongPoll = 60
	benchChangesPoll     = 20
	benchPollInterval    = 5 * time.Second
	benchIdleLongPoll    = 60 * time.Second // two long-poll rounds of the default 30 s maxWait
	benchIdlePoll        = 30 * time.Second
	benchScaleMembers    = 50
)

// BenchmarkConvergence measures the agents as separate processes, in one run:
//
//  1. convergence latency in the default long-poll mode: a new host with a mongo container appears
//     in metadata → the member is in the committed config → every Let's Chat URI names it;
//  2. the same with --metadata-mode poll --metadata-poll-interval 5s, and the ratio;
//  3. metadata requests per change per agent, and per minute while idle;
//  4. agent CPU and RSS while idle and during a burst of 100 version bumps;
//  5. the time for a set of 3 to grow to 50 members (7 voters).
//
// It prints a table and writes it to testdata/bench-results.md. Run it with
//
//	go test -run '^$' -bench . -benchtime 1x -timeout 30m ./e2e/
func BenchmarkConvergence(b *testing.B) {
	if b.N > 1 {
		b.Skip("one run is the measurement; use -benchtime 1x")
	}
	// The period is how often an agent may ask for the version: --metadata-min-interval in
	// long-poll mode, the poll interval in poll mode.
	lp := benchMode(b, "long-poll", benchChangesLongPoll, benchIdleLongPoll, time.Second)
	poll := benchMode(b, "poll", benchChangesPoll, benchIdlePoll, benchPollInterval,
		"--metadata-mode", "poll", "--metadata-poll-interval", benchPollInterval.String())
	scale := benchScale(b)

	table := benchTable(lp, poll, scale)
	fmt.Println(table)
	path := filepath.Join("testdata", "bench-results.md")
	if err := os.WriteFile(path, []byte(table), 0o644); err != nil {
		b.Logf("cannot write %s: %v", path, err)
	}
	b.ReportMetric(percentile(lp.total, 50).Seconds()*1000, "longpoll-p50-ms")
	b.ReportMetric(percentile(poll.total, 50).Seconds()*1000, "poll-p50-ms")
	b.ReportMetric(scale.Seconds(), "scale-3to50-s")
}

// modeResult is one metadata mode's measurements.
type modeResult struct {
	mode                  string
	added, lcDone, total  []time.Duration
	reqPerChange          float64 // metadata requests per metadata change per agent
	idleReqPerMin         float64 // per agent
	idleCPU, burstCPU     usage   // mongo agents
	lcIdleCPU, lcBurstCPU usage   // letschat agents
	burstWindow           time.Duration
}

// usage is the CPU share (of one core) and resident memory of a group of processes, per process.
type usage struct {
	cpu      float64 // percent of one core, mean per process
	rssMiB   float64 // mean VmRSS
	peakMiB  float64 // largest VmHWM
	measured int
}

// benchMode builds a world of 3 hosts (plus one that comes and goes) and 2 Let's Chat instances
// whose agents run with the product's defaults for metadata and Let's Chat, except the flags
// given, a short removal grace (resets are not measured) and a short Let's Chat settle delay
// (the URI update is measured, not the batching window).
func benchMode(b *testing.B, mode string, changes int, idle, period time.Duration, flags ...string) modeResult {
	res := modeResult{mode: mode}
	common := append([]string{"--metadata-min-interval", "1s", "--metadata-max-wait", "30s", "--metadata-backoff-cap", "30s"}, flags...)
	e := newEnv(b, envOptions{
		hosts:         4,
		grace:         100 * time.Millisecond,
		mongoFlags:    append([]string{"--recheck-interval", "500ms"}, common...),
		letschatFlags: append([]string{"--settle-delay", "100ms"}, common...),
	})
	h := e.hosts
	base, spare := h[:3], h[3]
	e.addHosts(base...)
	lcs := e.addLetschat("letschat", "never", 2)
	e.waitSettled(mode+": 3 hosts", base)
	steady := append(agents(base), lcs[0].proc, lcs[1].proc)

	before := map[*proc]float64{}
	for _, p := range steady {
		before[p], _ = p.metric("replset_agent_metadata_requests_total")
	}
	for i := range changes {
		a, l := benchOneChange(b, e, base, spare, lcs, period)
		res.added = append(res.added, a)
		res.lcDone = append(res.lcDone, l)
		res.total = append(res.total, max(a, l))
		b.Logf("%s change %d/%d: member committed %s, Let's Chat URIs %s", mode, i+1, changes, a.Round(time.Millisecond), l.Round(time.Millisecond))
	}
	var reqs float64
	for _, p := range steady {
		v, _ := p.metric("replset_agent_metadata_requests_total")
		reqs += v - before[p]
	}
	// Every iteration is two metadata changes: the host appears, the host goes.
	res.reqPerChange = reqs / float64(2*changes) / float64(len(steady))

	// Idle: nothing changes; count requests and CPU.
	e.waitSettled(mode+": idle", base)
	mongo, lc := agents(base), []*proc{lcs[0].proc, lcs[1].proc}
	for _, p := range steady {
		before[p], _ = p.metric("replset_agent_metadata_requests_total")
	}
	t0 := cpuTicks(b, mongo)
	l0 := cpuTicks(b, lc)
	time.Sleep(idle)
	res.idleCPU = usageSince(b, mongo, t0, idle)
	res.lcIdleCPU = usageSince(b, lc, l0, idle)
	reqs = 0
	for _, p := range steady {
		v, _ := p.metric("replset_agent_metadata_requests_total")
		reqs += v - before[p]
	}
	res.idleReqPerMin = reqs / float64(len(steady)) / idle.Minutes()

	// Burst: 100 data changes in about a second, CPU measured until every agent caught up.
	t0, l0 = cpuTicks(b, mongo), cpuTicks(b, lc)
	start := time.Now()
	for i := range 100 {
		h[0].meta.Label("burst", strconv.Itoa(i))
		e.publish()
		time.Sleep(10 * time.Millisecond)
	}
	want := e.meta.Version()
	for _, p := range steady {
		waitFor(b, p.name+" catches up with the burst", settleTimeout, func() (bool, string) {
			st, _, err := p.metaStats()
			return err == nil && st.EmittedVersion == want, st.EmittedVersion
		})
	}
	res.burstWindow = time.Since(start)
	res.burstCPU = usageSince(b, mongo, t0, res.burstWindow)
	res.lcBurstCPU = usageSince(b, lc, l0, res.burstWindow)
	e.checkSafety(b)
	return res
}

// benchOneChange adds the spare host (measured) and takes it away again (not measured). It
// returns the time from the metadata change to the member being in the committed config, and to
// every Let's Chat instance's URI naming it.
func benchOneChange(b *testing.B, e *env, base []*host, spare *host, lcs []*lcAgent, jitter time.Duration) (added, lcDone time.Duration) {
	// A fresh, empty mongod and its agent are up before the host shows up in metadata, as when a
	// Rancher host joins and its global-service containers start.
	e.startNode(spare.addr)
	e.startAgent(spare)
	v := e.view()
	if v.Primary == "" {
		b.Fatalf("no primary before the change")
	}
	// A random pause, uniform over the agents' request period, keeps the change from locking onto
	// their schedule (the reset before it ended right after one of their requests).
	time.Sleep(time.Duration(rand.Int64N(int64(jitter))))

	e.list(spare)
	start := time.Now()
	e.publish()
	lcSeen := make([]bool, len(lcs))
	deadline := start.Add(2 * time.Minute)
	for added == 0 || lcDone == 0 {
		if time.Now().After(deadline) {
			b.Fatalf("change not converged after 2 minutes (added %s, Let's Chat %s): %s", added, lcDone, e.view())
		}
		if added == 0 && memberCommitted(e, v.Primary, spare.addr) {
			added = time.Since(start)
		}
		if lcDone == 0 {
			all := true
			for i, lc := range lcs {
				if !lcSeen[i] {
					st, err := lc.proc.letschatStatus()
					lcSeen[i] = err == nil && slices.Contains(st.Supervisor.Hosts, spare.addr)
				}
				all = all && lcSeen[i]
			}
			if all {
				lcDone = time.Since(start)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	e.waitSettled("with the spare", append(slices.Clone(base), spare))

	// Reset: the host goes away; with a tiny grace the member is removed at once.
	e.loseHosts(spare)
	e.waitSettled("without the spare", base)
	if err := e.cluster.WipeNode(spare.addr); err != nil {
		b.Fatal(err)
	}
	return added, lcDone
}

// memberCommitted reports whether primary's config holds member and is committed.
func memberCommitted(e *env, primary, member string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	raw, err := e.probe.run(ctx, primary, bson.D{{Key: "replSetGetConfig", Value: 1}, {Key: "commitmentStatus", Value: true}})
	if err != nil {
		return false
	}
	var cfg struct {
		Config struct {
			Members []struct {
				Host string `bson:"host"`
			} `bson:"members"`
		} `bson:"config"`
		CommitmentStatus bool `bson:"commitmentStatus"`
	}
	if bson.Unmarshal(raw, &cfg) != nil || !cfg.CommitmentStatus {
		return false
	}
	for _, m := range cfg.Config.Members {
		if m.Host == member {
			return true
		}
	}
	return false
}

// benchScale grows a settled set of 3 to 50 members with an agent per host and returns the time
// from the metadata change to the settled set of 50 with 7 voters. The agents keep the default
// --recheck-interval of 5 s: 50 agents re-reading a 50-member status every 300 ms (the suite's
// setting) would mostly measure the two cores they share with 50 emulated mongods.
func benchScale(b *testing.B) time.Duration {
	e := newEnv(b, envOptions{hosts: benchScaleMembers, mongoFlags: []string{"--recheck-interval", "5s"}})
	h := e.hosts
	e.addHosts(h[:3]...)
	e.waitSettled("scale: 3 hosts", h[:3])
	rest := h[3:]
	// Start every mongod and agent first: the measured change is the metadata that lists them.
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
	return took
}

// cpuTicks reads utime+stime of each process, in clock ticks.
func cpuTicks(b *testing.B, procs []*proc) []int64 {
	out := make([]int64, len(procs))
	for i, p := range procs {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
		if err != nil {
			b.Fatalf("%s: %v", p.name, err)
		}
		// Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
		s := string(raw)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		out[i] = ut + st
	}
	return out
}

// clockTicks is USER_HZ, 100 on every Linux platform Go supports.
const clockTicks = 100

func usageSince(b *testing.B, procs []*proc, t0 []int64, window time.Duration) usage {
	t1 := cpuTicks(b, procs)
	var u usage
	for i, p := range procs {
		u.cpu += float64(t1[i]-t0[i]) / clockTicks / window.Seconds() * 100
		rss, hwm := memKiB(p)
		u.rssMiB += float64(rss) / 1024
		u.peakMiB = max(u.peakMiB, float64(hwm)/1024)
	}
	u.measured = len(procs)
	u.cpu /= float64(len(procs))
	u.rssMiB /= float64(len(procs))
	return u
}

// memKiB reads VmRSS and VmHWM from /proc/<pid>/status.
func memKiB(p *proc) (rss, hwm int64) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, 0
	}
	for line := range strings.Lines(string(raw)) {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = n
		case "VmHWM":
			hwm = n
		}
	}
	return rss, hwm
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(ds))
	// Nearest rank: the smallest value with at least p% of the samples at or below it.
	rank := int(float64(len(s))*p/100+0.999999) - 1
	return s[max(0, min(rank, len(s)-1))]
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%d ms", d.Round(time.Millisecond).Milliseconds())
}

// machine describes where the benchmark ran.
func machine() string {
	model := "unknown CPU"
	if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(raw)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%d CPUs (nproc), %s, %s/%s, %s", runtime.NumCPU(), model, runtime.GOOS, runtime.GOARCH, runtime.Version())
}

func benchTable(lp, poll modeResult, scale time.Duration) string {
	var sb strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&sb, format+"\n", args...) }
	w("## Performance")
	w("")
	w("Machine: %s; mongosim emulator, agents as separate processes (`go test -run '^$' -bench . -benchtime 1x ./e2e/`), %s.", machine(), time.Now().UTC().Format("2006-01-02"))
	w("")
	w("Agents run with the product's defaults for metadata (`--metadata-min-interval 1s`, `--metadata-max-wait 30s`) except: `--recheck-interval 500ms`, `--removal-grace 100ms` (resets between changes are not measured), and Let's Chat `--settle-delay 100ms` (its 2 s default is a batching window, the same in both modes). World: 3 hosts + 1 host that joins and leaves, 2 Let's Chat instances.")
	w("")
	w("CPU is utime+stime from /proc/<pid>/stat (10 ms ticks) over the window, in %% of one core, mean per process; RSS is VmRSS from /proc/<pid>/status.")
	w("")
	w("| # | measurement | long-poll (default) | poll, 5 s interval | ratio poll / long-poll |")
	w("|---|---|---|---|---|")
	row := func(n, what string, f func(modeResult) []time.Duration, p float64) {
		a, c := percentile(f(lp), p), percentile(f(poll), p)
		w("| %s | %s | %s | %s | %.1f× |", n, what, ms(a), ms(c), float64(c)/float64(max(a, time.Millisecond)))
	}
	w("| 1 | changes measured | %d | %d (fewer: each takes up to 5 s, plus a reset of up to 5 s) | |", len(lp.total), len(poll.total))
	row("1", "host appears → member in committed config, p50", func(r modeResult) []time.Duration { return r.added }, 50)
	row("1", "host appears → member in committed config, p99", func(r modeResult) []time.Duration { return r.added }, 99)
	row("1", "host appears → every Let's Chat URI updated, p50", func(r modeResult) []time.Duration { return r.lcDone }, 50)
	row("1", "host appears → every Let's Chat URI updated, p99", func(r modeResult) []time.Duration { return r.lcDone }, 99)
	row("1/2", "host appears → both done, min", func(r modeResult) []time.Duration { return r.total }, 0)
	row("1/2", "host appears → both done, p50", func(r modeResult) []time.Duration { return r.total }, 50)
	row("1/2", "host appears → both done, p90", func(r modeResult) []time.Duration { return r.total }, 90)
	row("1/2", "host appears → both done, p99", func(r modeResult) []time.Duration { return r.total }, 99)
	row("1/2", "host appears → both done, max", func(r modeResult) []time.Duration { return r.total }, 100)
	w("| 3 | metadata requests per change per agent (poll: with the polls between changes) | %.2f | %.2f | |", lp.reqPerChange, poll.reqPerChange)
	w("| 3 | metadata requests per minute per idle agent | %.1f | %.1f | |", lp.idleReqPerMin, poll.idleReqPerMin)
	u := func(x usage) string { return fmt.Sprintf("%.2f%% CPU, %.1f MiB RSS", x.cpu, x.rssMiB) }
	w("| 4 | mongo agent, idle (mean of %d) | %s | %s | |", lp.idleCPU.measured, u(lp.idleCPU), u(poll.idleCPU))
	w("| 4 | letschat agent, idle (mean of %d) | %s | %s | |", lp.lcIdleCPU.measured, u(lp.lcIdleCPU), u(poll.lcIdleCPU))
	w("| 4 | mongo agent, burst of 100 bumps (window %s / %s) | %s | %s | |", lp.burstWindow.Round(10*time.Millisecond), poll.burstWindow.Round(10*time.Millisecond), u(lp.burstCPU), u(poll.burstCPU))
	w("| 4 | letschat agent, same burst | %s | %s | |", u(lp.lcBurstCPU), u(poll.lcBurstCPU))
	w("| 4 | peak RSS of any agent (VmHWM) | %.1f MiB | %.1f MiB | |", max(lp.burstCPU.peakMiB, lp.lcBurstCPU.peakMiB), max(poll.burstCPU.peakMiB, poll.lcBurstCPU.peakMiB))
	w("| 5 | 3 → 50 members (7 voters), an agent per host, long-poll, `--recheck-interval 5s` (default) | %s | | |", scale.Round(10*time.Millisecond))
	return sb.String()
}
