package metadata_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/replset-agent/replset-agent/metadata"
	"github.com/replset-agent/replset-agent/metadata/metadatatest"
)

func TestWatcherFirstSnapshotAndImmediateWake(t *testing.T) {
	tree := demoTree()
	srv := metadatatest.StartT(t, metadatatest.Options{Tree: tree})
	w := startWatcher(t, fastConfig(srv))

	first := w.next(t)
	if first.Version != srv.Version() || len(first.Hosts) != 3 || len(mongoState(first)) != 3 {
		t.Fatalf("first snapshot %q with %d hosts", first.Version, len(first.Hosts))
	}
	w.waitStats(t, "the long-poll", func(metadata.Stats) bool { return srv.Requests().LongPoll == 1 })

	// The watcher's long-poll is held for 30 s: a snapshot inside the 10 s deadline of next()
	// can only come from the server waking it.
	tree.Container("demo-mongo-2").HealthState = "unhealthy"
	v2 := srv.SetTree(tree)
	second := w.next(t)
	if second.Version != v2 || mongoState(second)[1] != "demo-mongo-2:running/unhealthy" {
		t.Errorf("second snapshot %q %v, want %q with mongo-2 unhealthy", second.Version, mongoState(second), v2)
	}
}

func TestWatcherRequestsPerChange(t *testing.T) {
	const changes = 4
	for _, mode := range []metadata.Mode{metadata.ModeLongPoll, metadata.ModePoll} {
		t.Run(string(mode), func(t *testing.T) {
			tree := demoTree()
			srv := metadatatest.StartT(t, metadatatest.Options{Tree: tree})
			cfg := fastConfig(srv)
			cfg.Mode = mode
			cfg.PollInterval = 20 * time.Millisecond
			w := startWatcher(t, cfg)
			w.next(t)
			for i := 1; i <= changes; i++ {
				if mode == metadata.ModeLongPoll {
					// Change only once the watcher waits on the current version, so that every
					// change is seen by exactly one long-poll.
					w.waitStats(t, "the long-poll", func(metadata.Stats) bool { return srv.Requests().LongPoll == i })
				}
				tree.Container("demo-mongo-1").StartCount = i + 1
				v := srv.SetTree(tree)
				if got := w.next(t); got.Version != v {
					t.Fatalf("change %d: got %q, want %q", i, got.Version, v)
				}
			}
			got := srv.Requests()
			switch mode {
			case metadata.ModeLongPoll:
				// One tree read and one long-poll per change, plus the first read and the poll
				// parked on the last version.
				w.waitStats(t, "the last long-poll", func(metadata.Stats) bool { return srv.Requests().LongPoll == changes+1 })
				got = srv.Requests()
				want := metadatatest.Counts{Total: 2*changes + 2, Tree: changes + 1, LongPoll: changes + 1}
				if got != want {
					t.Errorf("requests %+v, want %+v", got, want)
				}
			case metadata.ModePoll:
				if got.Tree != changes+1 || got.LongPoll != 0 || got.Version < changes {
					t.Errorf("requests %+v, want %d tree reads and at least %d version reads", got, changes+1, changes)
				}
			}
		})
	}
}

func TestWatcherCoalescesBursts(t *testing.T) {
	tree := demoTree()
	srv := metadatatest.StartT(t, metadatatest.Options{Tree: tree})
	w := startWatcher(t, fastConfig(srv))
	w.next(t)

	// Five changes while the consumer takes nothing.
	var last string
	for i := range 5 {
		tree.Container("demo-mongo-1").StartCount = i + 2
		last = srv.SetTree(tree)
		if i == 1 {
			// Let one intermediate snapshot reach the waiting slot, to prove it gets replaced.
			w.waitStats(t, "an intermediate snapshot", func(s metadata.Stats) bool { return s.PendingVersion != "" })
		}
	}
	w.waitStats(t, "the newest snapshot to wait", func(s metadata.Stats) bool { return s.PendingVersion == last })
	got := w.next(t)
	if mongo1 := serviceNamed(t, got, "mongo").Containers[0]; got.Version != last || mongo1.StartCount != 6 {
		t.Fatalf("coalesced snapshot %q start_count %d, want %q with 6", got.Version, mongo1.StartCount, last)
	}
	// Nothing else is queued: the next snapshot is the next change.
	tree.Container("demo-mongo-1").StartCount = 7
	v7 := srv.SetTree(tree)
	if next := w.next(t); next.Version != v7 {
		t.Errorf("after the burst got %q, want %q", next.Version, v7)
	}
	// Three snapshots for a first, a burst and a change; stats count a send just after it.
	w.waitStats(t, "exactly three snapshots counted", func(s metadata.Stats) bool { return s.Snapshots == 3 })
}

func TestWatcherSkipsReloadsWithoutDataChange(t *testing.T) {
	tests := []struct {
		name   string
		reload func(srv *metadatatest.Server) string
	}{
		{"random UUID reloads", func(srv *metadatatest.Server) string {
			srv.SetRandomVersions(true)
			srv.Reload()
			srv.Reload()
			return srv.Reload()
		}},
		{"restart with a new version", func(srv *metadatatest.Server) string {
			srv.Stop()
			v := srv.Reload()
			if err := srv.Restart(); err != nil {
				panic(err)
			}
			return v
		}},
		{"identical tree set again", func(srv *metadatatest.Server) string {
			return srv.SetTree(demoTree())
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tree := demoTree()
			srv := metadatatest.StartT(t, metadatatest.Options{Tree: tree})
			w := startWatcher(t, fastConfig(srv))
			w.next(t)
			v := tc.reload(srv)
			w.waitStats(t, "the reload to be read", func(s metadata.Stats) bool { return s.Version == v && s.Unchanged >= 1 })
			tree.Container("demo-mongo-3").State = "stopped"
			changed := srv.SetTree(tree)
			if got := w.next(t); got.Version != changed {
				t.Errorf("after a reload without data change got %q, want the real change %q", got.Version, changed)
			}
			w.waitStats(t, "two snapshots counted", func(s metadata.Stats) bool { return s.Snapshots >= 2 })
			if st := w.Stats(); st.Snapshots != 2 {
				t.Errorf("%d snapshots, want 2", st.Snapshots)
			}
		})
	}
}

func TestWatcherKeepsLastGoodSnapshot(t *testing.T) {
	tests := []struct {
		name        string
		breakServer func(srv *metadatatest.Server)
	}{
		{"garbage tree", func(srv *metadatatest.Server) {
			srv.InjectFault(metadatatest.Fault{Kinds: []metadatatest.Kind{metadatatest.KindTree}, Body: "<html>oops</html>"})
			srv.Reload() // a change the watcher must try to read
		}},
		{"tree 500", func(srv *metadatatest.Server) {
			srv.InjectFault(metadatatest.Fault{Kinds: []metadatatest.Kind{metadatatest.KindTree}, Status: 500})
			srv.Reload() // a change the watcher must try to read
		}},
		{"tree 404", func(srv *metadatatest.Server) {
			srv.InjectFault(metadatatest.Fault{Kinds: []metadatatest.Kind{metadatatest.KindTree}, Status: 404, Body: `{"code":404}`})
			srv.Reload() // a change the watcher must try to read
		}},
		{"dropped connections", func(srv *metadatatest.Server) {
			srv.InjectFault(metadatatest.Fault{Drop: true})
			srv.Reload() // a change the watcher must try to read
		}},
		{"tree without services", func(srv *metadatatest.Server) {
			_ = srv.SetRaw([]byte(`{"version":"raw-1","hosts":[],"containers":[]}`))
		}},
		{"truncated tree", func(srv *metadatatest.Server) {
			srv.InjectFault(metadatatest.Fault{Kinds: []metadatatest.Kind{metadatatest.KindTree}, Body: `{"version":"x","hosts":[{"na`})
			srv.Reload() // a change the watcher must try to read
		}},
		{"version not a string", func(srv *metadatatest.Server) {
			_ = srv.SetRaw([]byte(`{"version":7,"hosts":[],"services":[],"containers":[]}`))
		}},
		{"garbage long-poll", func(srv *metadatatest.Server) {
			srv.InjectFault(metadatatest.Fault{Kinds: []metadatatest.Kind{metadatatest.KindLongPoll}, Body: "not json"})
			srv.Reload()
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tree := demoTree()
			srv := metadatatest.StartT(t, metadatatest.Options{Tree: tree})
			m := &recordingMetrics{}
			cfg := fastConfig(srv)
			cfg.Metrics = m
			w := startWatcher(t, cfg)
			w.next(t)

			tc.breakServer(srv)
			// Probes between failed long-polls may succeed, so errors need not be consecutive.
			w.waitStats(t, "three failed requests", func(s metadata.Stats) bool { return s.Errors >= 3 })
			select {
			case s := <-w.out:
				t.Fatalf("snapshot %q emitted from a broken server", s.Version)
			default:
			}

			srv.ClearFaults()
			tree.Container("demo-mongo-1").State = "stopped"
			good := srv.SetTree(tree)
			got := w.next(t)
			if got.Version != good || mongoState(got)[0] != "demo-mongo-1:stopped/healthy" || len(got.Hosts) != 3 {
				t.Errorf("after recovery got %q %v, want %q", got.Version, mongoState(got), good)
			}
			st := w.Stats()
			if st.Errors < 3 || st.LastError == "" || st.ConsecutiveErrors != 0 || st.LastGood.IsZero() {
				t.Errorf("stats after recovery %+v", st)
			}
			waitFor(t, "the metrics of the second snapshot", func() bool {
				m.mu.Lock()
				defer m.mu.Unlock()
				return m.emitted >= 2
			})
			m.mu.Lock()
			defer m.mu.Unlock()
			if m.requestErrors < 3 || m.emitted != 2 {
				t.Errorf("metrics: %d request errors, %d emitted", m.requestErrors, m.emitted)
			}
		})
	}
}

func TestWatcherBacksOffAndRetriesFirstSnapshot(t *testing.T) {
	srv := metadatatest.StartT(t, metadatatest.Options{Tree: demoTree()})
	srv.InjectFault(metadatatest.Fault{Kinds: []metadatatest.Kind{metadatatest.KindTree}, Status: 503, Times: 4})
	cfg := fastConfig(srv)
	cfg.BackoffBase, cfg.BackoffCap = 40*time.Millisecond, 80*time.Millisecond
	start := time.Now()
	w := startWatcher(t, cfg)
	s := w.next(t)
	if s.Version != srv.Version() {
		t.Errorf("snapshot %q", s.Version)
	}
	if got := srv.Requests().Tree; got != 5 {
		t.Errorf("%d tree reads, want 4 failures and 1 success", got)
	}
	// Equal jitter waits at least half of each delay: 20 + 40 + 40 + 40 ms.
	if elapsed := time.Since(start); elapsed < 140*time.Millisecond {
		t.Errorf("four retries took %v, less than the backoff floor", elapsed)
	}
}

func TestWatcherSurvivesServerRestart(t *testing.T) {
	tree := demoTree()
	srv := metadatatest.StartT(t, metadatatest.Options{Tree: tree})
	m := &recordingMetrics{}
	cfg := fastConfig(srv)
	cfg.Metrics = m
	w := startWatcher(t, cfg)
	w.next(t)
	w.waitStats(t, "the long-poll", func(metadata.Stats) bool { return srv.Requests().LongPoll == 1 })

	srv.Stop()
	w.waitStats(t, "errors while the server is down", func(s metadata.Stats) bool { return s.ConsecutiveErrors >= 2 })
	srv.SetRandomVersions(true)
	tree.RemoveContainer("demo-mongo-3")
	v := srv.SetTree(tree)
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	got := w.next(t)
	if got.Version != v || len(mongoState(got)) != 2 {
		t.Errorf("after restart got %q %v, want %q with two mongo containers", got.Version, mongoState(got), v)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pollErrors < 2 {
		t.Errorf("%d long-poll errors counted", m.pollErrors)
	}
}

func TestWatcherCancelWhileLongPolling(t *testing.T) {
	srv := metadatatest.StartT(t, metadatatest.Options{Tree: demoTree()})
	w := startWatcher(t, fastConfig(srv))
	w.next(t)
	w.waitStats(t, "the long-poll", func(metadata.Stats) bool { return srv.Requests().LongPoll == 1 })
	w.stop(t) // checks Run returns context.Canceled within 10 s, though the poll is held for 30 s
}

func TestWatcherCancelWhileConsumerIsAway(t *testing.T) {
	srv := metadatatest.StartT(t, metadatatest.Options{Tree: demoTree()})
	w := startWatcher(t, fastConfig(srv))
	w.waitStats(t, "a snapshot waiting", func(s metadata.Stats) bool { return s.PendingVersion != "" })
	w.stop(t)
}

func TestWatcherSelfFromSourceIPAndHeader(t *testing.T) {
	tree := demoTree()
	srv := metadatatest.StartT(t, metadatatest.Options{Tree: tree})
	srv.SetSelf("127.0.0.61", metadatatest.Self{ContainerUUID: tree.Container("demo-mongo-2").UUID})
	srv.SetSelf("127.0.0.62", metadatatest.Self{HostUUID: "host-uuid-3"})

	bound := func(ip string) *http.Client {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		tr := &http.Transport{DialContext: d.DialContext}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr}
	}
	tests := []struct {
		name          string
		client        *http.Client
		header        http.Header
		trustXFF      bool
		wantHost      string
		wantContainer string
	}{
		{"managed network by source IP", bound("127.0.0.61"), nil, false, "host-uuid-2", "demo-mongo-2"},
		{"host network by source IP", bound("127.0.0.62"), nil, false, "host-uuid-3", ""},
		{"unknown IP gets the default host", bound("127.0.0.63"), nil, false, "host-uuid-1", ""},
		{"X-Forwarded-For on an --xff server", nil, http.Header{"X-Forwarded-For": {"127.0.0.61"}}, true, "host-uuid-2", "demo-mongo-2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv.SetTrustXFF(tc.trustXFF)
			cfg := fastConfig(srv)
			cfg.HTTPClient, cfg.Header = tc.client, tc.header
			w, err := metadata.NewWatcher(cfg)
			if err != nil {
				t.Fatal(err)
			}
			s, err := w.Fetch(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			gotContainer := ""
			if s.Self.Container != nil {
				gotContainer = s.Self.Container.Name
			}
			if s.SelfHostUUID() != tc.wantHost || gotContainer != tc.wantContainer {
				t.Errorf("self = host %q container %q, want %q %q", s.SelfHostUUID(), gotContainer, tc.wantHost, tc.wantContainer)
			}
		})
	}
}

func TestFetchErrors(t *testing.T) {
	srv := metadatatest.StartT(t, metadatatest.Options{Tree: demoTree()})
	tests := []struct {
		name    string
		fault   *metadatatest.Fault
		baseURL string
		check   func(t *testing.T, err error)
	}{
		{"status", &metadatatest.Fault{Status: 500, Body: "secret-ish body", Times: 1}, "", func(t *testing.T, err error) {
			var se *metadata.StatusError
			if !errors.As(err, &se) || se.Code != 500 || se.Path != "/2016-07-29/" {
				t.Errorf("err = %v, want a StatusError 500 for /2016-07-29/", err)
			}
		}},
		{"unknown API version", nil, srv.URL() + "/2099-01-01", func(t *testing.T, err error) {
			var se *metadata.StatusError
			if !errors.As(err, &se) || se.Code != 404 {
				t.Errorf("err = %v, want a 404 StatusError", err)
			}
		}},
		{"garbage", &metadatatest.Fault{Body: "garbage", Times: 1}, "", func(t *testing.T, err error) {
			if !errors.Is(err, metadata.ErrMalformed) {
				t.Errorf("err = %v, want ErrMalformed", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.fault != nil {
				srv.InjectFault(*tc.fault)
			}
			cfg := fastConfig(srv)
			if tc.baseURL != "" {
				cfg.BaseURL = tc.baseURL
			}
			w, err := metadata.NewWatcher(cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = w.Fetch(context.Background())
			tc.check(t, err)
			if st := w.Stats(); st.Errors != 1 || st.Requests != 1 {
				t.Errorf("stats %+v, want one failed request", st)
			}
		})
	}
}

func TestFetchTooLarge(t *testing.T) {
	srv := metadatatest.StartT(t, metadatatest.Options{Tree: demoTree()})
	cfg := fastConfig(srv)
	cfg.MaxBodyBytes = 100
	w, err := metadata.NewWatcher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Fetch(context.Background()); !errors.Is(err, metadata.ErrTooLarge) {
		t.Errorf("err = %v, want ErrTooLarge", err)
	}
}

func TestNewWatcherConfig(t *testing.T) {
	tests := []struct {
		name     string
		cfg      metadata.WatcherConfig
		want     error
		wantBase string
	}{
		{"defaults", metadata.WatcherConfig{}, nil, "http://rancher-metadata/2016-07-29"},
		{"trailing slash dropped", metadata.WatcherConfig{BaseURL: "http://169.254.169.250/latest/"}, nil, "http://169.254.169.250/latest"},
		{"behind a path prefix", metadata.WatcherConfig{BaseURL: "https://proxy/rancher/2015-12-19"}, nil, "https://proxy/rancher/2015-12-19"},
		{"no version segment", metadata.WatcherConfig{BaseURL: "http://rancher-metadata"}, metadata.ErrBaseURL, ""},
		{"no version segment, slash", metadata.WatcherConfig{BaseURL: "http://rancher-metadata/"}, metadata.ErrBaseURL, ""},
		{"unversioned path", metadata.WatcherConfig{BaseURL: "http://rancher-metadata/version"}, metadata.ErrBaseURL, ""},
		{"name-list API", metadata.WatcherConfig{BaseURL: "http://rancher-metadata/2015-07-25"}, metadata.ErrBaseURL, ""},
		{"credentials", metadata.WatcherConfig{BaseURL: "http://u:p@rancher-metadata/latest"}, metadata.ErrBaseURL, ""},
		{"scheme", metadata.WatcherConfig{BaseURL: "ftp://rancher-metadata/latest"}, metadata.ErrBaseURL, ""},
		{"query", metadata.WatcherConfig{BaseURL: "http://rancher-metadata/latest?x=1"}, metadata.ErrBaseURL, ""},
		{"unparsable", metadata.WatcherConfig{BaseURL: "http://[::1"}, metadata.ErrBaseURL, ""},
		{"unparsable with credentials", metadata.WatcherConfig{BaseURL: "http://u:p@[::1/latest"}, metadata.ErrBaseURL, ""},
		{"mode", metadata.WatcherConfig{Mode: "push"}, metadata.ErrConfig, ""},
		{"max wait above server cap", metadata.WatcherConfig{MaxWait: 5 * time.Minute}, metadata.ErrConfig, ""},
		{"client timeout of the stock library", metadata.WatcherConfig{HTTPClient: &http.Client{Timeout: 10 * time.Second}}, metadata.ErrConfig, ""},
		{"client timeout just enough", metadata.WatcherConfig{MaxWait: 4 * time.Second, HTTPClient: &http.Client{Timeout: 10 * time.Second}}, nil, "http://rancher-metadata/2016-07-29"},
		{"backoff base above cap", metadata.WatcherConfig{BackoffBase: time.Minute}, metadata.ErrConfig, ""},
		{"negative poll interval", metadata.WatcherConfig{PollInterval: -time.Second}, metadata.ErrConfig, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := metadata.NewWatcher(tc.cfg)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err != nil && tc.cfg.BaseURL != "" && errors.Is(err, metadata.ErrBaseURL) && strings.Contains(err.Error(), "u:p") {
				t.Errorf("error leaks credentials: %v", err)
			}
			if err == nil && w.BaseURL() != tc.wantBase {
				t.Errorf("base %q, want %q", w.BaseURL(), tc.wantBase)
			}
		})
	}
}

// A server that comes back on the same version must clear the outage from Stats at once, not when
// the first long-poll after it times out (MaxWait, 30 s here).
func TestWatcherReportsRecoveryWithoutWaitingForALongPoll(t *testing.T) {
	srv := metadatatest.StartT(t, metadatatest.Options{Tree: demoTree()})
	w := startWatcher(t, fastConfig(srv))
	w.next(t)
	w.waitStats(t, "the long-poll", func(metadata.Stats) bool { return srv.Requests().LongPoll == 1 })
	srv.Stop()
	w.waitStats(t, "errors while the server is down", func(s metadata.Stats) bool { return s.ConsecutiveErrors >= 2 })
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	w.waitStats(t, "the outage cleared", func(s metadata.Stats) bool { return s.ConsecutiveErrors == 0 })
	// The recovery read is an immediate version read; watching resumes with a long-poll after it.
	w.waitStats(t, "long-polling again", func(metadata.Stats) bool { return srv.Requests().LongPoll >= 1 && srv.Requests().Version >= 1 })
}
