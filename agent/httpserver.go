package agent

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
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

// serveHTTP listens on addr until ctx ends. An empty addr means no HTTP endpoint. The listener is
// opened before it returns so that a bad address fails the start-up, not a goroutine later.
func serveHTTP(ctx context.Context, addr string, e endpoints, log logrus.FieldLogger) (done <-chan struct{}, err error) {
	ch := make(chan struct{})
	if addr == "" {
		close(ch)
		return ch, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: e.handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		defer close(ch)
		go func() {
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			srv.Shutdown(sctx)
		}()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.WithError(err).Error("http server stopped")
		}
	}()
	log.WithField("addr", ln.Addr().String()).Info("serving /healthz /readyz /metrics /status")
	return ch, nil
}
