package lcconfig

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/replset-agent/replset-agent/childproc"
)

// Defaults for SupervisorConfig's zero values.
const (
	DefaultDir                = "/usr/src/app"
	DefaultKillTimeout        = 10 * time.Second
	DefaultMinRestartInterval = 30 * time.Second
	DefaultStaggerInterval    = 15 * time.Second
	DefaultSettleDelay        = 2 * time.Second
	DefaultBackoffInitial     = time.Second
	DefaultBackoffMax         = time.Minute
	DefaultWaitLogInterval    = 30 * time.Second
	DefaultHealthyRun         = time.Minute
	DefaultProbeInterval      = time.Second
	DefaultReadyTimeout       = 2 * time.Minute
	DefaultGateRetry          = 5 * time.Second
	DefaultGateTimeout        = 10 * time.Second
	DefaultHandoverDelay      = 10 * time.Second
	DefaultHandoverTimeout    = 30 * time.Second
	DefaultHandoverPoll       = time.Second
)

// DefaultCommand is the official image's CMD.
var DefaultCommand = []string{"npm", "start"}

// SupervisorConfig configures a Supervisor. Durations are wall-clock time.
type SupervisorConfig struct {
	// Command is the Let's Chat command line; nil means DefaultCommand (npm start).
	Command []string
	// Dir is the child's working directory, where Let's Chat looks for its settings files; empty
	// means DefaultDir.
	Dir string
	// Env is the child's base environment as KEY=VALUE pairs; nil means this process's
	// environment. LCB_DATABASE_URI in it is replaced according to Delivery.
	Env []string
	// Delivery is how the URI reaches Let's Chat; the zero value is DeliverEnv.
	Delivery Delivery
	// Settings is the settings file to keep current (from LoadSettings); required with
	// DeliverSettings, ignored otherwise. It is written with the owner-only mode 0600, so the
	// child must run as the supervisor's user.
	Settings *SettingsFile
	// URI holds everything in the URI but the hosts.
	URI URIOptions
	// Policy decides which changes restart a running child; empty means RestartSeedsLost.
	Policy RestartPolicy
	// KillTimeout is how long a child may take to exit after SIGTERM before the group is
	// SIGKILLed; zero means DefaultKillTimeout. The time counts from the signal to the whole
	// group being gone: `npm start` exiting at once does not end it while node still runs.
	KillTimeout time.Duration
	// MinRestartInterval is the least time between a child's start and a policy restart; zero
	// means DefaultMinRestartInterval.
	MinRestartInterval time.Duration
	// StaggerInterval is the delay per rank before a policy restart; zero means
	// DefaultStaggerInterval.
	StaggerInterval time.Duration
	// SettleDelay collects a burst of updates into one decision: the first update of a burst
	// waits this long; zero means DefaultSettleDelay.
	SettleDelay time.Duration
	// NoSettle adopts every update as soon as Run sees it, with no batching window (SettleDelay
	// is then unused): updates that arrive while one is adopted still collapse into the latest.
	NoSettle bool
	// BackoffInitial is the wait before restarting a child that exited on its own, doubled per
	// consecutive exit; zero means DefaultBackoffInitial. It also paces settings-write retries.
	BackoffInitial time.Duration
	// BackoffMax caps that wait. Zero means DefaultBackoffMax.
	BackoffMax time.Duration
	// HealthyRun is how long a child must have been ready (running, without a probe) for its exit,
	// whatever the reason, to reset the crash count; zero means DefaultHealthyRun.
	HealthyRun time.Duration
	// Gate coordinates policy restarts across the service's instances; nil means none: restarts
	// are then spread only by rank × StaggerInterval.
	Gate RestartGate
	// GateRetry is the wait before asking an unavailable gate again; zero means DefaultGateRetry.
	GateRetry time.Duration
	// GateTimeout bounds one Acquire; zero means DefaultGateTimeout.
	GateTimeout time.Duration
	// Mode is AllActive (the zero value: every ready instance serves) or ActiveStandby (one
	// instance serves; see UpdateInstances). ActiveStandby needs a Gate that is a HandoverGate.
	Mode InstancesMode
	// HandoverDelay is how long the load balancer may take to act on a change of an instance's
	// readiness (its health check: enough failed or passed checks in a row, and the check's
	// timeout). In a handover both instances serve for this long before the old one stops, and
	// the old one then waits this long before its restart. Zero means DefaultHandoverDelay.
	HandoverDelay time.Duration
	// HandoverTimeout bounds a handover from the offer to the old instance's draining (a standby
	// claiming it, the load balancer seeing it); past it the handover is called off and the
	// restart tried later. Zero means DefaultHandoverTimeout.
	HandoverTimeout time.Duration
	// HandoverPoll is how often the gate is read in a handover, by the serving instance for the
	// claim and by standbys for an offer; zero means DefaultHandoverPoll.
	HandoverPoll time.Duration
	// noHandover makes the serving instance restart without handing over: only the property
	// test's control run sets it, to prove that its checker sees the gap.
	noHandover bool
	// Probe, if set, tells whether the running child serves (for Let's Chat: an HTTP request to
	// its port). A policy restart holds the gate until the replacement passes it; Status.Ready
	// follows it. Nil means a running child counts as ready.
	Probe func(ctx context.Context) error
	// ProbeInterval is the time between probes; zero means DefaultProbeInterval.
	ProbeInterval time.Duration
	// ReadyTimeout bounds how long a policy restart holds the gate waiting for the replacement to
	// be ready; zero means DefaultReadyTimeout.
	ReadyTimeout time.Duration
	// CookieSecret is Let's Chat's secrets.cookie: LCB_SECRETS_COOKIE with DeliverEnv, written into
	// the settings file with DeliverSettings. It must pass CheckCookieSecret; it may be empty only
	// with DeliverSettings and a base file whose own secrets.cookie passes it.
	CookieSecret string
	// WaitLogInterval is how often "still waiting for members" is logged; zero means
	// DefaultWaitLogInterval.
	WaitLogInterval time.Duration
	// StartWithoutMembers starts the child before any member is known, with its environment and
	// files untouched (Let's Chat then uses whatever it would use on its own); false waits.
	StartWithoutMembers bool
	// Stdout and Stderr receive the child's output; nil means this process's.
	Stdout, Stderr io.Writer
	// Logger receives one line per decision; nil discards.
	Logger logrus.FieldLogger
	// OnEvent, if set, is called from Run's goroutine for every Event (for metrics and the
	// demo); it must return quickly and may call Status.
	OnEvent func(Event)
}

// ErrInvalidConfig is wrapped by NewSupervisor's errors.
var ErrInvalidConfig = errors.New("invalid supervisor config")

// withDefaults returns c with zero values replaced and checks what cannot work.
func (c SupervisorConfig) withDefaults() (SupervisorConfig, error) {
	if c.Command == nil {
		c.Command = DefaultCommand
	}
	if len(c.Command) == 0 || c.Command[0] == "" {
		return c, fmt.Errorf("%w: empty command", ErrInvalidConfig)
	}
	if c.Dir == "" {
		c.Dir = DefaultDir
	}
	if c.Env == nil {
		c.Env = os.Environ()
	}
	switch c.Delivery {
	case DeliverEnv:
	case DeliverSettings:
		if c.Settings == nil {
			return c, fmt.Errorf("%w: settings delivery needs a settings file", ErrInvalidConfig)
		}
		c.Settings = c.Settings.withCookie(c.CookieSecret)
		if err := c.Settings.prepareDir(); err != nil {
			return c, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
	default:
		return c, fmt.Errorf("%w: unknown delivery %d", ErrInvalidConfig, c.Delivery)
	}
	policy, err := ParseRestartPolicy(string(c.Policy))
	if err != nil {
		return c, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	c.Policy = policy
	mode, err := ParseInstancesMode(string(c.Mode))
	if err != nil {
		return c, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	c.Mode = mode
	if _, ok := c.Gate.(HandoverGate); c.Mode == ActiveStandby && !ok {
		return c, fmt.Errorf("%w: active-standby needs a restart gate that can hand over", ErrInvalidConfig)
	}
	// A probe URI proves the options are usable before any member arrives.
	if _, err := formatURI([]seed{{host: "probe", port: DefaultPort}}, c.URI); err != nil {
		return c, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	for _, d := range []struct {
		value    *time.Duration
		fallback time.Duration
		name     string
	}{
		{&c.KillTimeout, DefaultKillTimeout, "kill timeout"},
		{&c.MinRestartInterval, DefaultMinRestartInterval, "minimum restart interval"},
		{&c.StaggerInterval, DefaultStaggerInterval, "stagger interval"},
		{&c.SettleDelay, DefaultSettleDelay, "settle delay"},
		{&c.BackoffInitial, DefaultBackoffInitial, "initial backoff"},
		{&c.BackoffMax, DefaultBackoffMax, "maximum backoff"},
		{&c.WaitLogInterval, DefaultWaitLogInterval, "wait log interval"},
		{&c.HealthyRun, DefaultHealthyRun, "healthy run"},
		{&c.GateRetry, DefaultGateRetry, "gate retry"},
		{&c.GateTimeout, DefaultGateTimeout, "gate timeout"},
		{&c.ProbeInterval, DefaultProbeInterval, "probe interval"},
		{&c.ReadyTimeout, DefaultReadyTimeout, "ready timeout"},
		{&c.HandoverDelay, DefaultHandoverDelay, "handover delay"},
		{&c.HandoverTimeout, DefaultHandoverTimeout, "handover timeout"},
		{&c.HandoverPoll, DefaultHandoverPoll, "handover poll"},
	} {
		switch {
		case *d.value < 0:
			return c, fmt.Errorf("%w: negative %s", ErrInvalidConfig, d.name)
		case *d.value == 0:
			*d.value = d.fallback
		}
	}
	if c.BackoffMax < c.BackoffInitial {
		return c, fmt.Errorf("%w: maximum backoff below initial backoff", ErrInvalidConfig)
	}
	if err := c.checkCookieSecret(); err != nil {
		return c, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if c.Gate == nil {
		c.Gate = openGate{}
	}
	if c.Stdout == nil {
		c.Stdout = os.Stdout
	}
	if c.Stderr == nil {
		c.Stderr = os.Stderr
	}
	if c.Logger == nil {
		discard := logrus.New()
		discard.SetOutput(io.Discard)
		c.Logger = discard
	}
	return c, nil
}

// checkCookieSecret refuses to run Let's Chat with no usable secrets.cookie. With settings
// delivery and no CookieSecret, the base file's own value must do.
func (c SupervisorConfig) checkCookieSecret() error {
	if c.CookieSecret != "" || c.Delivery != DeliverSettings {
		return CheckCookieSecret(c.CookieSecret)
	}
	if err := CheckCookieSecret(c.Settings.baseCookie); err != nil {
		return fmt.Errorf("base settings' secrets.cookie: %w", err)
	}
	return nil
}

// holdBound is how long a policy restart may keep the gate: the old group's stop (SIGTERM, then
// SIGKILL and its wait) and the replacement's way to ready.
func (c SupervisorConfig) holdBound() time.Duration {
	return c.KillTimeout + childproc.KillWait + c.ReadyTimeout
}

// handoverBound is how long a handover may keep the gate before the restart proper: the offer up
// to draining, then the drain.
func (c SupervisorConfig) handoverBound() time.Duration {
	return c.HandoverTimeout + c.HandoverDelay + c.GateTimeout
}

// suspectFor is how long a successor doubts the health of the instance it replaced: the rest of
// a handover that goes ahead (up to draining, the drain) and one more delay for the view to show
// the replaced instance failing its check.
func (c SupervisorConfig) suspectFor() time.Duration {
	return c.HandoverTimeout + 3*c.HandoverDelay
}

func (c SupervisorConfig) handoverTimings() handoverTimings {
	return handoverTimings{delay: c.HandoverDelay, timeout: c.HandoverTimeout, poll: c.HandoverPoll}
}
