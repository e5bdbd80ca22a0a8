package lcconfig

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

// waitLimit is the generous deadline for any awaited event; tests never assert durations.
const waitLimit = 20 * time.Second

// testCookieSecret is a cookie secret that passes CheckCookieSecret.
const testCookieSecret = "t3st-cookie-secret-of-some-length"

// chatRecord is one line fakechat writes.
type chatRecord struct {
	Event     string `json:"event"`
	Role      string `json:"role"` // "npm" or "node" under FAKECHAT_NPM; empty otherwise
	PID       int    `json:"pid"`
	PGID      int    `json:"pgid"`
	Time      int64  `json:"time"`
	URI       string `json:"uri"`
	URISet    bool   `json:"uri_set"`
	Cookie    string `json:"cookie"`
	CookieSet bool   `json:"cookie_set"`
	Settings  string `json:"settings"`
	Signal    string `json:"signal"`
	Code      int    `json:"code"`
}

// logSink collects a logger's JSON lines.
type logSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logSink) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// entries returns the log lines whose message starts with msg.
func (l *logSink) entries(msg string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(l.text(), "\n") {
		var e map[string]any
		if json.Unmarshal([]byte(line), &e) == nil && strings.HasPrefix(e["msg"].(string), msg) {
			out = append(out, e)
		}
	}
	return out
}

// harness runs one Supervisor over fakechat in a temporary app directory.
type harness struct {
	t       testing.TB
	dir     string
	chatLog string
	logs    *logSink
	sup     *Supervisor

	mu     sync.Mutex
	events []Event

	cancel context.CancelFunc
	done   chan runResult
	once   sync.Once
	result runResult
}

type runResult struct {
	code int
	err  error
}

// newHarness builds a supervisor with fast timings; mutate adjusts the config and env adds
// KEY=VALUE pairs to the child's environment.
func newHarness(t testing.TB, mutate func(*SupervisorConfig), env ...string) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), logs: &logSink{}, done: make(chan runResult, 1)}
	h.chatLog = filepath.Join(h.dir, "fakechat.log")
	logger := logrus.New()
	logger.SetOutput(h.logs)
	logger.SetFormatter(&logrus.JSONFormatter{})
	logger.SetLevel(logrus.DebugLevel)
	cfg := SupervisorConfig{
		Command:            []string{fakechatBin},
		Dir:                h.dir,
		Env:                append([]string{"FAKECHAT_LOG=" + h.chatLog, "LCB_DATABASE_URI=mongodb://mongo/letschat"}, env...),
		KillTimeout:        5 * time.Second,
		MinRestartInterval: time.Millisecond,
		StaggerInterval:    time.Millisecond,
		SettleDelay:        20 * time.Millisecond,
		BackoffInitial:     20 * time.Millisecond,
		BackoffMax:         time.Second,
		WaitLogInterval:    50 * time.Millisecond,
		CookieSecret:       testCookieSecret,
		Stdout:             io.Discard,
		Stderr:             io.Discard,
		Logger:             logger,
		OnEvent: func(e Event) {
			h.mu.Lock()
			h.events = append(h.events, e)
			h.mu.Unlock()
		},
	}
	if mutate != nil {
		mutate(&cfg)
	}
	sup, err := NewSupervisor(cfg)
	if err != nil {
		t.Fatalf("NewSupervisor: %v", err)
	}
	h.sup = sup
	t.Cleanup(func() { h.stop() })
	return h
}

// run starts Supervisor.Run in the background.
func (h *harness) run() {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() {
		code, err := h.sup.Run(ctx)
		h.done <- runResult{code, err}
	}()
}

// stop cancels Run and returns what it returned.
func (h *harness) stop() runResult {
	if h.cancel == nil {
		return runResult{}
	}
	h.cancel()
	return h.wait()
}

// wait returns Run's result once it has returned; it may be called any number of times.
func (h *harness) wait() runResult {
	h.once.Do(func() {
		select {
		case h.result = <-h.done:
		case <-time.After(waitLimit):
			buf := make([]byte, 1<<20)
			h.t.Fatalf("Run did not return within %v\n%s", waitLimit, buf[:runtime.Stack(buf, true)])
		}
	})
	return h.result
}

func (h *harness) update(rank int, addrs ...string) {
	h.t.Helper()
	if err := h.sup.Update(Members{Hosts: MembersOf(addrs...), Rank: rank}); err != nil {
		h.t.Fatalf("Update(%v): %v", addrs, err)
	}
}

// records returns fakechat's complete lines so far, optionally only those of one kind.
func (h *harness) records(event string) []chatRecord {
	f, err := os.Open(h.chatLog)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []chatRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var r chatRecord
		if json.Unmarshal(sc.Bytes(), &r) == nil && (event == "" || r.Event == event) {
			out = append(out, r)
		}
	}
	return out
}

func (h *harness) allEvents() []Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.events)
}

func (h *harness) eventsOf(kind EventKind) []Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Event
	for _, e := range h.events {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// waitFor polls cond until it holds, failing the test after waitLimit.
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s\nstatus: %+v\nlogs:\n%s", what, h.sup.Status(), h.logs.text())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitStarts waits until fakechat has started n times and the supervisor runs the last one.
func (h *harness) waitStarts(n int) []chatRecord {
	h.t.Helper()
	var starts []chatRecord
	h.waitFor(fmt.Sprintf("start #%d", n), func() bool {
		starts = h.records("start")
		st := h.sup.Status()
		return len(starts) >= n && st.State == StateRunning && st.PID == starts[len(starts)-1].PID
	})
	return starts
}

// waitLogs waits until n lines starting with msg were logged.
func (h *harness) waitLogs(msg string, n int) []map[string]any {
	h.t.Helper()
	var got []map[string]any
	h.waitFor("log line "+msg, func() bool {
		got = h.logs.entries(msg)
		return len(got) >= n
	})
	return got
}

func uriOf(t testing.TB, addrs ...string) string {
	t.Helper()
	uri, err := BuildURI(MembersOf(addrs...), URIOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return uri
}
