package lcconfig

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/replset-agent/replset-agent/lcconfig/gatetest"
)

// The active–standby invariant, as a property: whatever the timing of each instance's views (of
// the members and of the instances' health), from the first moment an instance serves, some
// instance serves at every moment through the policy restarts that membership changes force,
// every instance ends on the newest URI, and every moment an instance reported serving, its child
// had answered its probe and had not been signalled.
//
// Each seed runs 2 or 3 supervisors over real fakechat children sharing an in-memory gate, with a
// simulated health check (the load balancer's, Rancher's) turning each instance's readiness into
// the health every view carries, every view delivered after a random lag of its own, and timers
// scaled to milliseconds. It plays 0–2 bursts of membership changes (each instance sees each
// after a random delay), then a final membership that restarts every instance and that every
// instance must end on. Serving spans come from the supervisors' events; children's records come
// from fakechat. Child processes are most of its cost (about 5 per seed).
//
//	LCCONFIG_STANDBY_SEEDS=N   number of seeds (default 500; 60 with -short)
//	LCCONFIG_STANDBY_SEED=S    replay one seed, with the supervisors' logs on failure
func TestSupervisor_activeStandbyInvariant(t *testing.T) {
	first, seeds := propertySeeds("LCCONFIG_STANDBY_SEEDS", "LCCONFIG_STANDBY_SEED")
	begin := time.Now()
	results := make([]standbyResult, seeds)
	// Four seeds at a time: the timers are scaled to milliseconds (a health check every 3 ms), so
	// the test's own load must not starve them. With eight, under -race beside another package's
	// tests on 2 cores, one CI run in six saw a 2.75 ms gap between a successor serving and the
	// holder stopping, not reproduced on replay: most likely a scheduling delay the size of the
	// scaled timers (production's handover delay is seconds), though not proven.
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i := range seeds {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			seed := first + uint64(i)
			dir, err := os.MkdirTemp("", "lcconfig-standby-")
			if err != nil {
				results[i] = standbyResult{seed: seed, err: err.Error()}
				return
			}
			defer os.RemoveAll(dir)
			results[i] = runStandbyScenario(seed, dir, seeds == 1 || os.Getenv("LCCONFIG_STANDBY_VERBOSE") != "")
		})
	}
	wg.Wait()
	var handovers, starts int
	var longestHandover time.Duration
	for _, r := range results {
		handovers += r.handovers
		starts += r.starts
		longestHandover = max(longestHandover, r.longestBoth)
		if r.err != "" {
			t.Errorf("seed %d: %s\nreplay: LCCONFIG_STANDBY_SEED=%d go test -run TestSupervisor_activeStandbyInvariant ./lcconfig/", r.seed, r.err, r.seed)
		}
	}
	t.Logf("%d seeds, %d handovers, %d children started, in %v", seeds, handovers, starts, time.Since(begin).Round(time.Millisecond))
}

// TestSupervisor_activeStandbyInvariant_detectsGaps runs the same check where the serving
// instance restarts without a handover: the checker must see a moment without any instance
// serving, or it proves nothing.
func TestSupervisor_activeStandbyInvariant_detectsGaps(t *testing.T) {
	sp := []servingSpan{
		{instance: "a", start: time.Unix(0, 0), end: time.Unix(10, 0)},
		{instance: "b", start: time.Unix(5, 0), end: time.Unix(20, 0)},
		{instance: "a", start: time.Unix(21, 0), end: time.Unix(30, 0)},
	}
	g := gaps(sp, time.Unix(0, 0), time.Unix(31, 0))
	if len(g) != 2 || !g[0][0].Equal(time.Unix(20, 0)) || !g[0][1].Equal(time.Unix(21, 0)) || !g[1][0].Equal(time.Unix(30, 0)) {
		t.Fatalf("gaps %v", g)
	}
	if g := gaps(sp[:2], time.Unix(0, 0), time.Unix(20, 0)); len(g) != 0 {
		t.Fatalf("gaps %v in covered time", g)
	}
	// And end to end: without handovers (the serving instance just restarts), a seed shows a
	// moment without anyone serving.
	for seed := uint64(1); seed <= 6; seed++ {
		dir := t.TempDir()
		if r := runStandbyScenarioWith(seed, dir, false, true); r.gapSeen {
			return
		}
	}
	t.Fatal("no moment without a serving instance found when restarts skip the handover: the checker cannot fail")
}

type standbyResult struct {
	seed        uint64
	err         string
	handovers   int
	starts      int
	longestBoth time.Duration
	gapSeen     bool
}

func runStandbyScenario(seed uint64, dir string, verbose bool) standbyResult {
	return runStandbyScenarioWith(seed, dir, verbose, false)
}

// runStandbyScenarioWith plays one seed; sabotage makes the serving instance restart without
// handing over, to prove the checker.
func runStandbyScenarioWith(seed uint64, dir string, verbose, sabotage bool) standbyResult {
	res := standbyResult{seed: seed}
	fail := func(format string, args ...any) standbyResult {
		res.err = fmt.Sprintf(format, args...)
		return res
	}
	rng := rand.New(rand.NewPCG(seed, 0x57a4db1))
	n := 2
	if rng.IntN(3) == 0 {
		n = 3
	}
	policy := []RestartPolicy{RestartAlways, RestartSeedsLost}[rng.IntN(2)]
	gate := gatetest.New()
	lb := newLBSim(3*propUnit, 2, 3, time.Duration(rng.IntN(10))*propUnit, seed)
	ip := fmt.Sprintf("127.%d.%d.%d", 100+int(seed>>16)%100, (seed>>8)%256, seed%256)

	type inst struct {
		name    string
		sup     *Supervisor
		logPath string
		logs    *logSink
		mu      sync.Mutex
		events  []Event
		cancel  context.CancelFunc
		done    chan struct{}
		updates chan propUpdate
	}
	instances := make([]*inst, n)
	for i := range instances {
		in := &inst{name: fmt.Sprintf("lc%d", i), logPath: filepath.Join(dir, fmt.Sprintf("lc%d.log", i)), logs: &logSink{},
			done: make(chan struct{}), updates: make(chan propUpdate, 64)}
		addr := fmt.Sprintf("%s:%d", ip, 21000+i)
		logger := logrus.New()
		logger.SetOutput(in.logs)
		logger.SetFormatter(&logrus.JSONFormatter{})
		cfg := SupervisorConfig{
			Command: []string{fakechatBin},
			Dir:     dir,
			Env: []string{
				"FAKECHAT_LOG=" + in.logPath,
				"FAKECHAT_HTTP_ADDR=" + addr,
				"FAKECHAT_BOOT_DELAY=" + (time.Duration(rng.IntN(15)) * propUnit).String(),
				"FAKECHAT_TERM_DELAY=" + (time.Duration(rng.IntN(8)) * propUnit).String(),
				"GOMAXPROCS=1",
			},
			Mode:               ActiveStandby,
			Policy:             policy,
			KillTimeout:        5 * time.Second,
			MinRestartInterval: time.Duration(1+rng.IntN(5)) * propUnit,
			StaggerInterval:    time.Duration(5+rng.IntN(6)) * propUnit,
			SettleDelay:        time.Duration(1+rng.IntN(4)) * propUnit,
			GateRetry:          3 * propUnit,
			GateTimeout:        5 * time.Second,
			HandoverDelay:      time.Duration(10+rng.IntN(15)) * propUnit,
			HandoverTimeout:    3 * time.Second,
			HandoverPoll:       3 * propUnit,
			Gate:               gate.For(in.name),
			noHandover:         sabotage,
			Probe:              HTTPProbe("http://" + addr + "/login"),
			ProbeInterval:      5 * propUnit,
			ReadyTimeout:       30 * time.Second,
			CookieSecret:       testCookieSecret,
			Stdout:             io.Discard,
			Stderr:             io.Discard,
			Logger:             logger,
			OnEvent: func(e Event) {
				in.mu.Lock()
				in.events = append(in.events, e)
				in.mu.Unlock()
			},
		}
		sup, err := NewSupervisor(cfg)
		if err != nil {
			return fail("%v", err)
		}
		in.sup = sup
		instances[i] = in
		lb.add(in.name, i+1, sup)
	}
	eventsOf := func(in *inst) []Event {
		in.mu.Lock()
		defer in.mu.Unlock()
		return append([]Event(nil), in.events...)
	}
	hostsOf := func(k int) []string {
		pool := []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"}
		rng.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
		return pool[:k]
	}
	initial := hostsOf(2)
	for i, in := range instances {
		if err := in.sup.Update(Members{Hosts: MembersOf(initial...), Rank: i}); err != nil {
			return fail("%v", err)
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
	lb.run()
	var stopOnce sync.Once
	stopAll := func() {
		stopOnce.Do(func() {
			lb.close()
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
	dump := func() string {
		if !verbose {
			return ""
		}
		s := ""
		for _, in := range instances {
			s += fmt.Sprintf("\n--- %s\n%s", in.name, in.logs.text())
			for _, e := range eventsOf(in) {
				s += fmt.Sprintf("  event %s %s serving=%v peer=%s %s\n", e.Time.Format("15:04:05.000000"), e.Kind, e.Serving, e.Peer, e.Detail)
			}
		}
		return s
	}
	waitSettled := func(what string, cond func(Status) bool) error {
		deadline := time.Now().Add(60 * time.Second)
		for {
			serving, ok := 0, true
			var lag string
			for _, in := range instances {
				st := in.sup.Status()
				if st.Serving {
					serving++
				}
				if !cond(st) {
					ok = false
					lag = fmt.Sprintf("%s %+v", in.name, st)
				}
			}
			if ok && serving == 1 {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s: not settled after 60s (%d serving): %s", what, serving, lag)
			}
			time.Sleep(5 * propUnit)
		}
	}
	if err := waitSettled("start", func(st Status) bool { return st.Ready }); err != nil {
		return fail("%v%s", err, dump())
	}
	deliver := func(hosts []string) {
		for i, in := range instances {
			in.updates <- propUpdate{members: Members{Hosts: MembersOf(hosts...), Rank: i}, delay: time.Duration(rng.IntN(15)) * propUnit}
		}
	}
	for range rng.IntN(3) {
		deliver(hostsOf(1 + rng.IntN(3)))
		time.Sleep(time.Duration(rng.IntN(60)) * propUnit)
	}
	final := []string{fmt.Sprintf("10.9.%d.1", seed%250), fmt.Sprintf("10.9.%d.2", seed%250)}
	deliver(final)
	finalURI := Redact(uriOfHosts(final))
	err := waitSettled("final", func(st Status) bool {
		return st.Ready && st.State == StateRunning && st.ChildURI == finalURI && st.PendingRestart == "" && !st.GateHeld && st.Handover == ""
	})
	end := time.Now()
	stopAll()
	if err != nil {
		return fail("%v%s", err, dump())
	}

	// Analysis: serving spans, covered from the first; each inside a live, ready child.
	var spans []servingSpan
	for _, in := range instances {
		own := servingSpans(in.name, eventsOf(in), end)
		spans = append(spans, own...)
		recs, err := readChatLog(in.logPath)
		if err != nil {
			return fail("%v", err)
		}
		for _, r := range recs {
			if r.Event == "start" && r.Time < end.UnixNano() {
				res.starts++
			}
		}
		for _, sp := range own {
			if !servedByReadyChild(recs, sp) {
				return fail("%s reported serving %s..%s without a ready, unsignalled child%s", in.name,
					sp.start.Format("15:04:05.000000"), sp.end.Format("15:04:05.000000"), dump())
			}
		}
		for _, e := range eventsOf(in) {
			if e.Kind == EventHandover && e.Peer != "" {
				res.handovers++
			}
		}
	}
	res.handovers /= 2 // each is reported by both sides
	if len(spans) == 0 {
		return fail("no instance ever served")
	}
	firstServe := spans[0].start
	for _, s := range spans {
		if s.start.Before(firstServe) {
			firstServe = s.start
		}
	}
	if g := gaps(spans, firstServe, end); len(g) > 0 {
		res.gapSeen = true
		return fail("no instance served during %s (policy %s, %d instances)%s", fmtGaps(g), policy, n, dump())
	}
	return res
}

// servedByReadyChild reports whether span lies within one child's life between its first ready
// record and its first signal or exit.
func servedByReadyChild(recs []chatRecord, sp servingSpan) bool {
	readyAt := map[int]int64{}
	for _, r := range recs {
		if r.Event == "ready" {
			if _, ok := readyAt[r.PID]; !ok {
				readyAt[r.PID] = r.Time
			}
		}
	}
	for pid, ready := range readyAt {
		if ready > sp.start.UnixNano() {
			continue
		}
		until := int64(1<<63 - 1)
		for _, r := range recs {
			if r.PID == pid && (r.Event == "signal" || r.Event == "exit") && r.Time >= ready {
				until = r.Time
				break
			}
		}
		if sp.end.UnixNano() <= until {
			return true
		}
	}
	return false
}
