package mongors

import (
	"context"
	"sync"
)

// Observe reads what Plan needs, starting from the local mongod: the primary's config, commitment
// and status when there is a config, or every listed candidate's hello when there is none. It
// reads from the primary even when that is another node, but only to observe (rule 2). Failed
// reads are recorded in Observed rather than returned: a pass with partial knowledge still yields
// a (cautious) plan. Memory is left empty; the loop fills it in.
func Observe(ctx context.Context, c Client, d Desired) Observed {
	local := c.Local()
	o := Observed{Local: NodeHello{Addr: local}}
	h, err := c.Hello(ctx, local)
	if err != nil {
		o.Local.Err = err.Error()
		return o
	}
	o.Local.Hello = h
	switch {
	case h.IsWritablePrimary:
		o.Primary = local
		o.read(ctx, c, local, true)
	case h.SetVersion > 0:
		o.Primary = h.Primary
		if h.Primary != "" && o.read(ctx, c, h.Primary, true) {
			return o
		}
		o.read(ctx, c, local, false)
	default:
		o.Candidates, o.Peers = askCandidates(ctx, c, d, local)
		// A candidate or peer that knows a primary means a set exists: read its config so that
		// this node joins that set's view instead of starting another.
		tried := map[string]bool{}
		for _, n := range append(append([]NodeHello(nil), o.Candidates...), o.Peers...) {
			p := n.Hello.Primary
			if !n.Reachable() || p == "" || tried[p] {
				continue
			}
			tried[p] = true
			o.Primary = p
			if o.read(ctx, c, p, true) {
				break
			}
		}
	}
	return o
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

// askCandidates says hello to every listed member but the local one, and to every peer (a mongod
// of the service that is not a usable member), all at once.
func askCandidates(ctx context.Context, c Client, d Desired, local string) (cands, peers []NodeHello) {
	for _, m := range d.ordered() {
		if m.Host != d.Self && m.Host != local {
			cands = append(cands, NodeHello{Addr: m.Host})
		}
	}
	for _, p := range d.peers() {
		if p != local {
			peers = append(peers, NodeHello{Addr: p})
		}
	}
	out := append(append([]NodeHello(nil), cands...), peers...)
	var wg sync.WaitGroup
	for i := range out {
		wg.Go(func() {
			h, err := c.Hello(ctx, out[i].Addr)
			if err != nil {
				out[i].Err = err.Error()
				return
			}
			out[i].Hello = h
		})
	}
	wg.Wait()
	n := copy(cands, out)
	copy(peers, out[n:])
	return cands, peers
}
