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
