package agent

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

func testEndpoints() endpoints {
	return endpoints{
		live:     func() error { return nil },
		ready:    func() error { return nil },
		status:   func() any { return map[string]string{"role": "test"} },
		registry: newMetrics("test").registry,
	}
}

func startHTTP(t testing.TB, e endpoints, lim httpLimits) (string, *connLimiter) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := logrus.New()
	log.SetOutput(io.Discard)
	done, ln, err := serveHTTPWith(ctx, "127.0.0.1:0", e, log, lim)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return ln.Addr().String(), ln
}

// keepAliveRequest sends one HTTP/1.1 request on conn and reads the whole answer, leaving the
// connection open for the next one.
func keepAliveRequest(conn net.Conn, r *bufio.Reader, path string) (*http.Response, error) {
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(conn, "GET "+path+" HTTP/1.1\r\nHost: agent\r\n\r\n"); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, err
}

func fresh(t testing.TB, addr, path string) string {
	t.Helper()
	cl := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := cl.Get("http://" + addr + path)
	if err != nil {
		t.Fatalf("GET %s with the server flooded: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return string(b)
}

// 1,000 clients that made one request and keep their connection open must not lock out the
// scrape or the health check, nor make the agent hold a goroutine and a socket for each.
func TestIdleKeepAliveFloodStaysBounded(t *testing.T) {
	before := runtime.NumGoroutine()
	addr, ln := startHTTP(t, testEndpoints(), defaultHTTPLimits)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range 1000 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		conns = append(conns, c)
		if _, err := keepAliveRequest(c, bufio.NewReader(c), "/healthz"); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if body := fresh(t, addr, "/metrics"); !strings.Contains(body, "go_goroutines") {
		t.Fatalf("/metrics: %.200s", body)
	}
	if body := fresh(t, addr, "/status"); !strings.Contains(body, `"role": "test"`) {
		t.Fatalf("/status: %s", body)
	}
	st := ln.stats()
	if st.Peak > defaultHTTPLimits.MaxConns || st.Open > defaultHTTPLimits.MaxConns {
		t.Fatalf("held %d connections at once (open %d), limit %d", st.Peak, st.Open, defaultHTTPLimits.MaxConns)
	}
	if st.Evicted < 1000-defaultHTTPLimits.MaxConns {
		t.Fatalf("evicted %d idle connections, want at least %d", st.Evicted, 1000-defaultHTTPLimits.MaxConns)
	}
	if g := runtime.NumGoroutine() - before; g > defaultHTTPLimits.MaxConns+50 {
		t.Fatalf("%d goroutines for 1,000 idle clients; the server holds at most %d connections", g, defaultHTTPLimits.MaxConns)
	}
	// The clients that lost their slot see their connection closed, not hung.
	c := conns[0]
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	var ne net.Error
	if _, err := c.Read(make([]byte, 1)); err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("the oldest idle connection is still open: %v", err)
	}
}

func TestSlowClientsAreCutOff(t *testing.T) {
	lim := defaultHTTPLimits
	lim.ReadHeader, lim.Idle = 200*time.Millisecond, 300*time.Millisecond
	addr, _ := startHTTP(t, testEndpoints(), lim)
	closedBy := func(c net.Conn) bool {
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, err := io.Copy(io.Discard, c)
		var ne net.Error
		return err == nil || !(errors.As(err, &ne) && ne.Timeout())
	}
	// Headers that never end.
	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	io.WriteString(slow, "GET /metrics HTTP/1.1\r\nHost: agent\r\nX-Slow: ")
	if !closedBy(slow) {
		t.Fatal("a client that never finished its headers kept its connection")
	}
	// A keep-alive connection left idle.
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if _, err := keepAliveRequest(idle, bufio.NewReader(idle), "/healthz"); err != nil {
		t.Fatal(err)
	}
	if !closedBy(idle) {
		t.Fatal("an idle keep-alive connection was never closed")
	}
	// Oversized headers are refused.
	big, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer big.Close()
	io.WriteString(big, "GET /status HTTP/1.1\r\nHost: agent\r\nX-Big: "+strings.Repeat("a", 64<<10)+"\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(big), nil)
	if err != nil || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("64 KiB of headers: %v %v", resp, err)
	}
}

func TestBusyServerRefusesBeyondItsLimit(t *testing.T) {
	release := make(chan struct{})
	e := testEndpoints()
	e.status = func() any { <-release; return "late" }
	lim := defaultHTTPLimits
	lim.MaxConns = 2
	addr, ln := startHTTP(t, e, lim)
	defer close(release)
	var busy []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET /status HTTP/1.1\r\nHost: agent\r\n\r\n")
		busy = append(busy, c)
	}
	waitUntil(t, "both requests in progress", func() bool {
		ln.mu.Lock()
		defer ln.mu.Unlock()
		return ln.open == 2 && len(ln.idle) == 0
	})
	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	_ = extra.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := extra.Read(make([]byte, 1)); err == nil {
		t.Fatal("a third connection was served while two requests held the limit")
	}
	if st := ln.stats(); st.Refused < 1 || st.Peak > 2 {
		t.Fatalf("stats %+v", st)
	}
}

// BenchmarkScrapeUnderIdleFlood measures /metrics and /status with 1,000 idle keep-alive clients
// connected: go test -run '^$' -bench ScrapeUnderIdleFlood ./agent/
func BenchmarkScrapeUnderIdleFlood(b *testing.B) {
	addr, _ := startHTTP(b, testEndpoints(), defaultHTTPLimits)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 1000 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
		if _, err := keepAliveRequest(c, bufio.NewReader(c), "/healthz"); err != nil {
			b.Fatal(err)
		}
	}
	for _, path := range []string{"/metrics", "/status"} {
		b.Run(strings.TrimPrefix(path, "/"), func(b *testing.B) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			r := bufio.NewReader(c)
			for b.Loop() {
				if _, err := keepAliveRequest(c, r, path); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
