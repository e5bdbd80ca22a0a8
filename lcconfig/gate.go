package lcconfig

import (
	"context"
	"errors"
	"time"
)

// RestartGate lets at most one instance of a Let's Chat service be down for a policy restart at a
// time, whatever each instance's view of metadata. A Supervisor acquires it before it stops a
// running child for a policy restart and holds it until the replacement is ready again (or a bound
// passes); crash restarts of a child that is already dead never ask for it.
//
// Implementations must be safe when instances disagree and when the gate's store cannot decide (a
// replica set without primary): then Acquire fails, and the supervisor retries later rather than
// restart without it.
type RestartGate interface {
	// Acquire asks for the gate for at most hold, after which it frees itself even if it was never
	// released (the holder may have died). On success it returns release, which gives the gate
	// back early; release is called once, must not block long, and reports nothing (the hold
	// expires anyway). It returns an error (ErrGateUnavailable, possibly wrapped, by convention)
	// when another instance holds the gate or the gate cannot be consulted, and must return when
	// ctx ends.
	Acquire(ctx context.Context, hold time.Duration) (release func(), err error)
}

// ErrGateUnavailable is what a RestartGate returns, wrapped, when it cannot be acquired now.
var ErrGateUnavailable = errors.New("restart gate unavailable")

// openGate is the gate of a supervisor configured without one: always free. Restarts are then
// spread only by rank × stagger.
type openGate struct{}

func (openGate) Acquire(context.Context, time.Duration) (func(), error) { return func() {}, nil }

// HandoverGate is a RestartGate through which the serving instance of an active–standby service
// hands its traffic to a standby before its own policy restart, so that some instance serves at
// every moment. The request and its answer live in the gate's store (the lease document of the
// real gate), never in metadata: both sides read the same record.
//
// The serving instance takes the gate with AcquireHandover, which also offers its place; a warm
// standby that sees the offer (Offered) claims it (Claim) and serves from then on; the holder reads
// who claimed it (Successor) and stops serving only once the successor has served long enough for
// the load balancer to see it. The other instances read the claim too (Offered), and do not start
// serving on their own while it stands: the successor serves. Every method returns an error wrapping ErrGateUnavailable when the
// store cannot decide (no primary), and must return when ctx ends.
type HandoverGate interface {
	RestartGate
	// AcquireHandover is Acquire for the serving instance: the lease it takes also offers its
	// place to a successor.
	AcquireHandover(ctx context.Context, hold time.Duration) (release func(), err error)
	// Successor returns who claimed the offer of this instance's current hold ("" while no one
	// has), and held false when this instance no longer holds the gate (its hold expired, or
	// another instance took it over).
	Successor(ctx context.Context) (successor string, held bool, err error)
	// Offered returns the handover the gate's holder offers, if any: from is the instance that
	// offers its place ("" when there is no offer), ref names its hold for Claim (only the gate
	// interprets it), and successor is who claimed it ("" while no one has).
	Offered(ctx context.Context) (from, ref, successor string, err error)
	// Claim takes the offer Offered returned: this instance now serves in from's place. It fails,
	// wrapping ErrGateUnavailable, when the offer was claimed by another instance or withdrawn.
	Claim(ctx context.Context, from, ref string) error
}
