package lcconfig

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
)

// RankUnknown is the Rank of an instance that is not listed among its service's instances yet.
const RankUnknown = -1

// Members is one membership update for the Supervisor.
type Members struct {
	// Hosts are the replica set's members; see Member. Addresses Let's Chat's driver cannot use
	// (IPv6 literals, for one) are dropped with a warning.
	Hosts []Member
	// Rank is this Let's Chat instance's 0-based position among the service's instances; a
	// policy restart is due Rank × StaggerInterval after the change that needs it. A negative
	// rank (RankUnknown) means this instance is not listed yet: policy restarts wait until it is,
	// rather than take another instance's slot.
	Rank int
}

// ErrAlreadyRunning is returned by a second call to Run.
var ErrAlreadyRunning = errors.New("supervisor already running")

// ErrNoChild is returned by Signal when no child is running.
var ErrNoChild = errors.New("no child running")

// Supervisor runs Let's Chat as a child process group with the current database URI, and
// restarts it, gracefully, one instance of the service at a time (through a RestartGate),
// staggered and according to its RestartPolicy, when membership changes; it restarts the child
// with backoff when it dies on its own. It is the engine of the letschat role, shaped after
// consul-template's child.Child and runner.
type Supervisor struct {
	cfg SupervisorConfig
	log logrus.FieldLogger

	trigger     chan struct{}  // one slot: a burst of Updates becomes one wake-up
	viewTrigger chan struct{}  // one slot: UpdateInstances
	stopReq     chan os.Signal // one slot: SIGTERM/SIGINT forwarded by Signal
	started     atomic.Bool

	mu          sync.Mutex // guards the fields below, shared with Update, Signal and Status
	pending     *memberUpdate
	pendingView *Instances
	current     *child
	status      Status
	chosen      bool   // active–standby: this instance is chosen to serve (copy of choice.chosen)
	lastDropped string // the dropped members last warned about

	// Owned by Run's goroutine.
	desired       *memberUpdate // the adopted membership; nil until the first usable update
	unwritten     *memberUpdate // an update whose settings write failed, to retry
	writeErrs     int           // consecutive settings-write failures
	crashes       int           // consecutive exits on its own, for the backoff
	lastStart     time.Time
	lastHosts     []string // hosts of the last child started
	everStarted   bool
	settle        alarm
	settleIsRetry bool // settle is armed to retry a failed settings write
	backoffTimer  alarm
	waitLog       alarm
	waitingSince  time.Time
	plan          *restartPlan // a policy restart the running child needs; nil when none
	hold          *gateHold    // the gate, held for a policy restart in progress
	// stopping is the child being stopped for a policy restart; its exit starts the replacement
	// at once, whatever became of the gate meanwhile.
	stopping       *child
	stoppingReason RestartReason
	stoppedAt      time.Time

	// Active–standby (supervisor_standby.go), owned by Run's goroutine.
	view       Instances    // the latest view of the service's instances
	choice     choice       // whether this instance is chosen to serve
	servingNow bool         // chosen and the child ready: what was last reported as serving
	ho         *handoverRun // the handover this instance runs before its policy restart
	handedOver bool         // the restart after a handover runs: this instance must not serve
	offers     offerPoll    // a standby's look for offers, and its claim
}

// memberUpdate is a validated membership.
type memberUpdate struct {
	hosts []string // sorted addresses: the URI's identity for restart decisions
	uri   string
	rank  int // RankUnknown when not listed yet
}

// NewSupervisor checks cfg, fills in its defaults and returns a Supervisor ready to Run.
func NewSupervisor(cfg SupervisorConfig) (*Supervisor, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Supervisor{
		cfg:         cfg,
		log:         cfg.Logger.WithField("component", "letschat-supervisor"),
		trigger:     make(chan struct{}, 1),
		viewTrigger: make(chan struct{}, 1),
		stopReq:     make(chan os.Signal, 1),
	}
	s.status = Status{
		State:    StateWaiting,
		Policy:   cfg.Policy,
		Delivery: cfg.Delivery.String(),
		Rank:     RankUnknown,
		Restarts: map[RestartReason]int{},
		Mode:     cfg.Mode,
	}
	if cfg.Mode == ActiveStandby {
		s.status.Role = roleStandby
	}
	return s, nil
}

// Update hands the supervisor the replica set's current members and this instance's rank. It
// never blocks: bursts collapse and Run acts on the latest after SettleDelay (at once with
// NoSettle). Members Let's
// Chat's driver cannot use are dropped, each with a warning (logged when the dropped set
// changes); when none is left it returns an error matching ErrNoHosts (and the *HostErrors) and
// the last good URI stays.
func (s *Supervisor) Update(m Members) error {
	seeds, dropped := usableSeeds(m.Hosts)
	s.noteDropped(dropped)
	if len(seeds) == 0 {
		errs := []error{ErrNoHosts}
		for _, d := range dropped {
			errs = append(errs, d)
		}
		err := errors.Join(errs...)
		s.log.WithError(err).WithField("members", len(m.Hosts)).Warn("membership update refused: no usable member; keeping the last good URI")
		s.setLastError(err)
		return fmt.Errorf("update members: %w", err)
	}
	uri, err := formatURI(seeds, s.cfg.URI)
	if err != nil { // the options were checked by NewSupervisor; kept for safety
		s.setLastError(err)
		return fmt.Errorf("update members: %w", err)
	}
	rank := m.Rank
	if rank < 0 {
		rank = RankUnknown
	}
	s.mu.Lock()
	s.pending = &memberUpdate{hosts: hostSet(seeds), uri: uri, rank: rank}
	s.mu.Unlock()
	select {
	case s.trigger <- struct{}{}:
	default:
	}
	return nil
}

// noteDropped warns about each dropped member when the set of dropped members changes.
func (s *Supervisor) noteDropped(dropped []*HostError) {
	reasons := make([]string, len(dropped))
	for i, d := range dropped {
		reasons[i] = d.Error()
	}
	key := strings.Join(reasons, "\n")
	s.mu.Lock()
	changed := key != s.lastDropped
	s.lastDropped = key
	s.status.Dropped = reasons
	s.mu.Unlock()
	if !changed {
		return
	}
	for _, d := range dropped {
		s.log.WithField("member", d.Addr).Warn("member dropped from Let's Chat's URI: " + d.Reason)
	}
}

// Signal forwards sig to the child's process group. SIGTERM and SIGINT instead ask Run to shut
// down: the signal is forwarded, the group gets KillTimeout to exit before SIGKILL, and Run
// returns the leader's exit status. A stop requested before Run starts is honoured when it does.
// Other signals return ErrNoChild when no child is running.
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
	st.Dropped = slices.Clone(st.Dropped)
	st.Restarts = maps.Clone(st.Restarts)
	if st.LastExitCode != nil {
		code := *st.LastExitCode
		st.LastExitCode = &code
	}
	if st.RestartDue != nil {
		due := *st.RestartDue
		st.RestartDue = &due
	}
	st.Ready = s.current != nil && s.current.isReady()
	st.Serving = st.Ready && (s.cfg.Mode != ActiveStandby || s.chosen)
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

func (s *Supervisor) hasPending() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending != nil
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

func (s *Supervisor) emit(e Event) {
	if s.cfg.OnEvent != nil {
		e.Time = time.Now()
		s.cfg.OnEvent(e)
	}
}
