package metadatatest_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	rancher "github.com/rancher/go-rancher-metadata/metadata"

	"github.com/replset-agent/replset-agent/metadata/metadatatest"
)

// The pinned client uses its own http.Client on http.DefaultTransport; drop its idle connections
// after each test so that goleak sees no connection goroutines.
func closeDefaultIdle(t *testing.T) {
	t.Cleanup(func() { http.DefaultTransport.(*http.Transport).CloseIdleConnections() })
}

func TestRancherClientGetters(t *testing.T) {
	closeDefaultIdle(t)
	tree := demoTree()
	tree.Container("demo-mongo-3").PrimaryIP = "127.0.0.42"
	srv := metadatatest.StartT(t, metadatatest.Options{Tree: tree, TrustXFF: true})
	client, err := rancher.NewClientAndWait(srv.BaseURL())
	if err != nil {
		t.Fatalf("NewClientAndWait: %v", err)
	}
	if v, err := client.GetVersion(); err != nil || v != `"1"` {
		t.Errorf(`GetVersion = %q, %v; want the quoted "1" (the client's quirk)`, v, err)
	}
	if h, err := client.GetSelfHost(); err != nil || h.UUID != "host-uuid-1" || h.AgentIP != "10.0.0.11" {
		t.Errorf("GetSelfHost = %+v, %v; want the default host1", h, err)
	}
	if _, err := client.GetSelfContainer(); err == nil {
		t.Error("GetSelfContainer for a host-network client succeeded, want a 404 error")
	}
	cs, err := client.GetServiceContainers("mongo", "demo")
	if err != nil || len(cs) != 3 {
		t.Fatalf("GetServiceContainers = %d, %v", len(cs), err)
	}
	if cs[1].Name != "demo-mongo-2" || cs[1].ServiceIndex != "2" || cs[1].CreateIndex != 2 || cs[1].HostUUID != "host-uuid-2" {
		t.Errorf("container = %+v", cs[1])
	}
	if h, err := client.GetHost("host-uuid-3"); err != nil || h.Name != "host3" || h.Labels == nil {
		t.Errorf("GetHost = %+v, %v", h, err)
	}

	// NewClientWithIPAndWait sends X-Forwarded-For, which a --xff server honours.
	xff, err := rancher.NewClientWithIPAndWait(srv.BaseURL(), "127.0.0.42")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := xff.GetSelfContainer(); err != nil || c.Name != "demo-mongo-3" {
		t.Errorf("GetSelfContainer via XFF = %q, %v", c.Name, err)
	}
	if s, err := xff.GetSelfService(); err != nil || s.Name != "mongo" || len(s.Containers) != 3 {
		t.Errorf("GetSelfService via XFF = %q, %v", s.Name, err)
	}
	if s, err := xff.GetSelfStack(); err != nil || s.Name != "demo" || len(s.Services) != 2 {
		t.Errorf("GetSelfStack via XFF = %q, %v", s.Name, err)
	}
}

// changeRecorder collects the versions a client's OnChange callback sees.
type changeRecorder chan string

func (r changeRecorder) do(v string) { r <- v }

func (r changeRecorder) next(t *testing.T) string {
	t.Helper()
	select {
	case v := <-r:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("OnChange callback did not fire")
		return ""
	}
}

func TestRancherClientOnChangeCtx(t *testing.T) {
	t.Parallel()
	closeDefaultIdle(t)
	srv := metadatatest.StartT(t, metadatatest.Options{Tree: demoTree()})
	client := rancher.NewClient(srv.BaseURL())
	rec := make(changeRecorder, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		client.OnChangeCtx(ctx, 1, rec.do)
	}()
	if v := rec.next(t); v != "1" {
		t.Errorf("first callback %q, want 1 (fires once at start, unquoted)", v)
	}
	waitFor(t, "the client to long-poll on version 1", func() bool { return srv.Requests().LongPoll >= 2 })
	v2 := srv.SetTree(demoTree())
	if v := rec.next(t); v != v2 {
		t.Errorf("callback %q, want %q", v, v2)
	}
	cancel()
	<-done
	if len(rec) != 0 {
		t.Errorf("extra callbacks: %d", len(rec))
	}
}

// TestRancherClientOnChange drives the plain OnChange, which can never be stopped: its goroutine
// outlives the test (ignored in TestMain) and keeps retrying the closed server every second.
func TestRancherClientOnChange(t *testing.T) {
	closeDefaultIdle(t)
	srv := metadatatest.StartT(t, metadatatest.Options{Tree: demoTree(), RandomVersions: true})
	client := rancher.NewClient(srv.BaseURL())
	rec := make(changeRecorder, 10)
	go client.OnChange(1, rec.do)
	if v := rec.next(t); v != srv.Version() {
		t.Errorf("first callback %q, want %q", v, srv.Version())
	}
	v2 := srv.Reload()
	if v := rec.next(t); v != v2 {
		t.Errorf("callback %q, want %q", v, v2)
	}
}

func TestRancherClientOnChangeWithErrorReturnsOnStop(t *testing.T) {
	closeDefaultIdle(t)
	srv := metadatatest.StartT(t, metadatatest.Options{Tree: demoTree()})
	client := rancher.NewClient(srv.BaseURL())
	rec := make(changeRecorder, 10)
	errc := make(chan error, 1)
	go func() { errc <- client.OnChangeWithError(4, rec.do) }()
	rec.next(t)
	srv.Stop()
	select {
	case err := <-errc:
		if err == nil {
			t.Error("OnChangeWithError returned nil")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("OnChangeWithError did not return when the server stopped")
	}
}
