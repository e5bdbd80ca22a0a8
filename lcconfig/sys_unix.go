//go:build unix

package lcconfig

import (
	"errors"
	"os"
	"syscall"
)

// processAttributes puts the child in a process group of its own, so that signals reach
// `npm start` and the node process it spawns alike.
func processAttributes() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// signalGroup sends sig to the process group led by pid. A group that is already gone is not an
// error: there is nothing left to signal.
func signalGroup(pid int, sig os.Signal) error {
	s, ok := sig.(syscall.Signal)
	if !ok {
		return errors.New("signal: not a unix signal")
	}
	if err := syscall.Kill(-pid, s); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
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
	return state.ExitCode()
}

// isStopSignal reports whether sig asks the supervisor to shut down (SIGTERM, SIGINT).
func isStopSignal(sig os.Signal) bool {
	return sig == syscall.SIGTERM || sig == syscall.SIGINT
}

// terminateSignal is the signal that asks a child to stop gracefully.
var terminateSignal os.Signal = syscall.SIGTERM

// killSignal is the signal that ends a child that did not stop in time.
var killSignal os.Signal = syscall.SIGKILL
