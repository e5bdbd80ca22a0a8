package lcconfig

import (
	"context"
	"errors"
	"time"

	"github.com/sirupsen/logrus"
)

// restartPlan is a policy restart the running child needs, from the moment the membership that
// needs it is adopted until the child is being stopped (or the need goes away).
type restartPlan struct {
	reason      RestartReason
	since       time.Time // when the change that needs it was adopted: the anchor of the slot
	due         time.Time
	timer       alarm        // fires at due, or at the next gate retry
	acquire     *acquisition // a gate request in flight; nil when none
	attempts    int          // gate requests refused so far
	waitingRank bool         // the instance is not listed yet, so it has no slot
}

// acquisition is one RestartGate.Acquire running in its own goroutine, so that the loop keeps
// serving updates and signals however long the gate takes.
type acquisition struct {
	cancel   context.CancelFunc
	result   chan acquireResult // one slot
	handover bool               // the gate was asked with this instance's place on offer
}

type acquireResult struct {
	release func() // nil unless acquired
	err     error
}

// gateHold is the gate held for a policy restart: from before the old child gets SIGTERM until
// the replacement is ready, or the bound passes.
type gateHold struct {
	release  func()
	reason   RestartReason
	acquired time.Time
	bound    alarm
}

// planRestart plans a policy restart when the running child needs one, or cancels a plan that is
// no longer needed. A plan already made keeps its anchor: a burst of changes is one restart.
func (s *Supervisor) planRestart() {
	c := s.currentChild()
	if c == nil || s.desired == nil || s.stopping == c || s.ho != nil {
		// Nothing runs, or it is being replaced already (or handed over for that): the next
		// start takes the latest URI.
		return
	}
	reason, needed := restartNeeded(s.cfg.Policy, c.hosts, s.desired.hosts)
	if !needed {
		if s.plan != nil {
			s.cancelPlan("membership changed back")
			return
		}
		why := "a host of its URI is still a member"
		if s.cfg.Policy == RestartNever {
			why = "the policy is never; the new URI serves the next start"
		}
		s.log.WithFields(logrus.Fields{"policy": s.cfg.Policy, "pid": c.pid, "why": why}).Info("no restart")
		return
	}
	if s.plan != nil {
		s.plan.reason = reason
		return
	}
	now := time.Now()
	s.plan = &restartPlan{reason: reason, since: now}
	s.scheduleAt(now, false)
}

// schedule arms the plan's timer for this instance's slot, derived afresh from the anchor, the
// current rank and the last start: a restart never keeps a delay computed for another rank.
func (s *Supervisor) schedule(rederived bool) { s.scheduleAt(time.Now(), rederived) }

func (s *Supervisor) scheduleAt(now time.Time, rederived bool) {
	p := s.plan
	if p.acquire != nil {
		return // The gate is being asked; its answer is checked against the latest state.
	}
	if s.desired.rank < 0 {
		p.timer.stop()
		s.setPending(p.reason, nil)
		if !p.waitingRank {
			p.waitingRank = true
			s.log.WithField("reason", p.reason).Info("restart needed; waiting for this instance to be listed in metadata before it takes a restart slot")
		}
		return
	}
	p.waitingRank = false
	p.due = restartSlot(p.since, s.lastStart, s.slotRank(), s.cfg.StaggerInterval, s.cfg.MinRestartInterval)
	delay := max(p.due.Sub(now), 0)
	p.timer.arm(delay)
	due := p.due
	s.setPending(p.reason, &due)
	msg := "restart scheduled"
	if rederived {
		msg = "restart rescheduled"
	}
	fields := logrus.Fields{"reason": p.reason, "policy": s.cfg.Policy, "delay": delay.String(), "rank": s.slotRank()}
	if c := s.currentChild(); c != nil {
		fields["pid"] = c.pid
	}
	s.log.WithFields(fields).Info(msg)
}

// planTimer is the plan's timer channel, or nil.
func (s *Supervisor) planTimer() <-chan time.Time {
	if s.plan == nil {
		return nil
	}
	return s.plan.timer.fired()
}

// acquired is the channel of the gate request in flight, or nil.
func (s *Supervisor) acquired() <-chan acquireResult {
	if s.plan == nil || s.plan.acquire == nil {
		return nil
	}
	return s.plan.acquire.result
}

// holdBoundFired is the held gate's bound, or nil.
func (s *Supervisor) holdBoundFired() <-chan time.Time {
	if s.hold == nil {
		return nil
	}
	return s.hold.bound.fired()
}

// onPlanTimer asks the gate when the slot has come, if the restart is still needed.
func (s *Supervisor) onPlanTimer(ctx context.Context) {
	p := s.plan
	p.timer.stop()
	c := s.currentChild()
	if c == nil {
		s.cancelPlan("")
		return
	}
	if _, needed := restartNeeded(s.cfg.Policy, c.hosts, s.desired.hosts); !needed {
		s.cancelPlan("membership changed back")
		return
	}
	if s.desired.rank < 0 {
		s.schedule(false)
		return
	}
	if s.hold != nil || s.ho != nil {
		// This instance's previous restart still holds the gate: never ask while holding it.
		p.timer.arm(s.cfg.GateRetry)
		return
	}
	actx, cancel := context.WithTimeout(ctx, s.cfg.GateTimeout)
	handover := s.mustHandOver()
	a := &acquisition{cancel: cancel, result: make(chan acquireResult, 1), handover: handover}
	p.acquire = a
	// The gate is asked for the bound plus the time the answer may take to arrive, so that it
	// never frees itself before this supervisor's own release at the bound; a handover adds its
	// own bound.
	hold := s.cfg.holdBound() + s.cfg.GateTimeout
	gate := s.cfg.Gate
	acquire := gate.Acquire
	if handover {
		hold += s.cfg.handoverBound()
		acquire = s.handoverGate().AcquireHandover
	}
	go func() {
		release, err := acquire(actx, hold)
		switch {
		case err != nil:
			release = nil
		case release == nil:
			err = errors.New("the gate granted no release")
		case actx.Err() != nil:
			release() // Granted too late: the request was abandoned.
			release, err = nil, actx.Err()
		}
		a.result <- acquireResult{release: release, err: err}
	}()
}

// onAcquired acts on the gate's answer: stop the child for the restart, or retry later.
func (s *Supervisor) onAcquired(r acquireResult) {
	p := s.plan
	p.acquire.cancel()
	offered := p.acquire.handover
	p.acquire = nil
	if r.err != nil {
		p.attempts++
		s.log.WithError(r.err).WithFields(logrus.Fields{"reason": p.reason, "retry_in": s.cfg.GateRetry.String(), "attempts": p.attempts}).
			Info("restart deferred: the restart gate is not available")
		s.emit(Event{Kind: EventGateDeferred, Reason: p.reason})
		p.timer.arm(s.cfg.GateRetry)
		return
	}
	c := s.currentChild()
	reason, needed := RestartReason(""), false
	if c != nil {
		reason, needed = restartNeeded(s.cfg.Policy, c.hosts, s.desired.hosts)
	}
	switch {
	case !needed:
		r.release()
		s.cancelPlan("membership changed back")
	case s.desired.rank < 0:
		r.release()
		s.schedule(false)
	case s.mustHandOver() && !offered:
		// Chosen to serve since the gate was asked: ask again, with this instance's place on offer.
		r.release()
		p.timer.arm(0)
	case s.mustHandOver():
		s.plan = nil
		s.setPending("", nil)
		s.startHandover(r.release, reason)
	default:
		if s.cfg.Mode == ActiveStandby && s.choice.chosen {
			s.log.WithField("reason", reason).Warn("no other instance runs to hand over to: restarting while serving")
		}
		s.beginPolicyStop(c, reason, r.release)
	}
}

// beginPolicyStop stops the child for a policy restart, holding the gate.
func (s *Supervisor) beginPolicyStop(c *child, reason RestartReason, release func()) {
	var waited time.Duration
	if s.plan != nil { // nil after a handover, which logged its own time
		waited = time.Since(s.plan.since)
	}
	s.plan = nil
	s.setPending("", nil)
	s.hold = &gateHold{release: release, reason: reason, acquired: time.Now()}
	s.hold.bound.arm(s.cfg.holdBound())
	s.stopping, s.stoppingReason, s.stoppedAt = c, reason, time.Now()
	s.mu.Lock()
	s.status.GateHeld = true
	s.status.State = StateRestarting
	s.mu.Unlock()
	s.log.WithFields(logrus.Fields{"reason": reason, "pid": c.pid, "uri": Redact(s.desired.uri), "waited": waited.Round(time.Millisecond).String()}).
		Info("restarting Let's Chat")
	s.rechoose()
	s.emit(Event{Kind: EventStopping, PID: c.pid, Reason: reason})
	c.stop(terminateSignal)
}

// releaseHold gives the gate back; warn, when set, says why that is early.
func (s *Supervisor) releaseHold(warn string) {
	h := s.hold
	s.hold = nil
	h.bound.stop()
	h.release()
	s.mu.Lock()
	s.status.GateHeld = false
	s.mu.Unlock()
	if warn != "" {
		s.log.WithFields(logrus.Fields{"reason": h.reason, "held": time.Since(h.acquired).Round(time.Millisecond).String()}).Warn("restart gate released: " + warn)
	}
	if s.handedOver {
		s.handedOver = false
		s.rechoose()
	}
}

// cancelPlan drops the plan; why, when set, is logged. A gate request in flight is abandoned and
// a lease it still brings is given back.
func (s *Supervisor) cancelPlan(why string) {
	p := s.plan
	if p == nil {
		return
	}
	s.plan = nil
	p.timer.stop()
	if a := p.acquire; a != nil {
		a.cancel()
		go func() {
			if r := <-a.result; r.release != nil {
				r.release()
			}
		}()
	}
	s.setPending("", nil)
	if why != "" {
		s.log.WithField("reason", p.reason).Info("scheduled restart cancelled: " + why)
	}
}

func (s *Supervisor) setPending(reason RestartReason, due *time.Time) {
	s.mu.Lock()
	s.status.PendingRestart, s.status.RestartDue = reason, due
	s.mu.Unlock()
}
