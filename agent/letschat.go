package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

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
	watcher *metadata.Watcher
	sup     *lcconfig.Supervisor
	version *versionWatch // the set's MongoDB version (version.go)

	self selfTracker // whether metadata names this agent's container

	mu        sync.Mutex
	lastErr   string // why the last snapshot could not be used; "" when it could
	lastHosts []string
}

// letschatOptions are what an in-process caller (the demo) injects; the zero value is the real thing.
type letschatOptions struct {
	Logger      logrus.FieldLogger
	ChildStdout io.Writer
	ChildStderr io.Writer
	Env         []string // base environment of the child; nil: os.Environ()
	OnLetschat  func(lcconfig.Event)
}

func newLetschatRole(cfg letschatConfig, o letschatOptions) (*letschatRole, error) {
	r := &letschatRole{cfg: cfg, log: o.Logger.WithField("role", "letschat"), m: newMetrics("letschat")}
	r.version = newVersionWatch(r.log, r.m.registry, "letschat", false, true)
	w, err := newWatcher(&cfg.commonConfig, letschatScope(&cfg.commonConfig, cfg.LetschatService), r.log, r.m)
	if err != nil {
		return nil, err
	}
	r.watcher = w
	sc := lcconfig.SupervisorConfig{
		Command:             cfg.Command,
		Dir:                 cfg.Dir,
		Env:                 childEnvOr(o.Env), // none of the agent's secrets or settings
		URI:                 cfg.uriOptions(),
		Policy:              lcconfig.RestartPolicy(cfg.RestartPolicy),
		KillTimeout:         cfg.KillTimeout,
		MinRestartInterval:  cfg.MinRestart,
		StaggerInterval:     cfg.Stagger,
		SettleDelay:         cfg.Settle,
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
			if o.OnLetschat != nil {
				o.OnLetschat(e)
			}
		},
	}
	if cfg.Delivery == "settings" {
		target := cfg.SettingsFile
		if !filepath.IsAbs(target) {
			target = filepath.Join(cfg.Dir, target)
		}
		sf, err := lcconfig.LoadSettings(cfg.BaseSettings, target)
		if err != nil {
			return nil, err
		}
		sc.Delivery = lcconfig.DeliverSettings
		sc.Settings = sf
	}
	sup, err := lcconfig.NewSupervisor(sc)
	if err != nil {
		return nil, err
	}
	r.sup = sup
	return r, nil
}

// run supervises Let's Chat until ctx ends or a stop signal arrives, and returns the exit code:
// the child's status on shutdown.
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
				r.log.WithField("signal", sig.String()).Info("forwarding signal to Let's Chat")
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
	opts := metadata.TopologyOptions{Stack: own.Stack, Service: r.cfg.LetschatService}
	rank, _, err := s.ContainerRank(opts, own.Container.UUID)
	if err != nil {
		return nil, 0, fmt.Errorf("rank among Let's Chat containers: %w", err)
	}
	r.mu.Lock()
	r.lastHosts = addrs
	r.mu.Unlock()
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
			if st.State != lcconfig.StateRunning {
				return fmt.Errorf("let's chat is %s", st.State)
			}
			return nil
		},
		status:   func() any { return r.status() },
		registry: r.m.registry,
	}
}
