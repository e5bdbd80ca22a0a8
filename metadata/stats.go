package metadata

import (
	"sync"
	"time"
)

// Stats are a Watcher's counters since it was created, for the status command and readiness.
type Stats struct {
	// Requests is the number of requests sent; Errors how many of them failed.
	Requests, Errors uint64
	// Changes counts version changes seen.
	Changes uint64
	// Snapshots counts snapshots handed to the consumer; Unchanged counts snapshots read after a
	// version change but skipped because their data equalled the last one handed over.
	Snapshots, Unchanged uint64
	// Version is the newest version read; EmittedVersion the version of the last snapshot
	// handed over; PendingVersion the version of a snapshot waiting for the consumer ("" if
	// none).
	Version, EmittedVersion, PendingVersion string
	// LastGood is when a request last succeeded; zero if none has. A retry loop hides outages,
	// so readiness should look at how old this is.
	LastGood time.Time
	// LastError is the most recent request error, "" if none; ConsecutiveErrors counts the
	// failures since the last success.
	LastError         string
	ConsecutiveErrors int
}

// statsBox guards a Stats shared by the Watcher's goroutines.
type statsBox struct {
	mu sync.Mutex
	s  Stats
}

func (b *statsBox) update(f func(*Stats)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f(&b.s)
}

func (b *statsBox) get() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.s
}

func (b *statsBox) request(err error, now time.Time) {
	b.update(func(s *Stats) {
		s.Requests++
		if err != nil {
			s.Errors++
			s.ConsecutiveErrors++
			s.LastError = err.Error()
			return
		}
		s.ConsecutiveErrors = 0
		s.LastGood = now
	})
}
