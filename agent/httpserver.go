package agent

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sirupsen/logrus"
)

// endpoints is what a role exposes over HTTP.
type endpoints struct {
	// live reports whether the role's loops still run (for /healthz).
	live func() error
	// ready reports whether the role does its job right now (for /readyz and Rancher health checks).
	ready func() error
	// status is the role's status document (for /status); it must hold no secret.
	status func() any
	// registry holds the role's metrics (for /metrics).
	registry *prometheus.Registry
}

func (e endpoints) handler() http.Handler {
	mux := http.NewServeMux()
	check := func(f func() error) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			if f != nil {
				if err := f(); err != nil {
					w.WriteHeader(http.StatusServiceUnavailable)
					w.Write([]byte(err.Error() + "\n"))
					return
				}
			}
			w.Write([]byte("ok\n"))
		}
	}
	mux.HandleFunc("/healthz", check(e.live))
	mux.HandleFunc("/readyz", check(e.ready))
	mux.HandleFunc("/status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		var doc any
		if e.status != nil {
			doc = e.status()
		}
		enc.Encode(doc)
	})
	if e.registry != nil {
		mux.Handle("/metrics", promhttp.HandlerFor(e.registry, promhttp.HandlerOpts{}))
	}
	return mux
}

// httpLimits bound what an HTTP client can hold. The endpoints answer small documents from
// memory, so a client that needs more than these is broken or hostile.
type httpLimits struct {
	ReadHeader time.Duration // to send the request headers
	Read       time.Duration // to send the whole request
	Write      time.Duration // for the answer, from the end of the request headers
	Idle       time.Duration // a keep-alive connection may wait for its next request
	MaxHeader  int           // bytes of request headers
	MaxConns   int           // connections held at once (see connLimiter)
}

var defaultHTTPLimits = httpLimits{
	ReadHeader: 5 * time.Second,
	Read:       10 * time.Second,
	Write:      15 * time.Second,
	Idle:       60 * time.Second,
	MaxHeader:  8 << 10,
	MaxConns:   128,
}

// serveHTTP listens on addr until ctx ends. An empty addr means no HTTP endpoint. The listener is
// opened before it returns so that a bad address fails the start-up, not a goroutine later.
func serveHTTP(ctx context.Context, addr string, e endpoints, log logrus.FieldLogger) (done <-chan struct{}, err error) {
	done, _, err = serveHTTPWith(ctx, addr, e, log, defaultHTTPLimits)
	return done, err
}

func serveHTTPWith(ctx context.Context, addr string, e endpoints, log logrus.FieldLogger, lim httpLimits) (<-chan struct{}, *connLimiter, error) {
	ch := make(chan struct{})
	if addr == "" {
		close(ch)
		return ch, nil, nil
	}
	inner, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	ln := newConnLimiter(inner, lim.MaxConns)
	srv := &http.Server{
		Handler:           e.handler(),
		ReadHeaderTimeout: lim.ReadHeader,
		ReadTimeout:       lim.Read,
		WriteTimeout:      lim.Write,
		IdleTimeout:       lim.Idle,
		MaxHeaderBytes:    lim.MaxHeader,
		ConnState:         ln.track,
		ErrorLog:          stdlog.New(io.Discard, "", 0), // TLS probes and resets are not news
	}
	go func() {
		defer close(ch)
		served := make(chan error, 1)
		go func() { served <- srv.Serve(ln) }()
		select {
		case err := <-served:
			if !errors.Is(err, http.ErrServerClosed) {
				log.WithError(err).Error("http server stopped")
			}
			return
		case <-ctx.Done():
		}
		// Let requests in progress finish briefly, then cut whatever is left: done means stopped.
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		_ = srv.Close()
		<-served
	}()
	log.WithFields(logrus.Fields{"addr": ln.Addr().String(), "max_conns": lim.MaxConns}).Info("serving /healthz /readyz /metrics /status")
	return ch, ln, nil
}

// connLimiter bounds the connections the HTTP server holds. When it is full, a new connection
// takes the place of the one that has waited longest without a request (an idle keep-alive
// connection, or one that sent nothing yet): a flood of idle clients cannot lock out the
// Prometheus scrape or the health check. When every held connection is busy, the new one is
// closed at once.
type connLimiter struct {
	net.Listener
	max int

	mu      sync.Mutex
	open    int
	peak    int
	idle    map[net.Conn]time.Time // held connections without a request in progress
	evicted int
	refused int
}

func newConnLimiter(ln net.Listener, max int) *connLimiter {
	return &connLimiter{Listener: ln, max: max, idle: map[net.Conn]time.Time{}}
}

func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		if l.open >= l.max {
			victim := l.oldestIdleLocked()
			if victim == nil {
				l.refused++
				l.mu.Unlock()
				_ = c.Close()
				continue
			}
			delete(l.idle, victim)
			l.evicted++
			l.mu.Unlock()
			_ = victim.Close() // gives its slot back
			l.mu.Lock()
		}
		l.open++
		l.peak = max(l.peak, l.open)
		lc := &limitedConn{Conn: c, l: l}
		l.idle[lc] = time.Now()
		l.mu.Unlock()
		return lc, nil
	}
}

func (l *connLimiter) oldestIdleLocked() net.Conn {
	var victim net.Conn
	var since time.Time
	for c, t := range l.idle {
		if victim == nil || t.Before(since) {
			victim, since = c, t
		}
	}
	return victim
}

// track follows the server's view of each connection: only those between requests may be
// evicted.
func (l *connLimiter) track(c net.Conn, s http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch s {
	case http.StateIdle:
		l.idle[c] = time.Now()
	case http.StateActive, http.StateHijacked, http.StateClosed:
		delete(l.idle, c)
	}
}

type connStats struct{ Open, Peak, Evicted, Refused int }

func (l *connLimiter) stats() connStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return connStats{Open: l.open, Peak: l.peak, Evicted: l.evicted, Refused: l.refused}
}

// limitedConn gives its slot back exactly once, however often it is closed.
type limitedConn struct {
	net.Conn
	l    *connLimiter
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		c.l.open--
		delete(c.l.idle, c)
		c.l.mu.Unlock()
	})
	return err
}
