package mongosim

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

// TestDataPlaneThroughDriver drives the data commands through the Go driver (OP_MSG): each
// step is what a driver helper sends, and its answer must be what mongod answers.
func TestDataPlaneThroughDriver(t *testing.T) {
	c, addrs := newTestCluster(t, 3)
	initiate(t, c, addrs)
	cl := setClient(t, addrs)
	db := cl.Database("letschat")
	users := db.Collection("users")
	ctx := ctxT(t, 30*time.Second)

	name, err := users.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "email", Value: 1}}, Options: options.Index().SetUnique(true)})
	if err != nil || name != "email_1" {
		t.Fatalf("create index: %q %v", name, err)
	}
	if _, err := users.InsertMany(ctx, []any{
		bson.D{{Key: "email", Value: "a@x"}, {Key: "n", Value: 1}, {Key: "rooms", Value: bson.A{"r1"}}},
		bson.D{{Key: "email", Value: "b@x"}, {Key: "n", Value: 2}},
		bson.D{{Key: "email", Value: "c@x"}, {Key: "n", Value: 3}},
	}); err != nil {
		t.Fatal(err)
	}
	_, err = users.InsertOne(ctx, bson.D{{Key: "email", Value: "a@x"}})
	var we mongo.WriteException
	if !errors.As(err, &we) || len(we.WriteErrors) != 1 || we.WriteErrors[0].Code != int(CodeDuplicateKey) ||
		!strings.Contains(we.WriteErrors[0].Message, `E11000 duplicate key error collection: letschat.users index: email_1 dup key: { email: "a@x" }`) {
		t.Fatalf("duplicate email: %v", err)
	}
	if !mongo.IsDuplicateKeyError(err) {
		t.Fatalf("the driver does not see a duplicate key error: %v", err)
	}
	// An unordered batch goes on after a failed statement; an ordered one stops there.
	batch := []any{bson.D{{Key: "email", Value: "u1@x"}}, bson.D{{Key: "email", Value: "a@x"}}, bson.D{{Key: "email", Value: "u2@x"}}}
	var bwe mongo.BulkWriteException
	im, err := users.InsertMany(ctx, batch, options.InsertMany().SetOrdered(false))
	if !errors.As(err, &bwe) || len(bwe.WriteErrors) != 1 || bwe.WriteErrors[0].Index != 1 || len(im.InsertedIDs) != 2 {
		t.Fatalf("unordered batch: %v %v", im, err)
	}
	if _, err := users.DeleteMany(ctx, bson.D{{Key: "email", Value: bson.D{{Key: "$in", Value: bson.A{"u1@x", "u2@x"}}}}}); err != nil {
		t.Fatal(err)
	}
	im, err = users.InsertMany(ctx, batch)
	if !errors.As(err, &bwe) || len(bwe.WriteErrors) != 1 || len(im.InsertedIDs) != 1 {
		t.Fatalf("ordered batch: %v %v", im, err)
	}
	if _, err := users.DeleteMany(ctx, bson.D{{Key: "email", Value: "u1@x"}}); err != nil {
		t.Fatal(err)
	}

	res, err := users.UpdateOne(ctx, bson.D{{Key: "email", Value: "a@x"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "name", Value: "Ann"}}}, {Key: "$inc", Value: bson.D{{Key: "n", Value: 10}}}, {Key: "$addToSet", Value: bson.D{{Key: "rooms", Value: "r2"}}}})
	if err != nil || res.MatchedCount != 1 || res.ModifiedCount != 1 {
		t.Fatalf("update: %+v %v", res, err)
	}
	res, err = users.UpdateMany(ctx, bson.D{{Key: "n", Value: bson.D{{Key: "$lt", Value: 5}}}}, bson.D{{Key: "$set", Value: bson.D{{Key: "low", Value: true}}}})
	if err != nil || res.MatchedCount != 2 || res.ModifiedCount != 2 {
		t.Fatalf("update many: %+v %v", res, err)
	}
	res, err = users.UpdateOne(ctx, bson.D{{Key: "email", Value: "d@x"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "n", Value: 4}}}}, options.UpdateOne().SetUpsert(true))
	if err != nil || res.UpsertedCount != 1 || res.UpsertedID == nil {
		t.Fatalf("upsert: %+v %v", res, err)
	}

	cur, err := users.Find(ctx, bson.D{{Key: "n", Value: bson.D{{Key: "$gte", Value: 2}}}}, options.Find().SetSort(bson.D{{Key: "n", Value: -1}}).SetProjection(bson.D{{Key: "_id", Value: 0}, {Key: "email", Value: 1}}).SetLimit(3))
	if err != nil {
		t.Fatal(err)
	}
	var got []bson.Raw
	if err := cur.All(ctx, &got); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != `[{"email": "a@x"} {"email": "d@x"} {"email": "c@x"}]` {
		t.Fatalf("find sorted, limited, projected: %v", got)
	}

	var doc bson.M
	err = users.FindOneAndUpdate(ctx, bson.D{{Key: "email", Value: "b@x"}}, bson.D{{Key: "$unset", Value: bson.D{{Key: "low", Value: 1}}}},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&doc)
	if err != nil || doc["email"] != "b@x" || doc["low"] != nil {
		t.Fatalf("findOneAndUpdate: %v %v", doc, err)
	}
	if err := users.FindOneAndDelete(ctx, bson.D{{Key: "email", Value: "c@x"}}).Decode(&doc); err != nil || doc["email"] != "c@x" {
		t.Fatalf("findOneAndDelete: %v %v", doc, err)
	}
	if n, err := users.CountDocuments(ctx, bson.D{{Key: "$or", Value: bson.A{bson.D{{Key: "low", Value: true}}, bson.D{{Key: "n", Value: 4}}}}}); err != nil || n != 1 {
		t.Fatalf("countDocuments = %d, %v", n, err)
	}
	if n, err := users.EstimatedDocumentCount(ctx); err != nil || n != 3 {
		t.Fatalf("estimatedDocumentCount = %d, %v", n, err)
	}
	if dr, err := users.DeleteMany(ctx, bson.D{{Key: "email", Value: bson.D{{Key: "$regex", Value: "^[ab]@"}}}}); err != nil || dr.DeletedCount != 2 {
		t.Fatalf("deleteMany: %+v %v", dr, err)
	}

	specs, err := users.Indexes().ListSpecifications(ctx)
	if err != nil || len(specs) != 2 || specs[1].Name != "email_1" || specs[1].Unique == nil || !*specs[1].Unique {
		t.Fatalf("list indexes: %+v %v", specs, err)
	}
	names, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil || fmt.Sprint(names) != "[users]" {
		t.Fatalf("list collections: %v %v", names, err)
	}
	if err := users.Drop(ctx); err != nil {
		t.Fatal(err)
	}
	if names, _ := db.ListCollectionNames(ctx, bson.D{}); len(names) != 0 {
		t.Fatalf("after drop: %v", names)
	}
	if v := c.SafetyViolations(); len(v) > 0 {
		t.Fatalf("violations: %v", v)
	}
}

// TestCursorBatchesAndGetMore checks real cursors: a first batch, getMore batches, the cursor
// gone once exhausted, and a cursor that does not survive its node's restart.
func TestCursorBatchesAndGetMore(t *testing.T) {
	c, addrs := newTestCluster(t, 1)
	initiate(t, c, addrs)
	cl := directClient(t, addrs[0])
	coll := cl.Database("app").Collection("c")
	ctx := ctxT(t, 30*time.Second)
	var docs []any
	for i := range 250 {
		docs = append(docs, bson.D{{Key: "_id", Value: i}})
	}
	if _, err := coll.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	before := countOf(c, "getMore", 0)
	cur, err := coll.Find(ctx, bson.D{}, options.Find().SetBatchSize(40).SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		t.Fatal(err)
	}
	next := 0
	for cur.Next(ctx) {
		if id := cur.Current.Lookup("_id").Int32(); id != int32(next) {
			t.Fatalf("document %d has _id %d", next, id)
		}
		next++
	}
	if cur.Err() != nil || next != 250 {
		t.Fatalf("iterated %d documents: %v", next, cur.Err())
	}
	if got := countOf(c, "getMore", 0) - before; got != 6 {
		t.Fatalf("getMore calls = %d, want 6 (250 documents in batches of 40)", got)
	}

	// A raw find leaves a cursor open; after a restart the node no longer knows it (43).
	db := cl.Database("app")
	raw, err := db.RunCommand(ctx, bson.D{{Key: "find", Value: "c"}, {Key: "batchSize", Value: 5}}).Raw()
	if err != nil {
		t.Fatal(err)
	}
	id := raw.Lookup("cursor", "id").Int64()
	if id == 0 || len(mustValues(t, raw.Lookup("cursor", "firstBatch").Array())) != 5 {
		t.Fatalf("first batch: %v", raw)
	}
	if _, err := db.RunCommand(ctx, bson.D{{Key: "getMore", Value: id}, {Key: "collection", Value: "other"}}).Raw(); codeOf(err) != CodeUnauthorized {
		t.Fatalf("getMore on another collection: %v", err)
	}
	if err := c.StopNode(addrs[0]); err != nil {
		t.Fatal(err)
	}
	if err := c.StartNode(addrs[0]); err != nil {
		t.Fatal(err)
	}
	waitPrimary(t, c)
	// The first command may meet the connection the restart closed; the driver then reconnects.
	var gmErr error
	waitFor(t, 10*time.Second, "getMore to reach the restarted node", func() bool {
		_, gmErr = db.RunCommand(ctx, bson.D{{Key: "getMore", Value: id}, {Key: "collection", Value: "c"}}).Raw()
		return codeOf(gmErr) == CodeCursorNotFound
	})
	if codeOf(gmErr) != CodeCursorNotFound {
		t.Fatalf("getMore after restart: %v, want 43", gmErr)
	}
	if n, err := coll.CountDocuments(ctx, bson.D{}); err != nil || n != 250 {
		t.Fatalf("data after restart: %d, %v", n, err)
	}
}

func mustValues(t testing.TB, a bson.RawArray) []bson.RawValue {
	t.Helper()
	v, err := a.Values()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func countOf(c *Cluster, name string, code int32) int {
	n := 0
	for _, cc := range c.Commands() {
		if cc.Command == name && cc.Code == code {
			n += cc.Count
		}
	}
	return n
}

// TestWritesReplicateToSecondaries: updates and deletes reach the secondaries' data, which a
// client reading from a secondary sees; reading there needs a non-primary read preference.
func TestWritesReplicateToSecondaries(t *testing.T) {
	c, addrs := newTestCluster(t, 3)
	initiate(t, c, addrs)
	p := waitPrimary(t, c)
	cl := setClient(t, addrs)
	coll := cl.Database("app").Collection("c", options.Collection().SetWriteConcern(writeconcern.Majority()))
	ctx := ctxT(t, 30*time.Second)
	if _, err := coll.InsertMany(ctx, []any{bson.D{{Key: "_id", Value: 1}, {Key: "v", Value: "a"}}, bson.D{{Key: "_id", Value: 2}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: "b"}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: 2}}); err != nil {
		t.Fatal(err)
	}
	sec := addrs[indexNot(addrs, p)]
	direct := directClient(t, sec).Database("app")
	// A direct connection adds primaryPreferred, so the secondary answers; a strict primary read
	// preference in the command is refused.
	waitFor(t, 5*time.Second, "the secondary to apply the writes", func() bool {
		raw, err := direct.RunCommand(ctx, bson.D{{Key: "find", Value: "c"}}).Raw()
		if err != nil {
			return false
		}
		vals, _ := raw.Lookup("cursor", "firstBatch").Array().Values()
		return len(vals) == 1 && vals[0].Document().Lookup("v").StringValue() == "b"
	})
	secondary := cl.Database("app").Collection("c", options.Collection().SetReadPreference(readpref.Secondary()))
	var d bson.M
	if err := secondary.FindOne(ctx, bson.D{{Key: "_id", Value: 1}}).Decode(&d); err != nil || d["v"] != "b" {
		t.Fatalf("secondary read: %v %v", d, err)
	}
	if c.MajorityAcknowledged() < 3 {
		t.Fatalf("majority acknowledged = %d, want the insert, update and delete", c.MajorityAcknowledged())
	}
}

// TestRollbackUndoesUpdatesAndDeletes: writes acknowledged with w:1 by a primary that is then
// cut off are rolled back when it rejoins, updates and deletes included; its data is rebuilt
// from the shorter oplog and majority writes survive.
func TestRollbackUndoesUpdatesAndDeletes(t *testing.T) {
	c, addrs := newTestCluster(t, 3)
	initiate(t, c, addrs)
	p := waitPrimary(t, c)
	cl := directClient(t, p)
	coll := cl.Database("app").Collection("c")
	ctx := ctxT(t, 30*time.Second)
	maj := coll.Database().Collection("c", options.Collection().SetWriteConcern(writeconcern.Majority()))
	if _, err := maj.InsertMany(ctx, []any{bson.D{{Key: "_id", Value: 1}, {Key: "v", Value: 1}}, bson.D{{Key: "_id", Value: 2}}}); err != nil {
		t.Fatal(err)
	}
	var others []string
	for _, a := range addrs {
		if a != p {
			others = append(others, a)
		}
	}
	if err := c.Partition([]string{p}, others); err != nil {
		t.Fatal(err)
	}
	w1 := coll.Database().Collection("c", options.Collection().SetWriteConcern(&writeconcern.WriteConcern{W: 1}))
	if _, err := w1.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: 99}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := w1.DeleteOne(ctx, bson.D{{Key: "_id", Value: 2}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "a new primary on the majority side", func() bool {
		q, ok := c.Primary()
		return ok && q != p
	})
	if err := c.Heal(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the old primary to roll back", func() bool {
		rb, _ := c.RolledBack(p)
		return len(rb) >= 2
	})
	old := directClient(t, p).Database("app").Collection("c")
	last := ""
	defer func() {
		if t.Failed() {
			t.Logf("old primary's documents: %s", last)
		}
	}()
	waitFor(t, 10*time.Second, "the old primary's data to match the set", func() bool {
		var docs []struct {
			ID int `bson:"_id"`
			V  int `bson:"v"`
		}
		cur, err := old.Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
		if err != nil || cur.All(ctx, &docs) != nil {
			return false
		}
		last = fmt.Sprint(docs)
		return last == "[{1 1} {2 0}]"
	})
	if lost := c.LostWrites(); len(lost) != 0 {
		t.Fatalf("majority writes lost: %v", lost)
	}
}

// TestCreateIndexesWaitsForEveryVoter: since 4.4 an index build commits when every voting member
// has it, so createIndexes waits for a voter that is down (maxTimeMS ends the wait with 50) and
// completes once the voter is back.
func TestCreateIndexesWaitsForEveryVoter(t *testing.T) {
	c, addrs := newTestCluster(t, 3)
	initiate(t, c, addrs)
	p := waitPrimary(t, c)
	down := addrs[indexNot(addrs, p)]
	if err := c.CrashNode(down); err != nil {
		t.Fatal(err)
	}
	db := directClient(t, p).Database("app")
	ctx := ctxT(t, 30*time.Second)
	_, err := db.RunCommand(ctx, bson.D{{Key: "createIndexes", Value: "c"}, {Key: "indexes", Value: bson.A{bson.D{{Key: "key", Value: bson.D{{Key: "a", Value: 1}}}, {Key: "name", Value: "a_1"}}}}, {Key: "maxTimeMS", Value: 300}}).Raw()
	if codeOf(err) != CodeMaxTimeMSExpired {
		t.Fatalf("createIndexes with a voter down: %v, want 50", err)
	}
	if err := c.StartNode(down); err != nil {
		t.Fatal(err)
	}
	raw, err := db.RunCommand(ctx, bson.D{{Key: "createIndexes", Value: "c"}, {Key: "indexes", Value: bson.A{bson.D{{Key: "key", Value: bson.D{{Key: "b", Value: 1}}}, {Key: "name", Value: "b_1"}}}}}).Raw()
	if err != nil || raw.Lookup("numIndexesAfter").Int32() != 3 || raw.Lookup("commitQuorum").StringValue() != "votingMembers" {
		t.Fatalf("createIndexes with every voter up: %v %v", raw, err)
	}
}
