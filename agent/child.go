package agent

import (
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/replset-agent/replset-agent/childproc"
)

// childLeftoverGrace is how long what a child leaves in its process group after it exits gets
// between SIGTERM and SIGKILL.
const childLeftoverGrace = 10 * time.Second

// reapOrphans enables the orphan reaper in the commands that supervise a child (the agent is then
// the container's PID 1). In-process tests turn it off: the test binary runs other children.
var reapOrphans = true

// runChild runs argv (mongod, in images where the agent is the entrypoint) until it exits,
// forwarding every signal from sigs to its process group, and returns its exit status (128+signal
// when a signal killed it). The child decides how long its own shutdown takes, as mongod does;
// what it leaves behind in its group is stopped before runChild returns.
func runChild(argv []string, sigs <-chan os.Signal, log logrus.FieldLogger) (int, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, os.Stdout, os.Stderr
	cmd.Env = childEnv(os.Environ()) // none of the agent's secrets or settings
	p, err := childproc.Start(cmd)
	if err != nil {
		return 1, err
	}
	log.WithFields(logrus.Fields{"pid": p.Pid(), "command": argv[0]}).Info("started child")
	for {
		select {
		case <-p.Exited():
			res := p.Stop(syscall.SIGTERM, childLeftoverGrace)
			fields := logrus.Fields{"pid": p.Pid(), "exit_code": res.ExitCode}
			if res.Killed {
				fields["leftovers_killed"] = true
			}
			log.WithFields(fields).Info("child exited")
			return res.ExitCode, nil
		case sig := <-sigs:
			log.WithField("signal", sig.String()).Info("forwarding signal to child")
			if err := p.Signal(sig); err != nil {
				log.WithError(err).Warn("signal not delivered")
			}
		}
	}
}

// startReaper makes this process reap orphaned descendants (see childproc.EnableReaper) when
// reapOrphans is set; it returns the function that stops it.
func startReaper(log logrus.FieldLogger) func() {
	if !reapOrphans {
		return func() {}
	}
	stop, err := childproc.EnableReaper(func(e childproc.ReapEvent) {
		log.WithFields(logrus.Fields{"pid": e.PID, "exit_code": e.ExitCode}).Debug("reaped an orphaned process")
	})
	if err != nil {
		log.WithError(err).Info("cannot become a child subreaper; orphans go to PID 1")
	}
	return stop
}
