package metadatatest_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/replset-agent/replset-agent/metadata/metadatatest"
)

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// startPoll sends a request in the background and returns a channel with its answer.
func startPoll(t *testing.T, c *http.Client, url string) <-chan answer {
	t.Helper()
	ch := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Accept", jsonAccept)
		resp, err := c.Do(req)
		if err != nil {
			ch <- answer{status: -1, body: err.Error()}
			return
		}
		defer resp.Body.Close()
		buf := make([]byte, 512)
		n, _ := resp.Body.Read(buf)
		ch <- answer{status: resp.StatusCode, body: string(buf[:n])}
	}()
	return ch
}

func receive(t *testing.T, ch <-chan answer) answer {
	t.Helper()
	select {
	case a := <-ch:
		return a
	case <-time.After(10 * time.Second):
		t.Fatal("long-poll did not answer")
		return answer{}
	}
}

func TestLongPollAnswersAtOnce(t *testing.T) {
	srv := metadatatest.StartT(t, metadatatest.Options{Tree: demoTree()})
	c := newClient(t, "")
	tests := []struct {
		name  string
		query string
	}{
		{"value differs", "?wait=true&value=init&maxWait=100"},
		{"negative maxWait", "?wait=true&value=1&maxWait=-1"},
		{"wait is not literally true", "?wait=1&value=1&maxWait=100"},
		{"no value", "?wait=true&maxWait=100"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A long-poll that waited would outlast the 10 s receive deadline.
			got := receive(t, startPoll(t, c, srv.BaseURL()+"/version"+tc.query))
			if got.status != 200 || got.body != `"1"` {
				t.Errorf("answer %d %q, want 200 \"1\"", got.status, got.body)
			}
		})
	}
}

func TestLongPollWakesOnChange(t *testing.T) {
	srv := metadatatest.StartT(t, metadatatest.Options{Tree: demoTree()})
	c := newClient(t, "")
	for _, change := range []struct {
		name string
		do   func() string
	}{
		{"SetTree", func() string { return srv.SetTree(demoTree()) }},
		{"Reload", srv.Reload},
	} {
		t.Run(change.name, func(t *testing.T) {
			srv.ResetRequests()
			// maxWait 100 s: only a wake-up can answer within the 10 s receive deadline.
			ch := startPoll(t, c, srv.BaseURL()+"/version?wait=true&value="+srv.Version()+"&maxWait=100")
			waitFor(t, "the long-poll to arrive", func() bool { return srv.Requests().LongPoll == 1 })
			v := change.do()
			got := receive(t, ch)
			if got.status != 200 || got.body != `"`+v+`"` {
				t.Errorf("answer %d %q, want the new version %q", got.status, got.body, v)
			}
		})
	}
}

func TestLongPollTimeoutReturnsUnchangedValue(t *testing.T) {
	t.Parallel()
	srv := metadatatest.StartT(t, metadatatest.Options{Tree: demoTree()})
	start := time.Now()
	got := receive(t, startPoll(t, newClient(t, ""), srv.BaseURL()+"/version?wait=true&value=1&maxWait=1"))
	if elapsed := time.Since(start); elapsed < time.Second {
		t.Errorf("answered after %v, before maxWait", elapsed)
	}
	if got.status != 200 || got.body != `"1"` {
		t.Errorf("timeout answer %d %q, want 200 with the unchanged value", got.status, got.body)
	}
}

func TestLongPollMissingVersionIs404AfterMaxWait(t *testing.T) {
	t.Parallel()
	srv := metadatatest.StartT(t, metadatatest.Options{})
	if err := srv.SetRaw([]byte(`{"hosts":[]}`)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got := receive(t, startPoll(t, newClient(t, ""), srv.BaseURL()+"/version?wait=true&value=x&maxWait=1"))
	if time.Since(start) < time.Second || got.status != 404 {
		t.Errorf("answer %d after %v, want 404 after maxWait", got.status, time.Since(start))
	}
}

func TestLongPollEndsOnStop(t *testing.T) {
	srv := metadatatest.StartT(t, metadatatest.Options{Tree: demoTree()})
	ch := startPoll(t, newClient(t, ""), srv.BaseURL()+"/version?wait=true&value=1&maxWait=100")
	waitFor(t, "the long-poll to arrive", func() bool { return srv.Requests().LongPoll == 1 })
	srv.Stop()
	if got := receive(t, ch); got.status != -1 {
		t.Errorf("long-poll across Stop = %d %q, want a connection error", got.status, got.body)
	}
}

// ParkedLongPolls counts the long-polls waiting for a change: each while it waits, none once a
// change answered them, none for a poll that answered at once.
func TestParkedLongPolls(t *testing.T) {
	srv := metadatatest.StartT(t, metadatatest.Options{Tree: demoTree()})
	c := newClient(t, "")
	if n := srv.ParkedLongPolls(); n != 0 {
		t.Fatalf("%d parked before any request", n)
	}
	receive(t, startPoll(t, c, srv.BaseURL()+"/version?wait=true&value=other&maxWait=100"))
	if n := srv.ParkedLongPolls(); n != 0 {
		t.Fatalf("%d parked after a poll answered at once", n)
	}
	url := srv.BaseURL() + "/version?wait=true&value=" + srv.Version() + "&maxWait=100"
	a, b := startPoll(t, c, url), startPoll(t, newClient(t, ""), url)
	waitFor(t, "two parked long-polls", func() bool { return srv.ParkedLongPolls() == 2 })
	srv.Reload()
	receive(t, a)
	receive(t, b)
	waitFor(t, "none parked after the change", func() bool { return srv.ParkedLongPolls() == 0 })
}
