package lcconfig

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
)

// Members is one membership update for the Supervisor.
type Members struct {
	// Hosts are the replica set's members; see Member.
	Hosts []Member
	// Rank is this Let's Chat instance's 0-based position among the service's instances; a
	// policy restart waits Rank × StaggerInterval. Negative counts as 0.
	Rank int
}

// ErrAlreadyRunning is returned by a second call to Run.
var ErrAlreadyRunning = errors.New("supervisor already running")

// ErrNoChild is returned by Signal when no child is running.
var ErrNoChild = errors.New("no child running")

// Supervisor runs Let's Chat as a child process with the current database URI, and restarts it,
// gracefully, staggered and according to its RestartPolicy, when membership changes; it restarts
// the child with backoff when it dies on its own. It is the engine of the letschat role, shaped
// after consul-template's child.Child and runner.
type Supervisor struct {
	cfg SupervisorConfig
	log logrus.FieldLogger

	trigger chan struct{}  // one slot: a burst of Updates becomes one wake-up
	stopReq chan os.Signal // one slot: SIGTERM/SIGINT forwarded by Signal
	started atomic.Bool

	mu      sync.Mutex // guards the fields below, shared with Update, Signal and Status
	pending *memberUpdate
	current *child
	status  Status

	// Owned by Run's goroutine.
	desired       *memberUpdate // the adopted membership; nil until the first usable update
	unwritten     *memberUpdate // an update whose settings write failed, to retry
	writeErrs     int           // consecutive settings-write failures
	crashes       int           // consecutive exits on its own, for the backoff
	lastStart     time.Time
	settle        alarm
	settleIsRetry bool // settle is armed to retry a failed settings write
	restartTimer  alarm
	backoffTimer  alarm
	waitLog       alarm
	waitingSince  time.Time
}

// memberUpdate is a validated membership.
type memberUpdate struct {
	hosts []string // sorted addresses: the URI's identity for restart decisions
	uri   string
	rank  int
}

// NewSupervisor checks cfg, fills in its defaults and returns a Supervisor ready to Run.
func NewSupervisor(cfg SupervisorConfig) (*Supervisor, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Supervisor{
		cfg:     cfg,
		log:     cfg.Logger.WithField("component", "letschat-supervisor"),
		trigger: make(chan struct{}, 1),
		stopReq: make(chan os.Signal, 1),
	}
	s.status = Status{
		State:    StateWaiting,
		Policy:   cfg.Policy,
		Delivery: cfg.Delivery.String(),
		Restarts: map[RestartReason]int{},
	}
	return s, nil
}

// Update hands the supervisor the replica set's current members and this instance's rank. It
// never blocks: bursts collapse and Run acts on the latest after SettleDelay. An empty list
// returns ErrNoHosts and an unusable address a *HostError; either way the update is dropped and
// the last good URI stays.
func (s *Supervisor) Update(m Members) error {
	seeds, err := normalizeMembers(m.Hosts)
	if err == nil {
		var uri string
		uri, err = formatURI(seeds, s.cfg.URI)
		if err == nil {
			s.mu.Lock()
			s.pending = &memberUpdate{hosts: hostSet(seeds), uri: uri, rank: max(m.Rank, 0)}
			s.mu.Unlock()
			select {
			case s.trigger <- struct{}{}:
			default:
			}
			return nil
		}
	}
	s.log.WithError(err).WithField("members", len(m.Hosts)).Warn("membership update refused; keeping the last good URI")
	s.setLastError(err)
	return fmt.Errorf("update members: %w", err)
}

// Signal forwards sig to the child's process group. SIGTERM and SIGINT instead ask Run to shut
// down: the signal is forwarded, the child gets KillTimeout to exit before SIGKILL, and Run
// returns its exit status. A stop requested before Run starts is honoured when it does. Other
// signals return ErrNoChild when no child is running.
func (s *Supervisor) Signal(sig os.Signal) error {
	if isStopSignal(sig) {
		select {
		case s.stopReq <- sig:
		default:
		}
		return nil
	}
	s.mu.Lock()
	c := s.current
	s.mu.Unlock()
	if c == nil {
		return ErrNoChild
	}
	return c.signal(sig)
}

// Status returns a snapshot of the supervisor; it holds no secret.
func (s *Supervisor) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	st.Hosts = slices.Clone(st.Hosts)
	st.Restarts = maps.Clone(st.Restarts)
	if st.LastExitCode != nil {
		code := *st.LastExitCode
		st.LastExitCode = &code
	}
	return st
}

// takePending returns the latest Update not yet acted on, or nil.
func (s *Supervisor) takePending() *memberUpdate {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.pending
	s.pending = nil
	return u
}

func (s *Supervisor) setState(state State) {
	s.mu.Lock()
	s.status.State = state
	s.mu.Unlock()
}

func (s *Supervisor) setLastError(err error) {
	s.mu.Lock()
	s.status.LastError = err.Error()
	s.mu.Unlock()
}

func (s *Supervisor) setPendingRestart(reason RestartReason) {
	s.mu.Lock()
	s.status.PendingRestart = reason
	s.mu.Unlock()
}

func (s *Supervisor) emit(e Event) {
	if s.cfg.OnEvent != nil {
		e.Time = time.Now()
		s.cfg.OnEvent(e)
	}
}
