package restartlease

import (
	"fmt"
	"time"
)

// leaseDoc is the lease document; see the package doc.
type leaseDoc struct {
	ID        string `bson:"_id"`
	Holder    string `bson:"holder"`
	Token     string `bson:"token"`
	Counter   int64  `bson:"counter"`
	TTLMillis int64  `bson:"ttl_ms"`
	Handover  bool   `bson:"handover"`
	Successor string `bson:"successor"`
}

// observation is what an instance remembers of a lease another instance holds: the state it saw
// and when it first saw it, on its own monotonic clock.
type observation struct {
	holder  string
	counter int64
	since   time.Time
}

// move is what Acquire does with the lease it just read.
type move int

const (
	moveInsert   move = iota // no document yet: create it, held
	moveTake                 // free: take it on its counter
	moveTakeOver             // expired, or this instance's own from an earlier run: take it on its counter
	moveWait                 // held by another instance, not (yet) seen expired
)

// decide is Acquire's pure core: what to do with the lease as read (nil when there is no
// document), given what this instance saw before. It returns the observation to keep and, for
// moveWait, why.
func decide(doc *leaseDoc, self string, prev observation, now time.Time, ttl time.Duration) (move, observation, string) {
	switch {
	case doc == nil:
		return moveInsert, observation{}, ""
	case doc.Holder == "":
		return moveTake, observation{}, ""
	case doc.Holder == self:
		// Only this instance writes its own name: a hold of an earlier run of it (a restarted
		// agent), or of an acquisition whose answer was lost. Nobody else may take it sooner.
		return moveTakeOver, observation{}, ""
	}
	if d := time.Duration(doc.TTLMillis) * time.Millisecond; d > ttl {
		ttl = d // the holder promised to renew within its own TTL, not ours
	}
	if prev.holder != doc.Holder || prev.counter != doc.Counter || prev.since.IsZero() {
		return moveWait, observation{holder: doc.Holder, counter: doc.Counter, since: now}, fmt.Sprintf("held by %s", doc.Holder)
	}
	if seen := now.Sub(prev.since); seen < ttl {
		return moveWait, prev, fmt.Sprintf("held by %s (unchanged for %s of its %s TTL)", doc.Holder, seen.Round(time.Millisecond), ttl)
	}
	return moveTakeOver, prev, ""
}
