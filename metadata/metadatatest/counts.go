package metadatatest

// Kind classifies a request for counters and fault targeting.
type Kind int

// Request kinds, by what the path asks for.
const (
	KindIndex    Kind = iota + 1 // GET /: the list of API versions
	KindTree                     // GET /{v} or /{v}/: the whole tree
	KindVersion                  // GET /{v}/version answered at once
	KindLongPoll                 // GET /{v}/version?wait=true&value=X
	KindPath                     // any other path under a known version
	KindInvalid                  // an unknown API version (404 Invalid version)
)

// Counts are the requests a server has received since start or ResetRequests, by kind. A request
// is counted when it arrives, before latency and faults.
type Counts struct {
	Total    int
	Index    int
	Tree     int
	Version  int
	LongPoll int
	Path     int
	Invalid  int
}

func (c *Counts) add(k Kind) {
	c.Total++
	switch k {
	case KindIndex:
		c.Index++
	case KindTree:
		c.Tree++
	case KindVersion:
		c.Version++
	case KindLongPoll:
		c.LongPoll++
	case KindPath:
		c.Path++
	case KindInvalid:
		c.Invalid++
	}
}

// Requests returns the request counters.
func (s *Server) Requests() Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts
}

// ResetRequests sets every request counter to zero.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts = Counts{}
}
