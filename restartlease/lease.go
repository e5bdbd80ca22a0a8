package restartlease

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"

	"github.com/replset-agent/replset-agent/lcconfig"
)

// DefaultTTL is Config.TTL's default: above a mongod election (10 s) plus a renewal interval.
const DefaultTTL = 30 * time.Second

// DefaultCollection is the collection the agent keeps its leases in, in the chat database.
const DefaultCollection = "replset_agent_leases"

// Config configures a Lease.
type Config struct {
	// Collection holds the lease documents. Its database's write concern and read preference
	// are replaced: writes are w:majority, reads from the primary.
	Collection *mongo.Collection
	// Name is the lease's _id: one lease per Let's Chat service.
	Name string
	// Holder names this instance, the same as in the other instances' views; unique among them.
	Holder string
	// TTL is how long an unchanged lease held by another instance must have been seen before it
	// is taken over; the holder renews every TTL/3. Zero means DefaultTTL.
	TTL time.Duration
	// Logger receives one line per decision; nil discards.
	Logger logrus.FieldLogger
}

// Lease is one instance's handle on the lease; it implements lcconfig.HandoverGate. Its methods
// may be called from any goroutine.
type Lease struct {
	cfg Config
	log logrus.FieldLogger
	now func() time.Time

	mu   sync.Mutex
	coll *mongo.Collection
	obs  observation
	hold *hold // the current hold; nil when none

	bg     sync.WaitGroup // renewals and releases in flight
	closed chan struct{}
	once   sync.Once
}

// hold is one grant of the lease to this instance.
type hold struct {
	token   string
	stop    chan struct{} // closed to end the renewals
	stopped sync.Once
}

var (
	_ lcconfig.RestartGate  = (*Lease)(nil)
	_ lcconfig.HandoverGate = (*Lease)(nil)
)

// New checks cfg and returns a Lease; it does not touch the set.
func New(cfg Config) (*Lease, error) {
	switch {
	case cfg.Collection == nil:
		return nil, errors.New("restartlease: no collection")
	case cfg.Name == "":
		return nil, errors.New("restartlease: no lease name")
	case cfg.Holder == "":
		return nil, errors.New("restartlease: no holder name")
	case cfg.TTL < 0:
		return nil, errors.New("restartlease: negative TTL")
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Logger == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		cfg.Logger = l
	}
	return &Lease{
		cfg:    cfg,
		coll:   majority(cfg.Collection),
		log:    cfg.Logger.WithFields(logrus.Fields{"component": "restart-lease", "lease": cfg.Name}),
		now:    time.Now,
		closed: make(chan struct{}),
	}, nil
}

// majority is c with w:majority writes and primary reads.
func majority(c *mongo.Collection) *mongo.Collection {
	return c.Database().Collection(c.Name(), options.Collection().SetWriteConcern(writeconcern.Majority()).SetReadPreference(readpref.Primary()))
}

// SetCollection moves the lease to c, the same collection through another client (one seeded
// with the set's current members, when the old client's seeds are all gone): holds, renewals and
// observations carry on.
func (l *Lease) SetCollection(c *mongo.Collection) {
	l.mu.Lock()
	l.coll = majority(c)
	l.mu.Unlock()
}

func (l *Lease) collection() *mongo.Collection {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.coll
}

// Close ends this instance's renewals and waits for writes in flight; a hold still held is given
// back first (best effort, bounded by ctx).
func (l *Lease) Close(ctx context.Context) {
	l.mu.Lock()
	h := l.hold
	l.hold = nil
	l.mu.Unlock()
	if h != nil {
		h.end()
		l.write(ctx, "release", releaseFilter(l.cfg.Name, l.cfg.Holder, h.token), releaseUpdate())
	}
	l.once.Do(func() { close(l.closed) })
	l.bg.Wait()
}

// unavailable wraps lcconfig.ErrGateUnavailable with why.
func unavailable(format string, args ...any) error {
	return fmt.Errorf("%w: %s", lcconfig.ErrGateUnavailable, fmt.Sprintf(format, args...))
}

// Acquire takes the lease for at most hold: renewed every TTL/3 until released or hold passes.
func (l *Lease) Acquire(ctx context.Context, hold time.Duration) (func(), error) {
	return l.acquire(ctx, hold, false)
}

// AcquireHandover is Acquire with this instance's place on offer (lcconfig.HandoverGate).
func (l *Lease) AcquireHandover(ctx context.Context, hold time.Duration) (func(), error) {
	return l.acquire(ctx, hold, true)
}

func (l *Lease) acquire(ctx context.Context, holdFor time.Duration, handover bool) (func(), error) {
	select {
	case <-l.closed:
		return nil, unavailable("closed")
	default:
	}
	doc, err := l.read(ctx)
	if err != nil {
		return nil, unavailable("cannot read the lease: %v", err)
	}
	l.mu.Lock()
	if l.hold != nil {
		l.mu.Unlock()
		return nil, unavailable("this instance holds it already")
	}
	mv, obs, why := decide(doc, l.cfg.Holder, l.obs, l.now(), l.cfg.TTL)
	l.obs = obs
	l.mu.Unlock()
	if mv == moveWait {
		return nil, unavailable("%s", why)
	}
	token, err := newToken()
	if err != nil {
		return nil, unavailable("no token: %v", err)
	}
	set := bson.D{{Key: "holder", Value: l.cfg.Holder}, {Key: "token", Value: token}, {Key: "ttl_ms", Value: l.cfg.TTL.Milliseconds()},
		{Key: "handover", Value: handover}, {Key: "successor", Value: ""}}
	if mv == moveInsert {
		_, err = l.collection().InsertOne(ctx, append(bson.D{{Key: "_id", Value: l.cfg.Name}, {Key: "counter", Value: int64(1)}}, set...))
		if mongo.IsDuplicateKeyError(err) {
			return nil, unavailable("another instance created it first")
		}
	} else {
		var res *mongo.UpdateResult
		res, err = l.collection().UpdateOne(ctx, bson.D{{Key: "_id", Value: l.cfg.Name}, {Key: "counter", Value: doc.Counter}},
			bson.D{{Key: "$set", Value: set}, {Key: "$inc", Value: bson.D{{Key: "counter", Value: int64(1)}}}})
		if err == nil && res.MatchedCount == 0 {
			return nil, unavailable("it changed while being taken")
		}
	}
	if err != nil {
		// Not acknowledged by a majority: not held, as far as anyone may rely on. If it was
		// applied anyway, it expires, or this instance takes it back as its own.
		return nil, unavailable("not taken: %v", err)
	}
	if mv == moveTakeOver && doc.Holder != l.cfg.Holder {
		l.log.WithFields(logrus.Fields{"previous": doc.Holder, "counter": doc.Counter}).Warn("restart lease taken over: its holder stopped renewing it")
	}
	h := &hold{token: token, stop: make(chan struct{})}
	l.mu.Lock()
	l.hold = h
	l.mu.Unlock()
	l.bg.Add(1)
	go l.renew(h, holdFor)
	var once sync.Once
	return func() { once.Do(func() { l.release(h) }) }, nil
}

// renew keeps h alive every TTL/3 until it ends, holdFor passes, or it is found lost.
func (l *Lease) renew(h *hold, holdFor time.Duration) {
	defer l.bg.Done()
	every := l.cfg.TTL / 3
	tick := time.NewTicker(every)
	defer tick.Stop()
	until := time.NewTimer(holdFor)
	defer until.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-l.closed:
			return
		case <-until.C:
			l.log.WithField("hold", holdFor.String()).Warn("restart lease hold over: renewals stop and it lapses after its TTL")
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), every)
		res, err := l.collection().UpdateOne(ctx, holdFilter(l.cfg.Name, l.cfg.Holder, h.token),
			bson.D{{Key: "$inc", Value: bson.D{{Key: "counter", Value: int64(1)}}}})
		cancel()
		switch {
		case err != nil:
			l.log.WithError(err).Debug("restart lease not renewed; retrying")
		case res.MatchedCount == 0:
			l.log.Warn("restart lease lost: another instance took it over")
			return
		}
	}
}

// release gives h back without blocking the caller; the write is bounded by the TTL.
func (l *Lease) release(h *hold) {
	h.end()
	l.mu.Lock()
	if l.hold == h {
		l.hold = nil
	}
	l.mu.Unlock()
	l.bg.Add(1)
	go func() {
		defer l.bg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), l.cfg.TTL/3)
		defer cancel()
		l.write(ctx, "release", releaseFilter(l.cfg.Name, l.cfg.Holder, h.token), releaseUpdate())
	}()
}

func (h *hold) end() { h.stopped.Do(func() { close(h.stop) }) }

// write runs one conditional update whose failure only matters for the log (the lease expires
// anyway).
func (l *Lease) write(ctx context.Context, what string, filter, update bson.D) {
	if _, err := l.collection().UpdateOne(ctx, filter, update); err != nil {
		l.log.WithError(err).Info("restart lease " + what + " not written; it lapses after its TTL")
	}
}

// read returns the lease document from the primary; nil when there is none.
func (l *Lease) read(ctx context.Context) (*leaseDoc, error) {
	var d leaseDoc
	err := l.collection().FindOne(ctx, bson.D{{Key: "_id", Value: l.cfg.Name}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &d, nil
}

func holdFilter(name, holder, token string) bson.D {
	return bson.D{{Key: "_id", Value: name}, {Key: "holder", Value: holder}, {Key: "token", Value: token}}
}

func releaseFilter(name, holder, token string) bson.D { return holdFilter(name, holder, token) }

func releaseUpdate() bson.D {
	return bson.D{
		{Key: "$set", Value: bson.D{{Key: "holder", Value: ""}, {Key: "token", Value: ""}, {Key: "handover", Value: false}, {Key: "successor", Value: ""}}},
		{Key: "$inc", Value: bson.D{{Key: "counter", Value: int64(1)}}},
	}
}

func newToken() (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
