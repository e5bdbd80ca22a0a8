package agent

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/replset-agent/replset-agent/metadata"
	"github.com/replset-agent/replset-agent/metadata/metadatatest"
)

// selfTree is the catalog's layout: mongo with its mongo-agent sidekick on three hosts,
// letschat on host1, served in v0.10.x's shuffled order.
func selfTree(t *testing.T) (*metadatatest.Tree, *metadatatest.Server) {
	tree := metadatatest.NewTree()
	hosts := tree.AddHosts(3)
	tree.AddService("demo", "mongo").On(hosts...).AddSidekick("mongo-agent")
	tree.AddService("demo", "letschat").On(hosts[0])
	return tree, metadatatest.StartT(t, metadatatest.Options{Tree: tree, Shuffle: true})
}

// roleFetch reads one snapshot the way the role's own watcher does.
func roleFetch(t *testing.T, w *metadata.Watcher) metadata.Snapshot {
	t.Helper()
	s, err := w.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Both roles wait, and say why once, until metadata names their own container; the mongo role
// reports losing it as exactly that.
func TestRolesWaitForTheirOwnContainer(t *testing.T) {
	tree, srv := selfTree(t)
	const ip = "127.0.0.81"
	var logs syncBuffer
	log := newLogger(&logs, "info", "text")
	cfg := mongoConfig{}
	if _, err := cfg.options().parse(nil, noEnv); err != nil {
		t.Fatal(err)
	}
	cfg.MetadataURL, cfg.SourceIP, cfg.MongodAddress = srv.BaseURL(), ip, "127.0.0.1:1"
	r, err := newMongoRole(cfg, mongoOptions{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.client.Close(context.Background()) })
	ready := func() string {
		if err := r.endpoints().ready(); err != nil {
			return err.Error()
		}
		return ""
	}

	// Not listed yet: metadata answers with its default entry, the metadata server's host.
	for range 3 {
		r.apply(roleFetch(t, r.watcher))
	}
	if got := ready(); !strings.Contains(got, "waiting for metadata to list this agent's container") || !strings.Contains(got, "only host host1") {
		t.Errorf("/readyz while unlisted: %q", got)
	}
	if st := r.status(); !strings.Contains(strings.Join(st.Problems, "\n"), "not in metadata") || st.Self != "" {
		t.Errorf("/status while unlisted: problems %q, self %q", st.Problems, st.Self)
	}
	if r.desired != nil {
		t.Fatal("a desired state was built from the default self")
	}

	// Listed, and named by its sidekick on some reloads and by the mongo container on others.
	mongo2 := tree.Container("demo-mongo-2")
	srv.SetSelf(ip, metadatatest.Self{ContainerUUID: tree.SidekickContainer(mongo2, "mongo-agent").UUID})
	for range 4 {
		srv.Reload()
		r.apply(roleFetch(t, r.watcher))
	}
	if got := ready(); strings.Contains(got, "metadata") {
		t.Errorf("/readyz once listed still blames metadata: %q", got)
	}
	if r.desired == nil || r.desired.Self != "10.0.0.12:27017" {
		t.Fatalf("desired self = %+v, want host2's address", r.desired)
	}

	// The container leaves metadata.
	tree.RemoveContainer(mongo2.UUID)
	srv.SetTree(tree)
	for range 3 {
		r.apply(roleFetch(t, r.watcher))
	}
	if got := ready(); !strings.Contains(got, "this agent's container demo-mongo-2 left metadata") {
		t.Errorf("/readyz after the container left: %q", got)
	}
	out := logs.String()
	for line, want := range map[string]int{
		"waiting for metadata to list this agent's container": 1,
		"this agent's container found in metadata":            1,
		"left metadata": 1,
		"--stack":       0,
	} {
		if got := strings.Count(out, line); got != want {
			t.Errorf("%d log lines with %q, want %d:\n%s", got, line, want, out)
		}
	}
}

func TestLetschatRoleWaitsForItsContainer(t *testing.T) {
	tree, srv := selfTree(t)
	const ip = "127.0.0.82"
	var logs syncBuffer
	cfg := letschatConfig{}
	if _, err := cfg.options().parse([]string{"--", "true"}, noEnv); err != nil {
		t.Fatal(err)
	}
	cfg.MetadataURL, cfg.SourceIP, cfg.Dir = srv.BaseURL(), ip, t.TempDir()
	cfg.CookieSecret = "self-test-cookie-secret"
	r, err := newLetschatRole(cfg, letschatOptions{Logger: newLogger(&logs, "info", "text")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.lease.close) // run would close it; this test applies snapshots by hand
	for range 2 {
		r.apply(roleFetch(t, r.watcher))
	}
	if err := r.endpoints().ready(); err == nil || !strings.Contains(err.Error(), "waiting for metadata to list this agent's container") {
		t.Errorf("/readyz while unlisted: %v", err)
	}
	if st := r.status(); !strings.Contains(st.LastError, "not in metadata") || len(st.Members) != 0 {
		t.Errorf("/status while unlisted: %+v", st)
	}
	srv.SetSelf(ip, metadatatest.Self{ContainerUUID: tree.Container("demo-letschat-1").UUID})
	r.apply(roleFetch(t, r.watcher))
	if st := r.status(); st.LastError != "" || len(st.Members) != 3 {
		t.Errorf("/status once listed: %+v", st)
	}
	if n := strings.Count(logs.String(), "waiting for metadata to list"); n != 1 {
		t.Errorf("%d waiting lines, want 1:\n%s", n, logs.String())
	}
}

// Through each role's own scope, 20 reloads of a v0.10.x server (new order, self alternating
// between mongo and mongo-agent) and changes elsewhere in the environment cost no apply, hence
// no reconcile pass and no URI update; a change of the mongo service costs one.
func TestRoleScopesIgnoreReloadsAndOutsideChanges(t *testing.T) {
	for _, role := range []string{"mongo", "letschat"} {
		t.Run(role, func(t *testing.T) {
			tree, srv := selfTree(t)
			tree.AddService("web", "nginx").On(tree.Hosts...)
			other := tree.AddHosts(1)[0]
			srv.SetTree(tree)
			srv.SetRandomVersions(true)
			cfg := commonConfig{}
			set := newOptionSet("test", "")
			cfg.register(set, false)
			if _, err := set.parse(nil, noEnv); err != nil {
				t.Fatal(err)
			}
			const ip = "127.0.0.83"
			cfg.MetadataURL, cfg.SourceIP, cfg.MetadataSpacing = srv.BaseURL(), ip, 10*time.Millisecond
			scope := mongoScope(&cfg, "")
			self := tree.SidekickContainer(tree.Container("demo-mongo-2"), "mongo-agent")
			if role == "letschat" {
				scope = letschatScope(&cfg, "letschat")
				self = tree.Container("demo-letschat-1")
			}
			srv.SetSelf(ip, metadatatest.Self{ContainerUUID: self.UUID})
			var logs syncBuffer
			w, err := newWatcher(&cfg, scope, newLogger(&logs, "info", "text"), nil)
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			applied := 0
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				follow(ctx, w, func(s metadata.Snapshot) {
					if _, err := locate(s, "", scope.Self); err != nil {
						t.Errorf("snapshot %s does not locate the agent: %v", s.Version, err)
					}
					mu.Lock()
					applied++
					mu.Unlock()
				})
			}()
			t.Cleanup(func() { cancel(); <-done })
			count := func() int {
				mu.Lock()
				defer mu.Unlock()
				return applied
			}
			waitUntil(t, "the first snapshot", func() bool { return count() == 1 })

			changes := []func(){
				func() { tree.Container("web-nginx-1").State = "stopped" },
				func() { other.Label("zone", "b") },
				func() { tree.AddService("web", "api").On(tree.Hosts...) },
			}
			for i := range 20 {
				if i < len(changes) {
					changes[i]()
					srv.SetTree(tree)
				}
				v := srv.Reload()
				waitUntil(t, "the reload to be read", func() bool { st := w.Stats(); return st.Version == v && st.Unchanged >= uint64(i+1) })
			}
			if n := count(); n != 1 {
				t.Fatalf("%d applies after 20 reloads and changes outside the scope, want 1 (the first)", n)
			}
			tree.Container("demo-mongo-3").HealthState = "unhealthy"
			srv.SetTree(tree)
			waitUntil(t, "the mongo change applied", func() bool { return count() == 2 })
		})
	}
}
