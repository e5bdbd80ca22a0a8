package lcconfig

import (
	"context"
	"os"
	"time"

	"github.com/sirupsen/logrus"
)

// shutdown stops the child with sig and returns its exit status.
func (s *Supervisor) shutdown(sig os.Signal) (int, error) {
	s.setState(StateStopping)
	c := s.currentChild()
	if c == nil {
		s.log.Info("stopping; Let's Chat was not running")
		return 0, nil
	}
	s.log.WithFields(logrus.Fields{"pid": c.pid, "signal": sig.String()}).Info("stopping Let's Chat")
	code, _ := s.terminate(context.Background(), c, sig)
	return code, nil
}

// terminate sends sig to the child's group, SIGKILLs it after KillTimeout, and returns its exit
// status once it is gone. stopRequested reports a shutdown (ctx or Signal) that arrived meanwhile.
func (s *Supervisor) terminate(ctx context.Context, c *child, sig os.Signal) (code int, stopRequested bool) {
	if err := c.signal(sig); err != nil {
		s.log.WithError(err).WithField("pid", c.pid).Warn("cannot signal Let's Chat; killing it")
		_ = c.signal(killSignal)
	}
	deadline := time.NewTimer(s.cfg.KillTimeout)
	defer deadline.Stop()
	done, stopReq := ctx.Done(), s.stopReq
	for {
		select {
		case code := <-c.exited:
			s.recordExit(c, code)
			return code, stopRequested
		case <-deadline.C:
			s.log.WithFields(logrus.Fields{"pid": c.pid, "kill_timeout": s.cfg.KillTimeout.String()}).
				Warn("Let's Chat did not exit in time; killing its process group")
			_ = c.signal(killSignal)
		case <-done:
			stopRequested, done = true, nil
		case <-stopReq:
			stopRequested, stopReq = true, nil
		}
	}
}

// recordExit forgets the exited child and notes its status.
func (s *Supervisor) recordExit(c *child, code int) {
	s.mu.Lock()
	if s.current == c {
		s.current = nil
	}
	s.status.PID, s.status.ChildURI = 0, ""
	s.status.LastExitCode = &code
	s.mu.Unlock()
	s.emit(Event{Kind: EventExited, PID: c.pid, ExitCode: code})
}
