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
