package mongors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	// becoming SECONDARY, a primary stepping down); zero means 5 s. While the local node is a
	// secondary and nothing changed, a re-check reads only the local node's hello (the primary's
	// agent alone reads the set's config and status), with a full read every FullEvery re-checks.
	Recheck time.Duration
	// FullEvery is how many light re-checks a secondary's agent makes between two full reads (for
	// /status); zero means 12.
	FullEvery int
	// PollMin is the first delay of the doubling poll (up to Recheck) while the set is expected to
	// change by itself: a config being committed, a member syncing; zero means 25 ms.
	PollMin time.Duration
	// RetryMin is the first backoff after a retryable failure; zero means 250 ms.
	RetryMin time.Duration
	// RetryMax caps the doubling backoff; zero means Recheck.
	RetryMax time.Duration
	// StepDownPeriod is how long a stepped-down primary stays ineligible; zero means 60 s.
	StepDownPeriod time.Duration
	// PassTimeout bounds one pass's reads, and on its own the action a pass sends: an action in
	// flight when Run's context ends is allowed to finish (up to PassTimeout) so that its outcome
	// is known and reported; zero means 30 s.
	PassTimeout time.Duration
	// Log receives one line per decision; nil means discard.
	Log logrus.FieldLogger
	// Metrics receives counters; nil means NopMetrics.
	Metrics Metrics
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Reconciler runs Observe → Plan → Execute, one action per pass, on every new desired state, at
// once after each successful action, and on a periodic re-check.
type Reconciler struct {
	cfg     ReconcilerConfig
	trigger chan struct{}

	mu        sync.Mutex
	desired   *Desired
	desiredAt time.Time // when SetDesired handed the latest state over
	gen       int       // bumped on every change of the desired members
	changedAt time.Time // when the desired members last changed and the set has not caught up
	status    Status

	// Owned by the Run goroutine.
	mem        Memory
	lastKey    string
	retryDelay time.Duration
	pollDelay  time.Duration
	immediate  int // passes run at once in a row
	rejected   *rejection
	alarm      bool
	foreign    string    // the foreign nodes of the alarm, "" when it is not raised
	full       *Observed // the last full observation, reused by light re-checks
	fullGen    int       // the desired generation it was made for
	lights     int       // light re-checks since it
	uncommit   *Decision // the last action sent whose config is not seen committed yet
}

// rejection remembers a proposal mongod refused, so it is not resent unchanged (93/103/104/110).
type rejection struct {
	step    Step
	member  string
	version int
	gen     int
	err     string
}

// noSooner is what a pass returns when the next pass may wait for the re-check or a new state.
const noSooner = time.Duration(-1)

// maxImmediate bounds the passes run back to back after successful actions, so that an action
// the observation cannot see (a mongod answering ok to a no-op) never spins the loop.
const maxImmediate = 8

// NewReconciler checks cfg and fills in its defaults.
func NewReconciler(cfg ReconcilerConfig) (*Reconciler, error) {
	if cfg.Client == nil {
		return nil, errors.New("reconciler needs a mongo client")
	}
	cfg.Settings = cfg.Settings.WithDefaults()
	if cfg.Recheck <= 0 {
		cfg.Recheck = 5 * time.Second
	}
	if cfg.FullEvery <= 0 {
		cfg.FullEvery = 12
	}
	if cfg.PollMin <= 0 {
		cfg.PollMin = 25 * time.Millisecond
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
	d.Peers = append([]Peer(nil), d.Peers...)
	d.Starting = append([]string(nil), d.Starting...)
	r.mu.Lock()
	now := r.cfg.Now()
	if r.desired == nil || !reflect.DeepEqual(r.desired.ordered(), d.ordered()) {
		r.gen++
		if r.changedAt.IsZero() {
			r.changedAt = now
		}
	}
	r.desired = &d
	r.desiredAt = now
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
// before its first pass. An action in flight when ctx ends is finished first (see PassTimeout).
func (r *Reconciler) Run(ctx context.Context) error {
	tick := time.NewTicker(r.cfg.Recheck)
	defer tick.Stop()
	soon := time.NewTimer(time.Hour)
	soon.Stop()
	defer soon.Stop()
	next := noSooner
	for {
		triggered := false
		if next == 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-r.trigger:
				triggered = true
			default:
			}
		} else {
			select {
			case <-ctx.Done():
				return nil
			case <-r.trigger:
				triggered = true
			case <-tick.C:
			case <-soon.C:
			}
		}
		soon.Stop()
		r.mu.Lock()
		d, gen, at := r.desired, r.gen, r.desiredAt
		r.mu.Unlock()
		if d == nil {
			next = noSooner
			continue
		}
		next = r.pass(ctx, *d, gen, at, triggered || next == 0)
		if next > 0 {
			soon.Reset(next)
		}
	}
}

// observe reads the set for a pass: a full Observe, or only the local hello when the local node
// is a secondary whose view nothing has changed since the last full read (the primary's agent is
// the one that needs the set's config and status on every re-check).
func (r *Reconciler) observe(ctx context.Context, d Desired, gen int, fresh bool) Observed {
	if !fresh && r.full != nil && r.fullGen == gen && r.lights < r.cfg.FullEvery && r.full.Config != nil && !r.full.localIsPrimary() {
		lo := ObserveLocal(ctx, r.cfg.Client)
		if sameRole(lo.Local, r.full.Local) {
			r.lights++
			o := *r.full
			o.Local, o.ReadAt, o.Light, o.Errors = lo.Local, lo.ReadAt, true, nil
			return o
		}
	}
	o := Observe(ctx, r.cfg.Client, d)
	o.FullReadAt = o.ReadAt
	r.full, r.fullGen, r.lights = &o, gen, 0
	return o
}

// sameRole reports whether two reads of the local node show it in the same role of the same config.
func sameRole(a, b NodeHello) bool {
	return a.Reachable() && b.Reachable() && a.Hello.sameRole(b.Hello) && a.Standing == b.Standing
}

// pass runs one Observe → Plan → Execute and returns when the next pass should come: 0 at once,
// a positive delay, or noSooner (the re-check or a new state).
func (r *Reconciler) pass(ctx context.Context, d Desired, gen int, handed time.Time, fresh bool) time.Duration {
	pctx, cancel := context.WithTimeout(ctx, r.cfg.PassTimeout)
	defer cancel()
	tm := Timing{Seen: d.Seen, Read: d.Read, Handed: handed, Observe: r.cfg.Now()}
	o := r.observe(pctx, d, gen, fresh)
	if ctx.Err() != nil {
		return noSooner
	}
	now := r.cfg.Now()
	tm.Observed = now
	r.mem = r.mem.Update(d, o, now)
	o.Memory = r.mem
	a := r.holdRejected(Plan(d, o, now, r.cfg.Settings), o, gen)
	tm.Planned = r.cfg.Now()
	if a.Kind == KindInitiate {
		r.cfg.Log.WithField("reason", a.Reason).Debug("initiate planned; reading the set once more before sending it")
		o, a = r.recheckInitiate(pctx, d, o, a)
	}
	r.observeAlarms(o, a)
	r.noteCommitted(o, now)
	r.retainPools(d, o)
	r.logDecision(a, o)

	dec := Decision{Action: a, At: now}
	next := noSooner
	var lastErr *ErrorStatus
	keepErr := true
	switch {
	case a.Acts() && ctx.Err() != nil:
		// Stopping: an action not yet sent is not started against a set this agent stops watching.
		r.cfg.Log.WithFields(logrus.Fields{"kind": a.Kind, "step": a.Step, "member": a.Member}).Info("stopping; action not sent")
	case a.Acts():
		dec.Executed = true
		// The command runs to its end even if ctx ends meanwhile: cancelling it client-side would
		// not undo what mongod applies, only hide the outcome.
		actx, acancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.PassTimeout)
		tm.Sent = r.cfg.Now()
		err := Execute(actx, r.cfg.Client, a, r.cfg.StepDownPeriod)
		acancel()
		tm.Returned = r.cfg.Now()
		dec.Timing = &tm
		r.cfg.Metrics.ActionRun(a.Kind, a.Step, err != nil)
		if err != nil {
			lastErr, next = r.failed(a, o, gen, err, now)
		} else {
			r.retryDelay, r.pollDelay = 0, 0
			keepErr = false
			r.full = nil // the next pass must see what the action changed
			fields := tm.fields()
			fields["kind"], fields["step"], fields["member"] = a.Kind, a.Step, a.Member
			if ctx.Err() != nil {
				fields["stopping"] = true
			}
			r.cfg.Log.WithFields(fields).Info("action done")
			if a.Config != nil {
				d := dec
				r.uncommit = &d
			}
			next = 0
		}
	case a.Poll:
		r.pollDelay = min(max(r.pollDelay*2, r.cfg.PollMin), r.cfg.Recheck)
		next = r.pollDelay
	default:
		r.pollDelay = 0
	}
	if a.RecheckIn > 0 && (next < 0 || a.RecheckIn < next) {
		next = a.RecheckIn
	}
	if next == 0 {
		if r.immediate++; r.immediate > maxImmediate {
			next = r.cfg.RetryMin
		}
	}
	if next != 0 {
		r.immediate = 0
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
	if dec.Executed {
		r.status.LastAction = &dec
	}
	r.status.NoPrimaryAlarm = r.alarm
	if !o.Light {
		r.status.ForeignSet = o.Foreign
	}
	r.status.Passes++
	if o.Light {
		r.status.LightPasses++
	}
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

// recheckInitiate observes the set once more just before an initiate is sent and plans again on
// that reading: between the first reading and now another agent may have initiated, or a node may
// have got a config. Only an initiate the fresh reading still calls for is sent.
func (r *Reconciler) recheckInitiate(ctx context.Context, d Desired, o Observed, a Action) (Observed, Action) {
	o2 := Observe(ctx, r.cfg.Client, d)
	now := r.cfg.Now()
	o2.Memory = r.mem.Update(d, o2, now)
	a2 := Plan(d, o2, now, r.cfg.Settings)
	if a2.Kind == KindInitiate && reflect.DeepEqual(a2.Config, a.Config) {
		return o2, a2
	}
	r.full = nil
	r.cfg.Log.WithFields(logrus.Fields{"was": a.String(), "now": a2.String()}).Warn("initiate called off by the re-check just before sending it")
	return o2, a2
}

// noteCommitted stamps the last action sent with the time (at) its config was first seen
// committed by the primary, and logs the per-stage timings of the change.
func (r *Reconciler) noteCommitted(o Observed, at time.Time) {
	u := r.uncommit
	if u == nil || o.Light || o.Config == nil || !o.Committed || !o.fromPrimary() || o.Config.Version < u.Action.Config.Version {
		return
	}
	r.uncommit = nil
	t := *u.Timing
	t.Committed = at
	done := *u
	done.Timing = &t
	r.mu.Lock()
	if la := r.status.LastAction; la != nil && la.Timing != nil && la.Timing.Sent.Equal(t.Sent) {
		r.status.LastAction = &done
	}
	r.mu.Unlock()
	fields := t.fields()
	fields["kind"], fields["step"], fields["member"], fields["configVersion"] = u.Action.Kind, u.Action.Step, u.Action.Member, o.Config.Version
	r.cfg.Log.WithFields(fields).Info("config committed")
}

// failed records a failed action: a refused proposal is held back, anything else is retried after
// a doubling backoff.
func (r *Reconciler) failed(a Action, o Observed, gen int, err error, now time.Time) (*ErrorStatus, time.Duration) {
	code := ErrorCode(err)
	r.cfg.Metrics.MongoError(code)
	r.full = nil
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
		return es, noSooner
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

// observeAlarms feeds the metrics and the alarms from a pass.
func (r *Reconciler) observeAlarms(o Observed, a Action) {
	if o.Status != nil && o.fromPrimary() && !o.Light {
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
	if o.Light {
		return // a light re-check does not look for foreign nodes: the alarm stays as it was
	}
	key := ""
	for _, f := range o.Foreign {
		key += f.Addr + "=" + f.SetName + "/" + f.ReplicaSetID + " "
	}
	if key == r.foreign {
		return
	}
	r.foreign = key
	r.cfg.Metrics.ForeignSet(len(o.Foreign))
	if key == "" {
		r.cfg.Log.Info("foreign-set alarm cleared")
		return
	}
	for _, f := range o.Foreign {
		r.cfg.Log.WithFields(logrus.Fields{"node": f.Addr, "setName": f.SetName, "replicaSetId": f.ReplicaSetID, "advice": f.Advice}).
			Error("FOREIGN SET: a mongod of the service belongs to another replica set; it is never added")
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
// status command. Without the loop's memory, grace and settle periods count from now.
func DryRun(ctx context.Context, c Client, d Desired, s Settings, now time.Time) (Observed, Action) {
	o := Observe(ctx, c, d)
	o.Memory = Memory{}.Update(d, o, now)
	return o, Plan(d, o, now, s)
}

// Timing is when each stage of a decision happened, for the benchmark's per-stage breakdown and
// for finding where a slow change spent its time. Zero fields did not happen (yet).
type Timing struct {
	// Seen is when the orchestrator's change was first noticed and Read when its state was read
	// (Desired.Seen and Desired.Read); Handed is when SetDesired handed it to the reconciler.
	Seen   time.Time `json:"seen,omitzero"`
	Read   time.Time `json:"read,omitzero"`
	Handed time.Time `json:"handed,omitzero"`
	// Observe and Observed are when the pass began and finished reading the set; Planned when the
	// plan was ready.
	Observe  time.Time `json:"observe,omitzero"`
	Observed time.Time `json:"observed,omitzero"`
	Planned  time.Time `json:"planned,omitzero"`
	// Sent and Returned bracket the command; Committed is when a later pass first read the new
	// config committed on the primary.
	Sent      time.Time `json:"sent,omitzero"`
	Returned  time.Time `json:"returned,omitzero"`
	Committed time.Time `json:"committed,omitzero"`
}

// fields renders the stages as milliseconds from the first known one, for a log line, and that
// first stage's wall-clock time (stagesFrom, RFC 3339 with nanoseconds), so that a reader can put
// the stages of agents on one host on a common time line (the line's own time has milliseconds).
func (t Timing) fields() logrus.Fields {
	start := t.Seen
	for _, c := range []time.Time{t.Read, t.Handed, t.Observe} {
		if start.IsZero() {
			start = c
		}
	}
	f := logrus.Fields{}
	if !start.IsZero() {
		f["stagesFrom"] = start.Format(time.RFC3339Nano)
	}
	for _, st := range []struct {
		name string
		at   time.Time
	}{{"seenMs", t.Seen}, {"readMs", t.Read}, {"handedMs", t.Handed}, {"observeMs", t.Observe}, {"observedMs", t.Observed},
		{"plannedMs", t.Planned}, {"sentMs", t.Sent}, {"returnedMs", t.Returned}, {"committedMs", t.Committed}} {
		if !st.at.IsZero() && !start.IsZero() {
			f[st.name] = fmt.Sprintf("%.3f", float64(st.at.Sub(start).Microseconds())/1000)
		}
	}
	return f
}

// PoolRetainer is a Client that keeps connections it can let go of (DriverClient): after each
// pass that read the set's config, the reconciler tells it the nodes it still needs.
type PoolRetainer interface {
	// Retain lets go of the connections to every node but the local one and those in keep.
	Retain(keep []string)
}

// retainPools keeps the connections to the desired members, the config's members and the
// primary, and lets the others go. Only after a pass that read the config: a light re-check
// knows no more than the local node.
func (r *Reconciler) retainPools(d Desired, o Observed) {
	pr, ok := r.cfg.Client.(PoolRetainer)
	if !ok || o.Config == nil {
		return
	}
	keep := []string{d.Self, o.Primary, o.Source}
	for _, m := range d.Members {
		keep = append(keep, m.Host)
	}
	for _, m := range o.Config.Members {
		keep = append(keep, m.Host)
	}
	pr.Retain(keep)
}
