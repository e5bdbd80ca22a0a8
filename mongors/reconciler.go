package mongors

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
)

// ReconcilerConfig configures a Reconciler.
type ReconcilerConfig struct {
	// Client reaches the local mongod and its peers. Required.
	Client Client
	// Settings tune the planner; zero fields take their defaults.
	Settings Settings
	// Recheck is the period of the re-check pass that runs without any metadata change (a member
	// becoming SECONDARY, a primary stepping down); zero means 5 s.
	Recheck time.Duration
	// RetryMin is the delay before the pass that follows an action, and the first backoff after a
	// retryable failure; zero means 250 ms.
	RetryMin time.Duration
	// RetryMax caps the doubling backoff; zero means Recheck.
	RetryMax time.Duration
	// StepDownPeriod is how long a stepped-down primary stays ineligible; zero means 60 s.
	StepDownPeriod time.Duration
	// PassTimeout bounds one pass's reads and action; zero means 30 s.
	PassTimeout time.Duration
	// Log receives one line per decision; nil means discard.
	Log logrus.FieldLogger
	// Metrics receives counters; nil means NopMetrics.
	Metrics Metrics
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Reconciler runs Observe → Plan → Execute, one action per pass, on every new desired state and on
// a periodic re-check.
type Reconciler struct {
	cfg     ReconcilerConfig
	trigger chan struct{}

	mu        sync.Mutex
	desired   *Desired
	gen       int       // bumped on every change of the desired members
	changedAt time.Time // when the desired members last changed and the set has not caught up
	status    Status

	// Owned by the Run goroutine.
	mem        Memory
	lastKey    string
	retryDelay time.Duration
	rejected   *rejection
	alarm      bool
}

// rejection remembers a proposal mongod refused, so it is not resent unchanged (93/103/104/110).
type rejection struct {
	step    Step
	member  string
	version int
	gen     int
	err     string
}

// NewReconciler checks cfg and fills in its defaults.
func NewReconciler(cfg ReconcilerConfig) (*Reconciler, error) {
	if cfg.Client == nil {
		return nil, errors.New("reconciler needs a mongo client")
	}
	cfg.Settings = cfg.Settings.WithDefaults()
	if cfg.Recheck <= 0 {
		cfg.Recheck = 5 * time.Second
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = 250 * time.Millisecond
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = cfg.Recheck
	}
	if cfg.StepDownPeriod <= 0 {
		cfg.StepDownPeriod = 60 * time.Second
	}
	if cfg.PassTimeout <= 0 {
		cfg.PassTimeout = 30 * time.Second
	}
	if cfg.Log == nil {
		l := logrus.New()
		l.Out = io.Discard
		cfg.Log = l
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NopMetrics{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Reconciler{
		cfg:     cfg,
		trigger: make(chan struct{}, 1),
		status:  Status{SetName: cfg.Settings.SetName},
	}, nil
}

// SetDesired hands over a new desired state. It never blocks; a burst of calls yields one pass
// with the latest state.
func (r *Reconciler) SetDesired(d Desired) {
	d.Members = append([]Member(nil), d.Members...)
	d.Foreign = append([]string(nil), d.Foreign...)
	d.Peers = append([]string(nil), d.Peers...)
	r.mu.Lock()
	if r.desired == nil || !reflect.DeepEqual(r.desired.ordered(), d.ordered()) {
		r.gen++
		if r.changedAt.IsZero() {
			r.changedAt = r.cfg.Now()
		}
	}
	r.desired = &d
	r.status.Self = d.Self
	r.mu.Unlock()
	select {
	case r.trigger <- struct{}{}:
	default:
	}
}

// Status returns a snapshot of what the reconciler saw and decided.
func (r *Reconciler) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

// Run plans and acts until ctx is cancelled, then returns nil. It waits for the first SetDesired
// before its first pass.
func (r *Reconciler) Run(ctx context.Context) error {
	tick := time.NewTicker(r.cfg.Recheck)
	defer tick.Stop()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-r.trigger:
		case <-tick.C:
		case <-retry.C:
		}
		r.mu.Lock()
		d, gen := r.desired, r.gen
		r.mu.Unlock()
		if d == nil {
			continue
		}
		if next := r.pass(ctx, *d, gen); next > 0 {
			retry.Reset(next)
		}
	}
}

// pass runs one Observe → Plan → Execute and returns when the next pass should come sooner than
// the re-check (zero: no sooner).
func (r *Reconciler) pass(ctx context.Context, d Desired, gen int) time.Duration {
	pctx, cancel := context.WithTimeout(ctx, r.cfg.PassTimeout)
	defer cancel()
	o := Observe(pctx, r.cfg.Client, d)
	if ctx.Err() != nil {
		return 0
	}
	now := r.cfg.Now()
	r.mem = r.mem.Update(d, o, now)
	o.Memory = r.mem
	a := r.holdRejected(Plan(d, o, now, r.cfg.Settings), o, gen)
	r.observe(o, a)
	r.logDecision(a, o)

	dec := Decision{Action: a, At: now}
	var next time.Duration
	var lastErr *ErrorStatus
	keepErr := true
	if a.Acts() {
		dec.Executed = true
		err := Execute(pctx, r.cfg.Client, a, r.cfg.StepDownPeriod)
		r.cfg.Metrics.ActionRun(a.Kind, a.Step, err != nil)
		if err != nil {
			lastErr, next = r.failed(a, o, gen, err, now)
		} else {
			r.retryDelay = 0
			keepErr = false
			next = r.cfg.RetryMin
			r.cfg.Log.WithFields(logrus.Fields{"kind": a.Kind, "step": a.Step, "member": a.Member}).Info("action done")
		}
	}
	r.mu.Lock()
	if a.Converged && !r.changedAt.IsZero() {
		took := now.Sub(r.changedAt)
		r.changedAt = time.Time{}
		r.cfg.Metrics.Converged(took)
		r.cfg.Log.WithFields(logrus.Fields{"took": took.String(), "configVersion": o.Config.Version}).Info("config matches the desired members")
	}
	r.status.Observed = &o
	r.status.LastDecision = &dec
	r.status.NoPrimaryAlarm = r.alarm
	r.status.Passes++
	if lastErr != nil {
		r.status.LastError = lastErr
	} else if !keepErr {
		r.status.LastError = nil
	}
	dd := d
	r.status.Desired = &dd
	r.mu.Unlock()
	return next
}

// failed records a failed action: a refused proposal is held back, anything else is retried after
// a doubling backoff.
func (r *Reconciler) failed(a Action, o Observed, gen int, err error, now time.Time) (*ErrorStatus, time.Duration) {
	code := ErrorCode(err)
	r.cfg.Metrics.MongoError(code)
	es := &ErrorStatus{Message: err.Error(), Code: code, At: now}
	fields := logrus.Fields{"kind": a.Kind, "step": a.Step, "member": a.Member, "code": code, "error": err.Error()}
	if Rejected(err) {
		r.rejected = &rejection{step: a.Step, member: a.Member, version: configVersion(o), gen: gen, err: err.Error()}
		if a.Config != nil {
			if js, jerr := json.Marshal(a.Config); jerr == nil {
				fields["config"] = string(js)
			}
		}
		r.cfg.Log.WithFields(fields).Error("mongod rejected the proposed config; not resending it unchanged")
		return es, 0
	}
	r.retryDelay = min(max(r.retryDelay*2, r.cfg.RetryMin), r.cfg.RetryMax)
	es.Retrying = true
	fields["retryIn"] = r.retryDelay.String()
	r.cfg.Log.WithFields(fields).Warn("action failed; retrying")
	return es, r.retryDelay
}

// holdRejected turns a proposal mongod already refused into a Wait until the desired members or
// the config version change.
func (r *Reconciler) holdRejected(a Action, o Observed, gen int) Action {
	rj := r.rejected
	if rj == nil {
		return a
	}
	if rj.gen != gen || rj.version != configVersion(o) {
		r.rejected = nil
		return a
	}
	if a.Acts() && a.Step == rj.step && a.Member == rj.member {
		return wait("not resending %s for %s, which mongod rejected (%s); waiting for the desired members or the config to change", a.Step, a.Member, rj.err)
	}
	return a
}

// observe feeds the metrics and the alarm from a pass.
func (r *Reconciler) observe(o Observed, a Action) {
	if o.Status != nil && o.fromPrimary() {
		counts := map[string]int{}
		for _, m := range o.Status.Members {
			counts[m.StateStr]++
		}
		r.cfg.Metrics.MemberStates(counts)
	}
	if a.Alarm != r.alarm {
		r.alarm = a.Alarm
		r.cfg.Metrics.NoPrimaryAlarm(a.Alarm)
		if a.Alarm {
			r.cfg.Log.WithField("reason", a.Reason).Error("NO PRIMARY: the set cannot accept writes and no reconfig will be forced")
		} else {
			r.cfg.Log.Info("no-primary alarm cleared")
		}
	}
}

// logDecision logs a decision once: every action, and a None or Wait only when it differs from
// the previous decision, so a steady state stays quiet.
func (r *Reconciler) logDecision(a Action, o Observed) {
	key := string(a.Kind) + "|" + string(a.Step) + "|" + a.Member
	if !a.Acts() && key == r.lastKey {
		return
	}
	r.lastKey = key
	fields := logrus.Fields{"kind": a.Kind, "reason": a.Reason}
	if a.Step != "" {
		fields["step"] = a.Step
	}
	if a.Member != "" {
		fields["member"] = a.Member
	}
	if o.Config != nil {
		fields["configVersion"] = o.Config.Version
		fields["members"] = len(o.Config.Members)
		fields["voters"] = o.Config.Voters()
	}
	if a.Config != nil {
		fields["newVersion"] = a.Config.Version
	}
	r.cfg.Log.WithFields(fields).Info("decision")
}

func configVersion(o Observed) int {
	if o.Config == nil {
		return 0
	}
	return o.Config.Version
}

// DryRun observes the set once and returns what the next pass would do, without doing it; for the
// status command. Without the loop's memory, grace periods count from now.
func DryRun(ctx context.Context, c Client, d Desired, s Settings, now time.Time) (Observed, Action) {
	o := Observe(ctx, c, d)
	o.Memory = Memory{}.Update(d, o, now)
	return o, Plan(d, o, now, s)
}
