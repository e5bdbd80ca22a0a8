package lcconfig

import (
	"context"
	"slices"
	"time"

	"github.com/sirupsen/logrus"
)

// Run supervises Let's Chat until ctx is cancelled or Signal asks it to stop, then stops the child
// gracefully (SIGTERM, or the signal received; SIGKILL for the group after KillTimeout) and
// returns the leader's exit status (128+signal when killed; 0 when no child was running). It
// returns an error, with exit code 1, only when the child cannot be started at all. Run may be
// called once.
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
	s.startStandby()

	for {
		select {
		case <-ctx.Done():
			return s.shutdown(terminateSignal)
		case sig := <-s.stopReq:
			return s.shutdown(sig)
		case <-s.trigger:
			if s.cfg.NoSettle {
				// No batching window: adopt now. A settings write that fails re-arms the
				// settle timer as its retry backoff, as it does after a window.
				s.settle.stop()
				s.settleIsRetry = false
				if err := s.afterAdopt(s.reconcile()); err != nil {
					return 1, err
				}
				continue
			}
			// A fresh update must not wait out a long write-retry backoff.
			if !s.settle.armed() || s.settleIsRetry {
				s.settle.arm(s.cfg.SettleDelay)
				s.settleIsRetry = false
			}
		case <-s.settle.fired():
			s.settle.stop()
			s.settleIsRetry = false
			if err := s.afterAdopt(s.reconcile()); err != nil {
				return 1, err
			}
		case <-s.planTimer():
			s.onPlanTimer(ctx)
		case r := <-s.acquired():
			s.onAcquired(r)
		case <-s.holdBoundFired():
			s.releaseHold("the replacement was not ready within the bound; another instance may now restart")
		case <-s.viewTrigger:
			s.onView()
		case <-s.handoverTimer():
			s.onHandoverTimer(ctx)
		case a := <-s.handoverLook():
			s.onHandoverLook(a)
		case <-s.offerTimer():
			s.onOfferTimer(ctx)
		case a := <-s.offerLook():
			s.onOfferLook(ctx, a)
		case err := <-s.claimDone():
			s.onClaimDone(err)
		case ex := <-s.exitedCh():
			s.onExit(ex)
		case <-s.readyCh():
			s.onReady()
		case <-s.backoffTimer.fired():
			s.backoffTimer.stop()
			s.startOrBackoff(ReasonCrashed)
		case <-s.waitLog.fired():
			s.log.WithField("waited", time.Since(s.waitingSince).Round(time.Second).String()).
				Info("still waiting for replica-set members before starting Let's Chat")
			s.waitLog.arm(s.cfg.WaitLogInterval)
		}
	}
}

// exitedCh is the running child's exit channel, or nil.
func (s *Supervisor) exitedCh() <-chan exitInfo {
	if c := s.currentChild(); c != nil {
		return c.exited
	}
	return nil
}

// readyCh is the running child's readiness channel, or nil.
func (s *Supervisor) readyCh() <-chan struct{} {
	if c := s.currentChild(); c != nil {
		return c.ready
	}
	return nil
}

func (s *Supervisor) currentChild() *child {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current
}

// reconcile adopts the latest membership: writes the settings file when delivering by file, and
// notes a new rank. It reports whether a new URI was adopted; acting on it is afterAdopt's job.
func (s *Supervisor) reconcile() (adopted bool) {
	u := s.takePending()
	if u != nil {
		s.unwritten = nil // A newer update supersedes one whose write failed.
	} else {
		u, s.unwritten = s.unwritten, nil
	}
	if u == nil {
		return false
	}
	if s.desired != nil && slices.Equal(s.desired.hosts, u.hosts) {
		// Same hosts, perhaps reordered or with another rank: not a change of URI.
		s.log.WithFields(logrus.Fields{"hosts": len(u.hosts), "rank": u.rank}).Debug("membership unchanged: same hosts")
		s.setRank(u.rank)
		return false
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
			return false
		}
		s.writeErrs = 0
		if changed {
			s.log.WithField("path", s.cfg.Settings.Path()).Info("settings file written")
		}
	}
	previous := s.desired
	s.desired = &memberUpdate{hosts: u.hosts, uri: u.uri, rank: RankUnknown}
	if previous != nil {
		s.desired.rank = previous.rank
	}
	s.mu.Lock()
	s.status.URI, s.status.Hosts = Redact(u.uri), u.hosts
	s.mu.Unlock()
	fields := logrus.Fields{"uri": Redact(u.uri), "hosts": len(u.hosts), "rank": u.rank}
	if previous != nil {
		fields["previous_hosts"] = len(previous.hosts)
	}
	s.log.WithFields(fields).Info("database URI changed")
	s.emit(Event{Kind: EventURIChanged, URI: Redact(u.uri)})
	s.setRank(u.rank)
	return true
}

// setRank records this instance's rank; a change moves a scheduled restart to the new slot.
func (s *Supervisor) setRank(rank int) {
	old := s.desired.rank
	s.desired.rank = rank
	s.mu.Lock()
	s.status.Rank = rank
	s.mu.Unlock()
	if old != rank && s.plan != nil {
		s.log.WithFields(logrus.Fields{"rank": rank, "previous_rank": old}).Info("rank changed; restart slot re-derived")
		s.schedule(true)
	}
}

// afterAdopt acts on the adopted membership: a first start, an immediate start when the child is
// waiting out a crash backoff on hosts that are no longer the members, or, when a new URI was
// adopted, a policy restart.
func (s *Supervisor) afterAdopt(adopted bool) error {
	if s.desired == nil {
		return nil
	}
	if s.backoffTimer.armed() && s.currentChild() == nil && !slices.Equal(s.lastHosts, s.desired.hosts) {
		s.backoffTimer.stop()
		s.log.WithFields(logrus.Fields{"hosts": len(s.desired.hosts), "consecutive": s.crashes}).
			Info("membership changed during crash backoff; starting Let's Chat at once on the new URI")
		s.startOrBackoff(ReasonCrashed)
		return nil
	}
	if err := s.startIfIdle(); err != nil {
		return err
	}
	if adopted {
		s.planRestart()
	}
	return nil
}

// adoptNow adopts an update that is still settling, so that a start never uses a URI older than
// the latest update (one that arrived while the old child was stopping, for one).
func (s *Supervisor) adoptNow() {
	if s.hasPending() {
		s.settle.stop()
		s.settleIsRetry = false
		s.reconcile()
	}
}

// onExit handles the end of the current child's group: the end of a policy stop starts the
// replacement at once; an exit on its own is a crash, restarted after backoff.
func (s *Supervisor) onExit(ex exitInfo) {
	c := s.currentChild()
	s.recordExit(c, ex)
	ran := time.Since(c.started)
	healthySince := c.readyAt
	if s.cfg.Probe == nil {
		healthySince = c.started
	}
	if !healthySince.IsZero() && time.Since(healthySince) >= s.cfg.HealthyRun && s.crashes > 0 {
		s.log.WithFields(logrus.Fields{"ran": ran.Round(time.Millisecond).String(), "consecutive": s.crashes}).
			Info("the child ran healthy long enough; crash count reset")
		s.crashes = 0
	}
	s.rechoose()
	if s.ho != nil {
		s.endHandover("the child exited", false)
	}
	if s.stopping == c {
		s.stopping = nil
		s.logStopped(c, ex)
		s.log.WithFields(logrus.Fields{"pid": c.pid, "exit_code": ex.code, "took": ex.took.Round(time.Millisecond).String()}).
			Info("Let's Chat stopped for the restart")
		s.startOrBackoff(s.stoppingReason)
		return
	}
	// A crash. A restart planned for this child is moot: the next start takes the latest URI.
	s.logStopped(c, ex)
	s.cancelPlan("")
	delay := backoffDelay(s.crashes, s.cfg.BackoffInitial, s.cfg.BackoffMax)
	s.crashes++
	s.backoffTimer.arm(delay)
	s.setState(StateBackoff)
	s.log.WithFields(logrus.Fields{"pid": c.pid, "exit_code": ex.code, "ran": ran.Round(time.Millisecond).String(), "restart_in": delay.String(), "consecutive": s.crashes}).
		Warn("Let's Chat exited on its own; restarting after backoff")
}

// onReady notes that the current child serves; a policy restart in progress is then complete and
// the gate goes back.
func (s *Supervisor) onReady() {
	c := s.currentChild()
	c.readyAt = time.Now()
	s.log.WithFields(logrus.Fields{"pid": c.pid, "after": c.readyAt.Sub(c.started).Round(time.Millisecond).String()}).Info("Let's Chat is ready")
	s.emit(Event{Kind: EventReady, PID: c.pid})
	s.rechoose()
	if s.hold != nil && s.stopping == nil {
		down := time.Since(s.stoppedAt)
		s.log.WithFields(logrus.Fields{"reason": s.hold.reason, "down": down.Round(time.Millisecond).String()}).Info("restart complete; Let's Chat is ready again")
		s.emit(Event{Kind: EventRestartDone, PID: c.pid, Reason: s.hold.reason, Downtime: down})
		s.releaseHold("")
	}
}

// startOrBackoff starts a child (after adopting any update still settling). A start that fails
// once Let's Chat has run before (a transient EAGAIN or ENOMEM) is retried after backoff like a
// crash, instead of ending the supervisor and with it the container.
func (s *Supervisor) startOrBackoff(reason RestartReason) {
	s.adoptNow()
	if err := s.start(reason); err == nil {
		return
	}
	delay := backoffDelay(s.crashes, s.cfg.BackoffInitial, s.cfg.BackoffMax)
	s.crashes++
	s.backoffTimer.arm(delay)
	s.setState(StateBackoff)
	s.log.WithFields(logrus.Fields{"retry_in": delay.String(), "consecutive": s.crashes}).Warn("Let's Chat could not be started again; retrying after backoff")
}

// startIfIdle starts the first child once there is a URI (or at once with StartWithoutMembers),
// and otherwise keeps logging that it waits.
func (s *Supervisor) startIfIdle() error {
	if s.currentChild() != nil || s.backoffTimer.armed() || s.everStarted {
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
		command:       s.cfg.Command,
		dir:           s.cfg.Dir,
		env:           childEnv(s.cfg.Env, s.cfg.Delivery, uri, s.cfg.CookieSecret),
		stdout:        s.cfg.Stdout,
		stderr:        s.cfg.Stderr,
		killTimeout:   s.cfg.KillTimeout,
		probe:         s.cfg.Probe,
		probeInterval: s.cfg.ProbeInterval,
	})
	if err != nil {
		s.log.WithError(err).Error("cannot start Let's Chat")
		s.setLastError(err)
		return err
	}
	c.hosts, c.uri = hosts, uri
	s.lastStart, s.lastHosts, s.everStarted = c.started, hosts, true
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

// recordExit forgets the exited child and notes its status.
func (s *Supervisor) recordExit(c *child, ex exitInfo) {
	s.mu.Lock()
	if s.current == c {
		s.current = nil
	}
	s.status.PID, s.status.ChildURI = 0, ""
	code := ex.code
	s.status.LastExitCode = &code
	s.mu.Unlock()
	s.emit(Event{Kind: EventExited, PID: c.pid, ExitCode: ex.code})
}

func (s *Supervisor) stopTimers() {
	s.stopStandby()
	s.settle.stop()
	s.backoffTimer.stop()
	s.waitLog.stop()
	s.cancelPlan("")
	if s.hold != nil {
		s.releaseHold("")
	}
}
