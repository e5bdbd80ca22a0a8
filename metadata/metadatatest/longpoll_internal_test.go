package metadatatest

import (
	"net/http"
	"testing"
	"time"
)

func TestParseMaxWait(t *testing.T) {
	tests := []struct {
		raw  string
		want time.Duration
	}{
		{"", 60 * time.Second},
		{"0", 60 * time.Second},
		{"abc", 60 * time.Second},
		{"1", time.Second},
		{"120", 120 * time.Second},
		{"600", 120 * time.Second},
		{"-1", -1},
	}
	for _, tc := range tests {
		if got := parseMaxWait(tc.raw); got != tc.want {
			t.Errorf("parseMaxWait(%q) = %v, want %v", tc.raw, got, tc.want)
		}
	}
}

// TestTickDelaysDeadline checks the modelled 5 s ticker (shrunk to 1 s): the deadline is only
// noticed on a tick, so a poll started 0.3 s into a tick with maxWait=1 answers on the tick at
// 2.0 s, about 1.7 s later, where exact deadlines would answer after 1.0 s.
func TestTickDelaysDeadline(t *testing.T) {
	t.Parallel()
	const tick = time.Second
	s, err := Start(Options{Tick: tick})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for time.Since(s.epoch)%tick < 300*time.Millisecond || time.Since(s.epoch)%tick > 400*time.Millisecond {
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	resp, err := http.Get(s.BaseURL() + "/version?wait=true&value=1&maxWait=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	if elapsed := time.Since(start); elapsed < 1500*time.Millisecond {
		t.Errorf("answered after %v, want the first tick after the deadline (about 1.7 s)", elapsed)
	}
}
