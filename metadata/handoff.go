package metadata

import "sync"

// handoff is a one-slot latest-value mailbox: put replaces an untaken snapshot, so however many
// arrive while the consumer is busy, it takes only the newest.
type handoff struct {
	mu    sync.Mutex
	snap  Snapshot
	full  bool
	ready chan struct{} // holds one token while a snapshot waits
}

func newHandoff() *handoff { return &handoff{ready: make(chan struct{}, 1)} }

func (h *handoff) put(s Snapshot) {
	h.mu.Lock()
	h.snap, h.full = s, true
	h.mu.Unlock()
	select {
	case h.ready <- struct{}{}:
	default: // a token is already waiting; the consumer will take the newest snapshot
	}
}

func (h *handoff) take() (Snapshot, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.snap, h.full
	h.snap, h.full = Snapshot{}, false
	return s, ok
}
