package lcconfig

import (
	"context"
	"slices"
	"time"

	"github.com/sirupsen/logrus"
)

// Roles shown in Status.Role in active–standby.
const (
	roleActive      = "active"
	roleStandby     = "standby"
	roleHandingOver = "handing-over"
)

// UpdateInstances hands the supervisor the service's instances as this instance sees them; it
// matters in active–standby only (see choose). It never blocks: bursts collapse, and Run acts on
// the latest at once, without the settle delay of membership updates (a failover waits for it).
func (s *Supervisor) UpdateInstances(v Instances) {
	v.All = slices.Clone(v.All)
	s.mu.Lock()
	s.pendingView = &v
	s.mu.Unlock()
	select {
	case s.viewTrigger <- struct{}{}:
	default:
	}
}

// call is one gate request running in its own goroutine, so that the loop keeps serving updates
// and signals however long the gate takes.
type call[T any] struct {
	cancel context.CancelFunc
	result chan T // one slot
}

func startCall[T any](ctx context.Context, timeout time.Duration, f func(context.Context) T) *call[T] {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	c := &call[T]{cancel: cancel, result: make(chan T, 1)}
	go func() { c.result <- f(cctx) }()
	return c
}

// ch is the call's result channel, or nil when no call runs.
func (c *call[T]) ch() <-chan T {
	if c == nil {
		return nil
	}
	return c.result
}

// successorAnswer is HandoverGate.Successor's answer.
type successorAnswer struct {
	successor string
	held      bool
	err       error
}

// handoverRun is a handover in progress on the serving instance, holding the gate.
type handoverRun struct {
	h       handover
	release func()
	reason  RestartReason
	timer   alarm
	look    *call[successorAnswer]
}

// offerAnswer is HandoverGate.Offered's answer.
type offerAnswer struct {
	from, ref, successor string
	err                  error
}

// offerPoll is an instance's periodic look at the gate's offer, and its claim.
type offerPoll struct {
	timer alarm
	look  *call[offerAnswer]
	claim *call[error]
	from  string // whose offer the claim in flight takes
	// presumed is the successor of another instance's handover, as last read: it serves, so this
	// instance does not start serving on its own while the handover runs (metadata shows the
	// instance that drains failing before it shows the successor passing).
	presumed string
}

func (s *Supervisor) handoverGate() HandoverGate {
	g, _ := s.cfg.Gate.(HandoverGate)
	return g
}

// startStandby arms the offer poll of an active–standby supervisor.
func (s *Supervisor) startStandby() {
	if s.cfg.Mode != ActiveStandby {
		return
	}
	s.takeView()
	s.offers.timer.arm(s.cfg.HandoverPoll)
	s.rechoose()
}

// takeView adopts the latest UpdateInstances, if any; it reports whether there was one.
func (s *Supervisor) takeView() bool {
	s.mu.Lock()
	v := s.pendingView
	s.pendingView = nil
	s.mu.Unlock()
	if v == nil {
		return false
	}
	s.view = *v
	return true
}

// onView acts on a new view of the instances.
func (s *Supervisor) onView() {
	if s.takeView() && s.cfg.Mode == ActiveStandby {
		s.rechoose()
	}
}

// rechoose decides again whether this instance serves: the handover's phases and the child's
// readiness decide first; otherwise choose does, from the view.
func (s *Supervisor) rechoose() {
	if s.cfg.Mode != ActiveStandby {
		s.noteServing("")
		return
	}
	c := s.currentChild()
	switch {
	case s.handedOver || (s.ho != nil && s.ho.h.phase == handoverDraining):
		s.setChoice(choice{why: "it hands over for its restart"})
	case c == nil || c.readyAt.IsZero() || c == s.stopping:
		// An instance whose child does not serve gives its place up: when it is back, it serves
		// only if no other instance does by then.
		s.setChoice(choice{why: "its child is not ready"})
	default:
		s.setChoice(choose(s.view, s.choice, time.Now(), s.offers.presumed))
	}
}

// setChoice records c; a change is logged and may move a planned restart's slot (the serving
// instance restarts after every standby).
func (s *Supervisor) setChoice(c choice) {
	was := s.choice.chosen
	s.choice = c
	role := roleStandby
	switch {
	case s.ho != nil || s.handedOver:
		role = roleHandingOver
	case c.chosen:
		role = roleActive
	}
	s.mu.Lock()
	s.chosen = c.chosen
	s.status.Role = role
	s.status.Handover = s.handoverText()
	s.mu.Unlock()
	if was != c.chosen {
		msg := "chosen to serve"
		if !c.chosen {
			msg = "no longer chosen to serve"
		}
		s.log.WithFields(logrus.Fields{"why": c.why, "instance": s.view.Self}).Info(msg)
		if s.plan != nil {
			s.schedule(true)
		}
	}
	s.noteServing(c.why)
}

// handoverText is Status.Handover.
func (s *Supervisor) handoverText() string {
	if s.ho == nil {
		if s.handedOver {
			return "restarting after handing over"
		}
		return ""
	}
	if s.ho.h.successor == "" {
		return string(s.ho.h.phase)
	}
	return string(s.ho.h.phase) + ", successor " + s.ho.h.successor
}

// noteServing reports a change of whether this instance takes traffic: chosen (or all-active)
// and its child ready and not being stopped.
func (s *Supervisor) noteServing(why string) {
	c := s.currentChild()
	now := c != nil && !c.readyAt.IsZero() && c != s.stopping && (s.cfg.Mode != ActiveStandby || s.choice.chosen)
	if now == s.servingNow {
		return
	}
	s.servingNow = now
	if why == "" {
		why = "its child's readiness changed"
	}
	s.emit(Event{Kind: EventServing, Serving: now, Detail: why})
}

// slotRank is the rank that sets this instance's restart slot: in active–standby the serving
// instance comes after every standby.
func (s *Supervisor) slotRank() int {
	rank := s.desired.rank
	if s.cfg.Mode == ActiveStandby && s.choice.chosen && rank >= 0 {
		rank = max(rank, len(s.view.All))
	}
	return rank
}

// mustHandOver reports whether a policy restart of this instance needs a handover: it serves in
// active–standby, and another instance runs that could take over.
func (s *Supervisor) mustHandOver() bool {
	return s.cfg.Mode == ActiveStandby && s.choice.chosen && len(s.view.others()) > 0 && !s.cfg.noHandover
}

// startHandover begins the handover under the gate just taken with an offer.
func (s *Supervisor) startHandover(release func(), reason RestartReason) {
	now := time.Now()
	s.ho = &handoverRun{h: handover{phase: handoverOffered, started: now, since: now}, release: release, reason: reason}
	s.ho.timer.arm(s.cfg.HandoverPoll)
	s.mu.Lock()
	s.status.GateHeld = true
	s.mu.Unlock()
	s.setChoice(s.choice) // role: handing over
	s.log.WithFields(logrus.Fields{"reason": reason, "timeout": s.cfg.HandoverTimeout.String()}).
		Info("restart needed while serving: offering this instance's place to a standby first")
}

// handoverTimer and handoverLook are the handover's channels, or nil.
func (s *Supervisor) handoverTimer() <-chan time.Time {
	if s.ho == nil {
		return nil
	}
	return s.ho.timer.fired()
}

func (s *Supervisor) handoverLook() <-chan successorAnswer {
	if s.ho == nil {
		return nil
	}
	return s.ho.look.ch()
}

// onHandoverTimer reads the gate for the claim.
func (s *Supervisor) onHandoverTimer(ctx context.Context) {
	s.ho.timer.stop()
	if s.ho.look != nil {
		return
	}
	g := s.handoverGate()
	s.ho.look = startCall(ctx, s.cfg.GateTimeout, func(ctx context.Context) successorAnswer {
		succ, held, err := g.Successor(ctx)
		return successorAnswer{successor: succ, held: held, err: err}
	})
}

// onHandoverLook steps the handover on the gate's answer and the current view.
func (s *Supervisor) onHandoverLook(a successorAnswer) {
	ho := s.ho
	ho.look.cancel()
	ho.look = nil
	c := s.currentChild()
	if c == nil {
		s.endHandover("the child is gone", false)
		return
	}
	if _, needed := restartNeeded(s.cfg.Policy, c.hosts, s.desired.hosts); !needed {
		s.endHandover("membership changed back", false)
		return
	}
	if a.err != nil {
		s.log.WithError(a.err).Debug("handover: the restart gate could not be read")
	}
	seen := handoverSeen{now: time.Now(), answered: a.err == nil, held: a.held, claimedBy: a.successor, view: s.view}
	before := ho.h.phase
	step := ho.h.step(seen, s.cfg.handoverTimings())
	ho.h = step.next
	if before == handoverOffered && ho.h.phase == handoverClaimed {
		s.log.WithFields(logrus.Fields{"successor": ho.h.successor, "delay": s.cfg.HandoverDelay.String()}).
			Info("a standby took over; both serve until the load balancer sees it")
		s.emit(Event{Kind: EventHandover, Peer: ho.h.successor})
	}
	switch step.act {
	case actWait:
		ho.timer.arm(max(time.Until(step.wake), 0))
		s.setChoice(s.choice)
	case actDrain:
		ho.timer.arm(max(time.Until(step.wake), 0))
		s.log.WithFields(logrus.Fields{"successor": ho.h.successor, "delay": s.cfg.HandoverDelay.String()}).
			Info("stopped serving; draining before the restart")
		s.rechoose()
	case actRestart:
		s.ho = nil
		s.handedOver = true
		s.log.WithFields(logrus.Fields{"successor": ho.h.successor, "handover": time.Since(ho.h.started).Round(time.Millisecond).String()}).
			Info("handover done: " + step.why)
		s.rechoose()
		s.beginPolicyStop(c, ho.reason, ho.release)
	case actAbort:
		s.endHandover(step.why, true)
	}
}

// endHandover calls the handover off: the gate goes back, this instance serves again when chosen,
// and with retry the restart is planned again after GateRetry.
func (s *Supervisor) endHandover(why string, retry bool) {
	ho := s.ho
	s.ho = nil
	ho.timer.stop()
	if ho.look != nil {
		ho.look.cancel()
	}
	ho.release()
	s.mu.Lock()
	s.status.GateHeld = false
	s.mu.Unlock()
	s.log.WithFields(logrus.Fields{"reason": ho.reason, "phase": ho.h.phase, "successor": ho.h.successor}).
		Warn("handover called off: " + why)
	s.emit(Event{Kind: EventHandoverOff, Peer: ho.h.successor, Detail: why})
	// Serve again, whatever the view says: this instance served when the handover began.
	if ho.h.phase == handoverDraining {
		s.choice = choice{chosen: true, why: "the handover was called off"}
	}
	s.rechoose()
	if retry && s.currentChild() != nil {
		s.planRestart()
		if s.plan != nil && s.plan.acquire == nil {
			s.plan.timer.arm(s.cfg.GateRetry)
		}
	}
}

// offerTimer, offerLook and claimDone are the offer poll's channels, or nil.
func (s *Supervisor) offerTimer() <-chan time.Time  { return s.offers.timer.fired() }
func (s *Supervisor) offerLook() <-chan offerAnswer { return s.offers.look.ch() }
func (s *Supervisor) claimDone() <-chan error       { return s.offers.claim.ch() }

// canClaim reports whether this instance may take another's place now: listed, its child ready,
// not in a restart or handover of its own. A standby with a restart of its own planned restarts
// first; an instance that serves already may claim anyway (two that serve and both need a
// restart would otherwise wait for each other).
func (s *Supervisor) canClaim() bool {
	c := s.currentChild()
	_, listed := s.view.find(s.view.Self)
	planOK := s.plan == nil || (s.choice.chosen && s.plan.acquire == nil)
	return listed && c != nil && c.isReady() && c != s.stopping && planOK && s.hold == nil &&
		s.ho == nil && !s.handedOver && s.offers.claim == nil
}

// onOfferTimer reads the gate's offer, unless this instance holds the gate itself.
func (s *Supervisor) onOfferTimer(ctx context.Context) {
	s.offers.timer.arm(s.cfg.HandoverPoll)
	if s.offers.look != nil || s.offers.claim != nil || s.ho != nil || s.hold != nil || s.handedOver {
		return
	}
	g := s.handoverGate()
	s.offers.look = startCall(ctx, s.cfg.GateTimeout, func(ctx context.Context) offerAnswer {
		from, ref, successor, err := g.Offered(ctx)
		return offerAnswer{from: from, ref: ref, successor: successor, err: err}
	})
}

// onOfferLook notes another instance's handover and its successor, and claims an unclaimed
// offer when this instance can take the place. The claim comes first and serving after it: a
// claim that loses the race never makes this instance serve for a moment (the load balancer's
// check could see that moment, and others step down for what it sees).
func (s *Supervisor) onOfferLook(ctx context.Context, a offerAnswer) {
	s.offers.look.cancel()
	s.offers.look = nil
	self := s.view.Self
	presumed := ""
	if a.err == nil && a.from != "" && a.from != self && a.successor != "" && a.successor != self {
		presumed = a.successor
	}
	if presumed != s.offers.presumed {
		s.offers.presumed = presumed
		s.rechoose()
	}
	if a.err != nil || a.from == "" || a.from == self || a.successor != "" || !s.canClaim() {
		return
	}
	s.offers.from = a.from
	g := s.handoverGate()
	from, ref := a.from, a.ref
	s.offers.claim = startCall(ctx, s.cfg.GateTimeout, func(ctx context.Context) error { return g.Claim(ctx, from, ref) })
	s.log.WithField("from", a.from).Info("an instance offers its place for its restart; claiming it")
}

// onClaimDone acts on the claim's outcome: taken, this instance serves from now on.
func (s *Supervisor) onClaimDone(err error) {
	s.offers.claim.cancel()
	s.offers.claim = nil
	from := s.offers.from
	if err != nil {
		s.log.WithError(err).WithField("from", from).Info("claim not taken")
		return
	}
	s.setChoice(claimChoice(s.view, time.Now().Add(s.cfg.suspectFor())))
	s.rechoose() // the child's readiness still decides: one that went away meanwhile fails its check
	s.log.WithField("from", from).Info("took over: this instance serves in its place")
	s.emit(Event{Kind: EventHandover, Peer: from, Took: true})
}

// stopStandby ends what active–standby runs in the background.
func (s *Supervisor) stopStandby() {
	s.offers.timer.stop()
	for _, c := range []context.CancelFunc{cancelOf(s.offers.look), cancelOf(s.offers.claim)} {
		if c != nil {
			c()
		}
	}
	if s.ho != nil {
		ho := s.ho
		s.ho = nil
		ho.timer.stop()
		if ho.look != nil {
			ho.look.cancel()
		}
		ho.release()
	}
}

func cancelOf[T any](c *call[T]) context.CancelFunc {
	if c == nil {
		return nil
	}
	return c.cancel
}
