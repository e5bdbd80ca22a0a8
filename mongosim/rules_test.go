package mongosim

import (
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func cfgDoc(version int64, members bson.A) bson.D {
	return bson.D{{Key: "_id", Value: "rs0"}, {Key: "version", Value: version}, {Key: "members", Value: members}}
}

func member(id int, host string, extra ...bson.E) bson.D {
	return append(bson.D{{Key: "_id", Value: id}, {Key: "host", Value: host}}, extra...)
}

func TestInitiateRules(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, c *Cluster, addrs []string)
		cfg   func(addrs []string) any
		code  int32
		// minWait is how long the command must at least take (a heartbeat timeout).
		minWait time.Duration
	}{
		{name: "default config", cfg: func([]string) any { return bson.D{} }, code: 0},
		{name: "explicit config", cfg: func(a []string) any { return cfgDoc(1, membersDoc(a)) }, code: 0},
		{name: "set name differs", cfg: func(a []string) any {
			return bson.D{{Key: "_id", Value: "other"}, {Key: "members", Value: membersDoc(a)}}
		}, code: CodeInvalidReplicaSetConfig},
		{name: "version not 1", cfg: func(a []string) any { return cfgDoc(2, membersDoc(a)) }, code: CodeInvalidReplicaSetConfig},
		{name: "self missing", cfg: func(a []string) any { return cfgDoc(1, membersDoc(a[1:])) }, code: CodeInvalidReplicaSetConfig},
		{name: "self not electable", cfg: func(a []string) any {
			return cfgDoc(1, bson.A{member(0, a[0], bson.E{Key: "priority", Value: 0}), member(1, a[1])})
		}, code: CodeInvalidReplicaSetConfig},
		{name: "replicaSetId supplied", cfg: func(a []string) any {
			d := cfgDoc(1, membersDoc(a))
			return append(d, bson.E{Key: "settings", Value: bson.D{{Key: "replicaSetId", Value: bson.NewObjectID()}}})
		}, code: CodeInvalidReplicaSetConfig},
		{name: "votes 2", cfg: func(a []string) any {
			return cfgDoc(1, bson.A{member(0, a[0], bson.E{Key: "votes", Value: 2})})
		}, code: CodeInvalidReplicaSetConfig},
		{name: "duplicate host", cfg: func(a []string) any {
			return cfgDoc(1, bson.A{member(0, a[0]), member(1, a[0])})
		}, code: CodeInvalidReplicaSetConfig},
		{name: "member unreachable", setup: func(t *testing.T, c *Cluster, a []string) {
			if err := c.StopNode(a[2]); err != nil {
				t.Fatal(err)
			}
		}, cfg: func(a []string) any { return cfgDoc(1, membersDoc(a)) }, code: CodeNodeNotFound},
		{name: "member partitioned away", setup: func(t *testing.T, c *Cluster, a []string) {
			if err := c.Partition(a[:2], a[2:]); err != nil {
				t.Fatal(err)
			}
		}, cfg: func(a []string) any { return cfgDoc(1, membersDoc(a)) }, code: CodeNodeNotFound,
			// A partitioned member stays silent: the check waits for the heartbeat timeout, by
			// default the election timeout.
			minWait: testElectionTimeout},
		{name: "member has data", setup: func(t *testing.T, c *Cluster, a []string) {
			doc, _ := bson.Marshal(bson.D{{Key: "x", Value: 1}})
			if err := c.SeedDocuments(a[1], "app.c", doc); err != nil {
				t.Fatal(err)
			}
		}, cfg: func(a []string) any { return cfgDoc(1, membersDoc(a)) }, code: CodeCannotInitializeNodeWithData},
		{name: "member already in a set", setup: func(t *testing.T, c *Cluster, a []string) {
			cl := directClient(t, a[2])
			if _, err := run(t, cl, bson.D{{Key: "replSetInitiate", Value: bson.D{}}}); err != nil {
				t.Fatal(err)
			}
		}, cfg: func(a []string) any { return cfgDoc(1, membersDoc(a)) }, code: CodeNewReplicaSetConfigurationIncompatible},
		{name: "already initialized", setup: func(t *testing.T, c *Cluster, a []string) {
			cl := directClient(t, a[0])
			if _, err := run(t, cl, bson.D{{Key: "replSetInitiate", Value: bson.D{}}}); err != nil {
				t.Fatal(err)
			}
		}, cfg: func(a []string) any { return bson.D{} }, code: CodeAlreadyInitialized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, addrs := newTestCluster(t, 3)
			if tc.setup != nil {
				tc.setup(t, c, addrs)
			}
			cl := directClient(t, addrs[0])
			start := time.Now()
			raw, err := run(t, cl, bson.D{{Key: "replSetInitiate", Value: tc.cfg(addrs)}})
			if got := codeOf(err); tc.code == 0 && err != nil || tc.code != 0 && got != tc.code {
				t.Fatalf("code = %d (%v), want %d", got, err, tc.code)
			}
			if took := time.Since(start); took < tc.minWait {
				t.Fatalf("answered after %s, before the %s heartbeat timeout", took, tc.minWait)
			}
			if tc.name == "default config" {
				if raw.Lookup("me").StringValue() != addrs[0] || raw.Lookup("info2").StringValue() == "" {
					t.Fatalf("default initiate reply %v lacks me/info2", raw)
				}
			}
			if tc.code != 0 {
				if st, _ := c.Status(addrs[0]); st.Config != nil && tc.code != CodeAlreadyInitialized {
					t.Fatalf("failed initiate installed a config")
				}
			}
		})
	}
}

// reconfigCluster is an initiated three-node set with a long election timeout, so that faults
// injected by a case do not trigger elections while the command runs.
func reconfigCluster(t *testing.T) (*Cluster, []string, string) {
	t.Helper()
	c, addrs := newTestCluster(t, 3)
	initiate(t, c, addrs)
	c.SetElectionTimeout(5 * time.Second)
	return c, addrs, waitPrimary(t, c)
}

func TestReconfigRules(t *testing.T) {
	type env struct {
		c       *Cluster
		addrs   []string
		primary string
		version int64
	}
	others := func(e env) []string {
		var o []string
		for _, a := range e.addrs {
			if a != e.primary {
				o = append(o, a)
			}
		}
		return o
	}
	std := func(e env, extra ...bson.E) bson.A {
		a := bson.A{}
		for i, h := range e.addrs {
			m := member(i, h)
			if h == e.primary {
				m = append(m, extra...)
			}
			a = append(a, m)
		}
		return a
	}
	tests := []struct {
		name   string
		target func(e env) string
		prep   func(t *testing.T, e env)
		cmd    func(e env) bson.D
		code   int32
	}{
		{name: "valid priority change", cmd: func(e env) bson.D {
			return bson.D{{Key: "replSetReconfig", Value: cfgDoc(e.version+1, std(e, bson.E{Key: "priority", Value: 2}))}}
		}},
		{name: "not primary", target: func(e env) string { return others(e)[0] }, cmd: func(e env) bson.D {
			return bson.D{{Key: "replSetReconfig", Value: cfgDoc(e.version+1, std(e))}}
		}, code: CodeNotWritablePrimary},
		{name: "set name change", cmd: func(e env) bson.D {
			return bson.D{{Key: "replSetReconfig", Value: bson.D{{Key: "_id", Value: "x"}, {Key: "version", Value: e.version + 1}, {Key: "members", Value: std(e)}}}}
		}, code: CodeInvalidReplicaSetConfig},
		{name: "votes 2", cmd: func(e env) bson.D {
			return bson.D{{Key: "replSetReconfig", Value: cfgDoc(e.version+1, std(e, bson.E{Key: "votes", Value: 2}))}}
		}, code: CodeInvalidReplicaSetConfig},
		{name: "priority above 1000", cmd: func(e env) bson.D {
			return bson.D{{Key: "replSetReconfig", Value: cfgDoc(e.version+1, std(e, bson.E{Key: "priority", Value: 1001}))}}
		}, code: CodeInvalidReplicaSetConfig},
		{name: "non-voter with priority", cmd: func(e env) bson.D {
			return bson.D{{Key: "replSetReconfig", Value: cfgDoc(e.version+1, std(e, bson.E{Key: "votes", Value: 0}))}}
		}, code: CodeInvalidReplicaSetConfig},
		{name: "hidden with priority", cmd: func(e env) bson.D {
			return bson.D{{Key: "replSetReconfig", Value: cfgDoc(e.version+1, std(e, bson.E{Key: "hidden", Value: true}))}}
		}, code: CodeInvalidReplicaSetConfig},
		{name: "arbiter without vote", cmd: func(e env) bson.D {
			m := append(std(e), member(9, "127.0.0.9:1", bson.E{Key: "arbiterOnly", Value: true}, bson.E{Key: "votes", Value: 0}))
			return bson.D{{Key: "replSetReconfig", Value: cfgDoc(e.version+1, m)}}
		}, code: CodeInvalidReplicaSetConfig},
		{name: "newlyAdded supplied", cmd: func(e env) bson.D {
			return bson.D{{Key: "replSetReconfig", Value: cfgDoc(e.version+1, std(e, bson.E{Key: "newlyAdded", Value: true}))}}
		}, code: CodeInvalidReplicaSetConfig},
		{name: "unknown member field", cmd: func(e env) bson.D {
			return bson.D{{Key: "replSetReconfig", Value: cfgDoc(e.version+1, std(e, bson.E{Key: "slaveDelay", Value: 0}))}}
		}, code: CodeInvalidReplicaSetConfig},
		{name: "duplicate _id", cmd: func(e env) bson.D {
			m := append(std(e), member(0, "127.0.0.9:1", bson.E{Key: "votes", Value: 0}, bson.E{Key: "priority", Value: 0}))
			return bson.D{{Key: "replSetReconfig", Value: cfgDoc(e.version+1, m)}}
		}, code: CodeNewReplicaSetConfigurationIncompatible},
		{name: "eight voters", cmd: func(e env) bson.D {
			m := std(e)
			for i := 3; i < 8; i++ {
				m = append(m, member(i, "127.0.0.9:"+itoa(int64(30000+i))))
			}
			return bson.D{{Key: "replSetReconfig", Value: cfgDoc(e.version+1, m)}}
		}, code: CodeNewReplicaSetConfigurationIncompatible},
		{name: "fifty-one members", cmd: func(e env) bson.D {
			m := std(e)
			for i := 3; i < 51; i++ {
				m = append(m, member(i, "127.0.0.9:"+itoa(int64(30000+i)), bson.E{Key: "votes", Value: 0}, bson.E{Key: "priority", Value: 0}))
			}
			return bson.D{{Key: "replSetReconfig", Value: cfgDoc(e.version+1, m)}}
		}, code: CodeNewReplicaSetConfigurationIncompatible},
		{name: "version not greater", cmd: func(e env) bson.D {
			return bson.D{{Key: "replSetReconfig", Value: cfgDoc(e.version, std(e, bson.E{Key: "priority", Value: 3}))}}
		}, code: CodeNewReplicaSetConfigurationIncompatible},
		{name: "two voters removed", cmd: func(e env) bson.D {
			return bson.D{{Key: "replSetReconfig", Value: cfgDoc(e.version+1, bson.A{member(0, e.primary)})}}
		}, code: CodeNewReplicaSetConfigurationIncompatible},
		{name: "host changes _id", cmd: func(e env) bson.D {
			m := bson.A{}
			for i, h := range e.addrs {
				m = append(m, member(10+i, h))
			}
			return bson.D{{Key: "replSetReconfig", Value: cfgDoc(e.version+1, m)}}
		}, code: CodeNewReplicaSetConfigurationIncompatible},
		{name: "arbiter changes implicit write concern", cmd: func(e env) bson.D {
			m := append(std(e), member(9, "127.0.0.9:1", bson.E{Key: "arbiterOnly", Value: true}))
			return bson.D{{Key: "replSetReconfig", Value: cfgDoc(e.version+1, m)}}
		}, code: CodeNewReplicaSetConfigurationIncompatible},
		{name: "self missing", cmd: func(e env) bson.D {
			m := bson.A{}
			for i, h := range e.addrs {
				if h != e.primary {
					m = append(m, member(i, h))
				}
			}
			return bson.D{{Key: "replSetReconfig", Value: cfgDoc(e.version+1, m)}}
		}, code: CodeNodeNotFound},
		{name: "self not electable", cmd: func(e env) bson.D {
			return bson.D{{Key: "replSetReconfig", Value: cfgDoc(e.version+1, std(e, bson.E{Key: "priority", Value: 0}))}}
		}, code: CodeNodeNotElectable},
		{name: "quorum lost", prep: func(t *testing.T, e env) {
			for _, a := range others(e) {
				if err := e.c.CrashNode(a); err != nil {
					t.Fatal(err)
				}
			}
		}, cmd: func(e env) bson.D {
			return bson.D{{Key: "replSetReconfig", Value: cfgDoc(e.version+1, std(e, bson.E{Key: "priority", Value: 2}))}}
		}, code: CodeNodeNotFound},
		{name: "force on a secondary", target: func(e env) string { return others(e)[0] }, cmd: func(e env) bson.D {
			return bson.D{{Key: "replSetReconfig", Value: cfgDoc(e.version+1, std(e))}, {Key: "force", Value: true}}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, addrs, p := reconfigCluster(t)
			st, _ := c.Status(p)
			e := env{c: c, addrs: addrs, primary: p, version: st.Config.Version}
			target := p
			if tc.target != nil {
				target = tc.target(e)
			}
			cl := directClient(t, target)
			if tc.prep != nil {
				tc.prep(t, e)
			}
			before, _ := c.Status(target)
			_, err := run(t, cl, tc.cmd(e))
			if got := codeOf(err); tc.code == 0 && err != nil || tc.code != 0 && got != tc.code {
				t.Fatalf("code = %d (%v), want %d", got, err, tc.code)
			}
			after, _ := c.Status(target)
			changed := after.Config.Version != before.Config.Version
			if changed != (tc.code == 0) {
				t.Fatalf("config version %d -> %d; code %d", before.Config.Version, after.Config.Version, tc.code)
			}
		})
	}
}

func TestForceReconfigVersionJump(t *testing.T) {
	c, addrs, p := reconfigCluster(t)
	var sec string
	for _, a := range addrs {
		if a != p {
			sec = a
			break
		}
	}
	before, _ := c.Status(sec)
	cl := directClient(t, sec)
	if _, err := run(t, cl, bson.D{{Key: "replSetReconfig", Value: cfgDoc(before.Config.Version, membersDoc(addrs))}, {Key: "force", Value: true}}); err != nil {
		t.Fatal(err)
	}
	after, _ := c.Status(sec)
	if jump := after.Config.Version - before.Config.Version; jump < 10000 || jump >= 10000+forceVersionJump {
		t.Fatalf("force version jump %d outside [10000, 110000)", jump)
	}
	if after.Config.Term != -1 || !c.ForceReconfigApplied() {
		t.Fatalf("force config term %d, forced %v", after.Config.Term, c.ForceReconfigApplied())
	}
	cfg := getConfig(t, cl)
	if _, err := cfg.LookupErr("term"); err == nil {
		t.Fatal("config after force reports a term")
	}
	waitFor(t, 3*time.Second, "force config to reach the primary", func() bool {
		st, _ := c.Status(p)
		return st.Config.Version == after.Config.Version
	})
}

func TestReconfigInProgress(t *testing.T) {
	// A slow heartbeat round trip keeps the first reconfig's quorum check open long enough.
	c, addrs := newTestClusterWith(t, 3, Options{ElectionTimeout: 2 * time.Second, HeartbeatInterval: 250 * time.Millisecond, HeartbeatRoundTrip: time.Second})
	c.SetElectionTimeout(testElectionTimeout)
	initiate(t, c, addrs)
	c.SetElectionTimeout(10 * time.Second)
	p := waitPrimary(t, c)
	st, _ := c.Status(p)
	cl, cl2 := directClient(t, p), directClient(t, p)
	if _, err := run(t, cl2, bson.D{{Key: "ping", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	first := make(chan error, 1)
	go func() {
		_, err := cl.Database("admin").RunCommand(ctxT(t, 10*time.Second), bson.D{{Key: "replSetReconfig", Value: cfgDoc(st.Config.Version+1, membersDoc(addrs))}}).Raw()
		first <- err
	}()
	waitFor(t, 3*time.Second, "first reconfig to start its quorum check", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.nodes[p].configBusy
	})
	_, err := run(t, cl2, bson.D{{Key: "replSetReconfig", Value: cfgDoc(st.Config.Version+2, membersDoc(addrs))}})
	if codeOf(err) != CodeConfigurationInProgress {
		t.Fatalf("concurrent reconfig: %v, want 109", err)
	}
	if err := <-first; err != nil {
		t.Fatalf("first reconfig: %v", err)
	}
}

// TestReconfigOplogNotCommitted builds a PSA set at config version 2, takes the secondary down
// and makes the primary win a new election: the first entry of its new term cannot reach a
// write majority, so the next reconfig gets 308 and commitmentStatus is false, as in mongod
// (which checks the previous config's committed optime and the first entry of the term, not
// uncommitted writes).
func TestReconfigOplogNotCommitted(t *testing.T) {
	c, addrs := newTestCluster(t, 3)
	cl := directClient(t, addrs[0])
	psa := bson.A{member(0, addrs[0], bson.E{Key: "priority", Value: 2}), member(1, addrs[1]), member(2, addrs[2], bson.E{Key: "arbiterOnly", Value: true})}
	if _, err := run(t, cl, bson.D{{Key: "replSetInitiate", Value: cfgDoc(1, psa)}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "node 0 primary", func() bool { p, ok := c.Primary(); return ok && p == addrs[0] })
	waitPrimary(t, c)
	psa[0] = member(0, addrs[0], bson.E{Key: "priority", Value: 3})
	if _, err := run(t, cl, bson.D{{Key: "replSetReconfig", Value: cfgDoc(2, psa)}}); err != nil {
		t.Fatalf("reconfig to version 2: %v", err)
	}
	if err := c.CrashNode(addrs[1]); err != nil {
		t.Fatal(err)
	}
	before, _ := c.Status(addrs[0])
	if _, err := run(t, cl, bson.D{{Key: "replSetStepDown", Value: 1}, {Key: "force", Value: true}}); err != nil {
		t.Fatalf("forced stepdown: %v", err)
	}
	waitFor(t, 10*time.Second, "node 0 writable again in a new term", func() bool {
		st, _ := c.Status(addrs[0])
		return st.Writable && st.Term > before.Term
	})
	psa[0] = member(0, addrs[0], bson.E{Key: "priority", Value: 4})
	_, err := run(t, cl, bson.D{{Key: "replSetReconfig", Value: cfgDoc(3, psa)}, {Key: "maxTimeMS", Value: 300}})
	if codeOf(err) != CodeCurrentConfigNotCommittedYet || !hasString(err.Error(), "Last committed optime from previous config") {
		t.Fatalf("reconfig: %v, want 308 on the oplog condition", err)
	}
	raw, err := run(t, cl, bson.D{{Key: "replSetGetConfig", Value: 1}, {Key: "commitmentStatus", Value: true}})
	if err != nil || raw.Lookup("commitmentStatus").Boolean() {
		t.Fatalf("commitmentStatus = %v, %v; want false", raw, err)
	}
	// Once the secondary is back, the entry commits and so does the next reconfig.
	if err := c.StartNode(addrs[1]); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, cl, bson.D{{Key: "replSetReconfig", Value: cfgDoc(3, psa)}, {Key: "maxTimeMS", Value: 5000}}); err != nil {
		t.Fatalf("reconfig after the secondary returned: %v", err)
	}
}
