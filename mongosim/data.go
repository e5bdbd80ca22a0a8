package mongosim

import (
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/replset-agent/replset-agent/mongosim/docstore"
)

// nodeData is a node's documents, derived from its oplog, and the cursors its clients hold.
//
// The store is a pure function of the oplog: it is brought up to date lazily, before any read
// or write, by applying the entries it has not seen. Replication only appends entries and
// rollback truncates them, so the store notices a rollback (or a wipe) by its last applied entry
// no longer being where it was, and rebuilds from the start. Optimes are unique in the whole
// cluster, so equal optimes mean the same entry.
type nodeData struct {
	store   *docstore.Store
	applied int    // how many oplog entries the store reflects
	last    OpTime // the optime of the last of them

	// down identifies the node incarnation the cursors belong to: a restart forgets them.
	down    chan struct{}
	cursors map[int64]*cursor
}

// storeLocked returns n's store, up to date with its oplog.
func (c *Cluster) storeLocked(n *node) *docstore.Store {
	d := n.data
	if d == nil {
		d = &nodeData{}
		n.data = d
	}
	if d.store == nil || d.applied > len(n.oplog) || (d.applied > 0 && n.oplog[d.applied-1].OpTime != d.last) {
		d.store, d.applied, d.last = docstore.New(), 0, OpTime{}
	}
	for _, e := range n.oplog[d.applied:] {
		if e.Op == "n" {
			continue
		}
		if err := d.store.Apply(entryOp(e)); err != nil {
			c.logf(n).WithError(err).WithField("optime", e.OpTime).Error("oplog entry could not be applied")
		}
	}
	d.applied = len(n.oplog)
	d.last = lastOpTime(n.oplog)
	return d.store
}

func entryOp(e Entry) docstore.Op {
	return docstore.Op{Kind: docstore.OpKind(e.Op), NS: e.NS, Doc: e.Doc}
}

// logOpsLocked appends the operations a write performed on the primary's store to its oplog, and
// returns their optimes. The store already reflects them.
func (c *Cluster) logOpsLocked(n *node, ops []docstore.Op) []OpTime {
	if len(ops) == 0 {
		return nil
	}
	now := time.Now()
	out := make([]OpTime, 0, len(ops))
	for _, op := range ops {
		e := Entry{OpTime: OpTime{TS: c.nextTimestampLocked(now), Term: n.term}, Wall: now, Op: string(op.Kind), NS: op.NS, Doc: op.Doc}
		n.oplog = append(n.oplog, e)
		out = append(out, e.OpTime)
	}
	n.data.applied = len(n.oplog)
	n.data.last = lastOpTime(n.oplog)
	return out
}

// cursor is an open query result on one node: mongod's cursors live on the node that ran the
// query, and die with it.
type cursor struct {
	ns   string
	docs []bson.Raw
}

// cursorsLocked returns the cursor table of n's current incarnation.
func (c *Cluster) cursorsLocked(n *node) map[int64]*cursor {
	d := n.data
	if d == nil {
		d = &nodeData{}
		n.data = d
	}
	if d.down != n.down || d.cursors == nil {
		d.down, d.cursors = n.down, map[int64]*cursor{}
	}
	return d.cursors
}
