package metadatatest

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// APIVersions are the versioned path prefixes the server answers, in the order GET / lists them.
var APIVersions = []string{"2015-12-19", "2016-07-29", "latest"}

// Options configure a Server. The zero value is a server on a free 127.0.0.1 port with an empty
// tree, counter versions ("1", "2", …), self resolved by RemoteAddr and exact long-poll deadlines.
type Options struct {
	// Addr is the listen address; empty means 127.0.0.1:0 (a free port).
	Addr string
	// Tree is the initial data; nil means an empty tree.
	Tree *Tree
	// TrustXFF resolves self by the raw X-Forwarded-For header (like --xff) when it is present,
	// instead of by the connection's remote IP.
	TrustXFF bool
	// RandomVersions makes every version change a fresh random UUIDv4, as v0.10.1+ does.
	RandomVersions bool
	// Shuffle models rancher-metadata v0.10.x, which builds its lists from Go map iteration: on
	// every version change (SetTree, Reload, Restart after Reload) hosts, containers, services,
	// stacks and each stack's services are served in a new random order, and a client whose IP is
	// shared by several containers (a sidekick with network_mode container:<service>) sees them
	// in turn as self/container, one per reload. Off keeps the tree's order and picks the
	// pinned container or the first with that IP.
	Shuffle bool
	// Tick models the real server's global ticker: a long-poll's deadline is checked only on
	// ticks, so it answers between maxWait and maxWait+Tick. Zero means exact deadlines (fast
	// tests); the real server uses 5 s.
	Tick time.Duration
}

// TB is the part of testing.TB that StartT needs; *testing.T and *testing.B satisfy it.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// Server is a running fake metadata service. All methods are safe for concurrent use.
type Server struct {
	mu   sync.Mutex
	addr string
	gen  *generation // nil while stopped
	opts Options

	root         map[string]any // the tree without version and, for built trees, without self
	raw          bool           // root came from SetRaw and is served verbatim
	versionValue any            // served as version; nil with hasVersion false for raw trees without one
	hasVersion   bool
	versionSeq   int
	changed      chan struct{} // closed and replaced whenever the version's string form changes
	parked       int           // long-polls waiting for a change
	metaHostUUID string
	selves       map[string]Self
	latency      time.Duration
	outage       bool
	faults       []*activeFault
	counts       Counts
	epoch        time.Time
}

// generation is one listening period between Start/Restart and Stop.
type generation struct {
	http      *http.Server
	stopped   chan struct{}
	handlers  sync.WaitGroup
	serveDone chan struct{}
}

// ErrStopped is returned by Restart on a server that was closed for good.
var ErrStopped = errors.New("metadatatest: server closed")

// Start starts a server with opts and returns it listening.
func Start(opts Options) (*Server, error) {
	s := &Server{opts: opts, changed: make(chan struct{}), selves: map[string]Self{}, epoch: time.Now()}
	tree := opts.Tree
	if tree == nil {
		tree = NewTree()
	}
	if err := s.setTree(tree); err != nil {
		return nil, err
	}
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if err := s.listen(addr); err != nil {
		return nil, err
	}
	return s, nil
}

// StartT starts a server for a test, fails the test if it cannot, and closes it when the test
// ends.
func StartT(t TB, opts Options) *Server {
	t.Helper()
	s, err := Start(opts)
	if err != nil {
		t.Fatalf("start fake metadata server: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// URL returns the server's root URL, "http://127.0.0.1:port", without an API version.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return "http://" + s.addr
}

// BaseURL returns the URL of the 2016-07-29 API, the base a client is configured with.
func (s *Server) BaseURL() string { return s.URL() + "/2016-07-29" }

// Addr returns the host:port the server listens on (kept across Stop and Restart).
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

func (s *Server) listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	g := &generation{stopped: make(chan struct{}), serveDone: make(chan struct{})}
	g.http = &http.Server{Handler: s.handler(g), ReadHeaderTimeout: 10 * time.Second}
	s.mu.Lock()
	s.addr = ln.Addr().String()
	s.gen = g
	s.mu.Unlock()
	go func() {
		defer close(g.serveDone)
		_ = g.http.Serve(ln)
	}()
	return nil
}

// Stop closes the listener and every connection, as a crashed or restarting metadata container
// does, and waits for in-flight handlers (long-polls included) to end. The data and version are
// kept for Restart. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	g := s.gen
	s.gen = nil
	s.mu.Unlock()
	if g == nil {
		return
	}
	// Connections first, then waiting handlers: a long-poll must end as a broken connection, not
	// as an empty answer.
	_ = g.http.Close()
	close(g.stopped)
	<-g.serveDone
	g.handlers.Wait()
}

// Restart listens again on the same address with the data and version the server had. Call
// Reload before Restart to come back with a new version, as a v0.10.1+ server does.
func (s *Server) Restart() error {
	s.mu.Lock()
	running := s.gen != nil
	addr := s.addr
	s.mu.Unlock()
	if running {
		return nil
	}
	return s.listen(addr)
}

// Close stops the server. It is what StartT registers for cleanup; calling it twice is safe.
func (s *Server) Close() { s.Stop() }

// SetLatency delays every answer by d (zero removes the delay).
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// SetShuffle switches the Shuffle mode of Options on or off; it takes effect at the next version
// change.
func (s *Server) SetShuffle(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.Shuffle = on
}

// SetOutage makes the server answer every request with 503 Service Unavailable (on) or normally
// (off), as a metadata service crash-looping behind Rancher's proxy does. Unlike Stop, the
// requests still arrive and are counted, so a test can bound how often clients retry during an
// outage. Long-polls waiting when it starts keep waiting.
func (s *Server) SetOutage(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outage = on
}

// SetTrustXFF switches self resolution to the raw X-Forwarded-For header (on) or the remote IP.
func (s *Server) SetTrustXFF(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.TrustXFF = on
}
