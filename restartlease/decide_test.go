package restartlease

import (
	"strings"
	"testing"
	"time"
)

func TestDecide(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	ttl := 30 * time.Second
	held := func(holder string, counter int64) *leaseDoc {
		return &leaseDoc{ID: "x", Holder: holder, Token: "t", Counter: counter, TTLMillis: ttl.Milliseconds()}
	}
	seen := func(holder string, counter int64, since time.Duration) observation {
		return observation{holder: holder, counter: counter, since: at(since)}
	}
	for _, tc := range []struct {
		name    string
		doc     *leaseDoc
		prev    observation
		now     time.Time
		ttl     time.Duration
		want    move
		wantObs observation
		why     string
	}{
		{name: "no document: create it", doc: nil, now: at(0), want: moveInsert},
		{name: "free: take it", doc: &leaseDoc{Counter: 7}, now: at(0), want: moveTake},
		{name: "this instance's own, from an earlier run: take it back at once", doc: held("me", 3), now: at(0), want: moveTakeOver},
		{
			name: "held by another, first seen: wait and start watching",
			doc:  held("b", 5), now: at(time.Second),
			want: moveWait, wantObs: seen("b", 5, time.Second), why: "held by b",
		},
		{
			name: "held, unchanged but not for a TTL yet: wait, keep the first sighting",
			doc:  held("b", 5), prev: seen("b", 5, 0), now: at(29 * time.Second),
			want: moveWait, wantObs: seen("b", 5, 0), why: "unchanged for 29s",
		},
		{
			name: "held, unchanged for a TTL on this clock: take it over",
			doc:  held("b", 5), prev: seen("b", 5, 0), now: at(30 * time.Second),
			want: moveTakeOver, wantObs: seen("b", 5, 0),
		},
		{
			name: "renewed meanwhile (counter moved): watch again from now",
			doc:  held("b", 6), prev: seen("b", 5, 0), now: at(40 * time.Second),
			want: moveWait, wantObs: seen("b", 6, 40*time.Second),
		},
		{
			name: "another holder with the same counter: watch again from now",
			doc:  held("c", 5), prev: seen("b", 5, 0), now: at(40 * time.Second),
			want: moveWait, wantObs: seen("c", 5, 40*time.Second),
		},
		{
			name: "the holder's longer TTL wins over this instance's",
			doc:  &leaseDoc{Holder: "b", Counter: 5, TTLMillis: time.Minute.Milliseconds()}, prev: seen("b", 5, 0), now: at(45 * time.Second),
			want: moveWait, wantObs: seen("b", 5, 0), why: "1m0s TTL",
		},
		{
			name: "this instance's longer TTL wins over the holder's",
			doc:  &leaseDoc{Holder: "b", Counter: 5, TTLMillis: 1000}, prev: seen("b", 5, 0), now: at(10 * time.Second),
			want: moveWait, wantObs: seen("b", 5, 0),
		},
		{
			// A clock that jumps backwards on this host gives a negative time seen: wait.
			name: "time seen going backwards never expires it",
			doc:  held("b", 5), prev: seen("b", 5, time.Hour), now: at(0),
			want: moveWait, wantObs: seen("b", 5, time.Hour),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ttl := tc.ttl
			if ttl == 0 {
				ttl = 30 * time.Second
			}
			got, obs, why := decide(tc.doc, "me", tc.prev, tc.now, ttl)
			if got != tc.want {
				t.Fatalf("move %d (%s), want %d", got, why, tc.want)
			}
			if obs != tc.wantObs {
				t.Errorf("observation %+v, want %+v", obs, tc.wantObs)
			}
			if !strings.Contains(why, tc.why) {
				t.Errorf("why %q, want it to say %q", why, tc.why)
			}
		})
	}
}
