package childproc

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// KillWait bounds how long Stop waits for a group after SIGKILL. A process that outlives it is
// stuck in the kernel (or is a zombie nobody reaps) and is reported, not waited for.
const KillWait = 5 * time.Second

// outputDrainDelay bounds how long the leader's Wait keeps copying output after it exits, while a
// descendant still holds the pipes open.
const outputDrainDelay = time.Second

// Process is one started child and its process group.
type Process struct {
	cmd     *exec.Cmd
	pid     int
	started time.Time

	exited chan struct{} // closed once the leader has been reaped
	code   int           // the leader's status; valid once exited is closed

	stopMu sync.Mutex // one Stop at a time
}

// Result is how a Stop ended.
type Result struct {
	// ExitCode is the leader's status: its exit code, or 128 plus the signal that ended it.
	ExitCode int
	// Killed is true when the group outlived the grace and was SIGKILLed.
	Killed bool
	// Lingering lists processes of the group still alive KillWait after SIGKILL; normally empty.
	Lingering []int
	// Took is the time from the signal to the group being gone.
	Took time.Duration
}

// Start starts cmd as the leader of a new process group; cmd.SysProcAttr's other fields are kept.
// While the reaper is enabled, the process is registered with it before it can exit, so the reaper
// never takes its status.
func Start(cmd *exec.Cmd) (*Process, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pgid = 0
	if cmd.WaitDelay == 0 {
		cmd.WaitDelay = outputDrainDelay
	}
	p := &Process{cmd: cmd, exited: make(chan struct{})}
	if err := registry.start(cmd); err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	p.pid, p.started = cmd.Process.Pid, time.Now()
	go func() {
		_ = cmd.Wait()
		p.code = exitCode(cmd.ProcessState)
		registry.forget(p.pid)
		close(p.exited)
	}()
	return p, nil
}

// Pid is the leader's process id, which is also the group's id.
func (p *Process) Pid() int { return p.pid }

// Started is when the leader was started.
func (p *Process) Started() time.Time { return p.started }

// Exited is closed once the leader has exited; its group may live on.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// ExitCode is the leader's status once Exited is closed: its exit code, or 128 plus the signal that
// ended it.
func (p *Process) ExitCode() int {
	<-p.exited
	return p.code
}

// Signal sends sig to every process of the group. A group that is gone is not an error.
func (p *Process) Signal(sig os.Signal) error {
	s, ok := sig.(syscall.Signal)
	if !ok {
		return fmt.Errorf("signal %v: not a unix signal", sig)
	}
	if err := syscall.Kill(-p.pid, s); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal group %d: %w", p.pid, err)
	}
	return nil
}

// Running reports whether the leader or any other live process of its group remains. Zombies do
// not count: they are gone, only not yet reaped.
func (p *Process) Running() bool {
	select {
	case <-p.exited:
		return groupAlive(p.pid)
	default:
		return true
	}
}

// Stop sends sig to the group and waits until the leader has exited and no live process is left
// in the group. After timeout it SIGKILLs the group and waits up to KillWait more. Calling it again
// after the group is gone returns at once; it may be called after the leader exited on its own, to
// clean up what it left behind.
func (p *Process) Stop(sig os.Signal, timeout time.Duration) Result {
	p.stopMu.Lock()
	defer p.stopMu.Unlock()
	begin := time.Now()
	res := Result{}
	if p.Running() {
		_ = p.Signal(sig)
		if !p.waitGone(begin.Add(timeout)) {
			_ = p.Signal(syscall.SIGKILL)
			res.Killed = true
			if !p.waitGone(time.Now().Add(KillWait)) {
				res.Lingering = groupMembers(p.pid)
			}
		}
	}
	res.ExitCode = p.ExitCode()
	res.Took = time.Since(begin)
	return res
}

// waitGone polls until the leader has exited and the group is empty, or deadline passes; it
// reports whether the group is gone. The leader's exit is awaited on its channel; the rest of the
// group, which may be anyone's children, is polled with a delay growing from 2 ms to 50 ms.
func (p *Process) waitGone(deadline time.Time) bool {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case <-p.exited:
	case <-timer.C:
		return false
	}
	delay := 2 * time.Millisecond
	for groupAlive(p.pid) {
		if !time.Now().Before(deadline) {
			return false
		}
		time.Sleep(min(delay, time.Until(deadline)))
		delay = min(2*delay, 50*time.Millisecond)
	}
	return true
}

// exitCode is the shell's view of how a process ended: its exit status, or 128 plus the signal
// that killed it.
func exitCode(state *os.ProcessState) int {
	if state == nil {
		return 1
	}
	if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	if c := state.ExitCode(); c >= 0 {
		return c
	}
	return 1
}
