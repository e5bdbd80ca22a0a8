package metadata_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/replset-agent/replset-agent/metadata"
	"github.com/replset-agent/replset-agent/metadata/metadatatest"
)

// fastConfig is a watcher config for tests: long-polls that the fake server holds for 30 s (so
// only a real wake-up answers within a test deadline) and retries within milliseconds.
func fastConfig(srv *metadatatest.Server) metadata.WatcherConfig {
	return metadata.WatcherConfig{
		BaseURL:     srv.BaseURL(),
		MaxWait:     30 * time.Second,
		MinInterval: time.Millisecond,
		BackoffBase: 10 * time.Millisecond,
		BackoffCap:  50 * time.Millisecond,
	}
}

// runningWatcher is a Watcher whose Run works in the background for one test.
type runningWatcher struct {
	*metadata.Watcher
	out    chan metadata.Snapshot
	cancel context.CancelFunc
	done   chan error
}

func startWatcher(t *testing.T, cfg metadata.WatcherConfig) *runningWatcher {
	t.Helper()
	w, err := metadata.NewWatcher(cfg)
	if err != nil {
		t.Fatalf("NewWatcher: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningWatcher{Watcher: w, out: make(chan metadata.Snapshot), cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- w.Run(ctx, r.out) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels Run and checks that it returns ctx.Err() and leaves out open.
func (r *runningWatcher) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // keep it for a second stop
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	select {
	case _, ok := <-r.out:
		if !ok {
			t.Error("Run closed its output channel")
		}
	default:
	}
}

func (r *runningWatcher) next(t *testing.T) metadata.Snapshot {
	t.Helper()
	select {
	case s := <-r.out:
		return s
	case <-time.After(10 * time.Second):
		t.Fatalf("no snapshot within 10 s; stats %+v", r.Stats())
		return metadata.Snapshot{}
	}
}

// waitStats polls the watcher's Stats until cond holds or a generous deadline passes.
func (r *runningWatcher) waitStats(t *testing.T, what string, cond func(metadata.Stats) bool) {
	t.Helper()
	waitFor(t, what, func() bool { return cond(r.Stats()) })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// mongoState returns "name:state/health" of every mongo container, to compare snapshot data.
func mongoState(s metadata.Snapshot) []string {
	var out []string
	for _, svc := range s.Services {
		if svc.Name != "mongo" {
			continue
		}
		for _, c := range svc.Containers {
			out = append(out, c.Name+":"+c.State+"/"+c.HealthState)
		}
	}
	return out
}

// demoTree is three db hosts with one mongo container each and a letschat on host1.
func demoTree() *metadatatest.Tree {
	tree := metadatatest.NewTree()
	hosts := tree.AddHosts(3)
	tree.AddService("demo", "mongo").On(hosts...)
	tree.AddService("demo", "letschat").On(hosts[0])
	return tree
}

// recordingMetrics counts the Metrics events.
type recordingMetrics struct {
	mu                                  sync.Mutex
	requests, requestErrors, pollErrors int
	changes, emitted                    int
	kinds                               map[metadata.RequestKind]int
}

var _ metadata.Metrics = (*recordingMetrics)(nil)

func (m *recordingMetrics) RequestDone(kind metadata.RequestKind, _ time.Duration, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.kinds == nil {
		m.kinds = map[metadata.RequestKind]int{}
	}
	m.kinds[kind]++
	m.requests++
	if err != nil {
		m.requestErrors++
	}
}

func (m *recordingMetrics) LongPollError(error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pollErrors++
}

func (m *recordingMetrics) ChangeSeen(string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.changes++
}

func (m *recordingMetrics) SnapshotEmitted(metadata.Snapshot) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.emitted++
}
