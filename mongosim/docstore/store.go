package docstore

import (
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Store is one node's data: every collection of every database, by namespace ("db.coll").
// It is not safe for concurrent use; mongosim guards each node's store with the cluster mutex.
type Store struct {
	colls map[string]*collection
}

// New returns an empty store.
func New() *Store { return &Store{colls: map[string]*collection{}} }

type record struct {
	doc bson.D
	raw bson.Raw
	id  string // keyOf(_id)
}

// collection keeps documents in insertion order (MongoDB's natural order without a sort), with
// an _id map and its indexes.
type collection struct {
	ns      string
	records []*record
	byID    map[string]int
	indexes []*index
}

func newCollection(ns string) *collection {
	c := &collection{ns: ns, byID: map[string]int{}}
	c.indexes = []*index{idIndex()}
	return c
}

// SplitNS cuts "db.coll" at the first dot.
func SplitNS(ns string) (db, coll string) {
	db, coll, _ = strings.Cut(ns, ".")
	return db, coll
}

// CheckNamespace refuses the namespaces mongod refuses for user writes (73), such as the
// system.indexes collection old drivers insert index specs into.
func CheckNamespace(ns string) error { return checkNS(ns) }

func checkNS(ns string) error {
	db, coll := SplitNS(ns)
	switch {
	case db == "" || coll == "" || strings.ContainsAny(ns, "\x00") || strings.Contains(coll, "$"):
		return errorf(CodeInvalidNamespace, "Invalid namespace specified '%s'", ns)
	case strings.HasPrefix(coll, "system.") && coll != "system.js":
		return errorf(CodeInvalidNamespace, "Invalid system namespace: %s", ns)
	}
	return nil
}

func (s *Store) coll(ns string) *collection { return s.colls[ns] }

// collFor returns the collection, creating it as an insert or upsert implicitly does; created
// reports whether it did.
func (s *Store) collFor(ns string) (c *collection, created bool) {
	if c := s.colls[ns]; c != nil {
		return c, false
	}
	c = newCollection(ns)
	s.colls[ns] = c
	return c, true
}

// Exists reports whether the collection exists.
func (s *Store) Exists(ns string) bool { return s.colls[ns] != nil }

// Collections returns the namespaces of database db, sorted.
func (s *Store) Collections(db string) []string {
	var out []string
	for ns := range s.colls {
		if d, _ := SplitNS(ns); d == db {
			out = append(out, ns)
		}
	}
	slices.Sort(out)
	return out
}

// Len returns how many documents the collection holds (0 when it does not exist).
func (s *Store) Len(ns string) int {
	if c := s.colls[ns]; c != nil {
		return len(c.records)
	}
	return 0
}

// Get returns the document with the given _id.
func (s *Store) Get(ns string, id any) (bson.Raw, bool) {
	c := s.colls[ns]
	if c == nil {
		return nil, false
	}
	i, ok := c.byID[keyOf(id)]
	if !ok {
		return nil, false
	}
	return c.records[i].raw, true
}

// checkUnique reports the first unique index that doc would violate (ignoring the document with
// the same _id, which it replaces).
func (c *collection) checkUnique(doc bson.D, id string) error {
	for _, ix := range c.indexes {
		if !ix.unique {
			continue
		}
		for _, k := range ix.keys(doc) {
			if other, ok := ix.entries[k.key]; ok && other != id {
				return dupKeyError(c.ns, ix, k.value)
			}
		}
	}
	return nil
}

// put inserts or replaces by _id. Unique constraints were checked by the caller (or, replaying
// the oplog, by the primary that wrote it).
func (c *collection) put(doc bson.D, raw bson.Raw) {
	idv, _ := getField(doc, "_id")
	id := keyOf(idv)
	r := &record{doc: doc, raw: raw, id: id}
	if i, ok := c.byID[id]; ok {
		c.unindex(c.records[i])
		c.records[i] = r
	} else {
		c.byID[id] = len(c.records)
		c.records = append(c.records, r)
	}
	c.index(r)
}

func (c *collection) remove(id string) bool {
	i, ok := c.byID[id]
	if !ok {
		return false
	}
	c.unindex(c.records[i])
	c.records = slices.Delete(c.records, i, i+1)
	delete(c.byID, id)
	for j := i; j < len(c.records); j++ {
		c.byID[c.records[j].id] = j
	}
	return true
}

func (c *collection) index(r *record) {
	for _, ix := range c.indexes {
		if !ix.unique {
			continue
		}
		for _, k := range ix.keys(r.doc) {
			ix.entries[k.key] = r.id
		}
	}
}

func (c *collection) unindex(r *record) {
	for _, ix := range c.indexes {
		if !ix.unique {
			continue
		}
		for _, k := range ix.keys(r.doc) {
			if ix.entries[k.key] == r.id {
				delete(ix.entries, k.key)
			}
		}
	}
}

// OpKind is the kind of an oplog operation, as mongod names them.
type OpKind string

// Operation kinds.
const (
	OpInsert  OpKind = "i"
	OpUpdate  OpKind = "u"
	OpDelete  OpKind = "d"
	OpCommand OpKind = "c"
)

// Op is one operation a write performed. Insert and update carry the whole resulting document,
// delete carries {_id}, and a command carries its command document with NS "db.$cmd".
type Op struct {
	Kind OpKind
	NS   string
	Doc  bson.Raw
}

func cmdOp(db string, d bson.D) (Op, error) {
	raw, err := marshalDoc(d)
	if err != nil {
		return Op{}, err
	}
	return Op{Kind: OpCommand, NS: db + ".$cmd", Doc: raw}, nil
}

// Apply performs one operation as a secondary replays it: inserts and updates put the document
// by _id, deletes remove it, commands create or drop collections and indexes. Constraints are
// not re-checked; the primary checked them.
func (s *Store) Apply(op Op) error {
	switch op.Kind {
	case OpInsert, OpUpdate:
		d, err := decodeDoc(op.Doc)
		if err != nil {
			return err
		}
		if _, ok := getField(d, "_id"); !ok {
			return errorf(CodeBadValue, "%s operation without _id on %s", op.Kind, op.NS)
		}
		c, _ := s.collFor(op.NS)
		c.put(d, op.Doc)
		return nil
	case OpDelete:
		d, err := decodeDoc(op.Doc)
		if err != nil {
			return err
		}
		id, ok := getField(d, "_id")
		if !ok {
			return errorf(CodeBadValue, "delete operation without _id on %s", op.NS)
		}
		if c := s.colls[op.NS]; c != nil {
			c.remove(keyOf(id))
		}
		return nil
	case OpCommand:
		d, err := decodeDoc(op.Doc)
		if err != nil {
			return err
		}
		return s.applyCommand(op.NS, d)
	}
	return errorf(CodeBadValue, "unknown operation kind %q", op.Kind)
}

func (s *Store) applyCommand(ns string, d bson.D) error {
	if len(d) == 0 {
		return errorf(CodeBadValue, "empty command operation")
	}
	db, _ := SplitNS(ns)
	name, _ := d[0].Value.(string)
	switch d[0].Key {
	case "create":
		s.collFor(db + "." + name)
	case "drop":
		delete(s.colls, db+"."+name)
	case "dropDatabase":
		for _, n := range s.Collections(db) {
			delete(s.colls, n)
		}
	case "createIndexes":
		spec, _ := getField(d, "spec")
		sd, ok := spec.(bson.D)
		if !ok {
			return errorf(CodeBadValue, "createIndexes operation without spec")
		}
		ix, err := parseIndexSpec(sd)
		if err != nil {
			return err
		}
		c, _ := s.collFor(db + "." + name)
		c.addIndex(ix)
	case "dropIndexes":
		idx, _ := getField(d, "index")
		iname, _ := idx.(string)
		if c := s.colls[db+"."+name]; c != nil {
			c.indexes = slices.DeleteFunc(c.indexes, func(ix *index) bool { return ix.name == iname && iname != "_id_" })
		}
	default:
		return errorf(CodeBadValue, "unknown command operation %q", d[0].Key)
	}
	return nil
}
