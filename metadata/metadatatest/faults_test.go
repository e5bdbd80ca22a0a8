package metadatatest_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/replset-agent/replset-agent/metadata/metadatatest"
)

func TestFaults(t *testing.T) {
	tests := []struct {
		name  string
		fault metadatatest.Fault
		// answers to five GETs of /version as JSON; status -1 is a connection error
		want []answer
	}{
		{"status twice", metadatatest.Fault{Status: 500, Body: "boom", Times: 2},
			[]answer{{status: 500, body: "boom"}, {status: 500, body: "boom"}, {status: 200, body: `"1"`}, {status: 200, body: `"1"`}, {status: 200, body: `"1"`}}},
		{"garbage until cleared", metadatatest.Fault{Body: "<html>garbage"},
			[]answer{{status: 200, body: "<html>garbage"}, {status: 200, body: "<html>garbage"}, {status: 200, body: "<html>garbage"}, {status: 200, body: "<html>garbage"}, {status: 200, body: "<html>garbage"}}},
		{"other kinds untouched", metadatatest.Fault{Kinds: []metadatatest.Kind{metadatatest.KindTree}, Status: 503},
			[]answer{{status: 200, body: `"1"`}, {status: 200, body: `"1"`}, {status: 200, body: `"1"`}, {status: 200, body: `"1"`}, {status: 200, body: `"1"`}}},
		{"matching kind", metadatatest.Fault{Kinds: []metadatatest.Kind{metadatatest.KindVersion}, Status: 404, Times: 1},
			[]answer{{status: 404}, {status: 200, body: `"1"`}, {status: 200, body: `"1"`}, {status: 200, body: `"1"`}, {status: 200, body: `"1"`}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := metadatatest.StartT(t, metadatatest.Options{Tree: demoTree()})
			c := newClient(t, "")
			srv.InjectFault(tc.fault)
			for i, want := range tc.want {
				got := get(t, c, srv.BaseURL()+"/version", jsonAccept)
				if got.status != want.status || got.body != want.body {
					t.Errorf("GET %d = %d %q, want %d %q", i, got.status, got.body, want.status, want.body)
				}
			}
			srv.ClearFaults()
			if got := get(t, c, srv.BaseURL()+"/version", jsonAccept); got.status != 200 || got.body != `"1"` {
				t.Errorf("after ClearFaults = %d %q", got.status, got.body)
			}
		})
	}
}

func TestFaultDropClosesConnection(t *testing.T) {
	srv := metadatatest.StartT(t, metadatatest.Options{Tree: demoTree()})
	c := newClient(t, "")
	srv.InjectFault(metadatatest.Fault{Drop: true})
	if resp, err := c.Get(srv.BaseURL() + "/version"); err == nil {
		resp.Body.Close()
		t.Fatalf("dropped request answered %d", resp.StatusCode)
	}
	srv.ClearFaults()
	if got := get(t, c, srv.BaseURL()+"/version", ""); got.body != "1" {
		t.Errorf("after ClearFaults = %d %q", got.status, got.body)
	}
}

func TestLatencyAndFaultDelay(t *testing.T) {
	t.Parallel()
	srv := metadatatest.StartT(t, metadatatest.Options{Tree: demoTree()})
	c := newClient(t, "")
	srv.SetLatency(200 * time.Millisecond)
	srv.InjectFault(metadatatest.Fault{Status: 502, Delay: 200 * time.Millisecond, Times: 1})
	start := time.Now()
	got := get(t, c, srv.BaseURL()+"/version", "")
	if elapsed := time.Since(start); elapsed < 400*time.Millisecond || got.status != 502 {
		t.Errorf("got %d after %v, want 502 after latency plus delay (400 ms)", got.status, elapsed)
	}
	srv.SetLatency(0)
	if got := get(t, c, srv.BaseURL()+"/version", ""); got.status != 200 {
		t.Errorf("after latency removed: %d", got.status)
	}
}

func TestRequestCounts(t *testing.T) {
	srv := metadatatest.StartT(t, metadatatest.Options{Tree: demoTree()})
	c := newClient(t, "")
	for _, path := range []string{"/", "/latest", "/latest/", "/latest/version", "/latest/version?wait=true&value=0", "/latest/hosts", "/version"} {
		get(t, c, srv.URL()+path, "")
	}
	want := metadatatest.Counts{Total: 7, Index: 1, Tree: 2, Version: 1, LongPoll: 1, Path: 1, Invalid: 1}
	if got := srv.Requests(); got != want {
		t.Errorf("counts = %+v, want %+v", got, want)
	}
	srv.ResetRequests()
	if got := srv.Requests(); got != (metadatatest.Counts{}) {
		t.Errorf("counts after reset = %+v", got)
	}
}

func TestStopRestart(t *testing.T) {
	srv := metadatatest.StartT(t, metadatatest.Options{Tree: demoTree()})
	c := newClient(t, "")
	url := srv.BaseURL()
	srv.Stop()
	srv.Stop() // idempotent
	if resp, err := c.Get(url + "/version"); err == nil {
		resp.Body.Close()
		t.Fatal("stopped server answered")
	}
	if err := srv.Restart(); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if srv.BaseURL() != url {
		t.Errorf("restarted at %s, want the same %s", srv.BaseURL(), url)
	}
	if got := get(t, c, url+"/version", ""); got.body != "1" {
		t.Errorf("version after restart = %q, want the kept 1", got.body)
	}
	srv.Stop()
	v := srv.Reload()
	if err := srv.Restart(); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if got := get(t, c, url+"/version", ""); got.body != v || v == "1" {
		t.Errorf("version after reload and restart = %q, want new %q", got.body, v)
	}
}

func TestNonGetMethod(t *testing.T) {
	srv := metadatatest.StartT(t, metadatatest.Options{Tree: demoTree()})
	c := newClient(t, "")
	resp, err := c.Post(srv.BaseURL()+"/version", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST = %d, want 405", resp.StatusCode)
	}
}
