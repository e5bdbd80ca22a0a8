package childproc

import (
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// reapInterval is how often the reaper looks for orphans even without a SIGCHLD: signals coalesce,
// and one may arrive while a scan is running.
const reapInterval = time.Second

// registry knows which children belong to a Process, so the reaper leaves them to their own Wait.
var registry = &children{tracked: map[int]struct{}{}}

type children struct {
	// mu is held while a child is started and registered, and while the reaper reaps: the reaper
	// can never see a child of Start's that is not registered yet.
	mu      sync.Mutex
	tracked map[int]struct{}
	reaped  atomic.Int64
	running bool // a reaper goroutine is active
}

func (c *children) start(cmd *exec.Cmd) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	c.tracked[cmd.Process.Pid] = struct{}{}
	return nil
}

func (c *children) forget(pid int) {
	c.mu.Lock()
	delete(c.tracked, pid)
	c.mu.Unlock()
}

// Reaped is how many orphaned processes the reaper has reaped since the process started.
func Reaped() int64 { return registry.reaped.Load() }

// ReapEvent describes one reaped orphan.
type ReapEvent struct {
	PID      int
	ExitCode int // exit code, or 128 plus the signal that ended it
}

// EnableReaper makes this process a child subreaper, so that orphaned descendants of its children
// are reparented to it instead of to the container's PID 1 (when this process is PID 1 it already
// receives them), and reaps every child it did not start with Start as soon as it exits. onReap,
// if not nil, is called for each reaped orphan (from the reaper's goroutine). stop ends reaping;
// the subreaper attribute stays. It fails where the platform has no subreaper (it still reaps
// there, which matters only for PID 1). Only one reaper runs at a time.
func EnableReaper(onReap func(ReapEvent)) (stop func(), err error) {
	err = setSubreaper()
	registry.mu.Lock()
	if registry.running {
		registry.mu.Unlock()
		return func() {}, err
	}
	registry.running = true
	registry.mu.Unlock()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGCHLD)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(reapInterval)
		defer tick.Stop()
		for {
			registry.reapOrphans(onReap)
			select {
			case <-done:
				return
			case <-sigs:
			case <-tick.C:
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			signal.Stop(sigs)
			close(done)
			<-finished
			registry.mu.Lock()
			registry.running = false
			registry.mu.Unlock()
		})
	}, err
}

// reapOrphans reaps every exited child of this process that no Process owns.
func (c *children) reapOrphans(onReap func(ReapEvent)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, pid := range childPIDs() {
		if _, mine := c.tracked[pid]; mine {
			continue
		}
		var ws syscall.WaitStatus
		got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		if err != nil || got != pid {
			continue // still running, or already gone
		}
		c.reaped.Add(1)
		if onReap != nil {
			code := ws.ExitStatus()
			if ws.Signaled() {
				code = 128 + int(ws.Signal())
			}
			onReap(ReapEvent{PID: pid, ExitCode: code})
		}
	}
}
