package agent

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"github.com/sirupsen/logrus"
)

// runChild runs argv (mongod, in images where the agent is the entrypoint) until it exits,
// forwarding every signal from sigs to its process group, and returns its exit status (128+signal
// when a signal killed it). The child decides how long its own shutdown takes, as mongod does.
func runChild(argv []string, sigs <-chan os.Signal, log logrus.FieldLogger) (int, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, os.Stdout, os.Stderr
	cmd.Env = childEnv(os.Environ()) // none of the agent's secrets or settings
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return 1, fmt.Errorf("start %s: %w", argv[0], err)
	}
	log.WithFields(logrus.Fields{"pid": cmd.Process.Pid, "command": argv[0]}).Info("started child")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case err := <-done:
			code := exitStatus(cmd.ProcessState, err)
			log.WithFields(logrus.Fields{"pid": cmd.Process.Pid, "exit_code": code}).Info("child exited")
			return code, nil
		case sig := <-sigs:
			log.WithField("signal", sig.String()).Info("forwarding signal to child")
			_ = syscall.Kill(-cmd.Process.Pid, sig.(syscall.Signal))
		}
	}
}

func exitStatus(ps *os.ProcessState, err error) int {
	if ps == nil {
		return 1
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) || err == nil {
		return ps.ExitCode()
	}
	return 1
}
