package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/sirupsen/logrus"

	"github.com/replset-agent/replset-agent/lcconfig"
	"github.com/replset-agent/replset-agent/metadata"
)

// letschatRole keeps one Let's Chat instance's database URI current: metadata snapshots become
// member lists, and the supervisor decides whether the running child must restart.
type letschatRole struct {
	cfg     letschatConfig
	log     logrus.FieldLogger
	m       *metrics
	lm      *letschatMetrics
	watcher *metadata.Watcher
	sup     *lcconfig.Supervisor
	version *versionWatch // the set's MongoDB version (version.go)

	self  selfTracker // whether metadata names this agent's container
	lease *leaseGate  // the restart gate, unless letschatOptions.Gate replaces it

	mu        sync.Mutex
	lastErr   string // why the last snapshot could not be used; "" when it could
	lastHosts []string
	unlisted  bool // this container was missing from the last snapshot
	noCheck   bool // active–standby without a health check on this container: warned once
}

// letschatOptions are what an in-process caller (the demo) injects; the zero value is the real thing.
type letschatOptions struct {
	Logger      logrus.FieldLogger
	ChildStdout io.Writer
	ChildStderr io.Writer
	Env         []string // base environment of the child; nil: os.Environ()
	OnLetschat  func(lcconfig.Event)
	// Gate coordinates policy restarts across the service's instances; nil: the lease in the
	// replica set (restartlease). With --instances active-standby it must be a HandoverGate.
	Gate lcconfig.RestartGate
}

func newLetschatRole(cfg letschatConfig, o letschatOptions) (*letschatRole, error) {
	r := &letschatRole{cfg: cfg, log: o.Logger.WithField("role", "letschat"), m: newMetrics("letschat")}
	for _, n := range cfg.notes {
		r.log.Warn(n)
	}
	r.version = newVersionWatch(r.log, r.m.registry, "letschat", false, true)
	w, err := newWatcher(&cfg.commonConfig, letschatScope(&cfg.commonConfig, cfg.LetschatService), r.log, r.m)
	if err != nil {
		return nil, err
	}
	r.watcher = w
	env := childEnvOr(o.Env) // none of the agent's secrets or settings
	probe, err := r.readyProbe(env)
	if err != nil {
		return nil, err
	}
	r.lm = newLetschatMetrics(r.m.registry, r.status0)
	gate := o.Gate
	if gate == nil && cfg.RestartGate == restartGateLease {
		r.lease = &leaseGate{cfg: &r.cfg, log: r.log}
		gate = r.lease
	}
	if gate == nil {
		r.log.Warn("--restart-gate none: policy restarts are spread by rank × --stagger only, with no guarantee that two instances are never down at once")
	}
	sc := lcconfig.SupervisorConfig{
		Command:             cfg.Command,
		Dir:                 cfg.Dir,
		Env:                 env,
		URI:                 cfg.uriOptions(),
		CookieSecret:        cfg.CookieSecret,
		Policy:              lcconfig.RestartPolicy(cfg.RestartPolicy),
		KillTimeout:         cfg.KillTimeout,
		MinRestartInterval:  cfg.MinRestart,
		StaggerInterval:     cfg.Stagger,
		SettleDelay:         cfg.Settle,
		NoSettle:            cfg.Settle == 0,
		HealthyRun:          cfg.HealthyRun,
		ReadyTimeout:        cfg.ReadyTimeout,
		Probe:               probe,
		Gate:                gate,
		GateRetry:           cfg.GateRetry,
		Mode:                lcconfig.InstancesMode(cfg.Instances),
		HandoverDelay:       cfg.HandoverDelay,
		HandoverTimeout:     cfg.HandoverTimeout,
		StartWithoutMembers: cfg.StartWithoutMems,
		Stdout:              o.ChildStdout,
		Stderr:              o.ChildStderr,
		Logger:              r.log,
		OnEvent: func(e lcconfig.Event) {
			switch e.Kind {
			case lcconfig.EventRestart:
				r.m.letschatRestarts.WithLabelValues(string(e.Reason)).Inc()
			case lcconfig.EventURIChanged:
				r.m.letschatURIChange.Inc()
			}
			r.lm.observe(e)
			if o.OnLetschat != nil {
				o.OnLetschat(e)
			}
		},
	}
	if cfg.Delivery == "settings" {
		sc.Delivery = lcconfig.DeliverSettings
		sc.Settings = cfg.settings
	}
	sup, err := lcconfig.NewSupervisor(sc)
	if err != nil {
		return nil, err
	}
	r.sup = sup
	return r, nil
}

// status0 is the supervisor's status for the metrics, before and after it exists.
func (r *letschatRole) status0() lcconfig.Status {
	if r.sup == nil {
		return lcconfig.Status{}
	}
	return r.sup.Status()
}

// readyProbe returns the probe of --ready-url: by default GET /login on the address Let's Chat
// listens on, resolved from its environment and settings files as Let's Chat resolves it.
func (r *letschatRole) readyProbe(env []string) (func(context.Context) error, error) {
	switch r.cfg.ReadyURL {
	case readyURLNone:
		return nil, nil
	case "":
	default:
		return lcconfig.HTTPProbe(r.cfg.ReadyURL), nil
	}
	files := map[string][]byte{}
	for _, name := range []string{"config/settings.yml", "settings.yml"} {
		if b, err := os.ReadFile(filepath.Join(r.cfg.Dir, name)); err == nil {
			files[name] = b
		}
	}
	if r.cfg.settings != nil {
		// The file the agent writes: the base with database.uri; its http keys are the base's.
		if rel, err := filepath.Rel(r.cfg.Dir, r.cfg.settings.Path()); err == nil {
			files[filepath.ToSlash(rel)] = r.cfg.settings.Base()
		}
	}
	vars := map[string]string{}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	addr, err := lcconfig.ResolveHTTPAddress(vars, files)
	if err != nil {
		return nil, fmt.Errorf("readiness probe: %w; set --ready-url (env LETSCHAT_READY_URL)", err)
	}
	url := "http://" + addr + "/login"
	r.log.WithField("url", url).Info("Let's Chat is ready when this answers")
	return lcconfig.HTTPProbe(url), nil
}

// run supervises Let's Chat until ctx ends or a stop signal arrives, and returns the exit code:
// the child's status on shutdown. SIGQUIT stops Let's Chat cleanly, like SIGTERM (Go's default,
// a goroutine dump, would leave the child orphaned); other signals are forwarded to its group.
func (r *letschatRole) run(ctx context.Context, signals <-chan os.Signal) int {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { follow(ctx, r.watcher, r.apply) })
	wg.Go(func() { r.watchVersion(ctx) })
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case sig := <-signals:
				if sig == syscall.SIGQUIT {
					r.log.WithField("signal", sig.String()).Info("stopping Let's Chat cleanly")
					sig = syscall.SIGTERM
				} else {
					r.log.WithField("signal", sig.String()).Info("forwarding signal to Let's Chat")
				}
				if err := r.sup.Signal(sig); err != nil && !errors.Is(err, lcconfig.ErrNoChild) {
					r.log.WithError(err).Warn("signal not delivered")
				}
			}
		}
	}()
	code, err := r.sup.Run(ctx)
	if err != nil {
		r.log.WithError(err).Error("Let's Chat could not be run")
	}
	cancel()
	wg.Wait()
	if r.lease != nil {
		r.lease.close()
	}
	return code
}

// apply hands the members in s to the supervisor. A snapshot that cannot be read keeps the last
// good URI: an empty or partial list is never applied.
func (r *letschatRole) apply(s metadata.Snapshot) {
	hosts, rank, err := r.members(s)
	if err != nil {
		r.setErr(err)
		if !errors.Is(err, errNotLocated) { // that one is logged once per change by the tracker
			r.log.WithError(err).Warn("metadata snapshot not usable; Let's Chat keeps its current database URI")
		}
		return
	}
	if len(hosts) == 0 {
		r.setErr(errors.New("the mongo service has no usable member"))
		r.log.WithField("version", s.Version).Warn("no usable mongo member in metadata; keeping the last URI")
		return
	}
	if err := r.sup.Update(lcconfig.Members{Hosts: hosts, Rank: rank}); err != nil {
		r.setErr(err)
		return
	}
	r.setErr(nil)
}

// coordinate hands the supervisor what the instances need to agree on: the lease in the set
// (connected on the first snapshot that allows it) and the service's instances with their health.
func (r *letschatRole) coordinate(s metadata.Snapshot, own place, addrs []string) {
	if r.lease != nil {
		r.lease.ensure(addrs, own)
	}
	if r.cfg.Instances != string(lcconfig.ActiveStandby) {
		return
	}
	view, err := instancesView(s, own, r.cfg.LetschatService)
	if err != nil {
		r.log.WithError(err).Warn("Let's Chat instances not readable from metadata; the last view stays")
		return
	}
	r.sup.UpdateInstances(view)
	if own.Container != nil && own.Container.HealthState == "" {
		r.mu.Lock()
		warn := !r.noCheck
		r.noCheck = true
		r.mu.Unlock()
		if warn {
			r.log.Warn("active-standby without a health check on this container: the load balancer routes to every instance whatever /readyz says, and every instance serves; point the service's health check at the agent's /readyz")
		}
	}
}

func (r *letschatRole) members(s metadata.Snapshot) ([]lcconfig.Member, int, error) {
	// Our own container, in our own stack: --stack names the mongo service's stack, which may be
	// another one.
	own, err := locate(s, "", r.cfg.LetschatService)
	r.self.note(r.log, s.Version, own, err)
	if err != nil {
		return nil, 0, err
	}
	mongoStack := r.cfg.Stack
	if mongoStack == "" {
		mongoStack = own.Stack
	}
	topo, err := s.Topology(topologyOptions(&r.cfg.commonConfig, mongoStack))
	if err != nil {
		return nil, 0, err
	}
	var hosts []lcconfig.Member
	addrs := make([]string, 0, len(topo.Members))
	for _, m := range topo.Members {
		h := lcconfig.HealthUnknown
		if m.HealthState == "healthy" {
			h = lcconfig.Healthy
		}
		hosts = append(hosts, lcconfig.Member{Addr: m.Address, Health: h})
		addrs = append(addrs, m.Address)
	}
	rank := lcconfig.RankUnknown
	if own.Container != nil {
		opts := metadata.TopologyOptions{Stack: own.Stack, Service: r.cfg.LetschatService}
		rk, _, err := s.ContainerRank(opts, own.Container.UUID)
		if err != nil {
			return nil, 0, fmt.Errorf("rank among Let's Chat containers: %w", err)
		}
		rank = rk
	}
	r.coordinate(s, own, addrs)
	r.mu.Lock()
	r.lastHosts = addrs
	changed := r.unlisted != (own.Container == nil)
	r.unlisted = own.Container == nil
	r.mu.Unlock()
	if changed && own.Container == nil {
		r.log.WithField("service", r.cfg.LetschatService).Warn("this Let's Chat container is not listed in metadata yet; policy restarts wait until it is, rather than take another instance's slot")
	}
	return hosts, rank, nil
}

func (r *letschatRole) setErr(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		r.lastErr = ""
	} else {
		r.lastErr = err.Error()
	}
}

// letschatStatus is the letschat role's /status document.
type letschatStatus struct {
	Role       string          `json:"role"`
	Supervisor lcconfig.Status `json:"supervisor"`
	Metadata   metadata.Stats  `json:"metadata"`
	Members    []string        `json:"members"`
	MongoDB    *versionStatus  `json:"mongodb,omitempty"`
	LastError  string          `json:"last_error,omitempty"`
}

func (r *letschatRole) status() letschatStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return letschatStatus{
		Role:       "letschat",
		Supervisor: r.sup.Status(),
		Metadata:   r.watcher.Stats(),
		Members:    append([]string(nil), r.lastHosts...),
		MongoDB:    r.version.status(),
		LastError:  r.lastErr,
	}
}

func (r *letschatRole) endpoints() endpoints {
	return endpoints{
		live: func() error {
			if st := r.sup.Status(); st.State == lcconfig.StateStopped {
				return fmt.Errorf("the supervisor has stopped")
			}
			return nil
		},
		ready: func() error {
			if w := r.self.wait(); w != "" {
				return errors.New(w)
			}
			st := r.sup.Status()
			switch {
			case st.State != lcconfig.StateRunning:
				return fmt.Errorf("let's chat is %s", st.State)
			case !st.Ready:
				return fmt.Errorf("let's chat runs but does not answer yet")
			case !st.Serving && st.Role == "handing-over":
				return fmt.Errorf("let's chat is warm but hands over to another instance for its restart")
			case !st.Serving:
				return fmt.Errorf("let's chat is warm, on standby: another instance serves")
			}
			return nil
		},
		status:   func() any { return r.status() },
		registry: r.m.registry,
	}
}
