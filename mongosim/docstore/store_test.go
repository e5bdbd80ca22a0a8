package docstore

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

var now = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

const ns = "letschat.users"

// replay applies ops to a second store, so that every test also proves that the oplog a write
// returns rebuilds the same state on a secondary.
type replayed struct {
	t       *testing.T
	primary *Store
	replica *Store
}

func newReplayed(t *testing.T) *replayed { return &replayed{t: t, primary: New(), replica: New()} }

func (r *replayed) apply(ops ...Op) {
	r.t.Helper()
	for _, op := range ops {
		if err := r.replica.Apply(op); err != nil {
			r.t.Fatalf("replay %s %s: %v", op.Kind, op.NS, err)
		}
	}
}

func (r *replayed) insert(ns, doc string) error {
	r.t.Helper()
	op, err := r.primary.Insert(ns, raw(r.t, j(r.t, doc)))
	if err == nil {
		r.apply(op)
	}
	return err
}

func (r *replayed) find(ns string, q Query) []string {
	r.t.Helper()
	docs, err := r.primary.Find(ns, q)
	if err != nil {
		r.t.Fatal(err)
	}
	again, err := r.replica.Find(ns, q)
	if err != nil {
		r.t.Fatal(err)
	}
	var out []string
	for _, d := range docs {
		out = append(out, js(r.t, d))
	}
	var rep []string
	for _, d := range again {
		rep = append(rep, js(r.t, d))
	}
	if strings.Join(out, "\n") != strings.Join(rep, "\n") {
		r.t.Fatalf("replica diverged on %s:\nprimary %v\nreplica %v", ns, out, rep)
	}
	return out
}

func TestInsertAssignsIDAndEnforcesUniqueIndexes(t *testing.T) {
	r := newReplayed(t)
	res, ops, err := r.primary.CreateIndexes(ns, []bson.D{j(t, `{"key": {"email": 1}, "name": "email_1", "unique": true}`)})
	if err != nil || !res.CreatedCollection || res.Before != 1 || res.After != 2 {
		t.Fatalf("createIndexes = %+v, %v", res, err)
	}
	r.apply(ops...)
	if err := r.insert(ns, `{"email": "a@x", "username": "a"}`); err != nil {
		t.Fatal(err)
	}
	err = r.insert(ns, `{"email": "a@x", "username": "b"}`)
	e, ok := err.(*Error)
	if !ok || e.Code != CodeDuplicateKey {
		t.Fatalf("second insert: %v, want E11000", err)
	}
	want := `E11000 duplicate key error collection: letschat.users index: email_1 dup key: { email: "a@x" }`
	if e.Message != want {
		t.Fatalf("message %q\nwant    %q", e.Message, want)
	}
	if jsD(t, e.KeyPattern) != `{"email":{"$numberInt":"1"}}` && jsD(t, e.KeyPattern) != `{"email":1}` || jsD(t, e.KeyValue) != `{"email":"a@x"}` {
		t.Fatalf("keyPattern %s keyValue %s", jsD(t, e.KeyPattern), jsD(t, e.KeyValue))
	}
	if err := r.insert(ns, `{"_id": 7, "email": "b@x"}`); err != nil {
		t.Fatal(err)
	}
	err = r.insert(ns, `{"_id": 7.0, "email": "c@x"}`)
	if e, ok := err.(*Error); !ok || e.Code != CodeDuplicateKey || !strings.Contains(e.Message, "index: _id_ dup key: { _id: 7 }") {
		t.Fatalf("duplicate _id: %v", err)
	}
	docs := r.find(ns, Query{Filter: j(t, `{}`)})
	if len(docs) != 2 || !strings.HasPrefix(docs[0], `{"_id":{"$oid":`) {
		t.Fatalf("documents: %v", docs)
	}
	// A unique index over existing duplicates is refused and not created.
	if err := r.insert(ns, `{"email": "d@x", "username": "dup"}`); err != nil {
		t.Fatal(err)
	}
	if err := r.insert(ns, `{"email": "e@x", "username": "dup"}`); err != nil {
		t.Fatal(err)
	}
	_, _, err = r.primary.CreateIndexes(ns, []bson.D{j(t, `{"key": {"username": 1}, "name": "username_1", "unique": true}`)})
	if codeOf(err) != CodeDuplicateKey {
		t.Fatalf("unique index over duplicates: %v", err)
	}
	specs, _ := r.primary.ListIndexes(ns)
	if len(specs) != 2 {
		t.Fatalf("indexes after failed build: %d", len(specs))
	}
}

func TestSparseAndMultikeyUniqueIndexes(t *testing.T) {
	s := New()
	if _, _, err := s.CreateIndexes(ns, []bson.D{
		j(t, `{"key": {"token": 1}, "name": "token_1", "unique": true, "sparse": true}`),
		j(t, `{"key": {"tags": 1}, "name": "tags_1", "unique": true}`),
	}); err != nil {
		t.Fatal(err)
	}
	for i, doc := range []string{`{"tags": ["a", "b"]}`, `{"tags": ["c"]}`} {
		if _, err := s.Insert(ns, raw(t, j(t, doc))); err != nil {
			t.Fatalf("insert %d without token (sparse): %v", i, err)
		}
	}
	if _, err := s.Insert(ns, raw(t, j(t, `{"tags": ["x", "b"]}`))); codeOf(err) != CodeDuplicateKey {
		t.Fatalf("multikey duplicate: %v", err)
	}
	if _, _, err := s.CreateIndexes(ns, []bson.D{j(t, `{"key": {"a": 1, "b": 1}, "name": "a_1_b_1"}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Insert(ns, raw(t, j(t, `{"a": [1, 2], "b": [3, 4]}`))); codeOf(err) != CodeCannotIndexParallelArrays {
		t.Fatalf("parallel arrays: %v", err)
	}
	if _, err := s.Insert(ns, raw(t, j(t, `{"a": [1, 2], "b": 3}`))); err != nil {
		t.Fatalf("one array in a compound index: %v", err)
	}
}

func TestCreateIndexesConflicts(t *testing.T) {
	s := New()
	mk := func(spec string) error {
		_, _, err := s.CreateIndexes(ns, []bson.D{j(t, spec)})
		return err
	}
	if err := mk(`{"key": {"a": 1}, "name": "a_1"}`); err != nil {
		t.Fatal(err)
	}
	res, ops, err := s.CreateIndexes(ns, []bson.D{j(t, `{"key": {"a": 1}, "name": "a_1"}`)})
	if err != nil || len(ops) != 0 || res.Before != res.After {
		t.Fatalf("same index again: %+v %d ops %v", res, len(ops), err)
	}
	if err := mk(`{"key": {"b": 1}, "name": "a_1"}`); codeOf(err) != CodeIndexKeySpecsConflict {
		t.Fatalf("same name, other key: %v", err)
	}
	if err := mk(`{"key": {"a": 1}, "name": "other"}`); codeOf(err) != CodeIndexOptionsConflict {
		t.Fatalf("same key, other name: %v", err)
	}
	if err := mk(`{"key": {"text": "text", "room": 1, "posted": -1, "_id": 1}, "name": "text_text_room_1_posted_-1__id_1", "weights": {"text": 1}}`); err != nil {
		t.Fatalf("Let's Chat's text index: %v", err)
	}
	if err := mk(`{"key": {"a": 1}}`); err != nil {
		t.Fatalf("unnamed spec of an existing key: %v", err)
	}
	if _, err := s.ListIndexes("letschat.nothing"); codeOf(err) != CodeNamespaceNotFound {
		t.Fatalf("listIndexes of a missing collection: %v", err)
	}
}

func TestUpdateUpsertMulti(t *testing.T) {
	r := newReplayed(t)
	for i := range 3 {
		if err := r.insert("db.c", fmt.Sprintf(`{"_id": %d, "g": "x", "n": %d}`, i, i)); err != nil {
			t.Fatal(err)
		}
	}
	res, ops, err := r.primary.Update("db.c", j(t, `{"g": "x"}`), j(t, `{"$inc": {"n": 10}}`), false, false, now)
	if err != nil || res.Matched != 1 || res.Modified != 1 || len(ops) != 1 {
		t.Fatalf("single update: %+v %d ops %v", res, len(ops), err)
	}
	r.apply(ops...)
	res, ops, err = r.primary.Update("db.c", j(t, `{"g": "x"}`), j(t, `{"$set": {"k": true}}`), true, false, now)
	if err != nil || res.Matched != 3 || res.Modified != 3 {
		t.Fatalf("multi update: %+v %v", res, err)
	}
	r.apply(ops...)
	res, ops, err = r.primary.Update("db.c", j(t, `{"g": "x"}`), j(t, `{"$set": {"k": true}}`), true, false, now)
	if err != nil || res.Matched != 3 || res.Modified != 0 || len(ops) != 0 {
		t.Fatalf("no-op update must log nothing: %+v %d ops %v", res, len(ops), err)
	}
	res, ops, err = r.primary.Update("db.c", j(t, `{"g": "y", "n": {"$gt": 1}, "$and": [{"h": 5}]}`), j(t, `{"$set": {"z": 1}, "$setOnInsert": {"made": true}}`), false, true, now)
	if err != nil || res.Matched != 0 || res.UpsertedID == nil {
		t.Fatalf("upsert: %+v %v", res, err)
	}
	r.apply(ops...)
	got := r.find("db.c", Query{Filter: j(t, `{"g": "y"}`), Projection: j(t, `{"_id": 0}`)})
	if len(got) != 1 || got[0] != `{"g":"y","h":5,"made":true,"z":1}` {
		t.Fatalf("upserted %v", got)
	}
	// connect-mongo stores a session by replacement with upsert.
	res, ops, err = r.primary.Update("db.sessions", j(t, `{"_id": "sid1"}`), j(t, `{"session": "{}", "expires": {"$date": "2030-01-01T00:00:00Z"}}`), false, true, now)
	if err != nil || res.UpsertedID != "sid1" {
		t.Fatalf("replacement upsert: %+v %v", res, err)
	}
	r.apply(ops...)
	res, ops, err = r.primary.Update("db.sessions", j(t, `{"_id": "sid1"}`), j(t, `{"session": "{\"a\":1}", "expires": {"$date": "2030-01-01T00:00:00Z"}}`), false, true, now)
	if err != nil || res.Matched != 1 || res.Modified != 1 || res.UpsertedID != nil {
		t.Fatalf("replacement of the session: %+v %v", res, err)
	}
	r.apply(ops...)
	if got := r.find("db.sessions", Query{}); len(got) != 1 || !strings.Contains(got[0], `\"a\":1`) {
		t.Fatalf("sessions: %v", got)
	}
	if _, _, err := r.primary.Update("db.c", j(t, `{}`), j(t, `{"a": 1}`), true, false, now); codeOf(err) != CodeFailedToParse {
		t.Fatalf("multi replacement: %v", err)
	}
}

func TestMultiUpdateStopsAtDuplicateAndKeepsEarlierChanges(t *testing.T) {
	r := newReplayed(t)
	_, ops, _ := r.primary.CreateIndexes("db.c", []bson.D{j(t, `{"key": {"u": 1}, "name": "u_1", "unique": true}`)})
	r.apply(ops...)
	for _, d := range []string{`{"_id": 1, "u": 1}`, `{"_id": 2, "u": 2}`, `{"_id": 3, "u": 5}`} {
		if err := r.insert("db.c", d); err != nil {
			t.Fatal(err)
		}
	}
	res, ops, err := r.primary.Update("db.c", j(t, `{}`), j(t, `{"$inc": {"u": 3}}`), true, false, now)
	r.apply(ops...)
	if codeOf(err) != CodeDuplicateKey || res.Modified != 1 || len(ops) != 1 {
		t.Fatalf("multi update into a duplicate: %+v %d ops %v", res, len(ops), err)
	}
	if got := r.find("db.c", Query{Sort: j(t, `{"_id": 1}`)}); got[0] != `{"_id":1,"u":4}` || got[1] != `{"_id":2,"u":2}` {
		t.Fatalf("after failed multi update: %v", got)
	}
}

func TestFindSortSkipLimitProjection(t *testing.T) {
	r := newReplayed(t)
	for _, d := range []string{
		`{"_id": 1, "posted": 3, "room": "r", "text": "c", "owner": {"name": "x", "pw": "s"}}`,
		`{"_id": 2, "posted": 1, "room": "r", "text": "a", "owner": {"name": "y", "pw": "s"}}`,
		`{"_id": 3, "posted": 2, "room": "q", "text": "b"}`,
		`{"_id": 4, "posted": 5, "room": "r", "text": "d", "tags": [9, 0]}`,
		`{"_id": 5, "room": "r", "text": "e"}`,
	} {
		if err := r.insert("db.m", d); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name string
		q    Query
		want string
	}{
		{"natural order", Query{Filter: j(t, `{"room": "r"}`), Projection: j(t, `{"_id": 1}`)}, `{"_id":1} {"_id":2} {"_id":4} {"_id":5}`},
		{"sort descending, missing last", Query{Filter: j(t, `{"room": "r"}`), Sort: j(t, `{"posted": -1}`), Projection: j(t, `{"text": 1, "_id": 0}`)}, `{"text":"d"} {"text":"c"} {"text":"a"} {"text":"e"}`},
		{"sort ascending, missing first", Query{Sort: j(t, `{"posted": 1}`), Limit: 2, Projection: j(t, `{"_id": 1}`)}, `{"_id":5} {"_id":2}`},
		{"skip and limit", Query{Sort: j(t, `{"_id": 1}`), Skip: 1, Limit: 2, Projection: j(t, `{"_id": 1}`)}, `{"_id":2} {"_id":3}`},
		{"negative limit", Query{Sort: j(t, `{"_id": 1}`), Limit: -1, Projection: j(t, `{"_id": 1}`)}, `{"_id":1}`},
		{"sort array by least element", Query{Filter: j(t, `{"_id": {"$in": [3, 4]}}`), Sort: j(t, `{"tags": 1, "_id": 1}`), Projection: j(t, `{"_id": 1}`)}, `{"_id":3} {"_id":4}`},
		{"dotted inclusion", Query{Filter: j(t, `{"_id": 1}`), Projection: j(t, `{"owner.name": 1}`)}, `{"_id":1,"owner":{"name":"x"}}`},
		{"dotted exclusion", Query{Filter: j(t, `{"_id": 2}`), Projection: j(t, `{"owner.pw": 0, "text": 0, "room": 0}`)}, `{"_id":2,"posted":1,"owner":{"name":"y"}}`},
		{"mongoose select with virtual id", Query{Filter: j(t, `{"_id": 3}`), Projection: j(t, `{"id": 1, "text": 1}`)}, `{"_id":3,"text":"b"}`},
		{"only _id excluded", Query{Filter: j(t, `{"_id": 3}`), Projection: j(t, `{"_id": 0}`)}, `{"posted":2,"room":"q","text":"b"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := strings.Join(r.find("db.m", tc.q), " "); got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
	if _, err := r.primary.Find("db.m", Query{Projection: j(t, `{"a": 1, "b": 0}`)}); codeOf(err) != CodeProjectionExclusion {
		t.Fatalf("mixed projection: %v", err)
	}
	if n, err := r.primary.Count("db.m", j(t, `{"room": "r"}`), 1, 2); err != nil || n != 2 {
		t.Fatalf("count with skip and limit = %d, %v", n, err)
	}
	if n, err := r.primary.Count("db.none", nil, 0, 0); err != nil || n != 0 {
		t.Fatalf("count of a missing collection = %d, %v", n, err)
	}
}

func TestFindAndModifyAndDelete(t *testing.T) {
	r := newReplayed(t)
	for _, d := range []string{`{"_id": 1, "q": 1}`, `{"_id": 2, "q": 1}`, `{"_id": 3, "q": 2}`} {
		if err := r.insert("db.c", d); err != nil {
			t.Fatal(err)
		}
	}
	res, ops, err := r.primary.FindAndModify("db.c", FindAndModify{Query: j(t, `{"q": 1}`), Sort: j(t, `{"_id": -1}`), Update: j(t, `{"$set": {"x": 1}}`)}, now)
	r.apply(ops...)
	if err != nil || js(t, res.Value) != `{"_id":2,"q":1}` || !res.UpdatedExisting || res.N != 1 {
		t.Fatalf("findAndModify returning the old document: %+v %v", res, err)
	}
	res, ops, err = r.primary.FindAndModify("db.c", FindAndModify{Query: j(t, `{"_id": 2}`), Update: j(t, `{"$inc": {"x": 1}}`), New: true, Fields: j(t, `{"x": 1}`)}, now)
	r.apply(ops...)
	if err != nil || js(t, res.Value) != `{"_id":2,"x":2}` {
		t.Fatalf("findAndModify new with fields: %+v %v", res, err)
	}
	res, ops, err = r.primary.FindAndModify("db.c", FindAndModify{Query: j(t, `{"_id": 9}`), Update: j(t, `{"$set": {"y": 1}}`), Upsert: true, New: true}, now)
	r.apply(ops...)
	if err != nil || js(t, res.Value) != `{"_id":9,"y":1}` || res.UpsertedID != int32(9) || res.UpdatedExisting {
		t.Fatalf("findAndModify upsert: %+v %v", res, err)
	}
	res, ops, err = r.primary.FindAndModify("db.c", FindAndModify{Query: j(t, `{"_id": 3}`), Remove: true}, now)
	r.apply(ops...)
	if err != nil || js(t, res.Value) != `{"_id":3,"q":2}` {
		t.Fatalf("findAndModify remove: %+v %v", res, err)
	}
	res, _, err = r.primary.FindAndModify("db.c", FindAndModify{Query: j(t, `{"_id": 3}`), Remove: true}, now)
	if err != nil || res.Value != nil || res.N != 0 {
		t.Fatalf("findAndModify remove of nothing: %+v %v", res, err)
	}
	n, ops, err := r.primary.Delete("db.c", j(t, `{"q": 1}`), 1)
	r.apply(ops...)
	if err != nil || n != 1 {
		t.Fatalf("delete limit 1 = %d %v", n, err)
	}
	n, ops, err = r.primary.Delete("db.c", j(t, `{}`), 0)
	r.apply(ops...)
	if err != nil || n != 2 {
		t.Fatalf("delete all = %d %v", n, err)
	}
	if got := r.find("db.c", Query{}); len(got) != 0 {
		t.Fatalf("left: %v", got)
	}
}

func TestNamespacesCollectionsAndDrop(t *testing.T) {
	r := newReplayed(t)
	if err := r.insert("letschat.system.indexes", `{"key": {"a": 1}}`); codeOf(err) != CodeInvalidNamespace {
		t.Fatalf("insert into system.indexes: %v", err)
	}
	for _, c := range []string{"letschat.users", "letschat.rooms", "other.x"} {
		if err := r.insert(c, `{"a": 1}`); err != nil {
			t.Fatal(err)
		}
	}
	op, err := r.primary.Create("letschat.empty")
	if err != nil {
		t.Fatal(err)
	}
	r.apply(op)
	if _, err := r.primary.Create("letschat.empty"); codeOf(err) != CodeNamespaceExists {
		t.Fatalf("create twice: %v", err)
	}
	list, err := r.primary.ListCollections("letschat", j(t, `{"name": {"$in": ["users", "empty"]}}`), true)
	if err != nil || len(list) != 2 || js(t, list[0]) != `{"name":"empty","type":"collection"}` {
		t.Fatalf("listCollections: %v %v", list, err)
	}
	n, op, err := r.primary.Drop("letschat.rooms")
	if err != nil || n != 1 {
		t.Fatalf("drop = %d, %v", n, err)
	}
	r.apply(op)
	if _, _, err := r.primary.Drop("letschat.rooms"); codeOf(err) != CodeNamespaceNotFound {
		t.Fatalf("drop of a missing collection: %v", err)
	}
	op, err = r.primary.DropDatabase("letschat")
	if err != nil {
		t.Fatal(err)
	}
	r.apply(op)
	for _, s := range []*Store{r.primary, r.replica} {
		if got := s.Collections("letschat"); len(got) != 0 {
			t.Fatalf("after dropDatabase: %v", got)
		}
		if got := s.Collections("other"); len(got) != 1 {
			t.Fatalf("other database: %v", got)
		}
	}
}

func TestAggregate(t *testing.T) {
	s := New()
	for _, d := range []string{`{"_id": 1, "r": "a", "n": 2, "t": ["x", "y"]}`, `{"_id": 2, "r": "b", "n": 3}`, `{"_id": 3, "r": "a", "n": 5, "t": []}`} {
		if _, err := s.Insert("db.c", raw(t, j(t, d))); err != nil {
			t.Fatal(err)
		}
	}
	run := func(p string) string {
		t.Helper()
		var stages []bson.D
		for _, st := range j(t, `{"p": `+p+`}`)[0].Value.(bson.A) {
			stages = append(stages, st.(bson.D))
		}
		out, err := s.Aggregate("db.c", stages)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		var parts []string
		for _, d := range out {
			parts = append(parts, js(t, d))
		}
		return strings.Join(parts, " ")
	}
	cases := []struct{ pipeline, want string }{
		// The Go driver's CountDocuments.
		{`[{"$match": {"r": "a"}}, {"$skip": 0}, {"$group": {"_id": 1, "n": {"$sum": 1}}}]`, `{"_id":1,"n":2}`},
		{`[{"$group": {"_id": "$r", "total": {"$sum": "$n"}, "avg": {"$avg": "$n"}, "max": {"$max": "$n"}, "ids": {"$push": "$_id"}}}, {"$sort": {"_id": 1}}]`,
			`{"_id":"a","total":7,"avg":3.5,"max":5,"ids":[1,3]} {"_id":"b","total":3,"avg":3.0,"max":3,"ids":[2]}`},
		{`[{"$sort": {"n": -1}}, {"$limit": 1}, {"$project": {"n": 1}}]`, `{"_id":3,"n":5}`},
		{`[{"$unwind": "$t"}, {"$project": {"t": 1, "_id": 0}}]`, `{"t":"x"} {"t":"y"}`},
		{`[{"$match": {"r": "z"}}, {"$count": "n"}]`, ``},
		{`[{"$count": "n"}]`, `{"n":3}`},
	}
	for _, tc := range cases {
		if got := run(tc.pipeline); got != tc.want {
			t.Errorf("%s\n got %s\nwant %s", tc.pipeline, got, tc.want)
		}
	}
	if _, err := s.Aggregate("db.c", []bson.D{j(t, `{"$bogus": 1}`)}); codeOf(err) != CodeUnknownPipelineStage {
		t.Fatalf("unknown stage: %v", err)
	}
	if _, err := s.Aggregate("db.c", []bson.D{j(t, `{"$lookup": {}}`)}); codeOf(err) != CodeBadValue {
		t.Fatalf("stage not emulated: %v", err)
	}
}

// TestReplayMatchesPrimary runs random writes and checks that replaying the returned operations,
// all at once or from a shorter prefix (a rollback rebuild), gives the primary's state.
func TestReplayMatchesPrimary(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 11))
	p := New()
	var log []Op
	if _, ops, err := p.CreateIndexes("db.c", []bson.D{j(t, `{"key": {"u": 1}, "name": "u_1", "unique": true, "sparse": true}`)}); err != nil {
		t.Fatal(err)
	} else {
		log = append(log, ops...)
	}
	for i := range 400 {
		k := rnd.IntN(20)
		var ops []Op
		var err error
		switch rnd.IntN(5) {
		case 0:
			var op Op
			op, err = p.Insert("db.c", raw(t, j(t, fmt.Sprintf(`{"_id": %d, "u": %d, "n": 0}`, k, rnd.IntN(30)))))
			if err == nil {
				ops = []Op{op}
			}
		case 1:
			_, ops, err = p.Update("db.c", j(t, fmt.Sprintf(`{"_id": {"$gte": %d}}`, k)), j(t, `{"$inc": {"n": 1}, "$push": {"h": 1}}`), rnd.IntN(2) == 0, false, now)
		case 2:
			_, ops, err = p.Update("db.c", j(t, fmt.Sprintf(`{"_id": %d}`, k)), j(t, fmt.Sprintf(`{"$set": {"u": %d}}`, rnd.IntN(30))), false, true, now)
		case 3:
			_, ops, err = p.Delete("db.c", j(t, fmt.Sprintf(`{"_id": %d}`, k)), 1)
		case 4:
			_, ops, err = p.FindAndModify("db.c", FindAndModify{Query: j(t, fmt.Sprintf(`{"_id": %d}`, k)), Update: j(t, `{"$unset": {"u": 1}}`)}, now)
		}
		if err != nil && codeOf(err) != CodeDuplicateKey {
			t.Fatalf("write %d: %v", i, err)
		}
		log = append(log, ops...)
	}
	want, _ := p.Find("db.c", Query{})
	rebuilt := New()
	for _, op := range log {
		if err := rebuilt.Apply(op); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := rebuilt.Find("db.c", Query{})
	if len(got) != len(want) {
		t.Fatalf("replayed %d documents, primary has %d", len(got), len(want))
	}
	for i := range got {
		if js(t, got[i]) != js(t, want[i]) {
			t.Fatalf("document %d: replayed %s, primary %s", i, js(t, got[i]), js(t, want[i]))
		}
	}
	// The replayed store enforces the same unique index.
	if _, err := rebuilt.Insert("db.c", raw(t, j(t, `{"_id": 1000, "u": 5}`))); err == nil {
		if _, err := rebuilt.Insert("db.c", raw(t, j(t, `{"_id": 1001, "u": 5}`))); codeOf(err) != CodeDuplicateKey {
			t.Fatalf("replayed unique index not enforced: %v", err)
		}
	}
}

// TestLookupByID: a filter on _id finds the document whatever number type names it, and the rest
// of the filter still applies.
func TestLookupByID(t *testing.T) {
	s := New()
	for _, d := range []string{`{"_id": 1, "x": 2}`, `{"_id": 2, "x": 3}`, `{"_id": {"a": 1}}`} {
		if _, err := s.Insert("db.c", raw(t, j(t, d))); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		filter bson.D
		want   int
	}{
		{bson.D{{Key: "_id", Value: 1}}, 1},
		{bson.D{{Key: "_id", Value: 2.0}}, 1},
		{bson.D{{Key: "_id", Value: int64(1)}, {Key: "x", Value: 3}}, 0},
		{bson.D{{Key: "_id", Value: 9}}, 0},
		{bson.D{{Key: "_id", Value: bson.D{{Key: "a", Value: 1}}}}, 1},
		{bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: bson.A{1, 2}}}}}, 2},
	}
	for _, tc := range cases {
		if n, err := s.Count("db.c", tc.filter, 0, 0); err != nil || n != int64(tc.want) {
			t.Errorf("count %v = %d, %v; want %d", tc.filter, n, err, tc.want)
		}
	}
}
