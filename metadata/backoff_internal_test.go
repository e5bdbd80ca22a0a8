package metadata

import (
	"testing"
	"time"
)

func TestBackoffDelay(t *testing.T) {
	const base, limit = 500 * time.Millisecond, 30 * time.Second
	tests := []struct {
		failures int
		nominal  time.Duration // the delay before jitter
	}{
		{0, base},
		{1, base},
		{2, time.Second},
		{3, 2 * time.Second},
		{7, 30 * time.Second}, // 32 s capped
		{40, 30 * time.Second},
		{1 << 20, 30 * time.Second},
	}
	for _, tc := range tests {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := backoffDelay(base, limit, tc.failures)
			if d < tc.nominal/2 || d > tc.nominal {
				t.Fatalf("backoffDelay(%d) = %v, want within [%v, %v]", tc.failures, d, tc.nominal/2, tc.nominal)
			}
			seen[d] = true
		}
		if len(seen) < 10 {
			t.Errorf("backoffDelay(%d) took only %d values in 200 draws: no jitter", tc.failures, len(seen))
		}
	}
}

func TestHandoffKeepsNewest(t *testing.T) {
	h := newHandoff()
	if _, _, ok := h.peek(); ok {
		t.Fatal("empty handoff gave a snapshot")
	}
	for _, v := range []string{"1", "2", "3"} {
		h.put(Snapshot{Version: v})
	}
	if len(h.ready) != 1 {
		t.Fatalf("%d ready tokens after three puts, want 1", len(h.ready))
	}
	<-h.ready
	s, seq, ok := h.peek()
	if !ok || s.Version != "3" {
		t.Fatalf("peek = %q, %v; want the newest, 3", s.Version, ok)
	}
	h.put(Snapshot{Version: "4"})
	h.takeIf(seq) // taken after a newer one arrived: the newer one stays
	if s, _, ok := h.peek(); !ok || s.Version != "4" {
		t.Fatalf("after a stale take peek = %q, %v; want 4", s.Version, ok)
	}
	<-h.ready
	h.drop()
	if _, _, ok := h.peek(); ok || len(h.ready) != 1 {
		t.Errorf("after drop: snapshot %v, %d ready tokens; want none and a token that withdraws the offer", ok, len(h.ready))
	}
}
