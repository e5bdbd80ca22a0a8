package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// proc is one agent process: the real binary, its log in a file, its HTTP endpoint on a free port.
type proc struct {
	name    string
	args    []string
	logPath string
	listen  string // host:port of /metrics and /status
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has been reaped
	code    int           // exit code, valid once done is closed (-1 when killed by a signal)
	signal  syscall.Signal
	logs    struct { // logLines' entries parsed so far and the bytes they came from
		mu      sync.Mutex
		offset  int64
		entries []map[string]any
	}
}

// procSet owns every process a test starts, and stops them all when the test ends.
type procSet struct {
	t      testing.TB
	logDir string

	mu    sync.Mutex
	procs []*proc
}

func newProcSet(t testing.TB) *procSet {
	// The log directory is made first so that its removal is the last cleanup: the dump on failure
	// below runs before it.
	ps := &procSet{t: t, logDir: t.TempDir()}
	t.Cleanup(ps.stopAll)
	return ps
}

// freeListenAddr returns a free 127.0.0.1 port for an agent's --listen. The port is closed before
// the agent binds it; another process could take it meanwhile, which start reports.
func freeListenAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// start runs the binary with args plus --listen and JSON logs, and waits until its HTTP endpoint
// answers, so that a test never races the agent's start-up.
func (ps *procSet) start(name string, args []string, child ...string) *proc {
	ps.t.Helper()
	p := &proc{name: name, listen: freeListenAddr(ps.t), done: make(chan struct{})}
	p.args = append(append([]string(nil), args...), "--listen", p.listen, "--log-format", "json")
	if len(child) > 0 {
		p.args = append(append(p.args, "--"), child...)
	}
	p.logPath = filepath.Join(ps.logDir, fmt.Sprintf("%s-%d.log", name, time.Now().UnixNano()))
	logf, err := os.Create(p.logPath)
	if err != nil {
		ps.t.Fatal(err)
	}
	p.cmd = exec.Command(agentBin, p.args...)
	if x := os.Getenv("XAGENT_ENV"); x != "" {
		p.cmd.Env = append(os.Environ(), x)
	}
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		ps.t.Fatalf("start %s: %v", name, err)
	}
	ps.mu.Lock()
	ps.procs = append(ps.procs, p)
	ps.mu.Unlock()
	go func() {
		// An exit status other than 0 is an error here; the code and signal say it all.
		_ = p.cmd.Wait()
		logf.Close()
		p.code = p.cmd.ProcessState.ExitCode()
		if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			p.signal = ws.Signal()
		}
		close(p.done)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := p.get("/healthz"); err == nil {
			return p
		}
		select {
		case <-p.done:
			ps.t.Fatalf("%s exited at start with code %d:\n%s", name, p.code, p.log())
		default:
		}
		if time.Now().After(deadline) {
			ps.t.Fatalf("%s never served /healthz:\n%s", name, p.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// running reports whether the process has not exited yet.
func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// terminate sends SIGTERM and waits up to timeout for the exit; it reports whether it exited.
func (p *proc) terminate(timeout time.Duration) bool {
	if p.running() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-p.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// kill ends the process at once, as a lost host does, and waits until it is reaped.
func (p *proc) kill() {
	if p.running() {
		_ = p.cmd.Process.Kill()
	}
	<-p.done
}

// stopAll stops every process still running (SIGTERM, SIGKILL after a while: letschat agents
// must get to stop their child) and dumps every log when the test failed.
func (ps *procSet) stopAll() {
	ps.mu.Lock()
	procs := append([]*proc(nil), ps.procs...)
	ps.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(func() {
			if !p.terminate(10 * time.Second) {
				p.kill()
			}
		})
	}
	wg.Wait()
	if ps.t.Failed() {
		for _, p := range procs {
			ps.t.Logf("===== log of %s (%s) =====\n%s", p.name, strings.Join(p.args, " "), p.log())
		}
	}
}

// log returns the process's log so far.
func (p *proc) log() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	return string(b)
}

// logLines returns the process's JSON log entries so far; lines that are not JSON are skipped.
// Each call parses only what was written since the last one: the benchmarks read the logs of
// long-running agents many times while measuring, and re-parsing whole logs cost the test
// process (and its garbage collector) more CPU than the agents it measured.
func (p *proc) logLines() []map[string]any {
	p.logs.mu.Lock()
	defer p.logs.mu.Unlock()
	f, err := os.Open(p.logPath)
	if err != nil {
		return slices.Clip(p.logs.entries)
	}
	defer f.Close()
	if _, err := f.Seek(p.logs.offset, io.SeekStart); err != nil {
		return slices.Clip(p.logs.entries)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return slices.Clip(p.logs.entries)
	}
	complete := bytes.LastIndexByte(b, '\n') + 1 // a line still being written waits for the next call
	for line := range bytes.SplitSeq(b[:complete], []byte("\n")) {
		var m map[string]any
		if len(line) > 0 && json.Unmarshal(line, &m) == nil {
			p.logs.entries = append(p.logs.entries, m)
		}
	}
	p.logs.offset += int64(complete)
	// Clipped, so that a caller appending to it never writes into the cache.
	return slices.Clip(p.logs.entries)
}

// metaStats reads the watcher counters of a mongo or letschat agent.
func (p *proc) metaStats() (metaStats, string, error) {
	var st struct {
		Metadata  metaStats `json:"metadata"`
		LastError string    `json:"last_error"`
	}
	b, err := p.get("/status")
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	return st.Metadata, st.LastError, err
}

// logCount is how many JSON log entries the process has written so far.
func (p *proc) logCount() int { return len(p.logLines()) }

// hasLogSince is hasLog over the entries after the first n.
func (p *proc) hasLogSince(n int, want map[string]string) bool {
	lines := p.logLines()
	if n > len(lines) {
		return false
	}
	for _, e := range lines[n:] {
		if entryMatches(e, want) {
			return true
		}
	}
	return false
}

// hasLog reports whether some log entry has every field of want (values compared as strings).
func (p *proc) hasLog(want map[string]string) bool {
	for _, e := range p.logLines() {
		if entryMatches(e, want) {
			return true
		}
	}
	return false
}

func entryMatches(e map[string]any, want map[string]string) bool {
	for k, v := range want {
		got, ok := e[k]
		if !ok || !strings.Contains(fmt.Sprint(got), v) {
			return false
		}
	}
	return true
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

func (p *proc) get(path string) ([]byte, error) {
	resp, err := httpClient.Get("http://" + p.listen + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return b, fmt.Errorf("%s: %s", path, resp.Status)
	}
	return b, nil
}

// metric sums every sample of the named series in the agent's /metrics (labels ignored unless
// given as name{label="value"} fragments in filter).
func (p *proc) metric(name string, filter ...string) (float64, error) {
	b, err := p.get("/metrics")
	if err != nil {
		return 0, err
	}
	return sumMetric(string(b), name, filter...), nil
}

// sumMetric adds up the samples of series name in a Prometheus text exposition.
func sumMetric(text, name string, filter ...string) float64 {
	var sum float64
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		series, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		base, _, _ := strings.Cut(series, "{")
		if base != name {
			continue
		}
		match := true
		for _, f := range filter {
			if !strings.Contains(series, f) {
				match = false
			}
		}
		if !match {
			continue
		}
		if v, err := strconv.ParseFloat(strings.Fields(value)[0], 64); err == nil {
			sum += v
		}
	}
	return sum
}

// mongoStatus is the part of a mongo agent's /status the suite reads.
type mongoStatus struct {
	Reconciler struct {
		Self         string `json:"self"`
		Passes       int64  `json:"passes"`
		LastDecision *struct {
			Action struct {
				Kind   string `json:"kind"`
				Step   string `json:"step"`
				Member string `json:"member"`
				Reason string `json:"reason"`
			} `json:"action"`
		} `json:"lastDecision"`
		Desired *struct {
			Members []struct {
				Host string `json:"host"`
			} `json:"members"`
		} `json:"desired"`
	} `json:"reconciler"`
	Metadata  metaStats `json:"metadata"`
	LastError string    `json:"last_error"`
	// Auth is the bootstrap of the set's first users (with admin credentials).
	Auth *struct {
		Done      bool     `json:"done"`
		Created   []string `json:"created"`
		Waiting   string   `json:"waiting"`
		Alarm     string   `json:"alarm"`
		LastError string   `json:"last_error"`
	} `json:"auth"`
}

// metaStats is a role's metadata watcher counters (metadata.Stats, which has no JSON tags).
type metaStats struct {
	Version, EmittedVersion string
	Requests, Errors        uint64
	Snapshots, Unchanged    uint64
	ConsecutiveErrors       int
	LastError               string
}

func (p *proc) mongoStatus() (mongoStatus, error) {
	var st mongoStatus
	b, err := p.get("/status")
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	return st, err
}

// letschatStatus is the part of a letschat agent's /status the suite reads.
type letschatStatus struct {
	Supervisor struct {
		State    string         `json:"state"`
		URI      string         `json:"uri"`
		Hosts    []string       `json:"hosts"`
		Rank     int            `json:"rank"`
		ChildURI string         `json:"child_uri"`
		PID      int            `json:"pid"`
		Restarts map[string]int `json:"restarts"`
		Pending  string         `json:"pending_restart"`
	} `json:"supervisor"`
	Metadata  metaStats `json:"metadata"`
	LastError string    `json:"last_error"`
}

func (p *proc) letschatStatus() (letschatStatus, error) {
	var st letschatStatus
	b, err := p.get("/status")
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	return st, err
}

// waitFor polls cond until it holds or timeout passes, then fails the test with cond's last
// explanation. Deadlines are generous: they only bound a hang, they never time behaviour.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	last := ""
	for {
		ok, why := cond()
		if ok {
			return
		}
		last = why
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not reached within %s; last: %s", what, timeout, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
