package metadata

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/sirupsen/logrus"
)

// Mode is how a Watcher learns of changes.
type Mode string

// Watch modes.
const (
	// ModeLongPoll waits on version?wait=true, so a change is seen at once.
	ModeLongPoll Mode = "long-poll"
	// ModePoll reads the version every PollInterval, for servers that do not long-poll.
	ModePoll Mode = "poll"
)

// Defaults applied to zero WatcherConfig fields.
const (
	DefaultMaxWait        = 30 * time.Second       // DefaultMaxWait is the long-poll maxWait.
	DefaultPollInterval   = 5 * time.Second        // DefaultPollInterval is the ModePoll period.
	DefaultMinInterval    = time.Second            // DefaultMinInterval spaces version requests.
	DefaultRequestTimeout = 15 * time.Second       // DefaultRequestTimeout bounds a tree read.
	DefaultBackoffBase    = 500 * time.Millisecond // DefaultBackoffBase is the first retry delay.
	DefaultBackoffCap     = 30 * time.Second       // DefaultBackoffCap is the longest retry delay.
	DefaultMaxBodyBytes   = 64 << 20               // DefaultMaxBodyBytes is 64 MiB.
	DefaultProbeInterval  = time.Second            // DefaultProbeInterval spaces probes in backoff.
)

// serverLateness is how late the real server may answer a long-poll: its deadline is checked on
// a global 5 s ticker.
const serverLateness = 5 * time.Second

// maxServerWait is the server's cap on maxWait.
const maxServerWait = 120 * time.Second

// WatcherConfig configures a Watcher. The zero value watches DefaultBaseURL by long-poll.
type WatcherConfig struct {
	// BaseURL is the metadata API, ending in an API version; empty means DefaultBaseURL.
	BaseURL string
	// Mode is ModeLongPoll or ModePoll; empty means ModeLongPoll.
	Mode Mode
	// MaxWait is how long the server may hold a long-poll, rounded up to whole seconds, at most
	// 120 s (the server's cap); zero means 30 s.
	MaxWait time.Duration
	// PollInterval is the wait between version reads in ModePoll; zero means 5 s.
	PollInterval time.Duration
	// MinInterval is the least time between the starts of two version requests, so that a
	// server answering long-polls at once, or a storm of reloads, cannot make the Watcher spin;
	// zero means 1 s, negative means no limit.
	MinInterval time.Duration
	// RequestTimeout bounds a tree read or an immediate version read; zero means 15 s.
	RequestTimeout time.Duration
	// BackoffBase is the first retry delay after an error, doubled per consecutive error; zero
	// means 500 ms.
	BackoffBase time.Duration
	// BackoffCap is the longest retry delay; zero means 30 s.
	BackoffCap time.Duration
	// MaxBodyBytes is the largest tree answer read; a larger one fails with ErrTooLarge and the
	// last good snapshot stays. Zero means 64 MiB. A /version answer is limited to 4 KiB.
	MaxBodyBytes int64
	// ProbeInterval spaces the cheap /version reads sent while waiting out a backoff, so that
	// the end of an outage is seen within about this long however far the backoff has grown;
	// each wait is jittered down to half of it. Zero means 1 s; negative sends no probes.
	ProbeInterval time.Duration
	// Scope is the part of the tree snapshots keep; the zero value keeps all of it.
	Scope Scope
	// HTTPClient sends the requests, for example bound to a source IP so that the server resolves
	// self correctly. Nil means a client of the Watcher's own. A client Timeout, if set, must
	// exceed MaxWait + 5 s, or every long-poll the server answers late would fail.
	HTTPClient *http.Client
	// Header holds extra headers for every request (for example X-Forwarded-For); nil means none.
	Header http.Header
	// Logger receives one line per decision and per error; nil discards.
	Logger logrus.FieldLogger
	// Metrics receives events; nil means none.
	Metrics Metrics
}

// Watcher follows the metadata service and hands out snapshots. Create it with NewWatcher.
type Watcher struct {
	base            string
	mode            Mode
	maxWaitSeconds  int
	longPollTimeout time.Duration
	pollInterval    time.Duration
	minInterval     time.Duration
	requestTimeout  time.Duration
	backoffBase     time.Duration
	backoffCap      time.Duration
	maxBody         int64
	probeInterval   time.Duration
	scope           Scope
	client          *http.Client
	ownClient       bool
	header          http.Header
	log             logrus.FieldLogger
	metrics         Metrics
	stats           statsBox
}

// NewWatcher checks cfg, applies defaults and returns a Watcher. It fails with ErrBaseURL for a
// base URL without an API version segment, and with ErrConfig for out-of-range fields.
func NewWatcher(cfg WatcherConfig) (*Watcher, error) {
	raw := cfg.BaseURL
	if raw == "" {
		raw = DefaultBaseURL
	}
	base, err := ParseBaseURL(raw)
	if err != nil {
		return nil, err
	}
	w := &Watcher{
		base:           base,
		mode:           orDefault(cfg.Mode, ModeLongPoll),
		pollInterval:   orDefault(cfg.PollInterval, DefaultPollInterval),
		minInterval:    orDefault(cfg.MinInterval, DefaultMinInterval),
		requestTimeout: orDefault(cfg.RequestTimeout, DefaultRequestTimeout),
		backoffBase:    orDefault(cfg.BackoffBase, DefaultBackoffBase),
		backoffCap:     orDefault(cfg.BackoffCap, DefaultBackoffCap),
		maxBody:        orDefault(cfg.MaxBodyBytes, DefaultMaxBodyBytes),
		probeInterval:  orDefault(cfg.ProbeInterval, DefaultProbeInterval),
		scope:          Scope{Services: slices.Clone(cfg.Scope.Services), Self: cfg.Scope.Self, Stack: cfg.Scope.Stack},
		client:         cfg.HTTPClient,
		header:         cfg.Header.Clone(),
		log:            cfg.Logger,
		metrics:        cfg.Metrics,
	}
	if w.mode != ModeLongPoll && w.mode != ModePoll {
		return nil, fmt.Errorf("%w: mode %q, want %q or %q", ErrConfig, w.mode, ModeLongPoll, ModePoll)
	}
	maxWait := orDefault(cfg.MaxWait, DefaultMaxWait)
	if maxWait < 0 || maxWait > maxServerWait {
		return nil, fmt.Errorf("%w: max wait %v, want 1s to %v", ErrConfig, maxWait, maxServerWait)
	}
	w.maxWaitSeconds = int((maxWait + time.Second - 1) / time.Second)
	w.longPollTimeout = time.Duration(w.maxWaitSeconds)*time.Second + 2*serverLateness
	for _, f := range []struct {
		name string
		d    time.Duration
	}{
		{"poll interval", w.pollInterval}, {"request timeout", w.requestTimeout},
		{"backoff base", w.backoffBase}, {"backoff cap", w.backoffCap},
	} {
		if f.d < 0 {
			return nil, fmt.Errorf("%w: negative %s %v", ErrConfig, f.name, f.d)
		}
	}
	if w.backoffBase > w.backoffCap {
		return nil, fmt.Errorf("%w: backoff base %v above cap %v", ErrConfig, w.backoffBase, w.backoffCap)
	}
	if w.maxBody < 0 {
		return nil, fmt.Errorf("%w: negative max body bytes", ErrConfig)
	}
	if w.client == nil {
		w.client = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		w.ownClient = true
	} else if t := w.client.Timeout; t != 0 && t <= time.Duration(w.maxWaitSeconds)*time.Second+serverLateness {
		return nil, fmt.Errorf("%w: HTTP client timeout %v must exceed max wait %ds + 5s", ErrConfig, t, w.maxWaitSeconds)
	}
	if w.log == nil {
		l := logrus.New()
		l.Out = io.Discard
		w.log = l
	}
	if w.metrics == nil {
		w.metrics = nopMetrics{}
	}
	w.log = w.log.WithField("component", "metadata")
	return w, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// BaseURL returns the normalised base URL the Watcher reads.
func (w *Watcher) BaseURL() string { return w.base }

// Stats returns a copy of the Watcher's counters.
func (w *Watcher) Stats() Stats { return w.stats.get() }

// Fetch reads one snapshot now, for one-shot use such as the status command. It does not touch
// a running Run's state beyond the shared Stats.
func (w *Watcher) Fetch(ctx context.Context) (Snapshot, error) {
	s, err := w.fetch(ctx)
	if w.ownClient {
		w.client.CloseIdleConnections()
	}
	return s, err
}
