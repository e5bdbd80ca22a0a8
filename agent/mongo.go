package agent

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"

	"github.com/replset-agent/replset-agent/metadata"
	"github.com/replset-agent/replset-agent/mongors"
)

// mongoRole drives the replica set from metadata: every snapshot becomes a desired member list for
// the reconciler, which re-checks the set on its own between snapshots.
type mongoRole struct {
	cfg        mongoConfig
	log        logrus.FieldLogger
	m          *metrics
	foreignSet prometheus.Gauge
	watcher    *metadata.Watcher
	client     *mongors.DriverClient
	rec        *mongors.Reconciler
	version    *versionWatch // the local mongod's version (version.go)
	boot       *bootRunner   // the first users' bootstrap (mongo_auth.go); nil without admin credentials

	self selfTracker // whether metadata names this agent's container

	mu         sync.Mutex
	lastErr    string
	warnings   []string
	stack      string                     // of the last snapshot whose service could be read
	containers []metadata.ContainerStatus // of that snapshot, usable or not, for /status
	desired    *mongors.Desired           // the last desired state handed to the reconciler
}

// mongoOptions are what an in-process caller (the demo, tests) injects.
type mongoOptions struct {
	Logger   logrus.FieldLogger
	RetryMin time.Duration // first retry delay; zero: the reconciler's default
}

func connConfig(c *commonConfig, address string, timeout, heartbeat time.Duration) mongors.ConnConfig {
	return mongors.ConnConfig{
		Address:    address,
		Username:   c.Username,
		Password:   c.Password,
		AuthSource: c.AuthSource,
		TLS: mongors.TLSConfig{
			CAFile:   c.TLSCAFile,
			CertFile: c.TLSCertFile,
			KeyFile:  c.TLSKeyFile,
			Insecure: c.TLSInsecure,
			Enabled:  c.TLS || c.TLSInsecure,
		},
		CommandTimeout:    timeout,
		HeartbeatInterval: heartbeat,
		// Under access control a node has no users until the bootstrap creates them: the roles
		// that manage the set then use the localhost exception locally and hello elsewhere.
		LoginFallback: c.talksToMongod && c.Username != "",
		SourceIP:      c.MongoSourceIP,
	}
}

func settingsOf(c *commonConfig, alarm time.Duration) mongors.Settings {
	return mongors.Settings{
		SetName:        c.ReplSet,
		MinMembers:     c.MinMembers,
		RemovalGrace:   c.RemovalGrace,
		NoPrimaryAlarm: alarm,
	}
}

func newMongoRole(cfg mongoConfig, o mongoOptions) (*mongoRole, error) {
	r := &mongoRole{cfg: cfg, log: o.Logger.WithField("role", "mongo"), m: newMetrics("mongo")}
	r.version = newVersionWatch(r.log, r.m.registry, "mongo", true, false)
	r.foreignSet = newForeignSetGauge(r.m)
	w, err := newWatcher(&cfg.commonConfig, mongoScope(&cfg.commonConfig, cfg.LetschatService), r.log, r.m)
	if err != nil {
		return nil, err
	}
	r.watcher = w
	client, err := mongors.NewDriverClient(connConfig(&cfg.commonConfig, cfg.MongodAddress, cfg.ActionTimeout, cfg.Heartbeat))
	if err != nil {
		return nil, fmt.Errorf("mongo client: %w", err)
	}
	r.client = client
	b, err := newBootstrapper(&cfg, client, r.log)
	if err != nil {
		return nil, fmt.Errorf("auth bootstrap: %w", err)
	}
	if b != nil {
		r.boot = newBootRunner(&cfg, b, client, r.m, r.log)
	} else {
		newBootGauges(r.m)
	}
	settings := settingsOf(&cfg.commonConfig, cfg.NoPrimaryAlarm)
	settings.InitiateSettle = cfg.InitiateSettle
	rec, err := mongors.NewReconciler(mongors.ReconcilerConfig{
		Client:         client,
		Settings:       settings,
		Recheck:        cfg.Recheck,
		RetryMin:       o.RetryMin,
		StepDownPeriod: cfg.StepDownPeriod,
		PassTimeout:    cfg.ActionTimeout + 5*time.Second,
		Log:            r.log,
		Metrics:        reconcilerMetrics{r.m, r.foreignSet},
	})
	if err != nil {
		return nil, err
	}
	r.rec = rec
	return r, nil
}

// run reconciles until ctx ends. It returns once every goroutine has stopped; an action in flight
// is bounded by its maxTimeMS, so a SIGTERM never leaves a half-sent reconfig behind.
func (r *mongoRole) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { follow(ctx, r.watcher, r.apply) })
	wg.Go(func() { r.watchFreshness(ctx) })
	wg.Go(func() { r.runReconciler(ctx) })
	if r.boot != nil {
		wg.Go(func() { r.boot.run(ctx) })
	}
	wg.Wait()
	// Ending sessions on nodes that are gone would wait for each; a stopping agent has no use for them.
	cctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	r.client.Close(cctx)
}

// apply turns a snapshot into the reconciler's desired state. A snapshot it cannot read changes
// nothing: the reconciler keeps the last desired state, so metadata trouble is never taken for
// "every member is gone".
func (r *mongoRole) apply(s metadata.Snapshot) {
	read := time.Now()
	r.mu.Lock()
	knownStack, knownSelf := r.stack, ""
	if r.desired != nil {
		knownSelf = r.desired.Self
	}
	r.mu.Unlock()
	p, err := locate(s, r.cfg.Stack, r.cfg.MongoService)
	r.self.note(r.log, s.Version, p, err)
	gone := false
	if err != nil && knownStack != "" && knownSelf != "" {
		// This agent's own container has left metadata (decommissioned, or its host removed)
		// while the agent still runs: it was located before, so this is no default self. The
		// planner must see its own member gone, so that a primary steps down after the grace and
		// lets the next one take its vote and remove it.
		p, err, gone = place{Stack: knownStack}, nil, true
	}
	if err != nil {
		// Logged by note once per change; the reconciler keeps the last desired state.
		r.mu.Lock()
		r.lastErr = err.Error()
		r.mu.Unlock()
		return
	}
	r.version.setLetschat(letschatInStack(s, p.Stack, r.cfg.LetschatService))
	self := knownSelf // the address it had while its container was listed
	if !gone {
		if self, err = selfAddress(p, r.cfg.AddressSource, r.cfg.Port); err != nil {
			r.fail(s, err)
			return
		}
	}
	ms, err := desiredFromTopology(s, &r.cfg.commonConfig, p.Stack, self)
	d, warnings := ms.Desired, ms.Warnings
	if err != nil {
		r.fail(s, err)
		return
	}
	if len(d.Members) == 0 {
		// Not even this host's mongo is usable: more likely a metadata hiccup than a set to empty.
		r.fail(s, fmt.Errorf("metadata lists no usable member of %s/%s", p.Stack, r.cfg.MongoService))
		return
	}
	r.mu.Lock()
	changedWarnings := fmt.Sprint(warnings) != fmt.Sprint(r.warnings)
	r.warnings, r.lastErr = warnings, ""
	r.stack, r.containers = p.Stack, ms.Containers
	r.desired = &d
	r.mu.Unlock()
	if changedWarnings {
		for _, w := range warnings {
			r.log.WithField("version", s.Version).Warn(w)
		}
	}
	r.log.WithFields(logrus.Fields{"version": s.Version, "members": len(d.Members), "self": self, "stack": p.Stack}).
		Debug("metadata snapshot applied")
	d.Read = read
	if seen := r.m.changeSeen.Load(); seen > 0 {
		d.Seen = time.Unix(0, seen)
	}
	r.rec.SetDesired(d)
}

// watchFreshness tells the reconciler when metadata stops answering, and when it answers again:
// the last desired state may then be out of date, and the planner must not remove a member on
// its word (Rancher's stale-metadata incidents). The first snapshot after an outage refreshes it.
func (r *mongoRole) watchFreshness(ctx context.Context) {
	limit := r.cfg.MetadataMaxWait + 15*time.Second // a long-poll answers within MaxWait+5 s
	tick := time.NewTicker(r.cfg.Recheck)
	defer tick.Stop()
	stale := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		st := r.watcher.Stats()
		now := st.ConsecutiveErrors > 0 || (!st.LastGood.IsZero() && time.Since(st.LastGood) > limit)
		if now == stale {
			continue
		}
		stale = now
		r.mu.Lock()
		var d mongors.Desired
		ok := r.desired != nil
		if ok {
			d = *r.desired
			d.Stale = stale
			r.desired = &d
		}
		r.mu.Unlock()
		if !ok {
			continue
		}
		r.log.WithFields(logrus.Fields{"stale": stale, "consecutive_errors": st.ConsecutiveErrors, "last_good": st.LastGood.Format(time.RFC3339)}).
			Info("metadata freshness changed; removals wait while it is stale")
		r.rec.SetDesired(d)
	}
}

func (r *mongoRole) fail(s metadata.Snapshot, err error) {
	r.mu.Lock()
	r.lastErr = err.Error()
	r.mu.Unlock()
	r.log.WithError(err).WithField("version", s.Version).Warn("metadata snapshot not usable; keeping the previous desired members")
}

// mongoRoleStatus is the mongo role's /status document: the `status` command's report, built
// from what the running agent last saw instead of a fresh read, plus the agent's own state.
type mongoRoleStatus struct {
	statusReport
	Role       string         `json:"role"`
	Reconciler mongors.Status `json:"reconciler"`
	Metadata   metadata.Stats `json:"metadata"`
	Warnings   []string       `json:"warnings,omitempty"`
	LastError  string         `json:"last_error,omitempty"`
}

// authOf is the role's access-control state for /status; nil without admin credentials.
func (r *mongoRole) authOf() *authStatus {
	if r.boot == nil {
		return nil
	}
	return r.boot.status()
}

func (r *mongoRole) status() mongoRoleStatus {
	rs := r.rec.Status()
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := statusReport{SetName: r.cfg.ReplSet, Stack: r.stack, Self: rs.Self}
	if rs.LastDecision != nil {
		a := rs.LastDecision.Action
		rep.NextAction = &a
	}
	if rs.Observed == nil {
		rep.Problems = append(rep.Problems, "no reconcile pass yet")
	}
	if r.lastErr != "" {
		rep.Problems = append(rep.Problems, "metadata: "+r.lastErr)
	}
	rep.MongoDB = r.version.status()
	rep.Problems = append(rep.Problems, r.version.problems()...)
	rep.Auth = r.authOf()
	rep.Problems = append(rep.Problems, rep.Auth.problems()...)
	return mongoRoleStatus{
		statusReport: finishStatus(rep, r.containers, rs.Observed),
		Role:         "mongo",
		Reconciler:   rs,
		Metadata:     r.watcher.Stats(),
		Warnings:     append([]string(nil), r.warnings...),
		LastError:    r.lastErr,
	}
}

func (r *mongoRole) endpoints() endpoints {
	return endpoints{
		live: r.live,
		ready: func() error {
			if w := r.self.wait(); w != "" {
				return errors.New(w)
			}
			st := r.rec.Status()
			if st.Observed == nil {
				return fmt.Errorf("no pass yet")
			}
			local := st.Observed.Local
			if !local.Reachable() {
				return fmt.Errorf("local mongod unreachable")
			}
			if !local.Hello.IsWritablePrimary && !local.Hello.Secondary {
				return fmt.Errorf("local mongod is neither primary nor secondary")
			}
			return nil
		},
		status:   func() any { return r.status() },
		registry: r.m.registry,
	}
}

// live fails when the reconcile loop has stalled: no pass for three re-check periods plus the
// longest a pass may take. Metadata trouble does not count: restarting the agent would not help.
func (r *mongoRole) live() error {
	st := r.rec.Status()
	if st.LastDecision == nil {
		return nil // waiting for the first snapshot
	}
	limit := 3*r.cfg.Recheck + r.cfg.ActionTimeout + 5*time.Second
	if age := time.Since(st.LastDecision.At); age > limit {
		return fmt.Errorf("no reconcile pass for %s (limit %s)", age.Round(time.Second), limit)
	}
	return nil
}

// reconcilerMetrics feeds the reconciler's numbers into Prometheus.
type reconcilerMetrics struct {
	m          *metrics
	foreignSet prometheus.Gauge
}

var _ mongors.Metrics = reconcilerMetrics{}

func (x reconcilerMetrics) ActionRun(kind mongors.ActionKind, step mongors.Step, failed bool) {
	result := "ok"
	if failed {
		result = "error"
	}
	x.m.planActions.WithLabelValues(string(kind), string(step), result).Inc()
}
func (x reconcilerMetrics) MongoError(code int32) {
	label := "network"
	if code != 0 {
		label = strconv.Itoa(int(code))
	}
	x.m.mongoErrors.WithLabelValues(label).Inc()
}
func (x reconcilerMetrics) MemberStates(counts map[string]int) {
	x.m.members.Reset()
	for state, n := range counts {
		x.m.members.WithLabelValues(state).Set(float64(n))
	}
}
func (x reconcilerMetrics) Converged(d time.Duration) { x.m.convergence.Observe(d.Seconds()) }
func (x reconcilerMetrics) ForeignSet(nodes int)      { x.foreignSet.Set(float64(nodes)) }
func (x reconcilerMetrics) NoPrimaryAlarm(raised bool) {
	if raised {
		x.m.noPrimaryAlarm.Set(1)
	} else {
		x.m.noPrimaryAlarm.Set(0)
	}
}
