package mongosim

import (
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// CodeUnsatisfiableWriteConcern is returned when w exceeds the data-bearing members.
const CodeUnsatisfiableWriteConcern int32 = 100

func init() { codeNames[CodeUnsatisfiableWriteConcern] = "UnsatisfiableWriteConcern" }

// namespace reads "db.collection" from the command's first field and $db.
func (cc *cmdCtx) namespace() (string, error) {
	v := firstValue(cc.body)
	if v.Type != bson.TypeString || v.StringValue() == "" {
		return "", cmdErr(CodeBadValue, "collection name has invalid type %s", typeName(v.Type))
	}
	db := "test"
	if d, err := cc.body.LookupErr("$db"); err == nil && d.Type == bson.TypeString {
		db = d.StringValue()
	}
	return db + "." + v.StringValue(), nil
}

// writeConcern is the parsed writeConcern: w 0..n, or majority.
type writeConcern struct {
	w        int64
	majority bool
	timeout  time.Duration
}

func (cc *cmdCtx) writeConcern() (writeConcern, error) {
	wc := writeConcern{w: 1, majority: cc.n.config.implicitMajorityWC()}
	v, err := cc.body.LookupErr("writeConcern")
	if err != nil {
		return wc, nil
	}
	if v.Type != bson.TypeEmbeddedDocument {
		return wc, cmdErr(CodeFailedToParse, "writeConcern must be an object")
	}
	doc := bson.Raw(v.Value)
	if w, err := doc.LookupErr("w"); err == nil {
		switch {
		case w.Type == bson.TypeString && w.StringValue() == "majority":
			wc.majority = true
		case w.Type == bson.TypeString:
			return wc, cmdErr(CodeUnsatisfiableWriteConcern, "unrecognized getLastError mode: %s", w.StringValue())
		default:
			n, ok := asInt(w)
			if !ok || n < 0 {
				return wc, cmdErr(CodeFailedToParse, "w has to be a non-negative number or a string")
			}
			wc.w, wc.majority = n, false
		}
	}
	if t, err := doc.LookupErr("wtimeout"); err == nil {
		if ms, ok := asInt(t); ok && ms > 0 {
			wc.timeout = time.Duration(ms) * time.Millisecond
		}
	}
	return wc, nil
}

func notPrimaryWrite(cc *cmdCtx) *CommandError {
	e := cmdErr(CodeNotWritablePrimary, "not primary")
	if _, err := cc.body.LookupErr("txnNumber"); err == nil {
		e.Extra = bson.D{{Key: "errorLabels", Value: bson.A{"RetryableWriteError"}}}
	}
	return e
}

// insert appends documents to the primary's oplog and waits for the write concern.
func (cc *cmdCtx) insert() (bson.D, error) {
	c, n := cc.c, cc.n
	ns, err := cc.namespace()
	if err != nil {
		return nil, err
	}
	if !n.writablePrimary() {
		return nil, notPrimaryWrite(cc)
	}
	docs := cc.req.sequences["documents"]
	if v, err := cc.body.LookupErr("documents"); err == nil {
		if v.Type != bson.TypeArray {
			return nil, cmdErr(CodeTypeMismatch, "BSON field 'insert.documents' is the wrong type '%s', expected type 'array'", typeName(v.Type))
		}
		vals, _ := bson.Raw(v.Value).Values()
		for _, d := range vals {
			if d.Type != bson.TypeEmbeddedDocument {
				return nil, cmdErr(CodeTypeMismatch, "BSON field 'insert.documents.0' is the wrong type '%s', expected type 'object'", typeName(d.Type))
			}
			docs = append(docs, bson.Raw(d.Value))
		}
	}
	ordered := true
	if v, err := cc.body.LookupErr("ordered"); err == nil {
		ordered, _ = asBool(v)
	}
	wc, err := cc.writeConcern()
	if err != nil {
		return nil, err
	}
	if !wc.majority && wc.w > int64(dataBearing(n.config)) {
		return nil, cmdErr(CodeUnsatisfiableWriteConcern, "Not enough data-bearing nodes")
	}
	deadline, err := cc.deadline()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	var writeErrors bson.A
	var written []OpTime
	for i, d := range docs {
		id, err := d.LookupErr("_id")
		if err != nil {
			withID := bson.D{{Key: "_id", Value: bson.NewObjectID()}}
			elems, _ := d.Elements()
			for _, e := range elems {
				withID = append(withID, bson.E{Key: e.Key(), Value: e.Value()})
			}
			if d, err = bson.Marshal(withID); err != nil {
				return nil, cmdErr(CodeBadValue, "cannot add _id")
			}
			id = d.Lookup("_id")
		}
		if c.findByIDLocked(n, ns, id) {
			writeErrors = append(writeErrors, bson.D{
				{Key: "index", Value: int32(i)},
				{Key: "code", Value: CodeDuplicateKey},
				{Key: "errmsg", Value: "E11000 duplicate key error collection: " + ns + " index: _id_ dup key: { _id: " + id.String() + " }"},
			})
			if ordered {
				break
			}
			continue
		}
		e := Entry{OpTime: OpTime{TS: c.nextTimestampLocked(now), Term: n.term}, Wall: now, Op: "i", NS: ns, Doc: append(bson.Raw(nil), d...)}
		n.oplog = append(n.oplog, e)
		written = append(written, e.OpTime)
	}
	reply := bson.D{{Key: "n", Value: int32(len(written))}}
	if len(writeErrors) > 0 {
		reply = append(reply, bson.E{Key: "writeErrors", Value: writeErrors})
	}
	if len(written) == 0 || (!wc.majority && wc.w <= 1) {
		return reply, nil
	}
	if wce := c.awaitWriteConcernLocked(cc, wc, written, deadline); wce != nil {
		reply = append(reply, bson.E{Key: "writeConcernError", Value: wce})
	}
	return reply, nil
}

func dataBearing(cfg *Config) int {
	k := 0
	for _, m := range cfg.Members {
		if !m.ArbiterOnly {
			k++
		}
	}
	return k
}

// awaitWriteConcernLocked waits until the last written entry satisfies wc. It returns the
// writeConcernError document, or nil on success (recording majority acknowledgements).
func (c *Cluster) awaitWriteConcernLocked(cc *cmdCtx, wc writeConcern, written []OpTime, deadline time.Time) bson.D {
	n := cc.n
	term := n.term
	last := written[len(written)-1]
	timedOutCode := CodeMaxTimeMSExpired
	if wc.timeout > 0 {
		if d := time.Now().Add(wc.timeout); deadline.IsZero() || d.Before(deadline) {
			deadline, timedOutCode = d, CodeWriteConcernFailed
		}
	}
	satisfied := func() bool {
		if wc.majority {
			return n.commitPoint.Compare(last) >= 0
		}
		return int64(c.replicasWithLocked(n, last)) >= wc.w
	}
	res := c.waitLocked(cc.down, deadline, func() bool {
		return n.state != StatePrimary || n.term != term || satisfied()
	})
	switch {
	case res == waitOK && n.state == StatePrimary && n.term == term:
		if wc.majority {
			for _, o := range written {
				c.audit.acked[o] = true
			}
		}
		return nil
	case res == waitTimeout:
		msg := "waiting for replication timed out"
		if timedOutCode == CodeMaxTimeMSExpired {
			msg = "operation exceeded time limit"
		}
		return bson.D{
			{Key: "code", Value: timedOutCode},
			{Key: "codeName", Value: CodeName(timedOutCode)},
			{Key: "errmsg", Value: msg},
			{Key: "errInfo", Value: bson.D{{Key: "wtimeout", Value: true}}},
		}
	}
	return bson.D{
		{Key: "code", Value: CodeInterruptedDueToReplStateChange},
		{Key: "codeName", Value: CodeName(CodeInterruptedDueToReplStateChange)},
		{Key: "errmsg", Value: "operation was interrupted because the node stepped down while waiting for replication"},
	}
}

// replicasWithLocked counts data-bearing members reachable from p whose oplog holds o.
func (c *Cluster) replicasWithLocked(p *node, o OpTime) int {
	k := 0
	for _, m := range p.config.Members {
		x := c.nodes[m.Host]
		if x == nil || m.ArbiterOnly || (x != p && !c.linkedLocked(p, x)) {
			continue
		}
		if indexOf(x.oplog, o) >= 0 {
			k++
		}
	}
	return k
}

func (c *Cluster) findByIDLocked(n *node, ns string, id bson.RawValue) bool {
	for _, e := range n.oplog {
		if e.Op == "i" && e.NS == ns && e.Doc.Lookup("_id").Equal(id) {
			return true
		}
	}
	return false
}

// readable checks the node may serve reads: a primary always, a secondary when the client's read
// preference allows it.
func (cc *cmdCtx) readable() error {
	switch {
	case cc.n.writablePrimary():
		return nil
	case cc.n.state == StateSecondary, cc.n.state == StatePrimary:
		// A draining primary serves reads as a secondary does, as mongod's does.
		rp, err := cc.body.LookupErr("$readPreference", "mode")
		if err == nil && rp.Type == bson.TypeString && rp.StringValue() != "primary" {
			return nil
		}
		return cmdErr(CodeNotPrimaryNoSecondaryOk, "not primary and secondaryOk=false")
	}
	return cmdErr(CodeNotPrimaryOrSecondary, "node is not in primary or recovering state")
}

// matchingLocked returns the documents of ns matching a top-level equality filter.
func (cc *cmdCtx) matchingLocked(ns string, filter bson.Raw) ([]bson.Raw, error) {
	var conds []bson.RawElement
	if filter != nil {
		conds, _ = filter.Elements()
		for _, f := range conds {
			v := f.Value()
			if strings.HasPrefix(f.Key(), "$") {
				return nil, cmdErr(CodeBadValue, "unknown top level operator: %s (the emulator supports equality filters only)", f.Key())
			}
			if v.Type == bson.TypeEmbeddedDocument {
				if first, err := bson.Raw(v.Value).IndexErr(0); err == nil && strings.HasPrefix(first.Key(), "$") {
					return nil, cmdErr(CodeBadValue, "unknown operator: %s (the emulator supports equality filters only)", first.Key())
				}
			}
		}
	}
	var out []bson.Raw
	for _, e := range cc.n.oplog {
		if e.Op != "i" || e.NS != ns {
			continue
		}
		match := true
		for _, f := range conds {
			v, err := e.Doc.LookupErr(f.Key())
			if err != nil || !v.Equal(f.Value()) {
				match = false
				break
			}
		}
		if match {
			out = append(out, e.Doc)
		}
	}
	return out, nil
}

func (cc *cmdCtx) docArg(name string) (bson.Raw, error) {
	v, err := cc.body.LookupErr(name)
	if err != nil || v.Type == bson.TypeNull {
		return nil, nil
	}
	if v.Type != bson.TypeEmbeddedDocument {
		return nil, cmdErr(CodeTypeMismatch, "BSON field '%s' is the wrong type '%s', expected type 'object'", name, typeName(v.Type))
	}
	return bson.Raw(v.Value), nil
}

// find returns every match in one batch with cursor id 0, so no getMore is ever needed.
func (cc *cmdCtx) find() (bson.D, error) {
	ns, err := cc.namespace()
	if err != nil {
		return nil, err
	}
	if err := cc.readable(); err != nil {
		return nil, err
	}
	filter, err := cc.docArg("filter")
	if err != nil {
		return nil, err
	}
	docs, err := cc.matchingLocked(ns, filter)
	if err != nil {
		return nil, err
	}
	if v, err := cc.body.LookupErr("limit"); err == nil {
		if l, ok := asInt(v); ok && l != 0 {
			if l < 0 {
				l = -l
			}
			if int64(len(docs)) > l {
				docs = docs[:l]
			}
		}
	}
	batch := bson.A{}
	for _, d := range docs {
		batch = append(batch, d)
	}
	return bson.D{{Key: "cursor", Value: bson.D{
		{Key: "firstBatch", Value: batch},
		{Key: "id", Value: int64(0)},
		{Key: "ns", Value: ns},
	}}}, nil
}

func (cc *cmdCtx) count() (bson.D, error) {
	ns, err := cc.namespace()
	if err != nil {
		return nil, err
	}
	if err := cc.readable(); err != nil {
		return nil, err
	}
	q, err := cc.docArg("query")
	if err != nil {
		return nil, err
	}
	docs, err := cc.matchingLocked(ns, q)
	if err != nil {
		return nil, err
	}
	return bson.D{{Key: "n", Value: int32(len(docs))}}, nil
}
