package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakechatBin is lcconfig's Let's Chat stand-in (it serves HTTP once booted and records every
// start, readiness, signal and exit), built once for the tests that need a readiness probe.
var fakechatBin struct {
	once sync.Once
	path string
	err  error
}

func fakechat(t testing.TB) string {
	t.Helper()
	fakechatBin.once.Do(func() {
		fakechatBin.path = filepath.Join(filepath.Dir(agentBin), "fakechat")
		out, err := exec.Command("go", "build", "-o", fakechatBin.path, "github.com/replset-agent/replset-agent/lcconfig/internal/fakechat").CombinedOutput()
		if err != nil {
			fakechatBin.err = fmt.Errorf("build fakechat: %v\n%s", err, out)
		}
	})
	if fakechatBin.err != nil {
		t.Fatal(fakechatBin.err)
	}
	return fakechatBin.path
}

// chatInstance is a letschat agent over the stand-in: where its child serves and records.
type chatInstance struct {
	*lcAgent
	chatLog string // the stand-in's records (one JSON line each)
	http    string // host:port the stand-in serves once booted
}

// addChatService lists a Let's Chat service of n containers (health "initializing", as Rancher
// shows a container with a health check before its first verdict) and starts an agent for each
// over the stand-in, which boots for bootDelay and takes termDelay to stop.
func (e *env) addChatService(service, policy string, n int, bootDelay, termDelay time.Duration, extra ...string) []*chatInstance {
	e.t.Helper()
	e.mu.Lock()
	lcs := e.listLetschat(service, policy, n)
	for _, lc := range lcs {
		lc.ctr.HealthState = "initializing"
	}
	e.publish()
	e.mu.Unlock()
	bin := fakechat(e.t)
	var out []*chatInstance
	for _, lc := range lcs {
		dir := filepath.Join(e.dir, lc.name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			e.t.Fatal(err)
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(lc.ip, "0"))
		if err != nil {
			e.t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		ci := &chatInstance{lcAgent: lc, chatLog: filepath.Join(dir, "chat.log"), http: addr}
		args := e.letschatArgs(lc, dir, append([]string{"--ready-url", "http://" + addr + "/login"}, extra...)...)
		// env execs the stand-in, which is then the process group's leader.
		ci.proc = e.procs.start(lc.name, args, "env", "FAKECHAT_LOG="+ci.chatLog, "FAKECHAT_HTTP_ADDR="+addr,
			"FAKECHAT_BOOT_DELAY="+bootDelay.String(), "FAKECHAT_TERM_DELAY="+termDelay.String(), "GOMAXPROCS=1", bin)
		out = append(out, ci)
	}
	e.t.Cleanup(func() { killChildren(out) })
	return out
}

// killChildren kills what stand-ins are left once the agents are gone (an agent killed with
// SIGKILL cannot stop its child).
func killChildren(cis []*chatInstance) {
	for _, ci := range cis {
		for _, r := range readChat(ci.chatLog) {
			if r.Event == "start" {
				if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", r.PID)); err == nil && strings.Contains(string(b), "fakechat") {
					_ = syscallKillGroup(r.PID)
				}
			}
		}
	}
}

// readyzOK asks an agent's /readyz, as the load balancer's check does.
func readyzOK(p *proc, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.listen+"/readyz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// healthChecker plays Rancher's health check of the Let's Chat services, pointed at the agents'
// /readyz as the template points it: every interval it checks each container, marks it healthy
// after rise passes in a row and unhealthy after fall failures, and publishes the new
// health_state in metadata (the agents read it there, as they read Rancher's).
type healthChecker struct {
	e          *env
	interval   time.Duration
	rise, fall int
	insts      []*chatInstance

	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	state   map[string]*checkState
	flipped []healthFlip
}

type checkState struct {
	passes, fails int
	health        string
}

// healthFlip is one change of a container's health as the checker published it.
type healthFlip struct {
	instance, health string
	at               time.Time
}

func startHealthChecker(e *env, interval time.Duration, rise, fall int, insts []*chatInstance) *healthChecker {
	h := &healthChecker{e: e, interval: interval, rise: rise, fall: fall, insts: insts, stop: make(chan struct{}), done: make(chan struct{}), state: map[string]*checkState{}}
	for _, ci := range insts {
		h.state[ci.name] = &checkState{health: "initializing"}
	}
	go h.run()
	e.t.Cleanup(h.close)
	return h
}

func (h *healthChecker) run() {
	defer close(h.done)
	tick := time.NewTicker(h.interval)
	defer tick.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-tick.C:
		}
		results := make([]bool, len(h.insts))
		var wg sync.WaitGroup
		for i, ci := range h.insts {
			wg.Go(func() { results[i] = readyzOK(ci.proc, h.interval) })
		}
		wg.Wait()
		var changed []*chatInstance
		h.mu.Lock()
		for i, ci := range h.insts {
			st := h.state[ci.name]
			old := st.health
			if results[i] {
				st.passes, st.fails = st.passes+1, 0
				if st.passes >= h.rise {
					st.health = "healthy"
				}
			} else {
				st.passes, st.fails = 0, st.fails+1
				if st.fails >= h.fall {
					st.health = "unhealthy"
				}
			}
			if st.health != old {
				changed = append(changed, ci)
				h.flipped = append(h.flipped, healthFlip{instance: ci.name, health: st.health, at: time.Now()})
			}
		}
		h.mu.Unlock()
		if len(changed) > 0 {
			h.e.mu.Lock()
			for _, ci := range changed {
				h.mu.Lock()
				ci.ctr.HealthState = h.state[ci.name].health
				h.mu.Unlock()
			}
			h.e.publish()
			h.e.mu.Unlock()
		}
	}
}

func (h *healthChecker) close() {
	select {
	case <-h.stop:
	default:
		close(h.stop)
	}
	<-h.done
}

// health returns an instance's health as last published.
func (h *healthChecker) health(name string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.state[name].health
}

// flips returns every published change so far.
func (h *healthChecker) flips() []healthFlip {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.flipped)
}

// readySampler polls every agent of a group's /readyz every interval and records how many were
// ready: the load balancer's choice at that moment.
type readySampler struct {
	interval time.Duration
	groups   map[string][]*chatInstance
	stop     chan struct{}
	done     chan struct{}

	mu      sync.Mutex
	samples map[string][]readySample
}

type readySample struct {
	at    time.Time
	ready []string // the instances whose /readyz answered 200
}

func startReadySampler(t testing.TB, interval time.Duration, groups map[string][]*chatInstance) *readySampler {
	s := &readySampler{interval: interval, groups: groups, stop: make(chan struct{}), done: make(chan struct{}), samples: map[string][]readySample{}}
	go s.run()
	t.Cleanup(s.close)
	return s
}

func (s *readySampler) run() {
	defer close(s.done)
	for {
		select {
		case <-s.stop:
			return
		case <-time.After(s.interval):
		}
		for name, g := range s.groups {
			at := time.Now()
			var ready []string
			for _, ci := range g {
				// Generous: a slow answer from a loaded machine is not an instance down.
				if readyzOK(ci.proc, 3*time.Second) {
					ready = append(ready, ci.name)
				}
			}
			s.mu.Lock()
			s.samples[name] = append(s.samples[name], readySample{at: at, ready: ready})
			s.mu.Unlock()
		}
	}
}

func (s *readySampler) close() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
}

// noneReady returns the longest run of samples of group, between from and to, in which no
// instance was ready (from the first such sample to the next with one ready), and how many
// samples had none.
func (s *readySampler) noneReady(group string, from, to time.Time) (longest time.Duration, zero, total int) {
	s.mu.Lock()
	samples := slices.Clone(s.samples[group])
	s.mu.Unlock()
	var runStart time.Time
	for _, x := range samples {
		if x.at.Before(from) || x.at.After(to) {
			continue
		}
		total++
		if len(x.ready) == 0 {
			zero++
			if runStart.IsZero() {
				runStart = x.at
			}
			continue
		}
		if !runStart.IsZero() {
			longest = max(longest, x.at.Sub(runStart))
			runStart = time.Time{}
		}
	}
	if !runStart.IsZero() {
		longest = max(longest, to.Sub(runStart))
	}
	return longest, zero, total
}

// mostReady returns the most instances of group ready in one sample between from and to.
func (s *readySampler) mostReady(group string, from, to time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	most := 0
	for _, x := range s.samples[group] {
		if !x.at.Before(from) && !x.at.After(to) {
			most = max(most, len(x.ready))
		}
	}
	return most
}
