package metadata

import "sync"

// handoff is a one-slot latest-value mailbox between the goroutine that reads trees and the one
// that hands snapshots to the consumer: put replaces an untaken snapshot, so however many arrive
// while the consumer is busy, it is offered only the newest; drop empties the slot when a newer
// tree is about to be read, so that at most the consumer's snapshot and one more are alive.
type handoff struct {
	mu    sync.Mutex
	snap  Snapshot
	full  bool
	seq   uint64        // bumped by every put and drop
	ready chan struct{} // holds one token after the slot changed
}

func newHandoff() *handoff { return &handoff{ready: make(chan struct{}, 1)} }

func (h *handoff) put(s Snapshot) {
	h.mu.Lock()
	h.snap, h.full = s, true
	h.seq++
	h.mu.Unlock()
	h.signal()
}

// drop empties the slot; the offer of the dropped snapshot is withdrawn.
func (h *handoff) drop() {
	h.mu.Lock()
	changed := h.full
	if changed {
		h.snap, h.full = Snapshot{}, false
		h.seq++
	}
	h.mu.Unlock()
	if changed {
		h.signal()
	}
}

func (h *handoff) signal() {
	select {
	case h.ready <- struct{}{}:
	default: // a token is already waiting; the consumer side will look at the newest state
	}
}

// peek returns the waiting snapshot and the slot's sequence number, leaving it in place.
func (h *handoff) peek() (Snapshot, uint64, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.snap, h.seq, h.full
}

// takeIf empties the slot if it still holds the snapshot peek returned with seq.
func (h *handoff) takeIf(seq uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seq == seq && h.full {
		h.snap, h.full = Snapshot{}, false
	}
}
