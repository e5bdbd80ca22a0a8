package restartlease

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.uber.org/goleak"

	"github.com/replset-agent/replset-agent/bootstrap"
	"github.com/replset-agent/replset-agent/lcconfig"
	"github.com/replset-agent/replset-agent/mongotest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// set is a replica set for the tests: the emulator, or real mongod with MONGOD_BIN.
type set struct {
	c     mongotest.Cluster
	addrs []string
	cred  *options.Credential
}

func newSet(t *testing.T, n int, auth bool) *set {
	t.Helper()
	c := mongotest.New(t, mongotest.Options{SetName: "lease", Auth: auth})
	s := &set{c: c, addrs: mongotest.Addrs(t, n)}
	for _, a := range s.addrs {
		if err := c.StartNode(a); err != nil {
			t.Fatal(err)
		}
	}
	members := bson.A{}
	for i, a := range s.addrs {
		members = append(members, bson.D{{Key: "_id", Value: i}, {Key: "host", Value: a}})
	}
	cfg := bson.D{{Key: "_id", Value: "lease"}, {Key: "members", Value: members},
		{Key: "settings", Value: bson.D{{Key: "electionTimeoutMillis", Value: 1000}}}}
	direct, err := mongo.Connect(options.Client().SetHosts(s.addrs[:1]).SetDirect(true).SetServerSelectionTimeout(10 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = direct.Disconnect(context.Background()) }()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := direct.Database("admin").RunCommand(ctx, bson.D{{Key: "replSetInitiate", Value: cfg}}).Err(); err != nil {
		t.Fatalf("initiate: %v", err)
	}
	s.primary(t)
	return s
}

// primary waits for a writable primary and returns it.
func (s *set) primary(t *testing.T) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		for _, a := range s.addrs {
			c, err := mongo.Connect(options.Client().SetHosts([]string{a}).SetDirect(true).SetServerSelectionTimeout(time.Second))
			if err != nil {
				continue
			}
			var h struct {
				IsWritablePrimary bool `bson:"isWritablePrimary"`
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			err = c.Database("admin").RunCommand(ctx, bson.D{{Key: "hello", Value: 1}}).Decode(&h)
			cancel()
			_ = c.Disconnect(context.Background())
			if err == nil && h.IsWritablePrimary {
				return a
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no primary")
	return ""
}

// client connects to the set as one agent does: from the member list, discovering the primary.
func (s *set) client(t *testing.T) *mongo.Client {
	t.Helper()
	o := options.Client().SetHosts(s.addrs).SetReplicaSet("lease").SetServerSelectionTimeout(2 * time.Second)
	if s.cred != nil {
		o.SetAuth(*s.cred)
	}
	c, err := mongo.Connect(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(context.Background()) })
	return c
}

// lease returns holder's Lease on its own client, closed when the test ends.
func (s *set) lease(t *testing.T, holder string, ttl time.Duration) *Lease {
	t.Helper()
	l, err := New(Config{Collection: s.client(t).Database("letschat").Collection(DefaultCollection), Name: "e2e/letschat", Holder: holder, TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		l.Close(ctx)
	})
	return l
}

func ctxT(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

func mustAcquire(t *testing.T, l *Lease, hold time.Duration) func() {
	t.Helper()
	ctx, cancel := ctxT(10 * time.Second)
	defer cancel()
	rel, err := l.Acquire(ctx, hold)
	if err != nil {
		t.Fatalf("%s: %v", l.cfg.Holder, err)
	}
	return rel
}

func mustRefuse(t *testing.T, l *Lease, why string) {
	t.Helper()
	ctx, cancel := ctxT(10 * time.Second)
	defer cancel()
	rel, err := l.Acquire(ctx, time.Hour)
	if err == nil {
		rel()
		t.Fatalf("%s acquired the lease; want refused (%s)", l.cfg.Holder, why)
	}
	if !errors.Is(err, lcconfig.ErrGateUnavailable) {
		t.Fatalf("%s: %v, want ErrGateUnavailable", l.cfg.Holder, err)
	}
}

// acquireEventually asks every 50 ms until l gets the lease; it returns the release and when.
func acquireEventually(t *testing.T, l *Lease, within time.Duration) (func(), time.Time) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := ctxT(10 * time.Second)
		rel, err := l.Acquire(ctx, time.Hour)
		cancel()
		if err == nil {
			return rel, time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never got the lease: %v", l.cfg.Holder, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Contenders that take and give back the lease as fast as they can never hold it at once, and
// each gets it in turn.
func TestLease_twoNeverHoldAtOnce(t *testing.T) {
	s := newSet(t, 1, false)
	type span struct {
		holder     string
		start, end time.Time
	}
	var mu sync.Mutex
	var spans []span
	var wg sync.WaitGroup
	for i := range 3 {
		l := s.lease(t, fmt.Sprintf("c%d", i), 2*time.Second)
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			got := 0
			for deadline := time.Now().Add(90 * time.Second); got < 4 && time.Now().Before(deadline); {
				ctx, cancel := ctxT(10 * time.Second)
				rel, err := l.Acquire(ctx, time.Hour)
				cancel()
				if err != nil {
					time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
					continue
				}
				// The hold counts from the acknowledgement to the moment release is called:
				// the write behind it may still be on its way.
				start := time.Now()
				time.Sleep(time.Duration(10+rng.IntN(40)) * time.Millisecond)
				end := time.Now()
				rel()
				got++
				mu.Lock()
				spans = append(spans, span{l.cfg.Holder, start, end})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	count := map[string]int{}
	slices.SortFunc(spans, func(a, b span) int { return a.start.Compare(b.start) })
	for i, a := range spans {
		count[a.holder]++
		if i > 0 && spans[i-1].end.After(a.start) {
			t.Fatalf("%s held the lease from %s while %s held it until %s", a.holder, a.start.Format("15:04:05.000000"), spans[i-1].holder, spans[i-1].end.Format("15:04:05.000000"))
		}
	}
	for i := range 3 {
		if count[fmt.Sprintf("c%d", i)] < 4 {
			t.Errorf("holds per contender %v, want 4 each", count)
			break
		}
	}
}

// A released lease is free at once: the next contender gets it without waiting out any TTL.
func TestLease_release(t *testing.T) {
	s := newSet(t, 1, false)
	a, b := s.lease(t, "a", time.Hour), s.lease(t, "b", time.Hour)
	rel := mustAcquire(t, a, time.Hour)
	mustRefuse(t, b, "held by a")
	rel()
	rel() // twice is harmless
	relB, _ := acquireEventually(t, b, 30*time.Second)
	mustRefuse(t, a, "held by b")
	relB()
}

// A holder that stops renewing (it died) is taken over, but only after the observer has seen its
// last state unchanged for the TTL on its own clock; the old holder learns it lost it.
func TestLease_takeoverAfterExpiry(t *testing.T) {
	s := newSet(t, 1, false)
	ttl := time.Second
	a, b := s.lease(t, "a", ttl), s.lease(t, "b", ttl)
	mustAcquire(t, a, time.Hour)
	// a renews while it lives: b never gets the lease, however long it tries.
	for range 3 * int(ttl/(200*time.Millisecond)) {
		mustRefuse(t, b, "a renews it")
		time.Sleep(200 * time.Millisecond)
	}
	a.mu.Lock()
	a.hold.end() // a dies: no more renewals, no release
	a.mu.Unlock()
	// The first look at the dead lease starts the clock.
	firstLook := time.Now()
	mustRefuse(t, b, "first sighting")
	_, gotAt := acquireEventually(t, b, 60*time.Second)
	if waited := gotAt.Sub(firstLook); waited < ttl {
		t.Fatalf("b took the lease over %s after first seeing it dead, before the %s TTL", waited, ttl)
	}
	ctx, cancel := ctxT(10 * time.Second)
	defer cancel()
	if _, held, err := a.Successor(ctx); held || err != nil {
		t.Fatalf("the dead holder still believes it holds it: held=%v err=%v", held, err)
	}
}

// A hold ends by itself: renewals stop after the hold asked for, and the lease lapses a TTL later.
func TestLease_holdLapses(t *testing.T) {
	s := newSet(t, 1, false)
	ttl := 500 * time.Millisecond
	a, b := s.lease(t, "a", ttl), s.lease(t, "b", ttl)
	mustAcquire(t, a, 300*time.Millisecond) // never released
	_, gotAt := acquireEventually(t, b, 60*time.Second)
	if gotAt.IsZero() {
		t.Fatal("never lapsed")
	}
	// An agent that restarts takes its own lease back at once, whatever the TTL.
	b2 := s.lease(t, "b", time.Hour)
	mustAcquire(t, b2, time.Hour)
}

// The primary fails while the lease is held: the majority-acknowledged lease is on the new
// primary, the holder keeps renewing it there, nobody else gets it, and it is released normally.
func TestLease_survivesFailover(t *testing.T) {
	s := newSet(t, 3, false)
	ttl := 3 * time.Second
	a, b := s.lease(t, "a", ttl), s.lease(t, "b", ttl)
	rel := mustAcquire(t, a, time.Hour)
	old := s.primary(t)
	if err := s.c.CrashNode(old); err != nil {
		t.Fatal(err)
	}
	now := s.primary(t)
	if now == old {
		t.Fatalf("%s is still primary", old)
	}
	// Past several TTLs on the new primary, the lease is still a's, renewed.
	for deadline := time.Now().Add(3 * ttl); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		mustRefuse(t, b, "a holds it across the failover")
	}
	ctx, cancel := ctxT(10 * time.Second)
	defer cancel()
	if _, held, err := a.Successor(ctx); !held || err != nil {
		t.Fatalf("a lost its lease in the failover: held=%v err=%v", held, err)
	}
	rel()
	acquireEventually(t, b, 30*time.Second)
}

// Without a majority the lease cannot be taken: no policy restart. With it back, it can.
func TestLease_noMajorityNoLease(t *testing.T) {
	s := newSet(t, 3, false)
	a := s.lease(t, "a", time.Second)
	p := s.primary(t)
	var down []string
	for _, x := range s.addrs {
		if x != p {
			down = append(down, x)
			if err := s.c.CrashNode(x); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Whether the lone node still believes it is primary (the write waits for a majority that
	// never comes) or has stepped down (no primary to write to), the lease is not had.
	for range 3 {
		ctx, cancel := ctxT(3 * time.Second)
		rel, err := a.Acquire(ctx, time.Hour)
		cancel()
		if err == nil {
			rel()
			t.Fatal("the lease was taken without a majority")
		}
		if !errors.Is(err, lcconfig.ErrGateUnavailable) {
			t.Fatalf("without a majority: %v, want ErrGateUnavailable", err)
		}
	}
	for _, x := range down {
		if err := s.c.StartNode(x); err != nil {
			t.Fatal(err)
		}
	}
	s.primary(t)
	// The write a refused Acquire left behind (applied on the lone node, never acknowledged) may
	// hold the lease for a: a takes it back as its own.
	acquireEventually(t, a, 60*time.Second)
}

// The handover through the lease: the holder offers its place, one standby claims it, another
// cannot, the holder reads who did; the release withdraws the offer.
func TestLease_handover(t *testing.T) {
	s := newSet(t, 1, false)
	a, b, c := s.lease(t, "a", time.Hour), s.lease(t, "b", time.Hour), s.lease(t, "c", time.Hour)
	ctx, cancel := ctxT(30 * time.Second)
	defer cancel()
	if from, _, _, err := b.Offered(ctx); from != "" || err != nil {
		t.Fatalf("an offer before any hold: %q %v", from, err)
	}
	rel, err := a.AcquireHandover(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	from, ref, succ, err := b.Offered(ctx)
	if err != nil || from != "a" || ref == "" || succ != "" {
		t.Fatalf("offer seen by b: %q %q %q %v", from, ref, succ, err)
	}
	if succ, held, err := a.Successor(ctx); succ != "" || !held || err != nil {
		t.Fatalf("before the claim: %q %v %v", succ, held, err)
	}
	if err := b.Claim(ctx, from, ref); err != nil {
		t.Fatal(err)
	}
	if err := c.Claim(ctx, from, ref); !errors.Is(err, lcconfig.ErrGateUnavailable) {
		t.Fatalf("a second claim: %v", err)
	}
	if from, _, succ, _ := c.Offered(ctx); from != "a" || succ != "b" {
		t.Fatalf("the claim reads %q claimed by %q", from, succ)
	}
	if succ, held, err := a.Successor(ctx); succ != "b" || !held || err != nil {
		t.Fatalf("after the claim: %q %v %v", succ, held, err)
	}
	rel()
	relB, _ := acquireEventually(t, b, 30*time.Second)
	if err := c.Claim(ctx, from, ref); err == nil {
		t.Fatal("an old offer was claimable after its hold ended")
	}
	// A plain hold offers nothing.
	if from, _, _, _ := c.Offered(ctx); from != "" {
		t.Fatal("a plain hold offered a handover")
	}
	relB()
}

// With access control on, the application's user (readWrite on the chat database only) keeps
// the lease there.
func TestLease_applicationUser(t *testing.T) {
	s := newSet(t, 1, true)
	admin := bootstrap.Credential{Username: "admin", Password: "admin-secret-1"}
	app := bootstrap.Credential{Username: "letschat", Password: "app-secret-2"}
	boot, err := bootstrap.New(bootstrap.Config{Address: s.primary(t), Admin: admin, App: app, AppDatabase: "letschat", Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := ctxT(60 * time.Second)
	defer cancel()
	if res, err := boot.Step(ctx); err != nil || !res.Done {
		t.Fatalf("bootstrap: %+v %v", res, err)
	}
	s.cred = &options.Credential{Username: app.Username, Password: app.Password, AuthSource: "admin"}
	a, b := s.lease(t, "a", time.Hour), s.lease(t, "b", time.Hour)
	rel, err := a.AcquireHandover(ctx, time.Hour)
	if err != nil {
		t.Fatalf("the application user cannot take the lease: %v", err)
	}
	from, ref, _, err := b.Offered(ctx)
	if from == "" || err != nil {
		t.Fatalf("offered: %q %v", from, err)
	}
	if err := b.Claim(ctx, from, ref); err != nil {
		t.Fatal(err)
	}
	rel()
	acquireEventually(t, b, 30*time.Second)
}

// Moved to another client (the agent reseeds it when the members change), a hold keeps being
// renewed and released through the new one; the old client may go.
func TestLease_setCollection(t *testing.T) {
	s := newSet(t, 1, false)
	ttl := time.Second
	a, b := s.lease(t, "a", ttl), s.lease(t, "b", ttl)
	rel := mustAcquire(t, a, time.Hour)
	old := a.collection().Database().Client()
	a.SetCollection(s.client(t).Database("letschat").Collection(DefaultCollection))
	if err := old.Disconnect(context.Background()); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(3 * ttl); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		mustRefuse(t, b, "a renews it through its new client")
	}
	rel()
	acquireEventually(t, b, 30*time.Second)
}
