package lcconfig

import (
	"os"

	"github.com/sirupsen/logrus"
)

// shutdown stops the child's group with sig and returns the leader's exit status. A policy stop
// already under way keeps its SIGTERM; the wait is the same.
func (s *Supervisor) shutdown(sig os.Signal) (int, error) {
	s.setState(StateStopping)
	s.cancelPlan("")
	c := s.currentChild()
	if c == nil {
		s.log.Info("stopping; Let's Chat was not running")
		return 0, nil
	}
	s.log.WithFields(logrus.Fields{"pid": c.pid, "signal": sig.String()}).Info("stopping Let's Chat")
	c.stop(sig)
	ex := <-c.exited
	s.recordExit(c, ex)
	s.logStopped(c, ex)
	return ex.code, nil
}

// logStopped reports a stop that needed SIGKILL, or left processes behind.
func (s *Supervisor) logStopped(c *child, ex exitInfo) {
	if !ex.killed {
		return
	}
	fields := logrus.Fields{"pid": c.pid, "kill_timeout": s.cfg.KillTimeout.String()}
	if len(ex.lingering) > 0 {
		fields["lingering"] = ex.lingering
	}
	s.log.WithFields(fields).Warn("Let's Chat did not exit in time; its process group was killed")
}
