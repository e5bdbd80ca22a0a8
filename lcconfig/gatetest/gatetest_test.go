package gatetest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/replset-agent/replset-agent/lcconfig"
	"github.com/replset-agent/replset-agent/lcconfig/gatetest"
)

var _ lcconfig.RestartGate = (*gatetest.Instance)(nil)

func TestGate(t *testing.T) {
	g := gatetest.New()
	a, b := g.For("a"), g.For("b")
	ctx := context.Background()
	la, err := a.Acquire(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Acquire(ctx, time.Hour); !errors.Is(err, gatetest.ErrUnavailable) {
		t.Fatalf("second holder: %v, want ErrGateUnavailable", err)
	}
	la()
	la() // twice is harmless
	lb, err := b.Acquire(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	lb()

	g.SetAvailable(false)
	if _, err := a.Acquire(ctx, time.Hour); !errors.Is(err, gatetest.ErrUnavailable) {
		t.Fatalf("unavailable gate: %v", err)
	}
	g.SetAvailable(true)

	// A hold that is not released frees itself when its time passes.
	if _, err := a.Acquire(ctx, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for g.Held() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	lc, err := b.Acquire(ctx, time.Hour)
	if err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	lc()

	holds := g.Holds()
	if len(holds) != 4 || holds[0].Holder != "a" || holds[1].Holder != "b" || !holds[2].Expired || holds[3].Expired {
		t.Fatalf("holds %+v", holds)
	}
	if g.Refused() != 2 {
		t.Fatalf("refused %d, want 2", g.Refused())
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := a.Acquire(cancelled, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: %v", err)
	}
}

var _ lcconfig.HandoverGate = (*gatetest.Instance)(nil)

func TestGate_handover(t *testing.T) {
	g := gatetest.New()
	a, b, c := g.For("a"), g.For("b"), g.For("c")
	ctx := context.Background()
	if from, _, _, err := b.Offered(ctx); from != "" || err != nil {
		t.Fatalf("an offer with no holder: %q %v", from, err)
	}
	// A plain hold offers nothing.
	rel, err := a.Acquire(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if from, _, _, _ := b.Offered(ctx); from != "" {
		t.Fatal("a plain hold offered a handover")
	}
	rel()
	rel, err = a.AcquireHandover(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	from, ref, succ, err := b.Offered(ctx)
	if err != nil || from != "a" || ref == "" || succ != "" {
		t.Fatalf("offer seen by b: %q %q %q %v", from, ref, succ, err)
	}
	if succ, held, err := a.Successor(ctx); succ != "" || !held || err != nil {
		t.Fatalf("successor before any claim: %q %v %v", succ, held, err)
	}
	if err := b.Claim(ctx, from, ref); err != nil {
		t.Fatal(err)
	}
	if err := c.Claim(ctx, from, ref); !errors.Is(err, gatetest.ErrUnavailable) {
		t.Fatalf("a second claim: %v", err)
	}
	if from, _, succ, _ := c.Offered(ctx); from != "a" || succ != "b" {
		t.Fatalf("the claimed offer reads %q claimed by %q", from, succ)
	}
	if succ, held, err := a.Successor(ctx); succ != "b" || !held || err != nil {
		t.Fatalf("successor: %q %v %v", succ, held, err)
	}
	rel()
	if _, held, _ := a.Successor(ctx); held {
		t.Fatal("still held after release")
	}
	if err := c.Claim(ctx, from, ref); !errors.Is(err, gatetest.ErrUnavailable) {
		t.Fatalf("claim of a withdrawn offer: %v", err)
	}
	if from, _, _, _ := c.Offered(ctx); from != "" {
		t.Fatal("an offer outlived its hold")
	}
	g.SetAvailable(false)
	if _, _, _, err := b.Offered(ctx); !errors.Is(err, gatetest.ErrUnavailable) {
		t.Fatalf("offered without a primary: %v", err)
	}
	holds := g.Holds()
	if len(holds) != 2 || holds[0].Handover || !holds[1].Handover || holds[1].Successor != "b" || holds[1].Claimed.IsZero() {
		t.Fatalf("holds %+v", holds)
	}
}
