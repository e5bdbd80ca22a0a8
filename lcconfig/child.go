package lcconfig

import (
	"context"
	"io"
	"os"
	"os/exec"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/replset-agent/replset-agent/childproc"
)

// terminateSignal asks a child to stop gracefully; killSignal ends one that did not.
var (
	terminateSignal os.Signal = syscall.SIGTERM
	killSignal      os.Signal = syscall.SIGKILL
)

// isStopSignal reports whether sig asks the supervisor to shut down (SIGTERM, SIGINT).
func isStopSignal(sig os.Signal) bool {
	return sig == syscall.SIGTERM || sig == syscall.SIGINT
}

// child is one run of the Let's Chat process group. A new child, with new channels, is made for
// every start: do not keep an old one's channels.
type child struct {
	proc    *childproc.Process
	pid     int
	started time.Time
	// hosts are the sorted addresses of the URI it was started with; nil when started without
	// members.
	hosts []string
	// uri is the URI it was started with; empty when started without members.
	uri string

	stopReq chan os.Signal // one slot: the first stop request wins
	exited  chan exitInfo  // receives once, when the whole group is gone
	ready   chan struct{}  // receives once, when the readiness probe first passes
	healthy atomic.Bool    // the last probe passed
	stopped atomic.Bool    // a stop was requested: no longer ready, whatever the probe says
	cancel  context.CancelFunc

	readyAt time.Time // when ready was received; owned by Run's goroutine
}

// exitInfo is how a child's group ended.
type exitInfo struct {
	code      int  // the leader's status (128+signal when killed by one)
	requested bool // the supervisor asked it to stop
	killed    bool // the group overstayed KillTimeout and was SIGKILLed
	lingering []int
	took      time.Duration // from the stop signal to the group being gone
}

// childSpec is what startChild needs to run one child.
type childSpec struct {
	command        []string
	dir            string
	env            []string
	stdout, stderr io.Writer
	killTimeout    time.Duration
	probe          func(context.Context) error
	probeInterval  time.Duration
}

// probeTimeoutFloor keeps one probe from being cut short by a tiny interval on a loaded machine.
const probeTimeoutFloor = 2 * time.Second

// healthRecheck is the least time between probes once the child has been ready: then they only
// keep Status.Ready current, and must not load the child.
const healthRecheck = 5 * time.Second

// startChild starts the command as the leader of a process group of its own and returns once it
// runs. A goroutine owns its end: a stop request, or the leader's own exit (its leftovers get
// SIGTERM), is followed by waiting for the whole group, SIGKILLing it after killTimeout.
func startChild(spec childSpec) (*child, error) {
	cmd := exec.Command(spec.command[0], spec.command[1:]...)
	cmd.Dir = spec.dir
	cmd.Env = spec.env
	cmd.Stdout = spec.stdout
	cmd.Stderr = spec.stderr
	p, err := childproc.Start(cmd)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &child{
		proc: p, pid: p.Pid(), started: p.Started(),
		stopReq: make(chan os.Signal, 1),
		exited:  make(chan exitInfo, 1),
		ready:   make(chan struct{}, 1),
		cancel:  cancel,
	}
	go c.supervise(spec.killTimeout)
	if spec.probe == nil {
		c.healthy.Store(true)
		c.ready <- struct{}{}
	} else {
		go c.probe(ctx, spec.probe, spec.probeInterval)
	}
	return c, nil
}

func (c *child) supervise(killTimeout time.Duration) {
	var res childproc.Result
	requested := false
	select {
	case <-c.proc.Exited():
		// Whatever the leader left in its group (node under npm) goes too, or the next start
		// would find the port taken.
		res = c.proc.Stop(terminateSignal, killTimeout)
	case sig := <-c.stopReq:
		requested = true
		res = c.proc.Stop(sig, killTimeout)
	}
	c.cancel()
	c.healthy.Store(false)
	c.exited <- exitInfo{code: res.ExitCode, requested: requested, killed: res.Killed, lingering: res.Lingering, took: res.Took}
}

// probe runs the readiness probe until the child is gone: every interval until it first passes
// (reported once on ready), then every healthRecheck (or interval, if longer) to keep healthy
// current.
func (c *child) probe(ctx context.Context, probe func(context.Context) error, interval time.Duration) {
	reported := false
	for {
		pctx, cancel := context.WithTimeout(ctx, max(interval, probeTimeoutFloor))
		err := probe(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		c.healthy.Store(err == nil)
		if err == nil && !reported {
			reported = true
			c.ready <- struct{}{}
		}
		wait := interval
		if reported {
			wait = max(interval, healthRecheck)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// stop asks the child's group to stop with sig; only the first request counts. A child asked to
// stop is no longer ready, whatever its last probe said.
func (c *child) stop(sig os.Signal) {
	c.stopped.Store(true)
	c.cancel()
	select {
	case c.stopReq <- sig:
	default:
	}
}

// isReady reports whether the child serves and is not being stopped.
func (c *child) isReady() bool { return c.healthy.Load() && !c.stopped.Load() }

// signal sends sig to the child's process group.
func (c *child) signal(sig os.Signal) error { return c.proc.Signal(sig) }
