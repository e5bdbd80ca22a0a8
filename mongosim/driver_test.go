package mongosim

import (
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestGhostByDirectConnection(t *testing.T) {
	_, addrs := newTestCluster(t, 1)
	cl := directClient(t, addrs[0])
	hello, err := run(t, cl, bson.D{{Key: "hello", Value: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if hello.Lookup("isWritablePrimary").Boolean() || hello.Lookup("secondary").Boolean() ||
		!hello.Lookup("isreplicaset").Boolean() || hello.Lookup("maxWireVersion").Int32() != versions[DefaultVersion].maxWire {
		t.Fatalf("ghost hello = %v", hello)
	}
	if _, err := hello.LookupErr("setName"); err == nil {
		t.Fatal("ghost hello carries setName")
	}
	cases := []struct {
		name string
		cmd  bson.D
		code int32
	}{
		{"status uninitiated", bson.D{{Key: "replSetGetStatus", Value: 1}}, CodeNotYetInitialized},
		{"config uninitiated", bson.D{{Key: "replSetGetConfig", Value: 1}}, CodeNotYetInitialized},
		{"reconfig uninitiated", bson.D{{Key: "replSetReconfig", Value: cfgDoc(2, membersDoc(addrs))}}, CodeNotYetInitialized},
		{"find on ghost", bson.D{{Key: "find", Value: "c"}}, CodeNotPrimaryOrSecondary},
		{"unknown command", bson.D{{Key: "mapReduce", Value: "c"}}, CodeCommandNotFound},
		// mongod checks the node is past STARTUP before anything else.
		{"stepdown on ghost", bson.D{{Key: "replSetStepDown", Value: 60}}, CodeNotYetInitialized},
		{"ping", bson.D{{Key: "ping", Value: 1}}, 0},
		{"buildInfo", bson.D{{Key: "buildInfo", Value: 1}}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := run(t, cl, tc.cmd)
			if got := codeOf(err); tc.code == 0 && err != nil || tc.code != 0 && got != tc.code {
				t.Fatalf("code = %d (%v), want %d", got, err, tc.code)
			}
		})
	}
	bi, _ := run(t, cl, bson.D{{Key: "buildInfo", Value: 1}})
	if v := bi.Lookup("version").StringValue(); v[:4] != "8.0." {
		t.Fatalf("buildInfo version %q", v)
	}
}

func TestStatusAndHelloOfInitiatedSet(t *testing.T) {
	c, addrs := newTestCluster(t, 3)
	initiate(t, c, addrs)
	p := waitPrimary(t, c)
	cl := directClient(t, p)
	hello, err := run(t, cl, bson.D{{Key: "hello", Value: 1}})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := c.Status(p)
	wantID := electionID(st.Term)
	if !hello.Lookup("isWritablePrimary").Boolean() || hello.Lookup("primary").StringValue() != p ||
		hello.Lookup("setName").StringValue() != "rs0" || hello.Lookup("electionId").ObjectID() != wantID ||
		hello.Lookup("setVersion").Type != bson.TypeInt32 {
		t.Fatalf("primary hello = %v", hello)
	}
	status, err := run(t, cl, bson.D{{Key: "replSetGetStatus", Value: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if status.Lookup("myState").Int32() != int32(StatePrimary) || status.Lookup("term").Type != bson.TypeInt64 {
		t.Fatalf("status = %v", status)
	}
	if err := c.StopNode(addrs[indexNot(addrs, p)]); err != nil {
		t.Fatal(err)
	}
	status, _ = run(t, cl, bson.D{{Key: "replSetGetStatus", Value: 1}})
	members, _ := status.Lookup("members").Array().Values()
	down := 0
	for _, m := range members {
		d := m.Document()
		if d.Lookup("health").Double() == 0 {
			down++
			if d.Lookup("state").Int32() != int32(StateDown) || d.Lookup("optime", "t").Int64() != -1 {
				t.Fatalf("unreachable member = %v", d)
			}
		}
	}
	if down != 1 {
		t.Fatalf("%d members down, want 1", down)
	}
	cfg := getConfig(t, cl)
	if cfg.Lookup("version").Type != bson.TypeInt32 || cfg.Lookup("term").Int32() != int32(st.Term) ||
		cfg.Lookup("protocolVersion").Type != bson.TypeInt64 {
		t.Fatalf("config = %v", cfg)
	}
}

func indexNot(addrs []string, skip string) int {
	for i, a := range addrs {
		if a != skip {
			return i
		}
	}
	return -1
}

func TestReplicaSetClientFollowsFailover(t *testing.T) {
	c, addrs := newTestCluster(t, 3)
	initiate(t, c, addrs)
	p := waitPrimary(t, c)
	cl := setClient(t, addrs)
	coll := cl.Database("app").Collection("c")
	if _, err := coll.InsertOne(ctxT(t, 5*time.Second), bson.D{{Key: "x", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := c.CrashNode(p); err != nil {
		t.Fatal(err)
	}
	q := waitPrimary(t, c)
	if q == p {
		t.Fatal("crashed primary still primary")
	}
	if _, err := coll.InsertOne(ctxT(t, 8*time.Second), bson.D{{Key: "x", Value: 2}}); err != nil {
		t.Fatalf("insert after failover: %v", err)
	}
	n, err := coll.EstimatedDocumentCount(ctxT(t, 5*time.Second))
	if err != nil || n != 2 {
		t.Fatalf("count = %d, %v; want 2", n, err)
	}
	if lost := c.LostWrites(); len(lost) != 0 || len(c.SafetyViolations()) != 0 {
		t.Fatalf("lost %v violations %v", lost, c.SafetyViolations())
	}
}

func TestNewlyAddedFollowUp(t *testing.T) {
	c, addrs := newTestCluster(t, 4)
	initiate(t, c, addrs[:3])
	p := waitPrimary(t, c)
	cl := directClient(t, p)
	st, _ := c.Status(p)
	if _, err := run(t, cl, bson.D{{Key: "replSetReconfig", Value: cfgDoc(st.Config.Version+1, membersDoc(addrs))}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "newlyAdded follow-up", func() bool {
		s, _ := c.Status(p)
		m, _ := s.Config.Member(addrs[3])
		return s.Config.Version == st.Config.Version+2 && !m.NewlyAdded && m.Voting()
	})
	var origins []ConfigOrigin
	for _, ch := range c.ConfigChanges() {
		if ch.Node == p && ch.New.Version > st.Config.Version {
			origins = append(origins, ch.Origin)
		}
	}
	if len(origins) != 2 || origins[0] != OriginReconfig || origins[1] != OriginNewlyAdded {
		t.Fatalf("origins = %v", origins)
	}
	if _, err := run(t, cl, bson.D{{Key: "replSetReconfig", Value: cfgDoc(st.Config.Version+1, membersDoc(addrs))}}); codeOf(err) != CodeNewReplicaSetConfigurationIncompatible {
		t.Fatalf("stale-version reconfig: %v, want 103", err)
	}
	cfg := getConfig(t, cl)
	if _, err := cfg.LookupErr("members", "3", "newlyAdded"); err == nil {
		t.Fatal("replSetGetConfig shows newlyAdded")
	}
}

func TestStepDown(t *testing.T) {
	c, addrs := newTestCluster(t, 3)
	initiate(t, c, addrs)
	p := waitPrimary(t, c)
	cl := directClient(t, p)
	cases := []struct {
		name string
		cmd  bson.D
		code int32
	}{
		{"negative period", bson.D{{Key: "replSetStepDown", Value: -1}}, CodeBadValue},
		{"period shorter than catch-up", bson.D{{Key: "replSetStepDown", Value: 5}, {Key: "secondaryCatchUpPeriodSecs", Value: 6}}, CodeBadValue},
		{"on secondary", nil, CodeNotWritablePrimary},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			target, cmd := cl, tc.cmd
			if cmd == nil {
				target, cmd = directClient(t, addrs[indexNot(addrs, p)]), bson.D{{Key: "replSetStepDown", Value: 60}}
			}
			if _, err := run(t, target, cmd); codeOf(err) != tc.code {
				t.Fatalf("code %d (%v), want %d", codeOf(err), err, tc.code)
			}
		})
	}
	if _, err := run(t, cl, bson.D{{Key: "replSetStepDown", Value: 30}, {Key: "secondaryCatchUpPeriodSecs", Value: 5}}); err != nil {
		t.Fatalf("stepdown: %v", err)
	}
	q := waitPrimary(t, c)
	if q == p {
		t.Fatal("stepped-down node re-elected inside its stepdown period")
	}
	// Without a reachable secondary the catch-up period expires: 262.
	c.SetElectionTimeout(5 * time.Second)
	for _, a := range addrs {
		if a != q {
			_ = c.CrashNode(a)
		}
	}
	_, err := run(t, directClient(t, q), bson.D{{Key: "replSetStepDown", Value: 2}, {Key: "secondaryCatchUpPeriodSecs", Value: 1}})
	if codeOf(err) != CodeExceededTimeLimit {
		t.Fatalf("stepdown without secondaries: %v, want 262", err)
	}
}

func TestWriteConcern(t *testing.T) {
	c, addrs := newTestCluster(t, 3)
	initiate(t, c, addrs)
	p := waitPrimary(t, c)
	cl := directClient(t, p)
	db := cl.Database("app")
	maj := bson.D{{Key: "w", Value: "majority"}, {Key: "wtimeout", Value: 2000}}
	raw, err := db.RunCommand(ctxT(t, 5*time.Second), bson.D{{Key: "insert", Value: "c"}, {Key: "documents", Value: bson.A{bson.D{{Key: "_id", Value: 1}}}}, {Key: "writeConcern", Value: maj}}).Raw()
	if err != nil || raw.Lookup("n").Int32() != 1 {
		t.Fatalf("majority insert: %v %v", raw, err)
	}
	if c.MajorityAcknowledged() != 1 {
		t.Fatalf("acknowledged = %d", c.MajorityAcknowledged())
	}
	raw, _ = db.RunCommand(ctxT(t, 5*time.Second), bson.D{{Key: "insert", Value: "c"}, {Key: "documents", Value: bson.A{bson.D{{Key: "_id", Value: 1}}}}}).Raw()
	if we, err := raw.LookupErr("writeErrors", "0", "code"); err != nil || we.Int32() != CodeDuplicateKey {
		t.Fatalf("duplicate insert reply %v", raw)
	}
	c.SetElectionTimeout(5 * time.Second)
	for _, a := range addrs {
		if a != p {
			_ = c.CrashNode(a)
		}
	}
	raw, _ = db.RunCommand(ctxT(t, 5*time.Second), bson.D{{Key: "insert", Value: "c"}, {Key: "documents", Value: bson.A{bson.D{{Key: "_id", Value: 2}}}},
		{Key: "writeConcern", Value: bson.D{{Key: "w", Value: "majority"}, {Key: "wtimeout", Value: 200}}}}).Raw()
	if code, err := raw.LookupErr("writeConcernError", "code"); err != nil || code.Int32() != CodeWriteConcernFailed {
		t.Fatalf("majority insert without secondaries: %v", raw)
	}
}
