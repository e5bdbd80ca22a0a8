package metadata

import "time"

// RequestKind names a request to the metadata service, for metrics labels.
type RequestKind string

// Request kinds a Watcher sends.
const (
	RequestTree     RequestKind = "tree"      // GET <base>/: the whole tree
	RequestVersion  RequestKind = "version"   // GET <base>/version, answered at once (poll mode)
	RequestLongPoll RequestKind = "long-poll" // GET <base>/version?wait=true&value=…
)

// Metrics receives the Watcher's events; the agent implements it with Prometheus. Methods are
// called from the Watcher's goroutines and must not block.
type Metrics interface {
	// RequestDone is called after every request with its duration and error (nil on a 200 that
	// decoded).
	RequestDone(kind RequestKind, elapsed time.Duration, err error)
	// LongPollError is called when a version request (long-poll or poll) fails.
	LongPollError(err error)
	// ChangeSeen is called when the version differs from the last one read.
	ChangeSeen(version string)
	// SnapshotEmitted is called after a snapshot was handed to the consumer.
	SnapshotEmitted(s Snapshot)
}

// nopMetrics is the Metrics used when none is configured.
type nopMetrics struct{}

var _ Metrics = nopMetrics{}

func (nopMetrics) RequestDone(RequestKind, time.Duration, error) {}
func (nopMetrics) LongPollError(error)                           {}
func (nopMetrics) ChangeSeen(string)                             {}
func (nopMetrics) SnapshotEmitted(Snapshot)                      {}
