package mongosim

import (
	"errors"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/replset-agent/replset-agent/mongosim/docstore"
)

// Error codes of the data plane (docstore reports its own with the same numbers).
const (
	CodeUnsatisfiableWriteConcern int32 = 100
	CodeCursorNotFound            int32 = 43
	CodeNamespaceNotFound         int32 = 26
	CodeInvalidNamespace          int32 = 73
)

func init() {
	codeNames[CodeUnsatisfiableWriteConcern] = "UnsatisfiableWriteConcern"
	codeNames[CodeCursorNotFound] = "CursorNotFound"
	for code, name := range docstore.CodeNames {
		if _, ok := codeNames[code]; !ok {
			codeNames[code] = name
		}
	}
}

// dataHandlers are the commands of the data plane, looked up after the replication commands.
var dataHandlers = map[string]handler{
	"insert":          (*cmdCtx).insert,
	"update":          (*cmdCtx).update,
	"delete":          (*cmdCtx).delete,
	"findAndModify":   (*cmdCtx).findAndModify,
	"findandmodify":   (*cmdCtx).findAndModify,
	"find":            (*cmdCtx).find,
	"getMore":         (*cmdCtx).getMore,
	"killCursors":     (*cmdCtx).killCursors,
	"count":           (*cmdCtx).count,
	"aggregate":       (*cmdCtx).aggregate,
	"createIndexes":   (*cmdCtx).createIndexes,
	"listIndexes":     (*cmdCtx).listIndexes,
	"listCollections": (*cmdCtx).listCollections,
	"create":          (*cmdCtx).create,
	"drop":            (*cmdCtx).drop,
	"dropDatabase":    (*cmdCtx).dropDatabase,
}

// fromStore turns a docstore error into mongod's reply; anything else is a bad value.
func fromStore(err error) *CommandError {
	var de *docstore.Error
	if errors.As(err, &de) {
		return &CommandError{Code: de.Code, Message: de.Message}
	}
	return cmdErr(CodeBadValue, "%v", err)
}

// writeErrorDoc renders one statement's failure as an entry of writeErrors.
func writeErrorDoc(index int, err error) bson.D {
	var de *docstore.Error
	if !errors.As(err, &de) {
		code, msg := CodeBadValue, err.Error()
		var ce *CommandError
		if errors.As(err, &ce) {
			code, msg = ce.Code, ce.Message
		}
		return bson.D{{Key: "index", Value: int32(index)}, {Key: "code", Value: code}, {Key: "errmsg", Value: msg}}
	}
	d := bson.D{{Key: "index", Value: int32(index)}, {Key: "code", Value: de.Code}}
	if de.Code == docstore.CodeDuplicateKey {
		d = append(d, bson.E{Key: "keyPattern", Value: de.KeyPattern}, bson.E{Key: "keyValue", Value: de.KeyValue})
	}
	return append(d, bson.E{Key: "errmsg", Value: de.Message})
}

// db is the command's database: $db (OP_MSG), or the namespace an OP_QUERY was sent to.
func (cc *cmdCtx) db() string {
	if cc.req.opCode == opQuery {
		db, _, _ := strings.Cut(cc.req.fullCollectionName, ".")
		return db
	}
	if d, err := cc.body.LookupErr("$db"); err == nil && d.Type == bson.TypeString {
		return d.StringValue()
	}
	return "test"
}

// namespace reads "db.collection" from the command's first field.
func (cc *cmdCtx) namespace() (string, error) {
	v := firstValue(cc.body)
	if v.Type != bson.TypeString || v.StringValue() == "" {
		return "", cmdErr(CodeBadValue, "collection name has invalid type %s", typeName(v.Type))
	}
	return cc.db() + "." + v.StringValue(), nil
}

// doc decodes the whole command for the handlers that read nested arguments.
func (cc *cmdCtx) doc() (bson.D, error) {
	var d bson.D
	if err := bson.Unmarshal(cc.body, &d); err != nil {
		return nil, cmdErr(CodeFailedToParse, "cannot decode command: %v", err)
	}
	return d, nil
}

func field(d bson.D, key string) (any, bool) {
	for _, e := range d {
		if e.Key == key {
			return e.Value, true
		}
	}
	return nil, false
}

// docField returns a document argument; absent or null is nil.
func docField(cmd bson.D, name string) (bson.D, error) {
	v, ok := field(cmd, name)
	if !ok || v == nil {
		return nil, nil
	}
	d, ok := v.(bson.D)
	if !ok {
		return nil, cmdErr(CodeTypeMismatch, "BSON field '%s.%s' is the wrong type '%s', expected type 'object'", cmd[0].Key, name, typeName(bsonTypeOf(v)))
	}
	return d, nil
}

func boolField(cmd bson.D, name string) bool {
	v, ok := field(cmd, name)
	if !ok {
		return false
	}
	switch x := v.(type) {
	case bool:
		return x
	case int32:
		return x != 0
	case int64:
		return x != 0
	case float64:
		return x != 0
	}
	return false
}

func intField(cmd bson.D, name string) (int64, bool) {
	v, ok := field(cmd, name)
	if !ok {
		return 0, false
	}
	switch x := v.(type) {
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case float64:
		return int64(x), true
	}
	return 0, false
}

func bsonTypeOf(v any) bson.Type {
	raw, err := bson.Marshal(bson.D{{Key: "v", Value: v}})
	if err != nil {
		return 0
	}
	return bson.Raw(raw).Lookup("v").Type
}

// statements reads a write command's array argument (documents, updates, deletes), from the
// command or from an OP_MSG document sequence.
func (cc *cmdCtx) statements(cmd bson.D, name string) ([]bson.D, error) {
	var out []bson.D
	for _, raw := range cc.req.sequences[name] {
		var d bson.D
		if err := bson.Unmarshal(raw, &d); err != nil {
			return nil, cmdErr(CodeFailedToParse, "cannot decode %s: %v", name, err)
		}
		out = append(out, d)
	}
	v, ok := field(cmd, name)
	if !ok {
		if len(out) == 0 {
			return nil, cmdErr(CodeFailedToParse, "BSON field '%s.%s' is missing but a required field", cmd[0].Key, name)
		}
		return out, nil
	}
	arr, ok := v.(bson.A)
	if !ok {
		return nil, cmdErr(CodeTypeMismatch, "BSON field '%s.%s' is the wrong type '%s', expected type 'array'", cmd[0].Key, name, typeName(bsonTypeOf(v)))
	}
	for i, x := range arr {
		d, ok := x.(bson.D)
		if !ok {
			return nil, cmdErr(CodeTypeMismatch, "BSON field '%s.%s.%d' is the wrong type '%s', expected type 'object'", cmd[0].Key, name, i, typeName(bsonTypeOf(x)))
		}
		out = append(out, d)
	}
	if len(out) == 0 {
		return nil, cmdErr(CodeInvalidLength, "Write batch sizes must be between 1 and 100000. Got 0 operations.")
	}
	return out, nil
}

// CodeInvalidLength is mongod's code for an empty write batch.
const CodeInvalidLength int32 = 16

func init() { codeNames[CodeInvalidLength] = "InvalidLength" }

// writeConcern is the parsed writeConcern: w 0..n, or majority.
type writeConcern struct {
	w        int64
	majority bool
	timeout  time.Duration
}

// writeConcern reads the command's write concern; without one, the implicit default: majority
// from 5.0 (unless arbiters prevent it), w:1 on 4.4.
func (cc *cmdCtx) writeConcern() (writeConcern, error) {
	wc := writeConcern{w: 1, majority: cc.c.ver().implicitMajority && cc.n.config.implicitMajorityWC()}
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

// writeContext is what every write command checks first: the namespace, primary state, the
// write concern and the deadline.
type writeContext struct {
	ns       string
	cmd      bson.D
	wc       writeConcern
	deadline time.Time
	store    *docstore.Store
}

// refuseCollation rejects a collation rather than ignore it: string comparison without it would
// give other answers than mongod.
func refuseCollation(d bson.D) error {
	if _, ok := field(d, "collation"); ok {
		return cmdErr(CodeBadValue, "collation is not emulated by mongosim")
	}
	return nil
}

func (cc *cmdCtx) beginWrite() (*writeContext, error) {
	ns, err := cc.namespace()
	if err != nil {
		return nil, err
	}
	if !cc.n.writablePrimary() {
		return nil, notPrimaryWrite(cc)
	}
	cmd, err := cc.doc()
	if err != nil {
		return nil, err
	}
	if err := refuseCollation(cmd); err != nil {
		return nil, err
	}
	wc, err := cc.writeConcern()
	if err != nil {
		return nil, err
	}
	if !wc.majority && wc.w > int64(dataBearing(cc.n.config)) {
		return nil, cmdErr(CodeUnsatisfiableWriteConcern, "Not enough data-bearing nodes")
	}
	deadline, err := cc.deadline()
	if err != nil {
		return nil, err
	}
	return &writeContext{ns: ns, cmd: cmd, wc: wc, deadline: deadline, store: cc.c.storeLocked(cc.n)}, nil
}

// finishWrite logs the operations to the oplog and waits for the write concern, adding
// writeConcernError to the reply when it is not met.
func (cc *cmdCtx) finishWrite(w *writeContext, ops []docstore.Op, reply bson.D) bson.D {
	written := cc.c.logOpsLocked(cc.n, ops)
	if len(written) == 0 || (!w.wc.majority && w.wc.w <= 1) {
		return reply
	}
	if wce := cc.c.awaitWriteConcernLocked(cc, w.wc, written, w.deadline); wce != nil {
		reply = append(reply, bson.E{Key: "writeConcernError", Value: wce})
	}
	return reply
}

// writeBatch runs a write command's statements (documents, updates or deletes) in order, each
// through stmt, which returns the operations it performed even when it fails. An ordered batch
// stops at the first failure. reply builds the counters once the batch is done; writeErrors and
// the write concern's outcome are added to it.
func (cc *cmdCtx) writeBatch(name string, stmt func(w *writeContext, i int, st bson.D) ([]docstore.Op, error), reply func() bson.D) (bson.D, error) {
	w, err := cc.beginWrite()
	if err != nil {
		return nil, err
	}
	if err := docstore.CheckNamespace(w.ns); err != nil {
		return nil, fromStore(err)
	}
	stmts, err := cc.statements(w.cmd, name)
	if err != nil {
		return nil, err
	}
	ordered := !boolFalse(w.cmd, "ordered")
	var ops []docstore.Op
	var writeErrors bson.A
	for i, st := range stmts {
		stOps, err := stmt(w, i, st)
		ops = append(ops, stOps...)
		if err != nil {
			writeErrors = append(writeErrors, writeErrorDoc(i, err))
			if ordered {
				break
			}
		}
	}
	r := reply()
	if len(writeErrors) > 0 {
		r = append(r, bson.E{Key: "writeErrors", Value: writeErrors})
	}
	return cc.finishWrite(w, ops, r), nil
}

// boolFalse reports whether a boolean option is present and false (ordered defaults to true).
func boolFalse(cmd bson.D, name string) bool {
	v, ok := field(cmd, name)
	return ok && !boolField(bson.D{{Key: name, Value: v}}, name)
}

func (cc *cmdCtx) insert() (bson.D, error) {
	n := 0
	return cc.writeBatch("documents", func(w *writeContext, _ int, d bson.D) ([]docstore.Op, error) {
		raw, err := bson.Marshal(d)
		if err != nil {
			return nil, err
		}
		op, err := w.store.Insert(w.ns, raw)
		if err != nil {
			return nil, err
		}
		n++
		return []docstore.Op{op}, nil
	}, func() bson.D { return bson.D{{Key: "n", Value: int32(n)}} })
}

func (cc *cmdCtx) update() (bson.D, error) {
	var n, modified int64
	var upserted bson.A
	now := time.Now()
	return cc.writeBatch("updates", func(w *writeContext, i int, st bson.D) ([]docstore.Op, error) {
		res, ops, err := cc.updateStatement(w, st, now)
		n += res.Matched
		modified += res.Modified
		if res.UpsertedID != nil {
			n++
			upserted = append(upserted, bson.D{{Key: "index", Value: int32(i)}, {Key: "_id", Value: res.UpsertedID}})
		}
		return ops, err
	}, func() bson.D {
		r := bson.D{{Key: "n", Value: int32(n)}}
		if len(upserted) > 0 {
			r = append(r, bson.E{Key: "upserted", Value: upserted})
		}
		return append(r, bson.E{Key: "nModified", Value: int32(modified)})
	})
}

func (cc *cmdCtx) updateStatement(w *writeContext, st bson.D, now time.Time) (docstore.UpdateResult, []docstore.Op, error) {
	q, err := docField(st, "q")
	if err != nil {
		return docstore.UpdateResult{}, nil, err
	}
	uv, ok := field(st, "u")
	if !ok {
		return docstore.UpdateResult{}, nil, cmdErr(CodeFailedToParse, "BSON field 'update.updates.u' is missing but a required field")
	}
	u, ok := uv.(bson.D)
	if !ok {
		if _, isArr := uv.(bson.A); isArr {
			return docstore.UpdateResult{}, nil, cmdErr(CodeBadValue, "pipeline-style updates are not emulated by mongosim")
		}
		return docstore.UpdateResult{}, nil, cmdErr(CodeFailedToParse, "Update argument must be either an object or an array")
	}
	if err := refuseCollation(st); err != nil {
		return docstore.UpdateResult{}, nil, err
	}
	if _, ok := field(st, "arrayFilters"); ok {
		return docstore.UpdateResult{}, nil, cmdErr(CodeBadValue, "arrayFilters are not emulated by mongosim")
	}
	return w.store.Update(w.ns, q, u, boolField(st, "multi"), boolField(st, "upsert"), now)
}

func (cc *cmdCtx) delete() (bson.D, error) {
	var n int64
	return cc.writeBatch("deletes", func(w *writeContext, _ int, st bson.D) ([]docstore.Op, error) {
		q, err := docField(st, "q")
		if err != nil {
			return nil, err
		}
		if err := refuseCollation(st); err != nil {
			return nil, err
		}
		limit, ok := intField(st, "limit")
		if !ok {
			return nil, cmdErr(CodeFailedToParse, "BSON field 'delete.deletes.limit' is missing but a required field")
		}
		k, ops, err := w.store.Delete(w.ns, q, limit)
		n += k
		return ops, err
	}, func() bson.D { return bson.D{{Key: "n", Value: int32(n)}} })
}

func (cc *cmdCtx) findAndModify() (bson.D, error) {
	w, err := cc.beginWrite()
	if err != nil {
		return nil, err
	}
	var f docstore.FindAndModify
	for _, a := range []struct {
		name string
		dst  *bson.D
	}{{"query", &f.Query}, {"sort", &f.Sort}, {"fields", &f.Fields}} {
		if *a.dst, err = docField(w.cmd, a.name); err != nil {
			return nil, err
		}
	}
	if uv, ok := field(w.cmd, "update"); ok && uv != nil {
		u, ok := uv.(bson.D)
		if !ok {
			return nil, cmdErr(CodeBadValue, "pipeline-style updates are not emulated by mongosim")
		}
		f.Update = u
	}
	f.Remove, f.New, f.Upsert = boolField(w.cmd, "remove"), boolField(w.cmd, "new"), boolField(w.cmd, "upsert")
	res, ops, err := w.store.FindAndModify(w.ns, f, time.Now())
	if err != nil {
		// Whatever the store already did (a document removed) must reach the oplog all the same.
		cc.c.logOpsLocked(cc.n, ops)
		return nil, fromStore(err)
	}
	leo := bson.D{{Key: "n", Value: int32(res.N)}}
	if !f.Remove {
		leo = append(leo, bson.E{Key: "updatedExisting", Value: res.UpdatedExisting})
	}
	if res.UpsertedID != nil {
		leo = append(leo, bson.E{Key: "upserted", Value: res.UpsertedID})
	}
	var value any
	if res.Value != nil {
		value = res.Value
	}
	return cc.finishWrite(w, ops, bson.D{{Key: "lastErrorObject", Value: leo}, {Key: "value", Value: value}}), nil
}

func (cc *cmdCtx) createIndexes() (bson.D, error) {
	w, err := cc.beginWrite()
	if err != nil {
		return nil, err
	}
	v, ok := field(w.cmd, "indexes")
	arr, isArr := v.(bson.A)
	if !ok || !isArr {
		return nil, cmdErr(CodeFailedToParse, "BSON field 'createIndexes.indexes' is missing but a required field")
	}
	specs, err := documents(arr, "BSON field 'createIndexes.indexes' must hold objects")
	if err != nil {
		return nil, err
	}
	res, ops, err := w.store.CreateIndexes(w.ns, specs)
	if err != nil {
		cc.c.logOpsLocked(cc.n, ops)
		return nil, fromStore(err)
	}
	reply := bson.D{
		{Key: "createdCollectionAutomatically", Value: res.CreatedCollection},
		{Key: "numIndexesBefore", Value: int32(res.Before)},
		{Key: "numIndexesAfter", Value: int32(res.After)},
	}
	if res.Before == res.After {
		return append(reply, bson.E{Key: "note", Value: "all indexes already exist"}), nil
	}
	reply = append(reply, bson.E{Key: "commitQuorum", Value: "votingMembers"})
	written := cc.c.logOpsLocked(cc.n, ops)
	if err := cc.c.awaitCommitQuorumLocked(cc, written[len(written)-1], w.deadline); err != nil {
		return nil, err
	}
	if w.wc.majority || w.wc.w > 1 {
		if wce := cc.c.awaitWriteConcernLocked(cc, w.wc, written, w.deadline); wce != nil {
			reply = append(reply, bson.E{Key: "writeConcernError", Value: wce})
		}
	}
	return reply, nil
}

// awaitCommitQuorumLocked waits, as an index build does since 4.4 (commitQuorum
// "votingMembers"), until every voting data-bearing member of the current config holds the
// build: a voter that is down holds it up until it returns or leaves the config. maxTimeMS ends
// the wait with 50, the build going on; losing the primary role ends it with 11602.
func (c *Cluster) awaitCommitQuorumLocked(cc *cmdCtx, last OpTime, deadline time.Time) error {
	n := cc.n
	term := n.term
	built := func() bool {
		for _, m := range n.config.Members {
			x := c.nodes[m.Host]
			if !m.dataBearingVoter() {
				continue
			}
			if x == nil || (x != n && !c.linkedLocked(n, x)) || indexOf(x.oplog, last) < 0 {
				return false
			}
		}
		return true
	}
	res := c.waitLocked(cc.down, deadline, func() bool { return n.state != StatePrimary || n.term != term || built() })
	switch {
	case res == waitOK && n.state == StatePrimary && n.term == term:
		return nil
	case res == waitTimeout:
		return cmdErr(CodeMaxTimeMSExpired, "operation exceeded time limit")
	}
	return cmdErr(CodeInterruptedDueToReplStateChange, "Index build interrupted due to change in replication state")
}

func (cc *cmdCtx) create() (bson.D, error) {
	w, err := cc.beginWrite()
	if err != nil {
		return nil, err
	}
	op, err := w.store.Create(w.ns)
	if err != nil {
		return nil, fromStore(err)
	}
	return cc.finishWrite(w, []docstore.Op{op}, bson.D{}), nil
}

func (cc *cmdCtx) drop() (bson.D, error) {
	w, err := cc.beginWrite()
	if err != nil {
		return nil, err
	}
	n, op, err := w.store.Drop(w.ns)
	if err != nil {
		var de *docstore.Error
		if errors.As(err, &de) && de.Code == docstore.CodeNamespaceNotFound && cc.c.ver().dropMissingOK {
			return bson.D{}, nil
		}
		return nil, fromStore(err)
	}
	return cc.finishWrite(w, []docstore.Op{op}, bson.D{{Key: "nIndexesWas", Value: int32(n)}, {Key: "ns", Value: w.ns}}), nil
}

func (cc *cmdCtx) dropDatabase() (bson.D, error) {
	if !cc.n.writablePrimary() {
		return nil, notPrimaryWrite(cc)
	}
	w := &writeContext{store: cc.c.storeLocked(cc.n)}
	var err error
	if w.wc, err = cc.writeConcern(); err != nil {
		return nil, err
	}
	if w.deadline, err = cc.deadline(); err != nil {
		return nil, err
	}
	db := cc.db()
	op, err := w.store.DropDatabase(db)
	if err != nil {
		return nil, fromStore(err)
	}
	return cc.finishWrite(w, []docstore.Op{op}, bson.D{{Key: "dropped", Value: db}}), nil
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

// readable checks the node may serve reads: a primary always, a secondary when the client allows
// it (a non-primary $readPreference, or OP_QUERY's secondaryOk flag).
func (cc *cmdCtx) readable() error {
	switch {
	case cc.n.writablePrimary():
		return nil
	case cc.n.state == StateSecondary, cc.n.state == StatePrimary:
		// A draining primary serves reads as a secondary does, as mongod's does.
		if cc.secondaryOk {
			return nil
		}
		rp, err := cc.body.LookupErr("$readPreference", "mode")
		if err == nil && rp.Type == bson.TypeString && rp.StringValue() != "primary" {
			return nil
		}
		return cmdErr(CodeNotPrimaryNoSecondaryOk, "not primary and secondaryOk=false")
	}
	return cmdErr(CodeNotPrimaryOrSecondary, "node is not in primary or recovering state")
}

// beginRead checks the node may serve the read and returns the command and the store.
func (cc *cmdCtx) beginRead() (bson.D, *docstore.Store, error) {
	if err := cc.readable(); err != nil {
		return nil, nil, err
	}
	cmd, err := cc.doc()
	if err != nil {
		return nil, nil, err
	}
	if err := refuseCollation(cmd); err != nil {
		return nil, nil, err
	}
	return cmd, cc.c.storeLocked(cc.n), nil
}

// Cursor batches follow mongod: a first batch of 101 documents unless batchSize says otherwise,
// later batches as large as the client asks, and never more than 16 MiB of documents in a reply.
const (
	defaultFirstBatch = 101
	maxBatchBytes     = 16 * 1024 * 1024
)

// cursorReply returns a first batch and keeps the rest in a cursor on this node.
func (cc *cmdCtx) cursorReply(ns string, docs []bson.Raw, batchSize int64, single bool) bson.D {
	if batchSize <= 0 {
		batchSize = defaultFirstBatch
	}
	batch, rest := cutBatch(docs, batchSize)
	id := int64(0)
	if len(rest) > 0 && !single {
		cursors := cc.c.cursorsLocked(cc.n)
		for id == 0 || cursors[id] != nil {
			id = cc.c.rnd.Int64N(1<<62) + 1
		}
		cursors[id] = &cursor{ns: ns, docs: rest}
	}
	return bson.D{{Key: "cursor", Value: bson.D{
		{Key: "firstBatch", Value: batch},
		{Key: "id", Value: id},
		{Key: "ns", Value: ns},
	}}}
}

func cutBatch(docs []bson.Raw, size int64) (bson.A, []bson.Raw) {
	batch := bson.A{}
	bytes := 0
	i := 0
	for ; i < len(docs); i++ {
		if (size > 0 && int64(i) >= size) || (i > 0 && bytes+len(docs[i]) > maxBatchBytes) {
			break
		}
		bytes += len(docs[i])
		batch = append(batch, docs[i])
	}
	return batch, docs[i:]
}

func (cc *cmdCtx) find() (bson.D, error) {
	ns, err := cc.namespace()
	if err != nil {
		return nil, err
	}
	cmd, store, err := cc.beginRead()
	if err != nil {
		return nil, err
	}
	var q docstore.Query
	for _, a := range []struct {
		name string
		dst  *bson.D
	}{{"filter", &q.Filter}, {"sort", &q.Sort}, {"projection", &q.Projection}} {
		if *a.dst, err = docField(cmd, a.name); err != nil {
			return nil, err
		}
	}
	q.Skip, _ = intField(cmd, "skip")
	q.Limit, _ = intField(cmd, "limit")
	single := boolField(cmd, "singleBatch") || q.Limit < 0
	if q.Limit < 0 {
		q.Limit = -q.Limit
	}
	docs, err := store.Find(ns, q)
	if err != nil {
		return nil, fromStore(err)
	}
	batchSize, _ := intField(cmd, "batchSize")
	if q.Limit > 0 && (batchSize <= 0 || batchSize > q.Limit) && q.Limit <= defaultFirstBatch {
		batchSize = q.Limit
	}
	return cc.cursorReply(ns, docs, batchSize, single), nil
}

func (cc *cmdCtx) getMore() (bson.D, error) {
	id, ok := asInt(firstValue(cc.body))
	if !ok {
		return nil, cmdErr(CodeTypeMismatch, "BSON field 'getMore.getMore' is the wrong type, expected type 'long'")
	}
	cmd, err := cc.doc()
	if err != nil {
		return nil, err
	}
	coll, _ := field(cmd, "collection")
	collName, _ := coll.(string)
	cursors := cc.c.cursorsLocked(cc.n)
	cur := cursors[id]
	if cur == nil {
		return nil, cmdErr(CodeCursorNotFound, "cursor id %d not found", id)
	}
	if ns := cc.db() + "." + collName; ns != cur.ns {
		return nil, cmdErr(CodeUnauthorized, "Requested getMore on namespace '%s', but cursor belongs to a different namespace %s", ns, cur.ns)
	}
	batchSize, _ := intField(cmd, "batchSize")
	batch, rest := cutBatch(cur.docs, batchSize)
	cur.docs = rest
	next := id
	if len(rest) == 0 {
		delete(cursors, id)
		next = 0
	}
	return bson.D{{Key: "cursor", Value: bson.D{
		{Key: "nextBatch", Value: batch},
		{Key: "id", Value: next},
		{Key: "ns", Value: cur.ns},
	}}}, nil
}

func (cc *cmdCtx) killCursors() (bson.D, error) {
	cmd, err := cc.doc()
	if err != nil {
		return nil, err
	}
	ids, _ := field(cmd, "cursors")
	arr, _ := ids.(bson.A)
	cursors := cc.c.cursorsLocked(cc.n)
	killed, notFound := bson.A{}, bson.A{}
	for _, x := range arr {
		var id int64
		switch v := x.(type) {
		case int64:
			id = v
		case int32:
			id = int64(v)
		}
		if cursors[id] != nil {
			delete(cursors, id)
			killed = append(killed, id)
		} else {
			notFound = append(notFound, id)
		}
	}
	return bson.D{
		{Key: "cursorsKilled", Value: killed},
		{Key: "cursorsNotFound", Value: notFound},
		{Key: "cursorsAlive", Value: bson.A{}},
		{Key: "cursorsUnknown", Value: bson.A{}},
	}, nil
}

func (cc *cmdCtx) count() (bson.D, error) {
	ns, err := cc.namespace()
	if err != nil {
		return nil, err
	}
	cmd, store, err := cc.beginRead()
	if err != nil {
		return nil, err
	}
	q, err := docField(cmd, "query")
	if err != nil {
		return nil, err
	}
	skip, _ := intField(cmd, "skip")
	limit, _ := intField(cmd, "limit")
	n, err := store.Count(ns, q, skip, limit)
	if err != nil {
		return nil, fromStore(err)
	}
	return bson.D{{Key: "n", Value: int32(n)}}, nil
}

func (cc *cmdCtx) aggregate() (bson.D, error) {
	cmd, store, err := cc.beginRead()
	if err != nil {
		return nil, err
	}
	coll, ok := cmd[0].Value.(string)
	if !ok {
		return nil, cmdErr(CodeBadValue, "collection-less aggregation is not emulated by mongosim")
	}
	ns := cc.db() + "." + coll
	pv, _ := field(cmd, "pipeline")
	arr, ok := pv.(bson.A)
	if !ok {
		return nil, cmdErr(CodeTypeMismatch, "'pipeline' option must be specified as an array")
	}
	stages, err := documents(arr, "Each element of the 'pipeline' array must be an object")
	if err != nil {
		return nil, err
	}
	cur, err := docField(cmd, "cursor")
	if err != nil {
		return nil, err
	}
	if _, ok := field(cmd, "cursor"); !ok {
		return nil, cmdErr(CodeFailedToParse, "The 'cursor' option is required, except for aggregate with the explain argument")
	}
	docs, err := store.Aggregate(ns, stages)
	if err != nil {
		return nil, fromStore(err)
	}
	batchSize, _ := intField(cur, "batchSize")
	return cc.cursorReply(ns, docs, batchSize, false), nil
}

func (cc *cmdCtx) listIndexes() (bson.D, error) {
	ns, err := cc.namespace()
	if err != nil {
		return nil, err
	}
	_, store, err := cc.beginRead()
	if err != nil {
		return nil, err
	}
	specs, err := store.ListIndexes(ns)
	if err != nil {
		return nil, fromStore(err)
	}
	return cc.cursorReply(ns, specs, 0, false), nil
}

func (cc *cmdCtx) listCollections() (bson.D, error) {
	cmd, store, err := cc.beginRead()
	if err != nil {
		return nil, err
	}
	filter, err := docField(cmd, "filter")
	if err != nil {
		return nil, err
	}
	list, err := store.ListCollections(cc.db(), filter, boolField(cmd, "nameOnly"))
	if err != nil {
		return nil, fromStore(err)
	}
	return cc.cursorReply(cc.db()+".$cmd.listCollections", list, 0, false), nil
}

// documents returns arr's elements as documents, or TypeMismatch with mongod's message for the
// field when one is not.
func documents(arr bson.A, notDocument string) ([]bson.D, error) {
	out := make([]bson.D, 0, len(arr))
	for _, x := range arr {
		d, ok := x.(bson.D)
		if !ok {
			return nil, cmdErr(CodeTypeMismatch, "%s", notDocument)
		}
		out = append(out, d)
	}
	return out, nil
}
