package metadatatest

import (
	"net/http"
	"slices"
	"time"
)

// Fault replaces the normal answer to matching requests. Faults are tried in the order they were
// injected; the first that matches a request handles it.
type Fault struct {
	// Kinds limits the fault to these request kinds; empty means every kind.
	Kinds []Kind
	// Status is the HTTP status to answer with; zero means 200.
	Status int
	// Body is sent verbatim (for example garbage that is not JSON); empty sends nothing.
	Body string
	// Drop closes the connection without any answer, as a crashing server does. Status and Body
	// are ignored. Note that Go's HTTP client may retry an idempotent request once on a fresh
	// connection after such a drop, which counts as a second request.
	Drop bool
	// Delay waits this long before the fault answers; zero answers at once.
	Delay time.Duration
	// Times is how many requests the fault handles; zero means every matching request until
	// ClearFaults.
	Times int
}

type activeFault struct {
	Fault
	left int // remaining uses when Times > 0
}

// InjectFault adds f after the faults already injected.
func (s *Server) InjectFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &activeFault{Fault: f, left: f.Times})
}

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// takeFaultLocked returns the fault that handles a request of kind k, using one of its Times.
func (s *Server) takeFaultLocked(k Kind) *Fault {
	for i, f := range s.faults {
		if len(f.Kinds) > 0 && !slices.Contains(f.Kinds, k) {
			continue
		}
		if f.Times > 0 {
			f.left--
			if f.left <= 0 {
				s.faults = slices.Delete(s.faults, i, i+1)
			}
		}
		fault := f.Fault
		return &fault
	}
	return nil
}

// serveFault answers with f, or with nothing if the client leaves or the server stops during
// f.Delay.
func serveFault(w http.ResponseWriter, r *http.Request, f *Fault, stopped <-chan struct{}) {
	if !sleep(r, f.Delay, stopped) {
		return
	}
	if f.Drop {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		// Not hijackable (never the case over HTTP/1): abort the way net/http documents.
		panic(http.ErrAbortHandler)
	}
	w.Header().Set("Content-Type", contentType)
	status := f.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(f.Body))
}

// sleep waits d unless the request ends or the server stops first; it reports whether d passed.
func sleep(r *http.Request, d time.Duration, stopped <-chan struct{}) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	case <-stopped:
		return false
	}
}
