package metadata

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
)

// Run sends a first snapshot to out as soon as one is read, then one snapshot per change of
// data, until ctx ends; it then returns ctx.Err(). It never closes out.
//
// Changes that arrive while a tree is being read, or while the consumer has not yet taken the
// previous snapshot, yield exactly one further snapshot, of the newest state: a snapshot waiting
// for the consumer is withdrawn when a newer tree is read, never queued behind it, so at most the
// consumer's snapshot and one more are held. A snapshot whose data equals the last one sent is
// skipped (its version is still tracked). Errors never reach out: they are logged, counted in
// Stats and Metrics, and retried with backoff, while the consumer keeps the last good snapshot.
// Run must not be called again before it returns.
func (w *Watcher) Run(ctx context.Context, out chan<- Snapshot) error {
	h := newHandoff()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		w.watch(ctx, h)
	}()
	defer func() {
		wg.Wait()
		if w.ownClient {
			w.client.CloseIdleConnections()
		}
	}()

	var (
		last Snapshot
		sent bool // last was sent
		wait = true
	)
	for {
		if wait {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-h.ready:
			}
		}
		wait = true
		s, seq, ok := h.peek()
		if !ok {
			w.stats.update(func(st *Stats) { st.PendingVersion = "" })
			continue
		}
		if sent && s.EqualData(last) {
			// The newest state is what the consumer already has: nothing to send, even if an
			// intermediate snapshot was waiting.
			h.takeIf(seq)
			w.stats.update(func(st *Stats) { st.Unchanged++; st.PendingVersion = "" })
			w.log.WithFields(logrus.Fields{"version": s.Version, "emitted_version": last.Version}).
				Info("metadata version changed but the watched data did not; snapshot skipped")
			continue
		}
		w.stats.update(func(st *Stats) { st.PendingVersion = s.Version })
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-h.ready:
			// A newer snapshot replaced this one, or it was withdrawn: look again.
			wait = false
		case out <- s:
			h.takeIf(seq)
			last, sent = s, true
			w.stats.update(func(st *Stats) {
				st.Snapshots++
				st.EmittedVersion = last.Version
				if st.PendingVersion == last.Version {
					st.PendingVersion = ""
				}
			})
			w.metrics.SnapshotEmitted(last)
			w.log.WithFields(logrus.Fields{
				"version": last.Version, "hosts": len(last.Hosts), "services": len(last.Services),
				"containers": len(last.Containers),
			}).Info("metadata snapshot emitted")
		}
	}
}

// watch reads a tree, then waits for the version to move and reads again, until ctx ends. Each
// good tree goes into h; a failed read keeps nothing and is retried.
func (w *Watcher) watch(ctx context.Context, h *handoff) {
	var (
		known       string // version of the last tree read
		treeDue     = true
		failures    int
		lastVersion time.Time // start of the last version request
		probeNext   bool      // the next version request is an immediate read, after an error
	)
	fail := func(op string, err error) bool {
		if ctx.Err() != nil {
			return false
		}
		failures++
		delay := backoffDelay(w.backoffBase, w.backoffCap, failures)
		w.log.WithFields(logrus.Fields{"op": op, "attempt": failures, "retry_in": delay.Round(time.Millisecond)}).
			WithError(err).Warn("metadata request failed; keeping the last good snapshot")
		v, alive := w.backoff(ctx, delay, err, known)
		if v != "" && v != known {
			w.seen(known, v)
			known, treeDue = v, true
		}
		return alive
	}
	recovered := func() {
		if failures > 0 {
			w.log.WithField("failed_attempts", failures).Info("metadata answering again")
		}
		failures = 0
	}

	for ctx.Err() == nil {
		if treeDue {
			// The tree about to be read supersedes a snapshot the consumer has not taken yet.
			h.drop()
			s, err := w.fetch(ctx)
			if err != nil {
				if !fail("fetch snapshot", err) {
					return
				}
				continue
			}
			recovered()
			if s.Version != known && known != "" {
				// The tree moved past the version the long-poll reported: the newer one counts.
				w.seen(known, s.Version)
			}
			known, treeDue = s.Version, false
			w.stats.update(func(st *Stats) { st.Version = s.Version })
			h.put(s)
		}

		if w.minInterval > 0 && !lastVersion.IsZero() {
			if !sleepCtx(ctx, w.minInterval-time.Since(lastVersion)) {
				return
			}
		}
		lastVersion = time.Now()
		var v string
		var err error
		probe := probeNext
		probeNext = false
		if probe {
			// After an error, an immediate read tells at once whether the server answers again; a
			// long-poll on an unchanged version would keep the outage in Stats for up to MaxWait.
			// It does not reset the backoff: only a working long-poll does.
			v, err = w.readVersion(ctx)
		} else {
			v, err = w.nextVersion(ctx, known)
		}
		if err != nil {
			if ctx.Err() == nil {
				w.metrics.LongPollError(err)
			}
			probeNext = w.mode == ModeLongPoll
			if !fail("watch version", err) {
				return
			}
			continue
		}
		if !probe {
			recovered()
		}
		if v != known {
			w.seen(known, v)
			known, treeDue = v, true
		}
	}
}

// backoff waits delay after a failed request. Meanwhile it reads /version every ProbeInterval
// (jittered down to half of it), which costs the server next to nothing, and returns early, with
// the version read, once the server answers again after it was seen down (the failed request got
// no HTTP answer, or a probe failed), or when the version moved past known: in both cases a retry
// may now succeed, and waiting out a backoff grown to BackoffCap would see recovery late. A server
// that answers /version but keeps failing the request itself (a bad tree, say) is retried only
// when its data changes or the backoff ends, so probing never turns into a retry storm. It
// reports false when ctx ended.
func (w *Watcher) backoff(ctx context.Context, delay time.Duration, cause error, known string) (string, bool) {
	deadline := time.Now().Add(delay)
	down := noAnswer(cause)
	for {
		left := time.Until(deadline)
		if w.probeInterval <= 0 || left <= w.probeInterval/2 {
			return "", sleepCtx(ctx, left)
		}
		wait := min(backoffDelay(w.probeInterval, w.probeInterval, 1), left)
		if !sleepCtx(ctx, wait) {
			return "", false
		}
		if wait == left {
			return "", true
		}
		v, err := w.readVersion(ctx)
		switch {
		case ctx.Err() != nil:
			return "", false
		case err != nil:
			down = true
		case down || (known != "" && v != known):
			w.log.WithFields(logrus.Fields{"version": v, "backoff_left": time.Until(deadline).Round(time.Millisecond)}).
				Info("metadata answers again; retrying before the backoff ends")
			return v, true
		}
	}
}

// noAnswer reports whether err means the server gave no HTTP answer at all (refused, reset,
// timed out), as opposed to answering with an error status or a bad body.
func noAnswer(err error) bool {
	var se *StatusError
	return !errors.As(err, &se) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrIncomplete) && !errors.Is(err, ErrTooLarge)
}

// nextVersion returns the version after a long-poll, or after PollInterval in poll mode.
func (w *Watcher) nextVersion(ctx context.Context, known string) (string, error) {
	if w.mode == ModePoll {
		if !sleepCtx(ctx, w.pollInterval) {
			return "", ctx.Err()
		}
		return w.readVersion(ctx)
	}
	return w.waitVersion(ctx, known)
}

func (w *Watcher) seen(old, version string) {
	w.stats.update(func(st *Stats) { st.Changes++; st.Version = version })
	w.metrics.ChangeSeen(version)
	w.log.WithFields(logrus.Fields{"old_version": old, "version": version}).Debug("metadata version changed")
}

// sleepCtx waits d (nothing if d <= 0) and reports whether ctx is still live.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
