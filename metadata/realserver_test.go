package metadata_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/replset-agent/replset-agent/metadata"
	"github.com/replset-agent/replset-agent/metadata/metadatatest"
)

// sidekickTree is the catalog's layout: mongo with its mongo-agent sidekick on three hosts,
// letschat on host1, and an unrelated stack "web" with a service on every host plus a host that
// runs nothing of ours.
func sidekickTree() *metadatatest.Tree {
	tree := metadatatest.NewTree()
	hosts := tree.AddHosts(4)
	tree.AddService("demo", "mongo").On(hosts[:3]...).AddSidekick("mongo-agent")
	tree.AddService("demo", "letschat").On(hosts[0])
	tree.AddService("web", "nginx").On(hosts...)
	return tree
}

var mongoScope = metadata.Scope{Services: []string{"mongo"}, Self: "mongo"}

// v0.10.x lists everything in a new order on every reload and names either the mongo container
// or its mongo-agent sidekick as self: none of that is a change.
func TestWatcherShuffledReloadsEmitNothing(t *testing.T) {
	tree := sidekickTree()
	srv := metadatatest.StartT(t, metadatatest.Options{Tree: tree, Shuffle: true, RandomVersions: true})
	srv.SetSelf("127.0.0.1", metadatatest.Self{ContainerUUID: tree.Container("demo-mongo-2").UUID})
	cfg := fastConfig(srv)
	cfg.Scope = mongoScope
	w := startWatcher(t, cfg)
	first := w.next(t)
	if first.Self.Container == nil || first.Self.Container.Name != "demo-mongo-2" || first.Self.Host.Name != "host2" {
		t.Fatalf("first self = %+v", first.Self)
	}
	const reloads = 20
	for i := 1; i <= reloads; i++ {
		v := srv.Reload()
		w.waitStats(t, "the reload to be compared", func(s metadata.Stats) bool { return s.Version == v && s.Unchanged == uint64(i) })
	}
	if st := w.Stats(); st.Snapshots != 1 || st.Changes < reloads {
		t.Errorf("after %d shuffled reloads: %d snapshots, %d changes seen; want 1 snapshot (the first) and every change read", reloads, st.Snapshots, st.Changes)
	}
	select {
	case s := <-w.out:
		t.Fatalf("snapshot %q emitted for a reload without a data change", s.Version)
	default:
	}
	// A real change still comes through.
	tree.Container("demo-mongo-3").HealthState = "unhealthy"
	v := srv.SetTree(tree)
	if got := w.next(t); got.Version != v || got.Self.Container.Name != "demo-mongo-2" {
		t.Errorf("after a change got %q self %+v, want %q as demo-mongo-2", got.Version, got.Self.Container, v)
	}
}

// A change outside the scope (another stack's containers, a host that runs none of the watched
// containers) costs no snapshot; a change inside it does.
func TestWatcherIgnoresChangesOutsideScope(t *testing.T) {
	tree := sidekickTree()
	srv := metadatatest.StartT(t, metadatatest.Options{Tree: tree})
	cfg := fastConfig(srv)
	cfg.Scope = metadata.Scope{Services: []string{"mongo", "letschat"}}
	w := startWatcher(t, cfg)
	first := w.next(t)
	if len(first.Services) != 2 || len(first.Hosts) != 3 || len(first.Containers) != 4 || len(first.Stacks) != 1 {
		t.Fatalf("scoped snapshot: %d services, %d hosts, %d containers, %d stacks; want 2, 3, 4, 1",
			len(first.Services), len(first.Hosts), len(first.Containers), len(first.Stacks))
	}
	outside := []func(){
		func() { tree.Container("web-nginx-2").State = "stopped" },
		func() { tree.AddService("web", "api").On(tree.Hosts...) },
		func() { tree.Host("host4").Label("zone", "b") },
		func() { tree.AddHosts(1) },
		func() { tree.Service("web", "nginx").Replace(tree.Container("web-nginx-1")) },
	}
	for i, change := range outside {
		change()
		v := srv.SetTree(tree)
		w.waitStats(t, "the change to be compared", func(s metadata.Stats) bool { return s.Version == v && s.Unchanged == uint64(i+1) })
	}
	if st := w.Stats(); st.Snapshots != 1 {
		t.Errorf("%d snapshots after changes outside the scope, want 1", st.Snapshots)
	}
	tree.Host("host2").Label("replset-agent.priority", "2")
	v := srv.SetTree(tree)
	if got := w.next(t); got.Version != v {
		t.Errorf("a label on a mongo host: got %q, want %q", got.Version, v)
	}
}

// An answer over MaxBodyBytes is an error that says so; the consumer keeps the last good snapshot
// and gets the next one once the tree fits again.
func TestWatcherOverLimitKeepsLastGood(t *testing.T) {
	tree := sidekickTree()
	srv := metadatatest.StartT(t, metadatatest.Options{Tree: tree})
	size := len(httpGetJSON(t, srv.BaseURL()+"/"))
	cfg := fastConfig(srv)
	cfg.MaxBodyBytes = int64(size + 2000)
	cfg.Scope = mongoScope
	w := startWatcher(t, cfg)
	w.next(t)

	big := tree.Clone()
	big.AddService("web", "api").On(big.Hosts...)
	big.AddService("web", "db").On(big.Hosts...)
	srv.SetTree(big)
	w.waitStats(t, "the over-limit read to fail", func(s metadata.Stats) bool {
		return strings.Contains(s.LastError, "too large") && s.Errors >= 1
	})
	if st := w.Stats(); !strings.Contains(st.LastError, "more than") {
		t.Errorf("error %q does not say the limit", st.LastError)
	}
	select {
	case s := <-w.out:
		t.Fatalf("snapshot %q emitted from an over-limit answer", s.Version)
	default:
	}
	tree.Container("demo-mongo-1").State = "stopped"
	v := srv.SetTree(tree)
	if got := w.next(t); got.Version != v || mongoState(got)[0] != "demo-mongo-1:stopped/healthy" {
		t.Errorf("after the tree fits again got %q %v, want %q", got.Version, mongoState(got), v)
	}
}

func TestFetchRejectsHostileAnswers(t *testing.T) {
	deep := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	huge := `"` + strings.Repeat("x", 3<<20) + `"`
	tests := []struct {
		name    string
		fault   metadatatest.Fault
		want    error
		mention string
	}{
		{"deep nesting in an unknown key", metadatatest.Fault{Kinds: []metadatatest.Kind{metadatatest.KindTree},
			Body: `{"containers":[],"environments":` + deep + `,"hosts":[],"services":[],"version":"1"}`}, metadata.ErrMalformed, "nested deeper"},
		{"deep nesting in a service's metadata", metadatatest.Fault{Kinds: []metadatatest.Kind{metadatatest.KindTree},
			Body: `{"containers":[],"hosts":[],"services":[{"metadata":{"a":` + deep + `}}],"version":"1"}`}, metadata.ErrMalformed, "depth"},
		{"hosts not a list", metadatatest.Fault{Kinds: []metadatatest.Kind{metadatatest.KindTree},
			Body: `{"containers":[],"hosts":{"a":1},"services":[],"version":"1"}`}, metadata.ErrMalformed, "hosts is an object, not an array"},
		{"a container that is a string", metadatatest.Fault{Kinds: []metadatatest.Kind{metadatatest.KindTree},
			Body: `{"containers":["x"],"hosts":[],"services":[],"version":"1"}`}, metadata.ErrMalformed, "containers[0]"},
		{"labels of numbers", metadatatest.Fault{Kinds: []metadatatest.Kind{metadatatest.KindTree},
			Body: `{"containers":[],"hosts":[],"services":[{"name":"mongo","containers":[{"labels":{"a":1}}]}],"version":"1"}`}, metadata.ErrMalformed, "services[0].containers[0]"},
		{"a megabyte version in the tree", metadatatest.Fault{Kinds: []metadatatest.Kind{metadatatest.KindTree},
			Body: `{"containers":[],"hosts":[],"services":[],"version":` + huge + `}`}, metadata.ErrTooLarge, "more than"},
		{"data after the tree", metadatatest.Fault{Kinds: []metadatatest.Kind{metadatatest.KindTree},
			Body: `{"containers":[],"hosts":[],"services":[],"version":"1"} {}`}, metadata.ErrMalformed, "after the tree"},
	}
	srv := metadatatest.StartT(t, metadatatest.Options{Tree: demoTree()})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv.ClearFaults()
			srv.InjectFault(tc.fault)
			cfg := fastConfig(srv)
			cfg.MaxBodyBytes = 1 << 20
			w, err := metadata.NewWatcher(cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = w.Fetch(context.Background())
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("err = %v, want %v mentioning %q", err, tc.want, tc.mention)
			}
		})
	}
}

// A /version answer is one short string: megabytes of it are refused after a few KiB, whatever
// the tree limit, and the watcher carries on.
func TestWatcherRefusesHugeVersionAnswers(t *testing.T) {
	srv := metadatatest.StartT(t, metadatatest.Options{Tree: demoTree()})
	cfg := fastConfig(srv)
	w := startWatcher(t, cfg)
	w.next(t)
	w.waitStats(t, "the long-poll", func(metadata.Stats) bool { return srv.Requests().LongPoll == 1 })
	srv.InjectFault(metadatatest.Fault{Kinds: []metadatatest.Kind{metadatatest.KindLongPoll, metadatatest.KindVersion},
		Body: `"` + strings.Repeat("7", 8<<20) + `"`, Times: 2})
	tree := demoTree()
	tree.Container("demo-mongo-1").State = "stopped"
	v := srv.SetTree(tree)
	w.waitStats(t, "the huge answer refused", func(s metadata.Stats) bool { return strings.Contains(s.LastError, "too large") })
	if got := w.next(t); got.Version != v {
		t.Errorf("after the huge answers got %q, want %q", got.Version, v)
	}
	if st := w.Stats(); !strings.Contains(st.LastError, "more than 4096 bytes") {
		t.Errorf("last error %q does not name the 4 KiB limit", st.LastError)
	}
}

// During an outage the watcher probes /version at ProbeInterval however far its backoff has
// grown, so it sees the server's return within about a probe interval, and the requests it
// sends stay bounded by the probe rate.
func TestWatcherSeesRecoveryDuringBackoff(t *testing.T) {
	tree := demoTree()
	srv := metadatatest.StartT(t, metadatatest.Options{Tree: tree})
	cfg := fastConfig(srv)
	// Without probes the first retry would come 15–30 s after the failure: far beyond the
	// deadlines below.
	cfg.BackoffBase, cfg.BackoffCap = 30*time.Second, time.Minute
	cfg.ProbeInterval = 200 * time.Millisecond
	w := startWatcher(t, cfg)
	w.next(t)
	w.waitStats(t, "the long-poll", func(metadata.Stats) bool { return srv.Requests().LongPoll == 1 })

	srv.SetOutage(true)
	srv.ResetRequests()
	tree.Container("demo-mongo-1").State = "stopped"
	v := srv.SetTree(tree) // answers the waiting long-poll; the tree read then meets the outage
	start := time.Now()
	w.waitStats(t, "five failed probes", func(s metadata.Stats) bool { return srv.Requests().Version >= 5 })
	got, elapsed := srv.Requests(), time.Since(start)
	// One failed tree read, then at most one probe per half probe interval (the jitter floor).
	if limit := 2 + int(elapsed/(cfg.ProbeInterval/2)); got.Total > limit {
		t.Errorf("%d requests in %v of outage, want at most %d", got.Total, elapsed, limit)
	}
	if got.Tree != 1 || got.LongPoll != 0 {
		t.Errorf("requests during the outage %+v: only probes may be sent while backing off", got)
	}
	srv.SetOutage(false)
	if s := w.next(t); s.Version != v {
		t.Errorf("after the outage got %q, want %q", s.Version, v)
	}
	if st := w.Stats(); st.ConsecutiveErrors != 0 {
		t.Errorf("stats after recovery %+v", st)
	}
}

// A server that answers /version but fails the tree is not retried at the probe rate: only
// when its version moves or the backoff ends.
func TestWatcherProbesDoNotRetryABadTree(t *testing.T) {
	srv := metadatatest.StartT(t, metadatatest.Options{Tree: demoTree()})
	cfg := fastConfig(srv)
	cfg.BackoffBase, cfg.BackoffCap = 30*time.Second, time.Minute
	cfg.ProbeInterval = 100 * time.Millisecond
	w := startWatcher(t, cfg)
	w.next(t)
	w.waitStats(t, "the long-poll", func(metadata.Stats) bool { return srv.Requests().LongPoll == 1 })
	srv.InjectFault(metadatatest.Fault{Kinds: []metadatatest.Kind{metadatatest.KindTree}, Status: 500})
	srv.Reload()
	w.waitStats(t, "ten probes answered", func(metadata.Stats) bool { return srv.Requests().Version >= 10 })
	if n := srv.Requests().Tree; n != 2 {
		t.Errorf("%d tree reads, want the first and the one failed read: probes that see the same version must not retry", n)
	}
	// A new version is worth a retry at once.
	srv.ClearFaults()
	tree := demoTree()
	tree.Container("demo-mongo-1").State = "stopped"
	v := srv.SetTree(tree)
	if got := w.next(t); got.Version != v {
		t.Errorf("got %q, want %q", got.Version, v)
	}
}
