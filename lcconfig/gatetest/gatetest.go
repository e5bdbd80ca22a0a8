// Package gatetest provides an in-memory lcconfig.RestartGate and lcconfig.HandoverGate for
// tests, shaped after the lease the real gate keeps in the replica set: one holder at a time, a
// hold that frees itself when its time passes, a holder's offer of its place that one other
// instance may claim, and a switch that makes the gate unavailable (as a set without primary
// does). It records every hold and every claim, so a test can check that none overlapped and none
// expired unreleased.
package gatetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrUnavailable is returned by Acquire when the gate is held or switched off. (lcconfig's own
// tests use this package, so it cannot wrap lcconfig.ErrGateUnavailable without an import cycle.)
var ErrUnavailable = errors.New("restart gate unavailable")

// Hold is one grant of the gate.
type Hold struct {
	// Holder is the name given to the Gate the lease came from (see For).
	Holder string
	// Acquired and Released are when the hold began and ended; Released is zero while held.
	Acquired, Released time.Time
	// Expired is true when the hold ended because its time passed, not by Release.
	Expired bool
	// Handover is true when the holder offered its place (AcquireHandover); Successor is the
	// instance that claimed it, empty if none did, and Claimed when.
	Handover  bool
	Successor string
	Claimed   time.Time
}

// Gate is the shared state; For returns the RestartGate one instance uses.
type Gate struct {
	mu          sync.Mutex
	unavailable bool
	current     *lease
	holds       []Hold
	refused     int
}

// New returns an available gate.
func New() *Gate { return &Gate{} }

// For returns the view of the gate an instance named holder uses; it implements
// lcconfig.RestartGate.
func (g *Gate) For(holder string) *Instance { return &Instance{g: g, holder: holder} }

// SetAvailable switches the gate; an unavailable gate refuses every Acquire (a held lease stays).
func (g *Gate) SetAvailable(ok bool) {
	g.mu.Lock()
	g.unavailable = !ok
	g.mu.Unlock()
}

// Holds returns every hold so far, in the order they were granted.
func (g *Gate) Holds() []Hold {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.expireLocked(time.Now())
	return append([]Hold(nil), g.holds...)
}

// Refused is how many Acquire calls were refused.
func (g *Gate) Refused() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.refused
}

// Held reports whether some instance holds the gate now.
func (g *Gate) Held() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.expireLocked(time.Now())
	return g.current != nil
}

type lease struct {
	g       *Gate
	index   int
	expires time.Time
	once    sync.Once
}

// ref names a hold in offers.
func (l *lease) ref() string { return fmt.Sprint(l.index) }

func (l *lease) release() {
	l.once.Do(func() {
		l.g.mu.Lock()
		defer l.g.mu.Unlock()
		if l.g.current == l {
			l.g.current = nil
			l.g.holds[l.index].Released = time.Now()
		}
	})
}

// expireLocked ends a hold whose time has passed.
func (g *Gate) expireLocked(now time.Time) {
	if g.current != nil && !now.Before(g.current.expires) {
		h := &g.holds[g.current.index]
		h.Released, h.Expired = g.current.expires, true
		g.current = nil
	}
}

// Instance is one instance's view of the gate.
type Instance struct {
	g      *Gate
	holder string

	mu  sync.Mutex
	cur *lease // the hold this instance was last granted
}

// Acquire grants the gate for hold when it is free and available.
func (ig *Instance) Acquire(ctx context.Context, hold time.Duration) (release func(), err error) {
	return ig.acquire(ctx, hold, false)
}

// AcquireHandover is Acquire with an offer of this instance's place.
func (ig *Instance) AcquireHandover(ctx context.Context, hold time.Duration) (release func(), err error) {
	return ig.acquire(ctx, hold, true)
}

// Successor returns who claimed this instance's current offer, and whether it still holds the
// gate.
func (ig *Instance) Successor(ctx context.Context) (string, bool, error) {
	if err := ig.check(ctx); err != nil {
		return "", false, err
	}
	ig.mu.Lock()
	cur := ig.cur
	ig.mu.Unlock()
	g := ig.g
	g.mu.Lock()
	defer g.mu.Unlock()
	g.expireLocked(time.Now())
	if cur == nil || g.current != cur {
		return "", false, nil
	}
	return g.holds[cur.index].Successor, true, nil
}

// Offered returns the holder's offer, if any, with who claimed it.
func (ig *Instance) Offered(ctx context.Context) (from, ref, successor string, err error) {
	if err := ig.check(ctx); err != nil {
		return "", "", "", err
	}
	g := ig.g
	g.mu.Lock()
	defer g.mu.Unlock()
	g.expireLocked(time.Now())
	if g.current == nil {
		return "", "", "", nil
	}
	h := g.holds[g.current.index]
	if !h.Handover {
		return "", "", "", nil
	}
	return h.Holder, g.current.ref(), h.Successor, nil
}

// Claim takes the offer of from, named ref by Offered, if it still stands unclaimed.
func (ig *Instance) Claim(ctx context.Context, from, ref string) error {
	if err := ig.check(ctx); err != nil {
		return err
	}
	g := ig.g
	g.mu.Lock()
	defer g.mu.Unlock()
	g.expireLocked(time.Now())
	if g.current == nil || g.current.ref() != ref {
		return fmt.Errorf("%w: the offer of %s was withdrawn", ErrUnavailable, from)
	}
	h := &g.holds[g.current.index]
	if !h.Handover || h.Holder == ig.holder {
		return fmt.Errorf("%w: %s offers no handover to %s", ErrUnavailable, h.Holder, ig.holder)
	}
	if h.Successor != "" {
		return fmt.Errorf("%w: the offer of %s was claimed by %s", ErrUnavailable, from, h.Successor)
	}
	h.Successor, h.Claimed = ig.holder, time.Now()
	return nil
}

// check refuses a call on an ended context or an unavailable gate.
func (ig *Instance) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ig.g.mu.Lock()
	defer ig.g.mu.Unlock()
	if ig.g.unavailable {
		return fmt.Errorf("%w: no primary", ErrUnavailable)
	}
	return nil
}

func (ig *Instance) acquire(ctx context.Context, hold time.Duration, handover bool) (release func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	g := ig.g
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	g.expireLocked(now)
	switch {
	case g.unavailable:
		g.refused++
		return nil, fmt.Errorf("%w: no primary", ErrUnavailable)
	case g.current != nil:
		g.refused++
		return nil, fmt.Errorf("%w: held by %s", ErrUnavailable, g.holds[g.current.index].Holder)
	}
	l := &lease{g: g, index: len(g.holds), expires: now.Add(hold)}
	g.holds = append(g.holds, Hold{Holder: ig.holder, Acquired: now, Handover: handover})
	g.current = l
	ig.mu.Lock()
	ig.cur = l
	ig.mu.Unlock()
	return l.release, nil
}
