package lcconfig

import (
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// lbSim plays what Rancher does for active–standby: a health check of every instance's readiness
// (Status().Serving, what /readyz reports) every interval, healthy after rise passes in a row and
// unhealthy after fall failures, and the view of the service's instances handed to every
// supervisor, each after a random lag of its own (views arrive late and out of step between
// instances, as metadata does, but in order: an instance never sees an older view after a newer
// one, as the metadata watcher never hands over an older version).
type lbSim struct {
	interval   time.Duration
	rise, fall int
	maxLag     time.Duration

	mu     sync.Mutex
	rng    *rand.Rand
	insts  []*simInstance
	stop   chan struct{}
	done   chan struct{}
	frozen bool
}

type simInstance struct {
	id      string
	order   int
	sup     *Supervisor
	listed  bool
	running bool
	health  Health
	passes  int
	fails   int
	views   chan timedView
	last    time.Time // when the last view is due: views are delivered in order
}

type timedView struct {
	v  Instances
	at time.Time
}

func newLBSim(interval time.Duration, rise, fall int, maxLag time.Duration, seed uint64) *lbSim {
	return &lbSim{interval: interval, rise: rise, fall: fall, maxLag: maxLag, rng: rand.New(rand.NewPCG(seed, 0x5eed)),
		stop: make(chan struct{}), done: make(chan struct{})}
}

// add registers a supervisor as a listed, running instance.
func (l *lbSim) add(id string, order int, sup *Supervisor) {
	in := &simInstance{id: id, order: order, sup: sup, listed: true, running: true, views: make(chan timedView, 1024)}
	l.mu.Lock()
	l.insts = append(l.insts, in)
	l.mu.Unlock()
	go func() {
		for tv := range in.views {
			time.Sleep(time.Until(tv.at))
			sup.UpdateInstances(tv.v)
		}
	}()
}

// setListed lists or unlists an instance (its container left metadata, or came back).
func (l *lbSim) setListed(id string, listed bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, in := range l.insts {
		if in.id == id {
			in.listed = listed
		}
	}
}

// run checks and delivers every interval until close.
func (l *lbSim) run() {
	go func() {
		defer close(l.done)
		t := time.NewTicker(l.interval)
		defer t.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-t.C:
				l.tick()
			}
		}
	}()
}

func (l *lbSim) tick() {
	l.mu.Lock()
	defer l.mu.Unlock()
	var all []Instance
	for _, in := range l.insts {
		if !in.listed {
			continue
		}
		if in.sup.Status().Serving {
			in.passes, in.fails = in.passes+1, 0
			if in.passes >= l.rise {
				in.health = Healthy
			}
		} else {
			in.passes, in.fails = 0, in.fails+1
			if in.fails >= l.fall {
				in.health = Unhealthy
			}
		}
		all = append(all, Instance{ID: in.id, Order: in.order, Running: in.running, Health: in.health})
	}
	for _, in := range l.insts {
		v := Instances{Self: in.id, All: slices.Clone(all)}
		if !in.listed {
			v.Self = "" // an unlisted instance is not in its own view either
		}
		at := time.Now()
		if l.maxLag > 0 {
			at = at.Add(time.Duration(l.rng.Int64N(int64(l.maxLag))))
		}
		if at.Before(in.last) {
			at = in.last
		}
		in.last = at
		select {
		case in.views <- timedView{v: v, at: at}:
		default: // a stalled consumer: drop rather than block the check
		}
	}
}

// health returns an instance's current health as the simulated check sees it.
func (l *lbSim) health(id string) Health {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, in := range l.insts {
		if in.id == id {
			return in.health
		}
	}
	return HealthUnknown
}

// close stops checking and delivering.
func (l *lbSim) close() {
	l.mu.Lock()
	if l.frozen {
		l.mu.Unlock()
		return
	}
	l.frozen = true
	l.mu.Unlock()
	close(l.stop)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, in := range l.insts {
		close(in.views)
	}
}

// servingSpan is one instance taking traffic, from EventServing(true) to EventServing(false) (or
// the end).
type servingSpan struct {
	instance   string
	start, end time.Time
}

// servingSpans turns an instance's serving events into spans; open spans end at end.
func servingSpans(instance string, events []Event, end time.Time) []servingSpan {
	var out []servingSpan
	var open *servingSpan
	for _, e := range events {
		if e.Kind != EventServing {
			continue
		}
		switch {
		case e.Serving && open == nil:
			open = &servingSpan{instance: instance, start: e.Time}
		case !e.Serving && open != nil:
			open.end = e.Time
			out = append(out, *open)
			open = nil
		}
	}
	if open != nil {
		open.end = end
		out = append(out, *open)
	}
	return out
}

// gaps returns the intervals within [from, to] where no span is open.
func gaps(spans []servingSpan, from, to time.Time) [][2]time.Time {
	s := slices.Clone(spans)
	slices.SortFunc(s, func(a, b servingSpan) int { return a.start.Compare(b.start) })
	var out [][2]time.Time
	covered := from
	for _, sp := range s {
		if sp.end.Before(covered) || !sp.end.After(covered) {
			continue
		}
		if sp.start.After(covered) {
			out = append(out, [2]time.Time{covered, sp.start})
		}
		covered = sp.end
	}
	if covered.Before(to) {
		out = append(out, [2]time.Time{covered, to})
	}
	return out
}
