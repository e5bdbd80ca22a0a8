package metadatatest

import (
	"net/http"
	"strconv"
	"time"
)

// Long-poll bounds of the real server.
const (
	defaultMaxWait = 60 * time.Second
	maxMaxWait     = 120 * time.Second
)

// parseMaxWait turns the maxWait query value (seconds) into the wait the real server applies:
// absent, zero or unparsable means 60 s, values are capped at 120 s, and a negative value
// answers at once.
func parseMaxWait(raw string) time.Duration {
	n, err := strconv.Atoi(raw)
	switch {
	case err != nil || n == 0:
		return defaultMaxWait
	case n < 0:
		return -1
	}
	d := time.Duration(n) * time.Second
	return min(d, maxMaxWait)
}

// serveLongPoll follows the real server's loop: answer once the version's string form differs
// from value= or maxWait has passed (404 then if there is no version), otherwise wait for a
// change or, with a Tick, for the next tick.
func (s *Server) serveLongPoll(w http.ResponseWriter, r *http.Request, asJSON bool, stopped <-chan struct{}) {
	q := r.URL.Query()
	value := q.Get("value")
	maxWait := parseMaxWait(q.Get("maxWait"))
	start := time.Now()
	for {
		s.mu.Lock()
		current, has := s.versionValue, s.hasVersion
		changed := s.changed
		tick := s.opts.Tick
		epoch := s.epoch
		s.mu.Unlock()

		elapsed := time.Since(start)
		if elapsed >= maxWait {
			if !has {
				writeNotFound(w, asJSON, "Not found")
				return
			}
			writeValue(w, asJSON, current)
			return
		}
		if has && scalarString(current) != value {
			writeValue(w, asJSON, current)
			return
		}

		wake := maxWait - elapsed
		if tick > 0 {
			wake = tick - time.Since(epoch)%tick
		}
		timer := time.NewTimer(wake)
		s.park(1)
		select {
		case <-changed:
		case <-timer.C:
		case <-r.Context().Done():
			// Unlike the real server, which lingers until the deadline, end with the client so
			// that tests do not leak goroutines.
			timer.Stop()
			s.park(-1)
			return
		case <-stopped:
			timer.Stop()
			s.park(-1)
			// The connection is gone with the server; make sure nothing is written.
			panic(http.ErrAbortHandler)
		}
		s.park(-1)
		timer.Stop()
	}
}

func (s *Server) park(n int) {
	s.mu.Lock()
	s.parked += n
	s.mu.Unlock()
}

// ParkedLongPolls is how many long-polls are waiting for the version to change: a benchmark that
// wants every client watching before it changes the data waits until this reaches their number.
func (s *Server) ParkedLongPolls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.parked
}
