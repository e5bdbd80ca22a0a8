package lcconfig

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/replset-agent/replset-agent/lcconfig/gatetest"
)

// The restart invariant, as a property: whatever the timing of each instance's view of the
// members, at most one Let's Chat instance of a service is down because of a policy restart at any
// moment, and every instance ends on the newest URI.
//
// Each seed runs 3–5 supervisors over real fakechat children (HTTP readiness, a boot delay, a
// graceful stop delay) sharing one in-memory gate, with timers scaled down to milliseconds. It
// plays random bursts of membership changes, each delivered to each instance after a random delay
// of its own, with random rank permutations (an instance sometimes not listed yet), crash loops
// and single crashes, then a final membership every instance must end on. Down intervals are read
// from the children's own records: from a child's SIGTERM (only policy restarts send one before the
// end) to the first later child of that instance that serves, or that crashes (the instance is
// then down for a crash, which the invariant does not cover).
//
//	LCCONFIG_PROPERTY_SEEDS=N   number of seeds (default 500; 60 with -short)
//	LCCONFIG_PROPERTY_SEED=S    replay one seed, with the supervisors' logs on failure
func TestSupervisor_restartInvariant(t *testing.T) {
	first, seeds := propertySeeds("LCCONFIG_PROPERTY_SEEDS", "LCCONFIG_PROPERTY_SEED")
	begin := time.Now()
	failures := runSeeds(t, first, seeds, true)
	restarts, starts := 0, 0
	for _, f := range failures {
		restarts += f.restarts
		starts += f.starts
		if f.err != "" {
			t.Errorf("seed %d: %s\nreplay: LCCONFIG_PROPERTY_SEED=%d go test -run TestSupervisor_restartInvariant ./lcconfig/", f.seed, f.err, f.seed)
		}
	}
	t.Logf("%d seeds, %d policy restarts, %d children started, in %v", seeds, restarts, starts, time.Since(begin).Round(time.Millisecond))
}

// TestSupervisor_restartInvariant_detectsOverlap runs the same scenario without a gate and with
// every slot at once: the checker must see overlapping policy downtimes, or it proves nothing.
func TestSupervisor_restartInvariant_detectsOverlap(t *testing.T) {
	results := runSeeds(t, 1_000_000, 12, false)
	for _, r := range results {
		if strings.Contains(r.err, "policy restarts overlap") {
			return
		}
	}
	t.Fatalf("no overlap found without a gate in %d seeds: the invariant checker cannot fail", len(results))
}

type seedResult struct {
	seed     uint64
	err      string
	restarts int // policy restarts
	starts   int // children started
}

// runSeeds runs count scenarios from seed first, a few at a time.
func runSeeds(t *testing.T, first uint64, count int, gated bool) []seedResult {
	results := make([]seedResult, count)
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i := range count {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			seed := first + uint64(i)
			dir, err := os.MkdirTemp("", "lcconfig-property-")
			if err != nil {
				results[i] = seedResult{seed: seed, err: err.Error()}
				return
			}
			defer os.RemoveAll(dir)
			restarts, starts, err := runScenario(seed, dir, gated, count == 1)
			results[i] = seedResult{seed: seed, restarts: restarts, starts: starts}
			if err != nil {
				results[i].err = err.Error()
			}
		}()
	}
	wg.Wait()
	return results
}

// propInstance is one supervised Let's Chat of a scenario.
type propInstance struct {
	name    string
	sup     *Supervisor
	logPath string
	crash   string
	logs    *logSink
	cancel  context.CancelFunc
	done    chan struct{}
	updates chan propUpdate
}

type propUpdate struct {
	members Members
	delay   time.Duration
}

// runScenario plays one seed and checks the invariant; it returns the policy restarts seen and the
// children started.
func runScenario(seed uint64, dir string, gated, verbose bool) (restarts, starts int, err error) {
	rng := rand.New(rand.NewPCG(seed, 0x1e75c4a7))
	n := 3 + rng.IntN(3)
	policy := []RestartPolicy{RestartAlways, RestartSeedsLost}[rng.IntN(2)]
	gate := gatetest.New()
	ip := fmt.Sprintf("127.%d.%d.%d", 100+int(seed>>16)%100, (seed>>8)%256, seed%256)

	instances := make([]*propInstance, n)
	for i := range instances {
		in := &propInstance{
			name:    fmt.Sprintf("lc%d", i),
			logPath: filepath.Join(dir, fmt.Sprintf("lc%d.log", i)),
			crash:   filepath.Join(dir, fmt.Sprintf("lc%d.crash", i)),
			logs:    &logSink{},
			done:    make(chan struct{}),
			updates: make(chan propUpdate, 64),
		}
		addr := fmt.Sprintf("%s:%d", ip, 20000+i)
		logger := logrus.New()
		logger.SetOutput(in.logs)
		logger.SetFormatter(&logrus.JSONFormatter{})
		cfg := SupervisorConfig{
			Command: []string{fakechatBin},
			Dir:     dir,
			Env: []string{
				"FAKECHAT_LOG=" + in.logPath,
				"FAKECHAT_HTTP_ADDR=" + addr,
				"FAKECHAT_BOOT_DELAY=" + (time.Duration(rng.IntN(15)) * time.Millisecond).String(),
				"FAKECHAT_TERM_DELAY=" + (time.Duration(rng.IntN(8)) * time.Millisecond).String(),
				"FAKECHAT_CRASH_WHILE=" + in.crash,
				"GOMAXPROCS=1", // thousands of short-lived children: keep each one cheap
			},
			Policy:             policy,
			KillTimeout:        5 * time.Second,
			MinRestartInterval: time.Duration(1+rng.IntN(10)) * time.Millisecond,
			StaggerInterval:    time.Duration(3+rng.IntN(8)) * time.Millisecond,
			SettleDelay:        time.Duration(1+rng.IntN(4)) * time.Millisecond,
			BackoffInitial:     5 * time.Millisecond,
			BackoffMax:         40 * time.Millisecond,
			HealthyRun:         50 * time.Millisecond,
			GateRetry:          3 * time.Millisecond,
			GateTimeout:        5 * time.Second,
			Probe:              HTTPProbe("http://" + addr + "/login"),
			ProbeInterval:      5 * time.Millisecond,
			ReadyTimeout:       30 * time.Second,
			CookieSecret:       testCookieSecret,
			Stdout:             io.Discard,
			Stderr:             io.Discard,
			Logger:             logger,
		}
		if gated {
			cfg.Gate = gate.For(in.name)
		} else {
			cfg.StaggerInterval, cfg.MinRestartInterval = time.Nanosecond, time.Nanosecond
		}
		sup, err := NewSupervisor(cfg)
		if err != nil {
			return 0, 0, err
		}
		in.sup = sup
		instances[i] = in
	}

	hostsOf := func(k int) []string {
		pool := []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"}
		rng.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
		return pool[:k]
	}
	ranks := func(allowUnknown bool) []int {
		r := rng.Perm(n)
		if allowUnknown && rng.IntN(5) == 0 {
			r[rng.IntN(n)] = RankUnknown
		}
		return r
	}

	// Start: everyone knows the first members and its rank.
	initial := hostsOf(3)
	r0 := ranks(false)
	for i, in := range instances {
		if err := in.sup.Update(Members{Hosts: MembersOf(initial...), Rank: r0[i]}); err != nil {
			return 0, 0, err
		}
		ctx, cancel := context.WithCancel(context.Background())
		in.cancel = cancel
		go func() {
			defer close(in.done)
			_, _ = in.sup.Run(ctx)
		}()
		go func() {
			for u := range in.updates {
				time.Sleep(u.delay)
				_ = in.sup.Update(u.members)
			}
		}()
	}
	var stopOnce sync.Once
	stopAll := func() {
		stopOnce.Do(func() {
			for _, in := range instances {
				in.cancel()
			}
			for _, in := range instances {
				<-in.done
			}
		})
	}
	defer func() {
		stopAll()
		for _, in := range instances {
			close(in.updates)
		}
	}()
	if err := waitAll(instances, 30*time.Second, func(st Status) bool { return st.Ready }); err != nil {
		return 0, 0, fmt.Errorf("first start: %w", err)
	}

	// Bursts.
	deliver := func(hosts []string, r []int) {
		for i, in := range instances {
			in.updates <- propUpdate{members: Members{Hosts: MembersOf(hosts...), Rank: r[i]}, delay: time.Duration(rng.IntN(20)) * time.Millisecond}
		}
	}
	var chaos sync.WaitGroup
	steps := 3 + rng.IntN(4)
	for range steps {
		switch x := rng.IntN(10); {
		case x < 7:
			deliver(hostsOf(1+rng.IntN(4)), ranks(true))
		case x < 8:
			in := instances[rng.IntN(n)]
			loop := time.Duration(20+rng.IntN(40)) * time.Millisecond
			if err := os.WriteFile(in.crash, nil, 0o600); err != nil {
				return 0, 0, err
			}
			chaos.Go(func() {
				time.Sleep(loop)
				_ = os.Remove(in.crash)
			})
		default:
			_ = instances[rng.IntN(n)].sup.Signal(syscall.SIGUSR1) // one crash (fakechat exits 9)
		}
		time.Sleep(time.Duration(rng.IntN(25)) * time.Millisecond)
	}
	chaos.Wait()
	// The last word: members none of the earlier ones had, so every policy restarts.
	final := []string{fmt.Sprintf("10.9.%d.1", seed%250), fmt.Sprintf("10.9.%d.2", seed%250)}
	deliver(final, ranks(false))
	finalURI := Redact(uriOfHosts(final))
	err = waitAll(instances, 60*time.Second, func(st Status) bool {
		return st.Ready && st.State == StateRunning && st.ChildURI == finalURI && st.PendingRestart == "" && !st.GateHeld
	})
	end := time.Now().UnixNano()
	stopAll()
	if err != nil {
		return 0, 0, fmt.Errorf("%w%s", err, dumpLogs(instances, verbose))
	}

	// Analysis.
	var intervals []downInterval
	for _, in := range instances {
		recs, err := readChatLog(in.logPath)
		if err != nil {
			return 0, 0, err
		}
		got, err := policyDowntimes(in.name, recs, end)
		if err != nil {
			return 0, 0, err
		}
		intervals = append(intervals, got...)
		var last chatRecord
		for _, r := range recs {
			if r.Event == "start" && r.Time < end {
				last = r
				starts++
			}
		}
		if Redact(last.URI) != finalURI {
			return 0, 0, fmt.Errorf("%s ended on %s, want %s", in.name, last.URI, finalURI)
		}
	}
	if gated {
		for _, h := range gate.Holds() {
			if h.Expired {
				return len(intervals), starts, fmt.Errorf("a gate hold of %s expired unreleased", h.Holder)
			}
		}
	}
	if a, b, ok := overlap(intervals); ok {
		return len(intervals), starts, fmt.Errorf("policy restarts overlap: %s down [%s] while %s down [%s] (policy %s, %d instances)%s",
			a.instance, a.span(), b.instance, b.span(), policy, n, dumpLogs(instances, verbose))
	}
	return len(intervals), starts, nil
}

func uriOfHosts(hosts []string) string {
	uri, err := BuildURI(MembersOf(hosts...), URIOptions{})
	if err != nil {
		panic(err)
	}
	return uri
}

// waitAll polls every instance's status until cond holds for all, or timeout.
func waitAll(instances []*propInstance, timeout time.Duration, cond func(Status) bool) error {
	deadline := time.Now().Add(timeout)
	for {
		var lagging []string
		for _, in := range instances {
			if st := in.sup.Status(); !cond(st) {
				lagging = append(lagging, fmt.Sprintf("%s %+v", in.name, st))
			}
		}
		if len(lagging) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not converged after %v: %s", timeout, strings.Join(lagging, "; "))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func dumpLogs(instances []*propInstance, verbose bool) string {
	if !verbose {
		return ""
	}
	var b strings.Builder
	for _, in := range instances {
		fmt.Fprintf(&b, "\n--- %s\n%s", in.name, in.logs.text())
	}
	return b.String()
}

func readChatLog(path string) ([]chatRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []chatRecord
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r chatRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, r)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time < out[j].Time })
	return out, sc.Err()
}

// downInterval is an instance down for a policy restart, in Unix nanoseconds.
type downInterval struct {
	instance   string
	start, end int64
}

func (d downInterval) span() string {
	return fmt.Sprintf("%s .. %s", time.Unix(0, d.start).Format("15:04:05.000000"), time.Unix(0, d.end).Format("15:04:05.000000"))
}

// policyDowntimes finds an instance's policy downtimes in its children's records: from a SIGTERM
// received before the end (only policy restarts send one) to the first later child that serves or
// crashes.
func policyDowntimes(name string, recs []chatRecord, end int64) ([]downInterval, error) {
	var out []downInterval
	for i, r := range recs {
		if r.Event != "signal" || r.Signal != "terminated" || r.Time >= end {
			continue
		}
		d := downInterval{instance: name, start: r.Time, end: -1}
		for _, later := range recs[i+1:] {
			if later.PID == r.PID {
				continue
			}
			if later.Event == "ready" || (later.Event == "exit" && later.Code != 0) {
				d.end = later.Time
				break
			}
		}
		if d.end < 0 {
			return nil, fmt.Errorf("%s: the restart that began at %s never ended", name, time.Unix(0, r.Time).Format("15:04:05.000000"))
		}
		out = append(out, d)
	}
	return out, nil
}

// overlap returns two intervals of different instances that overlap, if any.
func overlap(ds []downInterval) (downInterval, downInterval, bool) {
	sorted := slices.Clone(ds)
	slices.SortFunc(sorted, func(a, b downInterval) int { return int(a.start - b.start) })
	for i, a := range sorted {
		for _, b := range sorted[i+1:] {
			if b.start >= a.end {
				break
			}
			if b.instance != a.instance {
				return a, b, true
			}
		}
	}
	return downInterval{}, downInterval{}, false
}

// propertySeeds returns the seeds a property test runs, first to first+n-1: 500 (60 with -short),
// as many as the variable countEnv says, or the one seedEnv names to replay.
func propertySeeds(countEnv, seedEnv string) (first uint64, n int) {
	first, n = 1, 500
	if testing.Short() {
		n = 60
	}
	if c, err := strconv.Atoi(os.Getenv(countEnv)); err == nil {
		n = c
	}
	if s, err := strconv.ParseUint(os.Getenv(seedEnv), 10, 64); err == nil {
		first, n = s, 1
	}
	return first, n
}
