package mongors

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Observe reads what Plan needs, starting from the local mongod: the primary's config, commitment
// and status when there is a config, or every listed candidate's and peer's hello when there is
// none. It reads from the primary even when that is another node, but only to observe (rule 2).
// A node whose hello names no set is asked replSetGetStatus too, which tells a node never
// initiated (94) from one removed from a set (93). Failed reads are recorded in Observed rather
// than returned: a pass with partial knowledge still yields a (cautious) plan. Memory is left
// empty; the loop fills it in.
func Observe(ctx context.Context, c Client, d Desired) Observed {
	o := observeLocal(ctx, c)
	if !o.Local.Reachable() {
		return o
	}
	h := o.Local.Hello
	local := o.Local.Addr
	switch {
	case h.IsWritablePrimary:
		o.Primary = local
		// Listed members the primary does not advertise may be added this pass: ask them, at the
		// same time as the config is read, whether they hold a set.
		probes := startProbes(ctx, c, d, h)
		ok := o.read(ctx, c, local, true)
		probed := probes.collect(probeGrace, probeMax)
		if ok {
			o.Probed = map[string]Probe{}
			for addr, p := range probed {
				if _, member := o.Config.Member(addr); member {
					continue
				}
				if p.Standing == StandingMember && foreignTo(*o.Config, p.Foreign) {
					o.Foreign = append(o.Foreign, p.Foreign)
					p.Standing = StandingForeign
				}
				o.Probed[addr] = p
			}
			slices.SortFunc(o.Foreign, func(a, b ForeignNode) int { return strings.Compare(a.Addr, b.Addr) })
		}
	case h.SetVersion > 0:
		o.Primary = h.Primary
		if h.Primary != "" && o.read(ctx, c, h.Primary, true) {
			return o
		}
		o.read(ctx, c, local, false)
	default:
		// A node without a config usually joins a set that exists, and the members listed first
		// (the oldest containers) are the likeliest to be in it and to name its primary: they
		// are asked first, and every other candidate and peer only when that leads to no
		// readable config. Initiation (rule 1) needs all of them proven empty and so still asks
		// them all; asking every listed node from each of many joining agents would cost the
		// set a connection per pair (47 joining agents, 49 nodes each: some 2,300).
		cands, peers := candidatesOf(d, local)
		first := min(len(cands), firstAsked)
		hellos(ctx, c, cands[:first])
		tried := map[string]bool{}
		if o.readFromPrimary(ctx, c, cands[:first], tried) {
			o.Candidates = cands[:first]
		} else {
			rest := append(slices.Clone(cands[first:]), peers...)
			hellos(ctx, c, rest)
			n := copy(cands[first:], rest)
			copy(peers, rest[n:])
			o.Candidates, o.Peers = cands, peers
			o.readFromPrimary(ctx, c, rest, tried)
		}
		if o.Config != nil {
			o.Foreign = foreignNodes(ctx, c, *o.Config, append(append([]NodeHello(nil), o.Candidates...), o.Peers...))
		}
	}
	return o
}

// firstAsked is how many of the listed members, in metadata's order, an agent whose node has no
// config asks first for a primary.
const firstAsked = 3

// readFromPrimary reads the config from the first primary that a node of ns names (one not tried
// yet): a set exists, and this node joins its view instead of starting another. It reports
// whether a config was read.
func (o *Observed) readFromPrimary(ctx context.Context, c Client, ns []NodeHello, tried map[string]bool) bool {
	for _, n := range ns {
		p := n.Hello.Primary
		if !n.Reachable() || p == "" || tried[p] {
			continue
		}
		tried[p] = true
		o.Primary = p
		if o.read(ctx, c, p, true) {
			return true
		}
	}
	return false
}

// ObserveLocal reads only the local node's hello (and its standing when the hello names no set):
// the light re-check of an agent whose node is a secondary, where nothing can change the plan but
// the local node's role.
func ObserveLocal(ctx context.Context, c Client) Observed { return observeLocal(ctx, c) }

func observeLocal(ctx context.Context, c Client) Observed {
	local := c.Local()
	o := Observed{Local: NodeHello{Addr: local}, ReadAt: time.Now()}
	h, err := c.Hello(ctx, local)
	if err != nil {
		o.Local.Err = err.Error()
		return o
	}
	o.Local.Hello = h
	if !h.IsWritablePrimary && h.SetVersion == 0 {
		checkStanding(ctx, c, &o.Local)
	}
	return o
}

// checkStanding asks a node whose hello names no set what it is (see Standing).
func checkStanding(ctx context.Context, c Client, n *NodeHello) {
	if !n.Reachable() || n.Hello.HasConfig() || !n.Hello.ReplicaSetMode() {
		return
	}
	_, err := c.GetStatus(ctx, n.Addr)
	n.Standing, n.StandingReason = standingFromStatus(err, n.Addr == c.Local())
}

// read fills Config, Committed and Status from addr and reports whether the config was read.
func (o *Observed) read(ctx context.Context, c Client, addr string, commitment bool) bool {
	cfg, committed, err := c.GetConfig(ctx, addr, commitment)
	if err != nil {
		o.Errors = append(o.Errors, err.Error())
		return false
	}
	st, err := c.GetStatus(ctx, addr)
	if err != nil {
		o.Errors = append(o.Errors, err.Error())
	} else {
		o.Status = &st
	}
	o.Config, o.Committed, o.Source = &cfg, committed, addr
	return true
}

// probeGrace is how long Observe waits for more probes of listed members missing from the config
// once the primary's own reads are done and no probe has come back for that long: a node that
// answers slower is not added this pass, and a dead one costs a pass no more than this. While
// probes keep coming back (many new nodes on a busy machine) it waits on, up to probeMax.
const (
	probeGrace = time.Second
	probeMax   = 5 * time.Second
)

// Probe is what the primary's agent learnt of a listed member missing from the config, from its
// replSetGetConfig: whether it is empty (94; under access control also a node that refuses the
// admin login and whose hello names no set), holds this set (removed from it: the same
// replicaSetId) or another one, or cannot be told (Reason says why).
type Probe struct {
	// Standing is StandingEmpty, StandingNoUsers, StandingMember (holds this set),
	// StandingForeign or StandingUnknown.
	Standing Standing `json:"standing"`
	// Foreign names the set the node holds, for a foreign node's alarm.
	Foreign ForeignNode `json:"-"`
	// Reason is the answer behind an unknown standing.
	Reason string `json:"reason,omitempty"`
}

// probes is a set of replSetGetConfig probes in flight.
type probes struct {
	n   int
	out chan probeResult
}

type probeResult struct {
	addr string
	p    Probe
}

// startProbes asks every listed member the primary's hello does not advertise for its config,
// all at once, each bounded by probeMax.
func startProbes(ctx context.Context, c Client, d Desired, h Hello) probes {
	known := map[string]bool{c.Local(): true, d.Self: true}
	for _, m := range h.Members {
		known[m] = true
	}
	var missing []string
	for _, m := range d.Members {
		if !known[m.Host] {
			missing = append(missing, m.Host)
		}
	}
	ps := probes{n: len(missing), out: make(chan probeResult, len(missing))}
	for _, addr := range missing {
		go func() {
			pctx, cancel := context.WithTimeout(ctx, probeMax)
			defer cancel()
			// The hello goes out beside the config read, not after its refusal: all a node without
			// our users (a new node, under access control) will say is its hello, which needs no
			// login, and waiting for the refusal first would add a round of connection set-up to
			// the pass that adds the node.
			type helloAnswer struct {
				h   Hello
				err error
			}
			hctx, hcancel := context.WithCancel(pctx)
			defer hcancel()
			hello := make(chan helloAnswer, 1)
			go func() {
				h, err := c.Hello(hctx, addr)
				hello <- helloAnswer{h, err}
			}()
			cfg, _, err := c.GetConfig(pctx, addr, false)
			if !errors.Is(err, ErrLoginRefused) {
				hcancel() // not needed: the config (or its error) says it all
			}
			ha := <-hello // never left running past the probe
			var p Probe
			if err == nil {
				p.Standing, p.Foreign = StandingMember, newForeign(addr, cfg.Name, cfg.ReplicaSetID())
			} else {
				if !errors.Is(err, ErrLoginRefused) {
					ha = helloAnswer{}
				}
				p.Standing, p.Reason = probeStanding(err, ha.h, ha.err)
			}
			ps.out <- probeResult{addr: addr, p: p}
		}()
	}
	return ps
}

// collect waits for the probes until none has come back for grace, or max in all; the ones not
// back by then are left out (not known).
func (ps probes) collect(grace, max time.Duration) map[string]Probe {
	out := make(map[string]Probe, ps.n)
	if ps.n == 0 {
		return out
	}
	stall := time.NewTimer(grace)
	defer stall.Stop()
	limit := time.NewTimer(max)
	defer limit.Stop()
	for range ps.n {
		select {
		case r := <-ps.out:
			out[r.addr] = r.p
			stall.Reset(grace)
		case <-stall.C:
			return out
		case <-limit.C:
			return out
		}
	}
	return out
}

// foreignTo reports whether a node holding the set described by f belongs to another set than
// cfg: another name, or the same name with another replicaSetId (a second set started under the
// same name). A node removed from cfg's own set is not foreign.
func foreignTo(cfg Config, f ForeignNode) bool {
	ours := cfg.ReplicaSetID()
	return f.SetName != cfg.Name || (ours != "" && f.ReplicaSetID != "" && f.ReplicaSetID != ours)
}

// foreignNodes returns the nodes among ns that hold a set other than cfg's: another set name, or
// the same name with another replicaSetId (a second set started under the same name). A node
// removed from cfg's own set, or one of its members, is not foreign.
func foreignNodes(ctx context.Context, c Client, cfg Config, ns []NodeHello) []ForeignNode {
	var out []ForeignNode
	var mu sync.Mutex
	var wg sync.WaitGroup
	ours := cfg.ReplicaSetID()
	for _, n := range ns {
		if !n.HoldsSet() {
			continue
		}
		if n.Hello.SetName != "" && n.Hello.SetName != cfg.Name {
			mu.Lock()
			out = append(out, newForeign(n.Addr, n.Hello.SetName, ""))
			mu.Unlock()
			continue
		}
		if _, member := cfg.Member(n.Addr); member || ours == "" {
			continue
		}
		wg.Go(func() {
			theirs, _, err := c.GetConfig(ctx, n.Addr, false)
			if err != nil {
				return // cannot tell: it is not added on a guess either way, it stays as it is
			}
			if f := newForeign(n.Addr, theirs.Name, theirs.ReplicaSetID()); foreignTo(cfg, f) {
				mu.Lock()
				out = append(out, f)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.SortFunc(out, func(a, b ForeignNode) int { return strings.Compare(a.Addr, b.Addr) })
	return out
}

// candidatesOf lists every listed member but the local one, in metadata's order, and every peer
// with an address, none asked yet.
func candidatesOf(d Desired, local string) (cands, peers []NodeHello) {
	for _, m := range d.ordered() {
		if m.Host != d.Self && m.Host != local {
			cands = append(cands, NodeHello{Addr: m.Host})
		}
	}
	for _, p := range d.peers() {
		if p.Host != "" && p.Host != local {
			peers = append(peers, NodeHello{Addr: p.Host})
		}
	}
	return cands, peers
}

// hellos fills each node's hello and standing, all at once.
func hellos(ctx context.Context, c Client, ns []NodeHello) {
	var wg sync.WaitGroup
	for i := range ns {
		wg.Go(func() {
			h, err := c.Hello(ctx, ns[i].Addr)
			if err != nil {
				ns[i].Err = err.Error()
				return
			}
			ns[i].Hello = h
			checkStanding(ctx, c, &ns[i])
		})
	}
	wg.Wait()
}

// ForeignNode is a mongod of the service that belongs to another replica set than the one this
// agent manages: it is never added, and it raises the foreign-set alarm until a human acts.
type ForeignNode struct {
	// Addr is the node's address.
	Addr string `json:"addr"`
	// SetName and ReplicaSetID name the set it holds (the ID is empty when not read).
	SetName      string `json:"setName"`
	ReplicaSetID string `json:"replicaSetId,omitempty"`
	// Advice says what a human must do.
	Advice string `json:"advice"`
}

func newForeign(addr, setName, id string) ForeignNode {
	what := fmt.Sprintf("set %q", setName)
	if id != "" {
		what += " (replicaSetId " + id + ")"
	}
	return ForeignNode{
		Addr: addr, SetName: setName, ReplicaSetID: id,
		Advice: fmt.Sprintf("%s holds %s, not this set; it is never added. Decide which set keeps the data: "+
			"to join this one, stop that mongod, move its data directory aside and start it empty "+
			"(the primary then adds it); if that set holds the data to keep, stop this set's agents and merge by hand", addr, what),
	}
}
