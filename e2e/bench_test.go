package e2e

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/replset-agent/replset-agent/metadata/metadatatest"
	"github.com/replset-agent/replset-agent/mongosim"
)

// Benchmark sizes. Poll mode takes about 5 s per change and 5 s per reset, so it gets fewer
// changes than long-poll mode; the table says how many each had. BENCH_CHANGES, BENCH_POLL_CHANGES
// and BENCH_IDLE change them for a quick look; BENCH_PARTS (a comma list of latency, long-poll,
// solo, scale, rss; long-poll and solo are parts of latency) runs only some parts.
var (
	benchChangesLongPoll = envInt("BENCH_CHANGES", 60)
	benchChangesPoll     = envInt("BENCH_POLL_CHANGES", 20)
	benchChangesOutside  = envInt("BENCH_OUTSIDE_CHANGES", 20)
	benchIdleLongPoll    = envDuration("BENCH_IDLE", 60*time.Second) // two long-poll rounds of the default 30 s maxWait
	benchIdleWarmup      = envDuration("BENCH_IDLE_WARMUP", 75*time.Second)
)

const (
	benchPollInterval = 5 * time.Second
	benchScaleMembers = 50
)

// productMongoFlags are the mongo role's product defaults for every flag the suite's environment
// shortens (env.mongoArgs), so that what is measured is what ships: re-check every 5 s, the driver's
// heartbeat every 2 s, metadata long-polls of 30 s at most one a second.
var productMongoFlags = []string{
	"--recheck-interval", "5s", "--heartbeat-interval", "2s", "--action-timeout", "30s", "--no-primary-alarm", "30s",
	"--metadata-min-interval", "1s", "--metadata-max-wait", "30s", "--metadata-backoff-cap", "30s",
}

// productMetadataFlags are the metadata defaults for the letschat role.
var productMetadataFlags = []string{"--metadata-min-interval", "1s", "--metadata-max-wait", "30s", "--metadata-backoff-cap", "30s"}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil && d > 0 {
		return d
	}
	return def
}

func benchPart(name string) bool {
	parts := os.Getenv("BENCH_PARTS")
	return parts == "" || slices.Contains(strings.Split(parts, ","), name)
}

// BenchmarkConvergence measures every row of issue 14's table in one run, the agents as separate
// processes of the shipped binary against the emulator and the fake metadata service:
//
//  1. a new host with a mongo container appears in metadata → the reconfig is sent, with the
//     per-stage breakdown from the acting agent's own timestamps; → the member is in the committed
//     config; → every Let's Chat URI names it (--settle-delay 0);
//  2. the same with --metadata-mode poll --metadata-poll-interval 5s, and the ratio;
//  3. metadata requests per change per agent, and tree reads and snapshots (hence reconcile
//     passes) for changes outside the watched stack;
//  4. agent CPU and RSS while idle at the product defaults and during a burst of 100 version bumps;
//  5. the time for a set of 3 to grow to 50 members (7 voters) at the product defaults, the
//     reconfigs it took, and the idle agents beside the 50 members;
//  6. the peak RSS of a mongo agent reading a 63 MB metadata tree of 1,000 hosts.
//
// It prints the tables and writes them to testdata/bench-results.md. Run it with
//
//	go test -run '^$' -bench Convergence -benchtime 1x -timeout 60m ./e2e/
func BenchmarkConvergence(b *testing.B) {
	if b.N > 1 {
		b.Skip("one run is the measurement; use -benchtime 1x")
	}
	r := benchReport{started: time.Now(), loadBefore: loadAvg()}
	// Each part is a sub-benchmark so that its world (agents, emulated set, metadata server) is
	// gone before the next part measures: idle agents of an earlier part once added to the
	// 50-member idle figures.
	part := func(name string, run func(b *testing.B)) {
		b.Run(name, func(b *testing.B) {
			if b.N > 1 {
				b.Skip("one run is the measurement; use -benchtime 1x")
			}
			run(b)
		})
	}
	if benchPart("latency") || benchPart("long-poll") {
		part("long-poll", func(b *testing.B) {
			r.lp = benchMode(b, "long-poll", benchChangesLongPoll, benchIdleLongPoll, time.Second)
			b.ReportMetric(ms2(r.lp.committed.p(50)), "committed-p50-ms")
			b.ReportMetric(ms2(r.lp.committed.p(99)), "committed-p99-ms")
			b.ReportMetric(ms2(r.lp.sent().p(99)), "sent-p99-ms")
		})
	}
	if benchPart("latency") {
		part("poll", func(b *testing.B) {
			r.poll = benchMode(b, "poll", benchChangesPoll, benchIdleLongPoll/2, benchPollInterval,
				"--metadata-mode", "poll", "--metadata-poll-interval", benchPollInterval.String())
		})
	}
	if benchPart("latency") || benchPart("solo") {
		part("solo", func(b *testing.B) {
			r.solo = benchSolo(b, benchChangesLongPoll)
			b.ReportMetric(ms2(r.solo.sent().p(99)), "sent-p99-ms")
		})
	}
	if benchPart("scale") {
		part("scale", func(b *testing.B) {
			r.scale = benchScale(b, true)
			b.ReportMetric(r.scale.took.Seconds(), "scale-3to50-s")
		})
	}
	if benchPart("rss") {
		part("rss", func(b *testing.B) { r.rss = benchTreeRSS(b) })
	}
	r.loadAfter = loadAvg()
	r.took = time.Since(r.started)

	table := r.render()
	fmt.Println(table)
	path := filepath.Join("testdata", "bench-results.md")
	if os.Getenv("BENCH_PARTS") != "" {
		path = filepath.Join(b.TempDir(), "bench-results.md") // a partial run does not replace the full table
	}
	if err := os.WriteFile(path, []byte(table), 0o644); err != nil {
		b.Logf("cannot write %s: %v", path, err)
	}
}

// benchTrace appends a line to the file BENCH_TRACE names, if any: benchmark logs are cut short.
func benchTrace(line string) {
	path := os.Getenv("BENCH_TRACE")
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "%s %s\n", time.Now().Format("15:04:05.000"), line)
}

func ms2(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// modeResult is one metadata mode's measurements.
type modeResult struct {
	mode      string
	committed durations // change → member in the committed config, as the probe reads it
	lcDone    durations // change → every Let's Chat agent logged the new URI
	stages    []stages  // the acting agent's own stages, per change
	missing   int       // changes whose stages were not found in the acting agent's log
	// reqPerChange counts metadata requests per change per agent (poll: with the polls between).
	reqPerChange  float64
	idleReqPerMin float64 // per agent
	outside       *outsideResult
	// mongo agents idle, one entry per agent (the primary's first); letschat agents idle
	idle, lcIdle           []usage
	burstCPU, lcBurstCPU   usage // mean per process
	burstWindow            time.Duration
	members, letschatCount int
	// CPU per change (the host that joins and leaves), in ms, mean per process: the base mongo
	// agents, the letschat agents, and the test process (emulator, metadata server, probe).
	cpuPerChange, lcCPUPerChange, selfCPUPerChange float64
}

// record adds change i of n to the result and logs it, stage by stage, to the benchmark's log
// and BENCH_TRACE.
func (m *modeResult) record(b *testing.B, label string, i, n int, c changeResult) {
	m.committed = append(m.committed, c.committed)
	m.lcDone = append(m.lcDone, c.lcDone)
	if c.stages.ok() {
		m.stages = append(m.stages, c.stages)
	} else {
		m.missing++
	}
	sent, _ := c.stages.since("sent")
	line := fmt.Sprintf("%s change %d/%d (published %s): reconfig sent %s, member committed %s, Let's Chat URIs %s; stages:", label, i+1, n,
		c.published.UTC().Format("15:04:05.000"), fmtMs(sent), fmtMs(c.committed), fmtMs(c.lcDone))
	for j, name := range stageNames {
		if d, ok := c.stages.step(j); ok {
			line += fmt.Sprintf(" %s +%s", name, fmtMs(d))
		}
	}
	b.Log(line)
	benchTrace(line)
}

// sent returns change → reconfig sent per change.
func (m *modeResult) sent() durations {
	var d durations
	for _, s := range m.stages {
		if v, ok := s.since("sent"); ok {
			d = append(d, v)
		}
	}
	return d
}

// outsideResult is what changes outside the watched stack cost the agents.
type outsideResult struct {
	changes      int
	agents       int
	reqPerChange float64 // per agent
	treeReads    float64 // per agent per change
	snapshots    float64 // handed to the roles, all agents together: each would be a reconcile pass
	unchanged    float64 // tree reads whose scoped data equalled the last snapshot, all agents
	passes       float64 // reconcile passes of the mongo agents beyond their re-checks, all together
}

// usage is the CPU share (of one core) and resident memory of a group of processes, per process.
type usage struct {
	cpu      float64 // percent of one core, mean per process
	rssMiB   float64 // mean VmRSS
	peakMiB  float64 // largest VmHWM
	measured int
}

// benchMode builds a world of 3 hosts (plus one that comes and goes) and 2 Let's Chat instances
// whose agents run with the product's defaults, except the flags given, a short removal grace
// (resets are not measured) and Let's Chat's --settle-delay 0 (no batching window: the URI update
// itself is measured).
func benchMode(b *testing.B, mode string, changes int, idle, period time.Duration, flags ...string) *modeResult {
	res := &modeResult{mode: mode, members: 3, letschatCount: 2}
	changes = min(changes, 240)
	e := newEnv(b, envOptions{
		hosts:         3 + changes,                  // each change is a host of its own, with an address never used before
		logLevel:      os.Getenv("BENCH_LOG_LEVEL"), // debug shows more around an outlier in BENCH_TRACE
		grace:         100 * time.Millisecond,
		mongoFlags:    append(slices.Clone(productMongoFlags), flags...),
		letschatFlags: append(append([]string{"--settle-delay", "0s"}, productMetadataFlags...), flags...),
	})
	h := e.hosts
	base, spares := h[:3], h[3:]
	e.addHosts(base...)
	lcs := e.addLetschat("letschat", "never", 2)
	// Another stack with a service of its own on hosts of its own: what changes there is outside
	// every agent's scope.
	web := e.tree.AddService("elsewhere", "web")
	var webCtrs []*metadatatest.Container
	for i := range 2 {
		webCtrs = append(webCtrs, web.AddContainer(e.tree.AddHost(fmt.Sprintf("web%d", i+1), fmt.Sprintf("10.97.0.%d", i+1))))
	}
	e.publish()
	e.waitSettled(mode+": 3 hosts", base)
	lcProcs := []*proc{lcs[0].proc, lcs[1].proc}
	steady := append(agents(base), lcProcs...)

	before := metricOf(b, steady, "replset_agent_metadata_requests_total")
	mongo := agents(base)
	cpu0, lcCPU0, self0 := cpuTicks(b, mongo), cpuTicks(b, lcProcs), selfCPUTicks()
	for i := range changes {
		res.record(b, mode, i, changes, benchOneChange(b, e, base, spares[i], lcs, period, mode == "long-poll", false))
	}
	perChange := func(t0, t1 []int64) float64 { // ms of CPU per change, mean per process
		var sum int64
		for i := range t0 {
			sum += t1[i] - t0[i]
		}
		return float64(sum) / clockTicks * 1000 / float64(changes) / float64(len(t0))
	}
	res.cpuPerChange = perChange(cpu0, cpuTicks(b, mongo))
	res.lcCPUPerChange = perChange(lcCPU0, cpuTicks(b, lcProcs))
	res.selfCPUPerChange = perChange([]int64{self0}, []int64{selfCPUTicks()})
	after := metricOf(b, steady, "replset_agent_metadata_requests_total")
	var reqs float64
	for i := range steady {
		reqs += after[i] - before[i]
	}
	// Every iteration is two metadata changes: the host appears, the host goes.
	res.reqPerChange = reqs / float64(2*changes) / float64(len(steady))

	if mode == "long-poll" {
		res.outside = benchOutside(b, e, base, steady, webCtrs)
	}

	// Idle: nothing changes; count requests and CPU. The primary's agent goes first. The
	// changes' aftermath passes first: the driver pools to the hosts that came and went keep
	// re-dialling them until they are closed, after a minute idle.
	v := e.waitSettled(mode+": idle", base)
	time.Sleep(benchIdleWarmup)
	slices.SortStableFunc(mongo, func(x, y *proc) int {
		if p := e.primaryHost(v); p != nil && x == p.agent {
			return -1
		}
		return 0
	})
	before = metricOf(b, steady, "replset_agent_metadata_requests_total")
	t0, l0 := cpuTicks(b, mongo), cpuTicks(b, lcProcs)
	time.Sleep(idle)
	for i, p := range mongo {
		res.idle = append(res.idle, usageSince(b, []*proc{p}, t0[i:i+1], idle))
	}
	for i, p := range lcProcs {
		res.lcIdle = append(res.lcIdle, usageSince(b, []*proc{p}, l0[i:i+1], idle))
	}
	after = metricOf(b, steady, "replset_agent_metadata_requests_total")
	reqs = 0
	for i := range steady {
		reqs += after[i] - before[i]
	}
	res.idleReqPerMin = reqs / float64(len(steady)) / idle.Minutes()

	// Burst: 100 data changes in about a second, CPU measured until every agent caught up.
	t0, l0 = cpuTicks(b, mongo), cpuTicks(b, lcProcs)
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
	res.lcBurstCPU = usageSince(b, lcProcs, l0, res.burstWindow)
	e.checkSafety(b)
	return res
}

// benchSolo measures the same change as benchMode's long-poll, with one host's agents awake: the
// primary's mongo agent and one Let's Chat agent, as one host of a deployment runs them. The other
// agents are stopped once the set is settled (the set runs on without them) and the joining host
// runs no agent, so what is measured is these agents' own reaction, not six processes woken by
// the same change on the benchmark's 2 cores. The emulated mongods and the metadata server still
// run in the test process on the same cores.
func benchSolo(b *testing.B, changes int) *modeResult {
	res := &modeResult{mode: "one host's agents", members: 3, letschatCount: 1}
	changes = min(changes, 240)
	e := newEnv(b, envOptions{
		hosts:         3 + changes,
		logLevel:      os.Getenv("BENCH_LOG_LEVEL"),
		grace:         100 * time.Millisecond,
		mongoFlags:    slices.Clone(productMongoFlags),
		letschatFlags: append([]string{"--settle-delay", "0s"}, productMetadataFlags...),
	})
	base, spares := e.hosts[:3], e.hosts[3:]
	e.addHosts(base...)
	lcs := e.addLetschat("letschat", "never", 2)
	e.publish()
	v := e.waitSettled("solo: 3 hosts", base)
	prim := e.primaryHost(v)
	if prim == nil {
		b.Fatalf("no primary: %s", v)
	}
	for _, h := range base {
		if h != prim {
			h.agent.kill()
		}
	}
	lcs[1].proc.kill()
	lcs = lcs[:1]
	e.lcs = slices.DeleteFunc(e.lcs, func(lc *lcAgent) bool { return !lc.proc.running() })
	for i := range changes {
		res.record(b, "solo", i, changes, benchOneChange(b, e, base, spares[i], lcs, time.Second, true, true))
	}
	return res
}

// changeResult is one measured change.
type changeResult struct {
	committed, lcDone time.Duration
	stages            stages
	published         time.Time
}

// benchOneChange adds the spare host (measured) and takes it away again (not measured). The spare
// is a new host with an address of its own, as a host joining Rancher is.
func benchOneChange(b *testing.B, e *env, base []*host, spare *host, lcs []*lcAgent, jitter time.Duration, longPoll, solo bool) changeResult {
	// A fresh, empty mongod and its agent are up before the host shows up in metadata, as when a
	// Rancher host joins and its global-service containers start. With solo, only the primary's
	// host runs agents: the new host's agent runs on another machine in a real deployment.
	e.startNode(spare.addr)
	if !solo {
		e.startAgent(spare)
	}
	v := e.view()
	prim := e.primaryHost(v)
	if prim == nil {
		b.Fatalf("no primary before the change: %s", v)
	}
	if longPoll {
		// The change comes once every agent watches: its long-poll waits at the server. An agent
		// sends at most one version request a second (--metadata-min-interval), so a change that
		// follows another sooner waits for that by design; this measures the reaction to a
		// change, not the rate limit.
		watching := len(agents(base)) + len(lcs)
		if !solo {
			watching++ // the new host's agent
		}
		waitFor(b, "every agent's long-poll waiting", settleTimeout, func() (bool, string) {
			n := e.meta.ParkedLongPolls()
			return n >= watching, fmt.Sprintf("%d of %d long-polls waiting", n, watching)
		})
	} else {
		// A random pause, uniform over the agents' polling period, keeps the change from locking
		// onto their schedule (the reset before it ended right after one of their polls).
		time.Sleep(time.Duration(rand.Int64N(int64(jitter))))
	}

	e.list(spare)
	e.publish()
	// The change is visible from here: SetTree has encoded the tree and woken the long-polls.
	published := time.Now()
	res := changeResult{published: published}
	deadline := published.Add(2 * time.Minute)
	lcAt := make([]time.Time, len(lcs))
	for res.committed == 0 || res.lcDone == 0 {
		if time.Now().After(deadline) {
			b.Fatalf("change not converged after 2 minutes (committed %s, Let's Chat %s): %s", res.committed, res.lcDone, e.view())
		}
		if res.committed == 0 {
			if memberCommitted(e, prim.addr, spare.addr) {
				res.committed = time.Since(published)
			}
			time.Sleep(commitPollEvery(e))
			continue
		}
		// The Let's Chat agents' times come from their logs, read once the commit is seen: reading
		// them meanwhile would load the machine the agents run on.
		{
			all := true
			for i, lc := range lcs {
				if lcAt[i].IsZero() {
					lcAt[i], _ = uriChangedAt(lc.proc.logLines(), len(base)+1, published)
				}
				all = all && !lcAt[i].IsZero()
			}
			if all {
				last := slices.MaxFunc(lcAt, func(x, y time.Time) int { return x.Compare(y) })
				res.lcDone = max(last.Sub(published), time.Microsecond)
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.waitSettled("with the spare", append(slices.Clone(base), spare))
	lines := prim.agent.logLines()
	res.stages = findStages(lines, "add", spare.addr, published)
	if sent, ok := res.stages.since("sent"); !ok || sent > 100*time.Millisecond {
		// An outlier: what the acting agent logged around it goes to the trace.
		for _, l := range lines {
			if at, ok := logTime(l); ok && at.After(published.Add(-6*time.Second)) && at.Before(published.Add(sent+time.Second)) {
				benchTrace(fmt.Sprintf("  %s: %v", prim.name, l))
			}
		}
	}

	// Reset: the host goes away; with a tiny grace the member is removed at once.
	e.loseHosts(spare)
	e.waitSettled("without the spare", base)
	e.forgetNode(spare.addr)
	return res
}

// benchOutside changes what another stack runs, n times, and counts what each change costs the
// agents: metadata requests, tree reads, snapshots handed over (each would be a reconcile pass or
// a URI decision) and the mongo agents' reconcile passes beyond their periodic re-checks.
func benchOutside(b *testing.B, e *env, base []*host, steady []*proc, web []*metadatatest.Container) *outsideResult {
	n := benchChangesOutside
	res := &outsideResult{changes: n, agents: len(steady)}
	e.waitSettled("before the changes outside the stack", base)
	mongo := agents(base)
	reqs := metricOf(b, steady, "replset_agent_metadata_requests_total")
	trees := metricOf(b, steady, "replset_agent_metadata_requests_total", `kind="tree"`)
	snaps := metricOf(b, steady, "replset_agent_snapshots_total")
	unchanged := make([]uint64, len(steady))
	for i, p := range steady {
		st, _, err := p.metaStats()
		if err != nil {
			b.Fatal(err)
		}
		unchanged[i] = st.Unchanged
	}
	passes0, t0 := passCounts(b, mongo), time.Now()
	for i := range n {
		// A rolling upgrade of the other stack's service: a label changes on one container, or
		// a container is replaced by a new one.
		c := web[i%len(web)]
		if i%2 == 0 {
			c.Label("io.rancher.service.deployment.unit", strconv.Itoa(i))
		} else {
			c.StartCount++
		}
		want := e.publish()
		for _, p := range steady {
			waitFor(b, p.name+" reads the change outside the stack", settleTimeout, func() (bool, string) {
				st, _, err := p.metaStats()
				return err == nil && st.Version == want, st.Version
			})
		}
		// Give a pass that would follow a snapshot the time to start before the next change.
		time.Sleep(200 * time.Millisecond)
	}
	window := time.Since(t0)
	passes1 := passCounts(b, mongo)
	sum := func(before []float64, name string, filter ...string) float64 {
		after := metricOf(b, steady, name, filter...)
		var s float64
		for i := range after {
			s += after[i] - before[i]
		}
		return s
	}
	res.reqPerChange = sum(reqs, "replset_agent_metadata_requests_total") / float64(n*len(steady))
	res.treeReads = sum(trees, "replset_agent_metadata_requests_total", `kind="tree"`) / float64(n*len(steady))
	res.snapshots = sum(snaps, "replset_agent_snapshots_total")
	for i, p := range steady {
		st, _, _ := p.metaStats()
		res.unchanged += float64(st.Unchanged - unchanged[i])
	}
	// Re-checks run every --recheck-interval whatever metadata does; more passes than those
	// would be passes the changes caused.
	recheck := 5 * time.Second
	for i := range mongo {
		extra := float64(passes1[i]-passes0[i]) - window.Seconds()/recheck.Seconds()
		res.passes += max(0, extra-1) // one re-check may straddle the window's edge
	}
	return res
}

// passCounts reads the reconcile passes run by each mongo agent.
func passCounts(b *testing.B, procs []*proc) []int64 {
	out := make([]int64, len(procs))
	for i, p := range procs {
		st, err := p.mongoStatus()
		if err != nil {
			b.Fatalf("%s /status: %v", p.name, err)
		}
		out[i] = st.Reconciler.Passes
	}
	return out
}

// metricOf reads one series (summed over its labels, or those matching filter) of each process.
func metricOf(b *testing.B, procs []*proc, name string, filter ...string) []float64 {
	out := make([]float64, len(procs))
	for i, p := range procs {
		v, err := p.metric(name, filter...)
		if err != nil {
			b.Fatalf("%s /metrics: %v", p.name, err)
		}
		out[i] = v
	}
	return out
}

// commitPollEvery is how often the benchmark looks for the commit: every millisecond in the
// emulator's own memory, which costs the machine next to nothing; every 2 ms over the network
// against real mongod.
func commitPollEvery(e *env) time.Duration {
	if _, ok := e.cluster.(simCluster); ok {
		return time.Millisecond
	}
	return 2 * time.Millisecond
}

// simCluster is the emulator behind a mongotest.Cluster.
type simCluster interface{ Sim() *mongosim.Cluster }

// memberCommitted reports whether primary's config holds member and is committed. The emulator
// is asked in its own memory: a probe over the driver every 2 ms cost the test process CPU in
// the very milliseconds the agents' reaction is measured.
func memberCommitted(e *env, primary, member string) bool {
	if sc, ok := e.cluster.(simCluster); ok {
		cfg, committed, err := sc.Sim().Commitment(primary)
		if err != nil || !committed {
			return false
		}
		_, in := cfg.Member(member)
		return in
	}
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

// scaleResult is the growth of a set of 3 to 50 members.
type scaleResult struct {
	took      time.Duration
	reconfigs int
	actions   []string // the primary's agent's actions, with when each was sent and how long it took
	// agentsCPU is the CPU time all agents used during the growth, emulatorCPU the test
	// process's (the emulated mongods, the metadata server, the probe), in seconds.
	agentsCPU, emulatorCPU float64
	idle                   []usage // the primary's agent and a secondary's, idle beside the 50 members
}

// benchScale grows a settled set of 3 to 50 members (7 voters), an agent process per host at the
// product defaults, and returns the time from the metadata change to the settled set, the
// reconfigs it took and, with idle, the idle cost of the primary's and a secondary's agent beside
// the 50 members afterwards.
func benchScale(b *testing.B, idle bool) *scaleResult {
	res := &scaleResult{}
	e := newEnv(b, envOptions{hosts: benchScaleMembers, mongoFlags: productMongoFlags})
	h := e.hosts
	e.addHosts(h[:3]...)
	e.waitSettled("scale: 3 hosts", h[:3])
	before := reconfigs(e)
	rest := h[3:]
	// Start every mongod and agent first: the measured change is the metadata that lists them.
	for _, x := range rest {
		e.startNode(x.addr)
		e.startAgent(x)
	}
	for _, x := range rest {
		e.list(x)
	}
	all := agents(h)
	agentTicks, selfTicks := cpuTicks(b, all), selfCPUTicks()
	e.publish()
	published := time.Now()
	v := e.waitSettled("scale: 50 members", h)
	res.took = time.Since(published)
	res.agentsCPU = usageSince(b, all, agentTicks, res.took).cpu * float64(len(all)) / 100 * res.took.Seconds()
	res.emulatorCPU = float64(selfCPUTicks()-selfTicks) / clockTicks
	e.checkSafety(b)
	res.reconfigs = reconfigs(e) - before
	b.Logf("3 → 50 members: %s, %d reconfigs; CPU: agents %.1f s, test process (emulator, metadata, probe) %.1f s",
		res.took.Round(10*time.Millisecond), res.reconfigs, res.agentsCPU, res.emulatorCPU)
	type action struct {
		sent time.Time
		line string
	}
	var acts []action
	for _, x := range h {
		for _, l := range x.agent.logLines() {
			if l["msg"] != "action done" {
				continue
			}
			at, ok := stagesOf(l)
			if !ok || at[slices.Index(stageNames, "sent")].Before(published) {
				continue
			}
			seen, observe, observed := at[slices.Index(stageNames, "seen")], at[slices.Index(stageNames, "observe")], at[slices.Index(stageNames, "observed")]
			sent, ret := at[slices.Index(stageNames, "sent")], at[slices.Index(stageNames, "returned")]
			line := fmt.Sprintf("%s %s %v: pass began at +%s (observe %s), sent at +%s, returned after %s", x.name, l["step"], l["member"],
				fmtMs(observe.Sub(published)), fmtMs(observed.Sub(observe)), fmtMs(sent.Sub(published)), fmtMs(ret.Sub(sent)))
			if !seen.Before(published) && seen.Before(observe) {
				line += fmt.Sprintf(" (change seen at +%s)", fmtMs(seen.Sub(published)))
			}
			acts = append(acts, action{sent, line})
		}
	}
	slices.SortFunc(acts, func(x, y action) int { return x.sent.Compare(y.sent) })
	for _, a := range acts {
		res.actions = append(res.actions, a.line)
		b.Log(a.line)
		benchTrace(a.line)
	}
	if path := os.Getenv("SCALE_TRACE"); path != "" {
		writeScaleTrace(b, path, h)
	}
	if !idle {
		return res
	}
	p := e.primaryHost(v)
	var sec *host
	for _, x := range h {
		if x != p {
			sec = x
			break
		}
	}
	// Let the convergence's aftermath pass: promotions, first long-polls, and the driver pools
	// the initiator opened to every candidate (closed once idle for a minute).
	time.Sleep(benchIdleWarmup)
	procs := []*proc{p.agent, sec.agent}
	t0 := cpuTicks(b, procs)
	time.Sleep(benchIdleLongPoll)
	for i := range procs {
		res.idle = append(res.idle, usageSince(b, procs[i:i+1], t0[i:i+1], benchIdleLongPoll))
	}
	return res
}

// writeScaleTrace writes the decisions of every agent with their times, for finding where a
// growth spent its time (benchmark logs are cut short).
func writeScaleTrace(b *testing.B, path string, hs []*host) {
	var out []string
	for _, x := range hs {
		for _, l := range x.agent.logLines() {
			switch l["msg"] {
			case "decision", "action done", "config committed", "action failed; retrying":
				out = append(out, fmt.Sprintf("%v %s %v %v %v", l["time"], x.name, l["msg"], l["step"], l["reason"]))
			}
		}
	}
	slices.Sort(out)
	if err := os.WriteFile(path, []byte(strings.Join(out, "\n")+"\n"), 0o644); err != nil {
		b.Log(err)
	}
}

// rssResult is a mongo agent's memory while it reads a large metadata tree.
type rssResult struct {
	treeMB             float64
	hosts, services    int
	reads              int
	peakMiB, afterMiB  float64
	firstRead, perRead time.Duration
}

// benchTreeRSS runs a mongo agent process against a ~63 MB metadata tree (1,000 hosts, 45 global
// services), makes it read three versions, and returns its peak RSS (VmHWM) and RSS after. The
// mongod it would manage does not exist: metadata is what is measured.
func benchTreeRSS(b *testing.B) *rssResult {
	tree := metadatatest.NewTree()
	hosts := tree.AddHosts(1000)
	mongo := tree.AddService(stackName, "mongo").On(hosts...).AddSidekick("mongo-agent")
	tree.AddService(stackName, "letschat").On(hosts[:3]...)
	for i := range 43 {
		tree.AddService("stack"+strconv.Itoa(i%8), "global"+strconv.Itoa(i)).On(hosts...)
	}
	srv := metadatatest.StartT(b, metadatatest.Options{Tree: tree, RandomVersions: true})
	size := treeBytes(b, srv.BaseURL()+"/")
	const ip = "127.0.0.91"
	srv.SetSelf(ip, metadatatest.Self{ContainerUUID: tree.SidekickContainer(mongo.Containers[0], "mongo-agent").UUID})
	ps := newProcSet(b)
	start := time.Now()
	p := ps.start("rss", []string{"mongo", "--metadata-url", srv.BaseURL(), "--metadata-source-ip", ip,
		"--metadata-min-interval", "10ms", "--mongod-address", "127.0.0.1:1", "--log-level", "warn"})
	res := &rssResult{treeMB: float64(size) / 1e6, hosts: 1000, services: 45, reads: 3}
	waitSnapshots := func(n int) {
		waitFor(b, fmt.Sprintf("the agent reads snapshot %d of the large tree", n), 5*time.Minute, func() (bool, string) {
			st, _, err := p.metaStats()
			return err == nil && st.Snapshots >= uint64(n), fmt.Sprint(st.Snapshots, err)
		})
	}
	waitSnapshots(1)
	res.firstRead = time.Since(start)
	start = time.Now()
	for i := 2; i <= res.reads; i++ {
		tree.Container(mongo.Containers[1].UUID).StartCount = i
		srv.SetTree(tree)
		waitSnapshots(i)
	}
	res.perRead = time.Since(start) / time.Duration(res.reads-1)
	rss, hwm := memKiB(p)
	res.peakMiB, res.afterMiB = float64(hwm)/1024, float64(rss)/1024
	p.kill()
	return res
}

// treeBytes is the size of the JSON tree the metadata server answers at url.
func treeBytes(b *testing.B, url string) int64 {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	return n
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

// selfCPUTicks reads utime+stime of this process, in clock ticks.
func selfCPUTicks() int64 {
	raw, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return ut + st
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

// loadAvg is the machine's load average line (1, 5, 15 minutes), as uptime prints it.
func loadAvg() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], ", ")
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
