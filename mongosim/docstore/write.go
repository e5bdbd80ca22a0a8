package docstore

import (
	"bytes"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Insert stores one document, giving it an ObjectId _id first when it has none, and returns the
// operation to log. The _id index and unique indexes are enforced (11000).
func (s *Store) Insert(ns string, raw bson.Raw) (Op, error) {
	if err := checkNS(ns); err != nil {
		return Op{}, err
	}
	doc, err := decodeDoc(raw)
	if err != nil {
		return Op{}, err
	}
	if id, ok := getField(doc, "_id"); ok {
		if _, isArr := id.(bson.A); isArr {
			return Op{}, errorf(CodeBadValue, "can't use an array for _id")
		}
		if _, isRe := id.(bson.Regex); isRe {
			return Op{}, errorf(CodeBadValue, "can't use a regex for _id")
		}
	}
	doc = idFirst(doc)
	for _, e := range doc {
		if len(e.Key) > 0 && e.Key[0] == '$' {
			return Op{}, errorf(CodeDollarPrefixedFieldName, "Document can't have $ prefixed field names: %s", e.Key)
		}
	}
	return s.storeNew(ns, doc)
}

// storeNew checks unique indexes, stores a new document and returns its insert operation.
func (s *Store) storeNew(ns string, doc bson.D) (Op, error) {
	raw, err := marshalDoc(doc)
	if err != nil {
		return Op{}, err
	}
	c, created := s.collFor(ns)
	err = c.checkParallelArrays(doc)
	if err == nil {
		err = c.checkUnique(doc, "")
	}
	if err != nil {
		if created {
			delete(s.colls, ns)
		}
		return Op{}, err
	}
	c.put(doc, raw)
	return Op{Kind: OpInsert, NS: ns, Doc: raw}, nil
}

// UpdateResult is what an update statement did: documents matched and changed, and the _id of
// the document an upsert inserted.
type UpdateResult struct {
	Matched    int64
	Modified   int64
	UpsertedID any // nil unless a document was inserted
}

// Update applies one update statement (q, u, multi, upsert). It returns the operations it
// performed even when it fails part-way, as mongod keeps the documents a multi-update already
// changed.
func (s *Store) Update(ns string, filter, update bson.D, multi, upsert bool, now time.Time) (UpdateResult, []Op, error) {
	var res UpdateResult
	if err := checkNS(ns); err != nil {
		return res, nil, err
	}
	if err := canonAll(&filter, &update); err != nil {
		return res, nil, err
	}
	spec, err := parseUpdate(update)
	if err != nil {
		return res, nil, err
	}
	if multi && spec.replacement != nil {
		return res, nil, errorf(CodeFailedToParse, "multi update is not supported for replacement-style update")
	}
	limit := int64(1)
	if multi {
		limit = 0
	}
	recs, err := s.selectRecords(ns, filter, nil, 0, limit)
	if err != nil {
		return res, nil, err
	}
	var ops []Op
	for _, r := range recs {
		res.Matched++
		op, changed, err := s.rewrite(ns, r, spec, now)
		if err != nil {
			return res, ops, err
		}
		if changed {
			res.Modified++
			ops = append(ops, op)
		}
	}
	if len(recs) > 0 || !upsert {
		return res, ops, nil
	}
	op, id, err := s.upsert(ns, filter, spec, now)
	if err != nil {
		return res, ops, err
	}
	res.UpsertedID = id
	return res, append(ops, op), nil
}

// rewrite applies spec to one stored document; changed is false when the result is identical.
func (s *Store) rewrite(ns string, r *record, spec *updateSpec, now time.Time) (Op, bool, error) {
	doc, err := spec.apply(r.doc, false, now)
	if err != nil {
		return Op{}, false, err
	}
	raw, err := marshalDoc(doc)
	if err != nil {
		return Op{}, false, err
	}
	if bytes.Equal(raw, r.raw) {
		return Op{}, false, nil
	}
	c := s.colls[ns]
	if err := c.checkParallelArrays(doc); err != nil {
		return Op{}, false, err
	}
	if err := c.checkUnique(doc, r.id); err != nil {
		return Op{}, false, err
	}
	c.put(doc, raw)
	return Op{Kind: OpUpdate, NS: ns, Doc: raw}, true, nil
}

func (s *Store) upsert(ns string, filter bson.D, spec *updateSpec, now time.Time) (Op, any, error) {
	seed, err := upsertSeed(filter)
	if err != nil {
		return Op{}, nil, err
	}
	var doc bson.D
	if spec.replacement != nil {
		doc, err = spec.apply(bson.D{}, true, now)
		if err == nil {
			if _, has := getField(doc, "_id"); !has {
				if id, ok := getField(seed, "_id"); ok {
					doc = append(bson.D{{Key: "_id", Value: id}}, doc...)
				}
			}
		}
	} else {
		doc, err = spec.apply(seed, true, now)
	}
	if err != nil {
		return Op{}, nil, err
	}
	doc = idFirst(doc)
	op, err := s.storeNew(ns, doc)
	if err != nil {
		return Op{}, nil, err
	}
	id, _ := getField(doc, "_id")
	return op, id, nil
}

// Delete removes the matching documents (at most one when limit is 1) and returns how many.
func (s *Store) Delete(ns string, filter bson.D, limit int64) (int64, []Op, error) {
	if err := checkNS(ns); err != nil {
		return 0, nil, err
	}
	if limit != 0 && limit != 1 {
		return 0, nil, errorf(CodeFailedToParse, "The limit field in delete objects must be 0 or 1. Got %d", limit)
	}
	recs, err := s.selectRecords(ns, filter, nil, 0, limit)
	if err != nil {
		return 0, nil, err
	}
	var ops []Op
	for _, r := range recs {
		op, err := s.deleteRecord(ns, r)
		if err != nil {
			return int64(len(ops)), ops, err
		}
		ops = append(ops, op)
	}
	return int64(len(ops)), ops, nil
}

func (s *Store) deleteRecord(ns string, r *record) (Op, error) {
	id, _ := getField(r.doc, "_id")
	raw, err := marshalDoc(bson.D{{Key: "_id", Value: id}})
	if err != nil {
		return Op{}, err
	}
	s.colls[ns].remove(r.id)
	return Op{Kind: OpDelete, NS: ns, Doc: raw}, nil
}

// FindAndModify is the findAndModify command's input.
type FindAndModify struct {
	Query, Sort, Update, Fields bson.D
	Remove, New, Upsert         bool
}

// FindAndModifyResult is its outcome: the document before or after (nil when none), and the
// lastErrorObject fields.
type FindAndModifyResult struct {
	Value           bson.Raw
	N               int64
	UpdatedExisting bool
	UpsertedID      any
}

// FindAndModify updates or removes the first document the query and sort select.
func (s *Store) FindAndModify(ns string, f FindAndModify, now time.Time) (FindAndModifyResult, []Op, error) {
	var res FindAndModifyResult
	if err := checkNS(ns); err != nil {
		return res, nil, err
	}
	if err := canonAll(&f.Query, &f.Sort, &f.Update, &f.Fields); err != nil {
		return res, nil, err
	}
	if f.Remove && (f.Update != nil || f.New || f.Upsert) {
		return res, nil, errorf(CodeFailedToParse, "Cannot specify both an update and remove=true")
	}
	if !f.Remove && f.Update == nil {
		return res, nil, errorf(CodeFailedToParse, "Either an update or remove=true must be specified")
	}
	proj, err := compileProjection(f.Fields)
	if err != nil {
		return res, nil, err
	}
	recs, err := s.selectRecords(ns, f.Query, f.Sort, 0, 1)
	if err != nil {
		return res, nil, err
	}
	show := func(d bson.D) (bson.Raw, error) {
		if proj != nil {
			d = proj.apply(d)
		}
		return marshalDoc(d)
	}
	if f.Remove {
		if len(recs) == 0 {
			return res, nil, nil
		}
		res.N = 1
		if res.Value, err = show(recs[0].doc); err != nil {
			return res, nil, err
		}
		op, err := s.deleteRecord(ns, recs[0])
		if err != nil {
			return res, nil, err
		}
		return res, []Op{op}, nil
	}
	spec, err := parseUpdate(f.Update)
	if err != nil {
		return res, nil, err
	}
	if len(recs) == 0 {
		if !f.Upsert {
			return res, nil, nil
		}
		op, id, err := s.upsert(ns, f.Query, spec, now)
		if err != nil {
			return res, nil, err
		}
		res.N, res.UpsertedID = 1, id
		if f.New {
			d, err := decodeDoc(op.Doc)
			if err != nil {
				return res, nil, err
			}
			if res.Value, err = show(d); err != nil {
				return res, nil, err
			}
		}
		return res, []Op{op}, nil
	}
	r := recs[0]
	res.N, res.UpdatedExisting = 1, true
	before := r.doc
	op, changed, err := s.rewrite(ns, r, spec, now)
	if err != nil {
		return res, nil, err
	}
	var ops []Op
	after := before
	if changed {
		ops = append(ops, op)
		if after, err = decodeDoc(op.Doc); err != nil {
			return res, ops, err
		}
	}
	shown := before
	if f.New {
		shown = after
	}
	if res.Value, err = show(shown); err != nil {
		return res, ops, err
	}
	return res, ops, nil
}

// IndexResult is what createIndexes reports.
type IndexResult struct {
	CreatedCollection bool
	Before, After     int
}

// CreateIndexes adds the indexes of specs to the collection, creating it if needed. An index
// identical to an existing one is skipped; a name or key clash fails (86, 85); a unique index
// over duplicate values fails with 11000 and is not created.
func (s *Store) CreateIndexes(ns string, specs []bson.D) (IndexResult, []Op, error) {
	var res IndexResult
	if err := checkNS(ns); err != nil {
		return res, nil, err
	}
	if len(specs) == 0 {
		return res, nil, errorf(CodeBadValue, "Must specify at least one index to create")
	}
	var parsed []*index
	for _, sp := range specs {
		sp, err := canon(sp)
		if err != nil {
			return res, nil, err
		}
		ix, err := parseIndexSpec(sp)
		if err != nil {
			return res, nil, err
		}
		parsed = append(parsed, ix)
	}
	db, coll := SplitNS(ns)
	c := s.colls[ns]
	var ops []Op
	if c == nil {
		op, err := cmdOp(db, bson.D{{Key: "create", Value: coll}})
		if err != nil {
			return res, nil, err
		}
		ops = append(ops, op)
		c, _ = s.collFor(ns)
		res.CreatedCollection = true
	}
	res.Before = len(c.indexes)
	for _, ix := range parsed {
		if old := c.findIndex(ix.name); old != nil {
			if compareDocs(old.key, ix.key) != 0 {
				return res, ops, errorf(CodeIndexKeySpecsConflict, "An existing index has the same name as the requested index. When index names are not specified, they are auto generated and can cause conflicts. Please refer to our documentation. Requested index: %s, existing index: %s", formatDoc(ix.spec), formatDoc(old.spec))
			}
			if !sameOptions(old, ix) {
				return res, ops, errorf(CodeIndexKeySpecsConflict, "An existing index has the same name as the requested index. Requested index: %s, existing index: %s", formatDoc(ix.spec), formatDoc(old.spec))
			}
			continue
		}
		for _, old := range c.indexes {
			if compareDocs(old.key, ix.key) == 0 && sameOptions(old, ix) {
				return res, ops, errorf(CodeIndexOptionsConflict, "Index already exists with a different name: %s", old.name)
			}
		}
		if len(ix.key) > 1 {
			probe := &collection{ns: ns, indexes: []*index{ix}}
			for _, r := range c.records {
				if err := probe.checkParallelArrays(r.doc); err != nil {
					return res, ops, err
				}
			}
		}
		if ix.unique {
			seen := map[string]bool{}
			for _, r := range c.records {
				for _, k := range ix.keys(r.doc) {
					if seen[k.key] {
						return res, ops, dupKeyError(ns, ix, k.value)
					}
					seen[k.key] = true
				}
			}
		}
		op, err := cmdOp(db, bson.D{{Key: "createIndexes", Value: coll}, {Key: "spec", Value: ix.spec}})
		if err != nil {
			return res, ops, err
		}
		c.addIndex(ix)
		ops = append(ops, op)
	}
	res.After = len(c.indexes)
	return res, ops, nil
}

// ListIndexes returns the collection's index specs; a missing collection is an error (26).
func (s *Store) ListIndexes(ns string) ([]bson.Raw, error) {
	c := s.colls[ns]
	if c == nil {
		return nil, errorf(CodeNamespaceNotFound, "ns does not exist: %s", ns)
	}
	var out []bson.Raw
	for _, ix := range c.indexes {
		raw, err := marshalDoc(ix.spec)
		if err != nil {
			return nil, err
		}
		out = append(out, raw)
	}
	return out, nil
}

// ListCollections returns listCollections' entries for database db that match filter (which
// sees name, type, options, info and idIndex, as on mongod).
func (s *Store) ListCollections(db string, filter bson.D, nameOnly bool) ([]bson.Raw, error) {
	m, err := Compile(filter)
	if err != nil {
		return nil, err
	}
	var out []bson.Raw
	for _, ns := range s.Collections(db) {
		_, name := SplitNS(ns)
		full := bson.D{
			{Key: "name", Value: name},
			{Key: "type", Value: "collection"},
			{Key: "options", Value: bson.D{}},
			{Key: "info", Value: bson.D{{Key: "readOnly", Value: false}}},
			{Key: "idIndex", Value: idIndex().spec},
		}
		if !m.Match(full) {
			continue
		}
		if nameOnly {
			full = full[:2]
		}
		raw, err := marshalDoc(full)
		if err != nil {
			return nil, err
		}
		out = append(out, raw)
	}
	return out, nil
}

// Create creates an empty collection; it fails with 48 when it exists.
func (s *Store) Create(ns string) (Op, error) {
	if err := checkNS(ns); err != nil {
		return Op{}, err
	}
	if s.colls[ns] != nil {
		return Op{}, errorf(CodeNamespaceExists, "Collection %s already exists.", ns)
	}
	db, coll := SplitNS(ns)
	op, err := cmdOp(db, bson.D{{Key: "create", Value: coll}})
	if err != nil {
		return Op{}, err
	}
	s.collFor(ns)
	return op, nil
}

// Drop removes a collection and its indexes, returning how many indexes it had; a missing
// collection is an error (26), which mongod before 7.0 reports as "ns not found".
func (s *Store) Drop(ns string) (int, Op, error) {
	c := s.colls[ns]
	if c == nil {
		return 0, Op{}, errorf(CodeNamespaceNotFound, "ns not found")
	}
	db, coll := SplitNS(ns)
	op, err := cmdOp(db, bson.D{{Key: "drop", Value: coll}})
	if err != nil {
		return 0, Op{}, err
	}
	delete(s.colls, ns)
	return len(c.indexes), op, nil
}

// DropDatabase removes every collection of db.
func (s *Store) DropDatabase(db string) (Op, error) {
	op, err := cmdOp(db, bson.D{{Key: "dropDatabase", Value: int32(1)}})
	if err != nil {
		return Op{}, err
	}
	for _, ns := range s.Collections(db) {
		delete(s.colls, ns)
	}
	return op, nil
}
