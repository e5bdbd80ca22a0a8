package mongors_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/replset-agent/replset-agent/mongors"
	"github.com/replset-agent/replset-agent/mongors/fake"
)

// retainRecorder is a Client that records what the reconciler tells it to keep.
type retainRecorder struct {
	mongors.Client
	mu    sync.Mutex
	calls int
	keep  []string
}

func (r *retainRecorder) Retain(keep []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	r.keep = slices.Clone(keep)
}

func (r *retainRecorder) last() (int, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, k := range r.keep {
		if k != "" && !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return r.calls, out
}

// After a pass that read the config, the reconciler keeps the connections to the desired
// members, the config's members and the primary, and lets the others go: a node that is neither
// (here a fourth node of the same world, never listed) is not kept.
func TestReconciler_retainsOnlyNeededConnections(t *testing.T) {
	addrs := fakeAddrs(4)
	set := fake.New("letschat", addrs...)
	rec := &retainRecorder{Client: set.Client(addrs[0])}
	r, err := mongors.NewReconciler(mongors.ReconcilerConfig{Client: rec, Recheck: 20 * time.Millisecond,
		Settings: mongors.Settings{InitiateSettle: 30 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = r.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	r.SetDesired(desiredOf(addrs[0], addrs[:3]...))
	eventually(t, 5*time.Second, "initiate", func() bool { return set.Config() != nil })
	want := slices.Clone(addrs[:3])
	slices.Sort(want)
	eventually(t, 5*time.Second, "connections kept to the three members", func() bool {
		n, keep := rec.last()
		return n > 0 && slices.Equal(keep, want)
	})
}
