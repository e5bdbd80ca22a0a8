//go:build !unix

package lcconfig

import (
	"errors"
	"os"
	"syscall"
)

// processAttributes has no process groups to set up off unix.
func processAttributes() *syscall.SysProcAttr { return nil }

// signalGroup signals only the process itself off unix.
func signalGroup(pid int, sig os.Signal) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	if err := p.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

// exitCode is the process's exit status; 1 when unknown.
func exitCode(state *os.ProcessState) int {
	if state == nil || state.ExitCode() < 0 {
		return 1
	}
	return state.ExitCode()
}

// isStopSignal reports whether sig asks the supervisor to shut down.
func isStopSignal(sig os.Signal) bool { return sig == os.Interrupt || sig == os.Kill }

// terminateSignal is the best graceful stop available off unix.
var terminateSignal os.Signal = os.Interrupt

// killSignal ends a child that did not stop in time.
var killSignal os.Signal = os.Kill
