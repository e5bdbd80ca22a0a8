package lcconfig

import (
	"fmt"
	"time"
)

// The handover is how the serving instance of an active–standby service gets out of the way of
// its own policy restart without a moment where no instance serves. It runs under the restart
// gate, which the serving instance takes with its place on offer:
//
//	offered   the gate is held; a warm standby (child ready, no restart of its own pending) that
//	          sees the offer starts serving, then claims it in the gate's store
//	claimed   the successor serves; this instance still serves too, for HandoverDelay, so that
//	          the load balancer's check has seen the successor pass (and while the caller's view
//	          still shows the successor failing that check, a little longer)
//	draining  this instance stops serving and waits HandoverDelay more, so that the load
//	          balancer's check has seen it fail and sends it no new requests
//	then      the policy restart proper: SIGTERM, the replacement, the gate held until it is
//	          ready, then released; the successor keeps serving
//
// A successor that leaves, stops running or fails its check before the restart, a gate that is
// lost, or no claim within HandoverTimeout ends the handover: this instance serves again and the
// restart is tried later.

// handoverPhase is where a handover stands.
type handoverPhase string

const (
	handoverOffered  handoverPhase = "offered"
	handoverClaimed  handoverPhase = "claimed"
	handoverDraining handoverPhase = "draining"
)

// handover is the serving instance's side of one handover.
type handover struct {
	phase     handoverPhase
	started   time.Time // when the gate was taken with the offer
	since     time.Time // when the current phase began
	successor string    // who claimed the offer
}

// handoverTimings are the handover's durations (SupervisorConfig's).
type handoverTimings struct {
	delay   time.Duration // HandoverDelay: the load balancer's reaction time
	timeout time.Duration // HandoverTimeout: offer to draining, at most
	poll    time.Duration // HandoverPoll: how often the gate is read
}

// handoverSeen is what one look at the world says: the gate's answer and this instance's view.
type handoverSeen struct {
	now time.Time
	// answered is false when the gate could not be read (no primary): nothing new is known.
	answered bool
	// held is false when this instance's hold ended (expired, taken over).
	held bool
	// claimedBy is who claimed the offer; "" while no one has.
	claimedBy string
	view      Instances
}

// handoverAct is what the supervisor does after a step.
type handoverAct int

const (
	// actWait: look again at wake.
	actWait handoverAct = iota
	// actDrain: stop serving, then look again at wake.
	actDrain
	// actRestart: stop the child for the policy restart (the handover is over).
	actRestart
	// actAbort: serve again, give the gate back, try the restart later.
	actAbort
)

// handoverStep is one step's outcome.
type handoverStep struct {
	next handover
	act  handoverAct
	wake time.Time
	why  string
}

// step advances the handover on what was just seen. It is a pure function of its inputs.
func (h handover) step(s handoverSeen, t handoverTimings) handoverStep {
	wait := func(at time.Time, why string) handoverStep {
		// Never sleep past the next poll: the gate and the view are read at each wake.
		if limit := s.now.Add(t.poll); at.After(limit) || !at.After(s.now) {
			at = limit
		}
		return handoverStep{next: h, act: actWait, wake: at, why: why}
	}
	abort := func(why string) handoverStep { return handoverStep{next: h, act: actAbort, why: why} }
	if s.answered && !s.held {
		return abort("this instance no longer holds the restart gate")
	}
	switch h.phase {
	case handoverOffered:
		if s.answered && s.claimedBy != "" {
			h.phase, h.since, h.successor = handoverClaimed, s.now, s.claimedBy
			return wait(s.now.Add(t.delay), "instance "+s.claimedBy+" took over; both serve while the load balancer sees it")
		}
		if s.now.Sub(h.started) >= t.timeout {
			return abort(fmt.Sprintf("no standby took over within %s", t.timeout))
		}
		return wait(s.now.Add(t.poll), "waiting for a standby to take over")
	case handoverClaimed, handoverDraining:
		if s.answered && s.claimedBy != h.successor {
			return abort("the claim of " + h.successor + " is gone from the gate")
		}
		succ, found := s.view.find(h.successor)
		switch {
		case !found:
			return abort("the successor " + h.successor + " left")
		case !succ.Running:
			return abort("the successor " + h.successor + " is not running")
		}
		// Moving on needs a fresh word from the gate: without one (no primary) the handover
		// waits, up to its deadline.
		deadline := h.started.Add(t.timeout + t.delay)
		if !s.answered && s.now.Before(deadline) {
			return wait(s.now.Add(t.poll), "the restart gate cannot be read; waiting")
		} else if !s.answered {
			return abort("the restart gate could not be read before the handover's deadline")
		}
		if h.phase == handoverDraining {
			if succ.Health == Unhealthy {
				return abort("the successor " + h.successor + " fails its check")
			}
			if s.now.Sub(h.since) < t.delay {
				return wait(h.since.Add(t.delay), "draining: the load balancer stops sending requests here")
			}
			return handoverStep{next: h, act: actRestart, why: "the successor " + h.successor + " serves and this instance has drained"}
		}
		if s.now.Sub(h.since) < t.delay {
			return wait(h.since.Add(t.delay), "both serve while the load balancer sees the successor")
		}
		if succ.Health == Unhealthy {
			// The view still shows the standby's failing check: the load balancer may not route
			// to it yet either.
			if s.now.Sub(h.started) >= t.timeout {
				return abort(fmt.Sprintf("the successor %s was not seen passing its check within %s", h.successor, t.timeout))
			}
			return wait(s.now.Add(t.poll), "waiting to see the successor "+h.successor+" pass its check")
		}
		h.phase, h.since = handoverDraining, s.now
		return handoverStep{next: h, act: actDrain, wake: s.now.Add(t.delay), why: "the successor " + h.successor + " serves; draining"}
	}
	return abort("unknown handover phase " + string(h.phase))
}
