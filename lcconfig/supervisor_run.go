package lcconfig

import (
	"context"
	"slices"
	"time"

	"github.com/sirupsen/logrus"
)

// Run supervises Let's Chat until ctx is cancelled or Signal asks it to stop, then stops the child
// gracefully (SIGTERM, or the signal received; SIGKILL after KillTimeout) and returns the child's
// exit status (128+signal when killed; 0 when no child was running). It returns an error, with
// exit code 1, only when the child cannot be started at all. Run may be called once.
func (s *Supervisor) Run(ctx context.Context) (exitCode int, err error) {
	if !s.started.CompareAndSwap(false, true) {
		return 1, ErrAlreadyRunning
	}
	defer s.stopTimers()
	defer s.setState(StateStopped)

	s.warnOverrides()
	// Members given before Run need no settling: act on them at once.
	select {
	case <-s.trigger:
		s.reconcile()
	default:
	}
	if err := s.startIfIdle(); err != nil {
		return 1, err
	}

	for {
		select {
		case <-ctx.Done():
			return s.shutdown(terminateSignal)
		case sig := <-s.stopReq:
			return s.shutdown(sig)
		case <-s.trigger:
			// A fresh update must not wait out a long write-retry backoff.
			if !s.settle.armed() || s.settleIsRetry {
				s.settle.arm(s.cfg.SettleDelay)
				s.settleIsRetry = false
			}
		case <-s.settle.fired():
			s.settle.stop()
			s.settleIsRetry = false
			s.reconcile()
			if err := s.startIfIdle(); err != nil {
				return 1, err
			}
		case <-s.restartTimer.fired():
			s.restartTimer.stop()
			if stop, code, err := s.restart(ctx); stop || err != nil {
				return code, err
			}
		case <-s.backoffTimer.fired():
			s.backoffTimer.stop()
			s.startOrBackoff(ReasonCrashed)
		case code := <-s.exitedCh():
			s.onExitedOnItsOwn(code)
		case <-s.waitLog.fired():
			s.log.WithField("waited", time.Since(s.waitingSince).Round(time.Second).String()).
				Info("still waiting for replica-set members before starting Let's Chat")
			s.waitLog.arm(s.cfg.WaitLogInterval)
		}
	}
}

// exitedCh is the running child's exit channel, or nil.
func (s *Supervisor) exitedCh() <-chan int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current == nil {
		return nil
	}
	return s.current.exited
}

func (s *Supervisor) currentChild() *child {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current
}

// reconcile adopts the latest membership: writes the settings file when delivering by file, and
// schedules a restart when the policy asks for one.
func (s *Supervisor) reconcile() {
	u := s.takePending()
	if u != nil {
		s.unwritten = nil // A newer update supersedes one whose write failed.
	} else {
		u, s.unwritten = s.unwritten, nil
	}
	if u == nil {
		return
	}
	if s.desired != nil && slices.Equal(s.desired.hosts, u.hosts) {
		// Same hosts, perhaps reordered or with another rank: not a change.
		s.log.WithFields(logrus.Fields{"hosts": len(u.hosts), "rank": u.rank}).Debug("membership unchanged: same hosts")
		s.desired.rank = u.rank
		s.mu.Lock()
		s.status.Rank = u.rank
		s.mu.Unlock()
		return
	}
	if s.cfg.Delivery == DeliverSettings {
		changed, err := s.cfg.Settings.Apply(u.uri)
		if err != nil {
			delay := backoffDelay(s.writeErrs, s.cfg.BackoffInitial, s.cfg.BackoffMax)
			s.writeErrs++
			s.unwritten = u
			s.settle.arm(delay)
			s.settleIsRetry = true
			s.log.WithError(err).WithFields(logrus.Fields{"path": s.cfg.Settings.Path(), "retry_in": delay.String()}).
				Error("settings write failed; Let's Chat keeps its previous configuration")
			s.setLastError(err)
			return
		}
		s.writeErrs = 0
		if changed {
			s.log.WithField("path", s.cfg.Settings.Path()).Info("settings file written")
		}
	}
	previous := s.desired
	s.desired = u
	s.mu.Lock()
	s.status.URI, s.status.Hosts, s.status.Rank = Redact(u.uri), u.hosts, u.rank
	s.mu.Unlock()
	fields := logrus.Fields{"uri": Redact(u.uri), "hosts": len(u.hosts), "rank": u.rank}
	if previous != nil {
		fields["previous_hosts"] = len(previous.hosts)
	}
	s.log.WithFields(fields).Info("database URI changed")
	s.emit(Event{Kind: EventURIChanged, URI: Redact(u.uri)})
	s.scheduleRestart()
}

// scheduleRestart arms a restart when the policy wants one for the running child. A restart
// already scheduled stays as it is: it re-decides on the latest membership when it fires.
func (s *Supervisor) scheduleRestart() {
	c := s.currentChild()
	if c == nil || s.restartTimer.armed() {
		return
	}
	reason, needed := restartNeeded(s.cfg.Policy, c.hosts, s.desired.hosts)
	if !needed {
		why := "a host of its URI is still a member"
		if s.cfg.Policy == RestartNever {
			why = "the policy is never; the new URI serves the next start"
		}
		s.log.WithFields(logrus.Fields{"policy": s.cfg.Policy, "pid": c.pid, "why": why}).Info("no restart")
		return
	}
	delay := restartDelay(time.Now(), s.lastStart, s.desired.rank, s.cfg.StaggerInterval, s.cfg.MinRestartInterval)
	s.restartTimer.arm(delay)
	s.setPendingRestart(reason)
	s.log.WithFields(logrus.Fields{"reason": reason, "policy": s.cfg.Policy, "delay": delay.String(), "rank": s.desired.rank, "pid": c.pid}).
		Info("restart scheduled")
}

// restart replaces the child if the policy still wants it. stop reports that a shutdown arrived
// while the old child was stopping; code is then its exit status.
func (s *Supervisor) restart(ctx context.Context) (stop bool, code int, err error) {
	s.setPendingRestart("")
	c := s.currentChild()
	if c == nil {
		return false, 0, nil // It exited meanwhile; the backoff start uses the latest URI.
	}
	reason, needed := restartNeeded(s.cfg.Policy, c.hosts, s.desired.hosts)
	if !needed {
		s.log.WithField("pid", c.pid).Info("scheduled restart cancelled: membership changed back")
		return false, 0, nil
	}
	s.log.WithFields(logrus.Fields{"reason": reason, "pid": c.pid, "uri": Redact(s.desired.uri)}).Info("restarting Let's Chat")
	s.setState(StateRestarting)
	code, stopRequested := s.terminate(ctx, c, terminateSignal)
	if stopRequested {
		return true, code, nil
	}
	s.startOrBackoff(reason)
	return false, 0, nil
}

// startOrBackoff starts a replacement child. A start that fails once Let's Chat has run before
// (a transient EAGAIN or ENOMEM) is retried after backoff like a crash, instead of ending the
// supervisor and with it the container.
func (s *Supervisor) startOrBackoff(reason RestartReason) {
	if err := s.start(reason); err == nil {
		return
	}
	delay := backoffDelay(s.crashes, s.cfg.BackoffInitial, s.cfg.BackoffMax)
	s.crashes++
	s.backoffTimer.arm(delay)
	s.setState(StateBackoff)
	s.log.WithFields(logrus.Fields{"retry_in": delay.String(), "consecutive": s.crashes}).Warn("Let's Chat could not be started again; retrying after backoff")
}

// onExitedOnItsOwn schedules a start after backoff for a child that exited unasked.
func (s *Supervisor) onExitedOnItsOwn(code int) {
	c := s.currentChild()
	ran := time.Since(c.started)
	s.recordExit(c, code)
	if ran >= s.cfg.BackoffMax {
		s.crashes = 0
	}
	delay := backoffDelay(s.crashes, s.cfg.BackoffInitial, s.cfg.BackoffMax)
	s.crashes++
	// The new start takes the latest URI, which covers any scheduled restart.
	s.restartTimer.stop()
	s.setPendingRestart("")
	s.backoffTimer.arm(delay)
	s.setState(StateBackoff)
	s.log.WithFields(logrus.Fields{"pid": c.pid, "exit_code": code, "ran": ran.Round(time.Millisecond).String(), "restart_in": delay.String(), "consecutive": s.crashes}).
		Warn("Let's Chat exited on its own; restarting after backoff")
}

// startIfIdle starts the first child once there is a URI (or at once with StartWithoutMembers),
// and otherwise keeps logging that it waits.
func (s *Supervisor) startIfIdle() error {
	if s.currentChild() != nil || s.backoffTimer.armed() {
		return nil
	}
	if s.desired == nil && !s.cfg.StartWithoutMembers {
		if s.waitingSince.IsZero() {
			s.waitingSince = time.Now()
			s.log.Info("waiting for replica-set members before starting Let's Chat")
			s.waitLog.arm(s.cfg.WaitLogInterval)
		}
		return nil
	}
	s.waitLog.stop()
	return s.start("")
}

// start runs a new child on the desired URI. reason is empty for a first start and counts as a
// restart otherwise.
func (s *Supervisor) start(reason RestartReason) error {
	var hosts []string
	var uri string
	if s.desired != nil {
		hosts, uri = s.desired.hosts, s.desired.uri
	}
	c, err := startChild(childSpec{
		command: s.cfg.Command,
		dir:     s.cfg.Dir,
		env:     childEnv(s.cfg.Env, s.cfg.Delivery, uri),
		stdout:  s.cfg.Stdout,
		stderr:  s.cfg.Stderr,
	})
	if err != nil {
		s.log.WithError(err).Error("cannot start Let's Chat")
		s.setLastError(err)
		return err
	}
	c.hosts, c.uri = hosts, uri
	s.lastStart = c.started
	s.mu.Lock()
	s.current = c
	s.status.State, s.status.PID, s.status.ChildURI = StateRunning, c.pid, Redact(uri)
	if reason != "" {
		s.status.Restarts[reason]++
	}
	s.mu.Unlock()

	fields := logrus.Fields{"pid": c.pid, "uri": Redact(uri), "hosts": len(hosts)}
	if reason != "" {
		fields["reason"] = reason
	}
	if uri == "" {
		fields["uri"] = "(environment untouched)"
	}
	s.log.WithFields(fields).Info("Let's Chat started")
	s.emit(Event{Kind: EventStarted, PID: c.pid, URI: Redact(uri)})
	if reason != "" {
		s.emit(Event{Kind: EventRestart, PID: c.pid, URI: Redact(uri), Reason: reason})
	}
	return nil
}

func (s *Supervisor) stopTimers() {
	s.settle.stop()
	s.restartTimer.stop()
	s.backoffTimer.stop()
	s.waitLog.stop()
}
