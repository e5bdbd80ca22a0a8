package mongosim

import (
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// The tests in this file pin the behaviours of mongod that the emulator used to shortcut, each
// named after the conformance-table row it proves (doc.go).

func commandErr(err error) (mongo.CommandError, bool) {
	var ce mongo.CommandError
	ok := errors.As(err, &ce)
	return ce, ok
}

// memberState returns the state replSetGetStatus reports for host, or -1.
func memberState(status bson.Raw, host string) int32 {
	members, _ := status.Lookup("members").Array().Values()
	for _, m := range members {
		d := m.Document()
		if d.Lookup("name").StringValue() == host {
			return d.Lookup("state").Int32()
		}
	}
	return -1
}

func myState(t testing.TB, cl *mongo.Client) int32 {
	t.Helper()
	raw, err := run(t, cl, bson.D{{Key: "replSetGetStatus", Value: 1}})
	if err != nil {
		return -1
	}
	return raw.Lookup("myState").Int32()
}

func insertDocs(t testing.TB, cl *mongo.Client, from, n int, w any) {
	t.Helper()
	docs := bson.A{}
	for i := from; i < from+n; i++ {
		docs = append(docs, bson.D{{Key: "_id", Value: i}})
	}
	_, err := cl.Database("app").RunCommand(ctxT(t, 10*time.Second), bson.D{
		{Key: "insert", Value: "c"}, {Key: "documents", Value: docs},
		{Key: "writeConcern", Value: bson.D{{Key: "w", Value: w}, {Key: "wtimeout", Value: 5000}}},
	}).Raw()
	if err != nil {
		t.Fatalf("insert: %v", err)
	}
}

func insertOne(t testing.TB, cl *mongo.Client, id int) error {
	return cl.Database("app").RunCommand(ctxT(t, 5*time.Second), bson.D{{Key: "insert", Value: "c"},
		{Key: "documents", Value: bson.A{bson.D{{Key: "_id", Value: id}}}}, {Key: "writeConcern", Value: bson.D{{Key: "w", Value: 1}}}}).Err()
}

func eventsOf(c *Cluster, kind EventKind, node string) []Event {
	var out []Event
	for _, e := range c.Events() {
		if e.Kind == kind && (node == "" || e.Node == node) {
			out = append(out, e)
		}
	}
	return out
}

// removeFromSet initiates addrs, removes the last member by reconfig, and waits until that
// member learned it is REMOVED.
func removeFromSet(t *testing.T, c *Cluster, addrs []string) (primary, removed string) {
	t.Helper()
	initiate(t, c, addrs)
	primary = waitPrimary(t, c)
	for _, a := range addrs {
		if a != primary {
			removed = a
		}
	}
	st, _ := c.Status(primary)
	kept := bson.A{}
	for i, a := range addrs {
		if a != removed {
			kept = append(kept, member(i, a))
		}
	}
	if _, err := run(t, directClient(t, primary), bson.D{{Key: "replSetReconfig", Value: cfgDoc(st.Config.Version+1, kept)}}); err != nil {
		t.Fatalf("remove %s: %v", removed, err)
	}
	waitFor(t, 5*time.Second, "removed member in state REMOVED", func() bool {
		s, _ := c.Status(removed)
		return s.State == StateRemoved
	})
	return primary, removed
}

// TestRemovedAndUninitiatedNodes: a REMOVED node answers hello exactly like an empty one (no
// setName, no lists); replSetGetStatus tells them apart (93 with its own state, versus 94).
func TestRemovedAndUninitiatedNodes(t *testing.T) {
	c, addrs := newTestCluster(t, 4)
	_, removed := removeFromSet(t, c, addrs[:3])
	empty := addrs[3]
	st, _ := c.Status(removed)
	cases := []struct {
		name string
		node string
		cmd  bson.D
		code int32
		// check inspects a successful reply or the raw error reply.
		check func(t *testing.T, raw bson.Raw)
	}{
		{name: "hello removed", node: removed, cmd: bson.D{{Key: "hello", Value: 1}}, check: checkNoConfigHello},
		{name: "hello uninitiated", node: empty, cmd: bson.D{{Key: "hello", Value: 1}}, check: checkNoConfigHello},
		{name: "isMaster removed", node: removed, cmd: bson.D{{Key: "isMaster", Value: 1}}, check: func(t *testing.T, raw bson.Raw) {
			if _, err := raw.LookupErr("setName"); err == nil || raw.Lookup("ismaster").Boolean() {
				t.Fatalf("isMaster on REMOVED = %v", raw)
			}
		}},
		{name: "status removed", node: removed, cmd: bson.D{{Key: "replSetGetStatus", Value: 1}}, code: CodeInvalidReplicaSetConfig, check: func(t *testing.T, raw bson.Raw) {
			if raw.Lookup("state").Int32() != int32(StateRemoved) || raw.Lookup("stateStr").StringValue() != "REMOVED" ||
				raw.Lookup("errmsg").StringValue() != "Our replica set config is invalid or we are not a member of it" {
				t.Fatalf("REMOVED status error = %v", raw)
			}
			if _, err := raw.LookupErr("members"); err == nil {
				t.Fatal("REMOVED status lists members")
			}
		}},
		{name: "status uninitiated", node: empty, cmd: bson.D{{Key: "replSetGetStatus", Value: 1}}, code: CodeNotYetInitialized},
		{name: "config removed", node: removed, cmd: bson.D{{Key: "replSetGetConfig", Value: 1}}, check: func(t *testing.T, raw bson.Raw) {
			if v := raw.Lookup("config", "version").Int32(); int64(v) != st.Config.Version {
				t.Fatalf("REMOVED node's config version %d, want %d", v, st.Config.Version)
			}
		}},
		{name: "config uninitiated", node: empty, cmd: bson.D{{Key: "replSetGetConfig", Value: 1}}, code: CodeNotYetInitialized},
		{name: "stepdown removed", node: removed, cmd: bson.D{{Key: "replSetStepDown", Value: 60}}, code: CodeNotWritablePrimary},
		{name: "stepdown uninitiated", node: empty, cmd: bson.D{{Key: "replSetStepDown", Value: 60}}, code: CodeNotYetInitialized},
		{name: "reconfig removed", node: removed, cmd: bson.D{{Key: "replSetReconfig", Value: cfgDoc(st.Config.Version+1, membersDoc(addrs[:3]))}}, code: CodeNotWritablePrimary, check: func(t *testing.T, raw bson.Raw) {
			if !hasString(raw.Lookup("errmsg").StringValue(), "Current state REMOVED") {
				t.Fatalf("reconfig on REMOVED = %v", raw)
			}
		}},
		{name: "reconfig uninitiated", node: empty, cmd: bson.D{{Key: "replSetReconfig", Value: cfgDoc(2, membersDoc(addrs[:3]))}}, code: CodeNotYetInitialized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := run(t, directClient(t, tc.node), tc.cmd)
			if tc.code == 0 && err != nil || tc.code != 0 && codeOf(err) != tc.code {
				t.Fatalf("code = %d (%v), want %d", codeOf(err), err, tc.code)
			}
			if ce, ok := commandErr(err); ok {
				raw = ce.Raw
			}
			if tc.check != nil {
				tc.check(t, raw)
			}
		})
	}
}

func checkNoConfigHello(t *testing.T, raw bson.Raw) {
	t.Helper()
	for _, f := range []string{"setName", "setVersion", "hosts", "passives", "primary", "me"} {
		if _, err := raw.LookupErr(f); err == nil {
			t.Fatalf("no-config hello carries %s: %v", f, raw)
		}
	}
	if raw.Lookup("isWritablePrimary").Boolean() || raw.Lookup("secondary").Boolean() || !raw.Lookup("isreplicaset").Boolean() ||
		raw.Lookup("info").StringValue() != "Does not have a valid replica set config" {
		t.Fatalf("no-config hello = %v", raw)
	}
}

// TestInitialSyncTakesTime: a member added to a set with data stays in STARTUP2, visible to
// clients, for InitialSyncBase + InitialSyncPerEntry × the source's entries, then recovers to
// SECONDARY; while it syncs it reports the null optime.
func TestInitialSyncTakesTime(t *testing.T) {
	opts := Options{ElectionTimeout: testElectionTimeout, HeartbeatInterval: 20 * time.Millisecond,
		InitialSyncBase: 200 * time.Millisecond, InitialSyncPerEntry: 2 * time.Millisecond}
	c, addrs := newTestClusterWith(t, 2, opts)
	initiate(t, c, addrs[:1])
	p := waitPrimary(t, c)
	pc := directClient(t, p)
	insertDocs(t, pc, 0, 100, 1)
	st, _ := c.Status(p)
	if _, err := run(t, pc, bson.D{{Key: "replSetReconfig", Value: cfgDoc(st.Config.Version+1, membersDoc(addrs))}}); err != nil {
		t.Fatal(err)
	}
	joiner := addrs[1]
	jc := directClient(t, joiner)
	sawStartup2 := false
	waitFor(t, 10*time.Second, "the new member SECONDARY", func() bool {
		status, err := run(t, pc, bson.D{{Key: "replSetGetStatus", Value: 1}})
		if err != nil {
			return false
		}
		switch memberState(status, joiner) {
		case int32(StateStartup2):
			sawStartup2 = true
			if hello, err := run(t, jc, bson.D{{Key: "hello", Value: 1}}); err == nil && hello.Lookup("secondary").Boolean() {
				t.Fatalf("member in initial sync claims secondary: %v", hello)
			}
		case int32(StateSecondary):
			return true
		}
		return false
	})
	if !sawStartup2 {
		t.Fatal("initial sync was never visible as STARTUP2")
	}
	start, done := eventsOf(c, EventInitialSyncStart, joiner), eventsOf(c, EventInitialSyncDone, joiner)
	if len(start) == 0 || len(done) == 0 {
		t.Fatalf("initial sync events: start %v done %v", start, done)
	}
	entries, _ := strconv.Atoi(strings.Fields(start[len(start)-1].Detail)[0])
	want := opts.InitialSyncBase + time.Duration(entries)*opts.InitialSyncPerEntry
	if took := done[0].Time.Sub(start[len(start)-1].Time); entries < 100 || took < want {
		t.Fatalf("initial sync of %d entries took %s, want at least %s", entries, took, want)
	}
}

// TestTooStaleMemberRecovers: a member that was down while more entries were written than its
// sources keep goes RECOVERING and stays there; with the default window it catches up.
func TestTooStaleMemberRecovers(t *testing.T) {
	cases := []struct {
		name   string
		window int
		want   MemberState
	}{
		{"beyond the oplog window", 10, StateRecovering},
		{"within the oplog window", 0, StateSecondary},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, addrs := newTestClusterWith(t, 3, Options{ElectionTimeout: testElectionTimeout, HeartbeatInterval: 20 * time.Millisecond, OplogWindow: tc.window})
			initiate(t, c, addrs)
			p := waitPrimary(t, c)
			c.SetElectionTimeout(30 * time.Second)
			lagging := others(addrs, p)[0]
			if err := c.CrashNode(lagging); err != nil {
				t.Fatal(err)
			}
			pc := directClient(t, p)
			for i := range 30 {
				insertDocs(t, pc, i, 1, "majority")
			}
			if err := c.StartNode(lagging); err != nil {
				t.Fatal(err)
			}
			lc := directClient(t, lagging)
			waitFor(t, 10*time.Second, "the restarted member in "+tc.want.String(), func() bool {
				st, _ := c.Status(lagging)
				if tc.want == StateRecovering {
					return st.State == StateRecovering && len(eventsOf(c, EventTooStale, lagging)) > 0
				}
				return st.State == tc.want
			})
			// Several steps later it is still where it was, and clients see it there.
			time.Sleep(10 * c.HeartbeatInterval())
			if got := myState(t, lc); got != int32(tc.want) {
				t.Fatalf("myState = %d, want %d", got, tc.want)
			}
		})
	}
}

// TestRollbackIsVisible: a deposed primary with an entry the new primary lacks stays in
// ROLLBACK for RollbackTime, visible to clients, before the entry is gone.
func TestRollbackIsVisible(t *testing.T) {
	opts := Options{ElectionTimeout: testElectionTimeout, HeartbeatInterval: 20 * time.Millisecond, RollbackTime: 500 * time.Millisecond}
	c, addrs := newTestClusterWith(t, 3, opts)
	initiate(t, c, addrs)
	p := waitPrimary(t, c)
	// Long enough for the isolated primary to take a write before it steps down.
	c.SetElectionTimeout(2 * time.Second)
	if err := c.Partition([]string{p}, others(addrs, p)); err != nil {
		t.Fatal(err)
	}
	pc := directClient(t, p)
	insertDocs(t, pc, 1, 1, 1)
	var q string
	waitFor(t, 10*time.Second, "a new primary on the majority side", func() bool {
		for _, a := range others(addrs, p) {
			if st, _ := c.Status(a); st.Writable {
				q = a
				return true
			}
		}
		return false
	})
	if err := c.Heal(); err != nil {
		t.Fatal(err)
	}
	sawRollback := false
	waitFor(t, 10*time.Second, "the old primary back as SECONDARY after a rollback", func() bool {
		switch myState(t, pc) {
		case int32(StateRollback):
			sawRollback = true
		case int32(StateSecondary):
			return len(eventsOf(c, EventRollback, p)) > 0
		}
		return false
	})
	if !sawRollback {
		t.Fatal("rollback was never visible as ROLLBACK")
	}
	start, done := eventsOf(c, EventRollbackStart, p), eventsOf(c, EventRollback, p)
	if took := done[0].Time.Sub(start[0].Time); took < opts.RollbackTime {
		t.Fatalf("rollback took %s, want at least %s", took, opts.RollbackTime)
	}
	if rb, _ := c.RolledBack(p); len(rb) != 1 || rb[0].Op != "i" {
		t.Fatalf("rolled back %v, want the one insert", rb)
	}
	if st, _ := c.Status(q); !st.Writable {
		t.Fatalf("new primary %s lost its role", q)
	}
}

// TestStepDownRules: replSetStepDown succeeds only when a write majority holds the primary's
// last entry and an electable secondary does too; otherwise 262 once the catch-up period is
// over, or a forced step-down.
func TestStepDownRules(t *testing.T) {
	cases := []struct {
		name  string
		nodes int
		// isolate returns the partition groups to apply after the set is up (nil: none).
		isolate func(p string, rest []string) [][]string
		cmd     bson.D
		code    int32
		minWait time.Duration
	}{
		{name: "caught-up majority and electable secondary", nodes: 3,
			cmd: bson.D{{Key: "replSetStepDown", Value: 30}, {Key: "secondaryCatchUpPeriodSecs", Value: 5}}},
		{name: "no reachable secondary", nodes: 3,
			isolate: func(p string, rest []string) [][]string { return [][]string{{p}, rest} },
			cmd:     bson.D{{Key: "replSetStepDown", Value: 10}, {Key: "secondaryCatchUpPeriodSecs", Value: 1}},
			code:    CodeExceededTimeLimit, minWait: time.Second},
		{name: "electable secondary caught up but no write majority", nodes: 5,
			isolate: func(p string, rest []string) [][]string { return [][]string{{p, rest[0]}, rest[1:]} },
			cmd:     bson.D{{Key: "replSetStepDown", Value: 10}, {Key: "secondaryCatchUpPeriodSecs", Value: 1}},
			code:    CodeExceededTimeLimit, minWait: time.Second},
		{name: "force without caught-up secondaries", nodes: 3,
			isolate: func(p string, rest []string) [][]string { return [][]string{{p}, rest} },
			cmd:     bson.D{{Key: "replSetStepDown", Value: 10}, {Key: "secondaryCatchUpPeriodSecs", Value: 1}, {Key: "force", Value: true}},
			minWait: time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, addrs := newTestCluster(t, tc.nodes)
			initiate(t, c, addrs)
			p := waitPrimary(t, c)
			c.SetElectionTimeout(30 * time.Second)
			pc := directClient(t, p)
			if tc.isolate != nil {
				if err := c.Partition(tc.isolate(p, others(addrs, p))...); err != nil {
					t.Fatal(err)
				}
			}
			insertDocs(t, pc, 1, 1, 1)
			waitFor(t, 5*time.Second, "reachable secondaries caught up", func() bool {
				c.mu.Lock()
				defer c.mu.Unlock()
				n := c.nodes[p]
				for _, x := range c.nodes {
					if x != n && c.linkedLocked(n, x) && !holdsLastOf(x, n) {
						return false
					}
				}
				return true
			})
			start := time.Now()
			_, err := run(t, pc, tc.cmd)
			if tc.code == 0 && err != nil || tc.code != 0 && codeOf(err) != tc.code {
				t.Fatalf("code = %d (%v), want %d", codeOf(err), err, tc.code)
			}
			if took := time.Since(start); took < tc.minWait {
				t.Fatalf("answered after %s, before the catch-up period of %s", took, tc.minWait)
			}
			st, _ := c.Status(p)
			if stepped := st.State != StatePrimary; stepped != (tc.code == 0) {
				t.Fatalf("state after code %d: %s", codeOf(err), st.State)
			}
			if tc.code != 0 && !st.Writable {
				t.Fatal("primary does not accept writes again after a refused step-down")
			}
			if tc.code == CodeExceededTimeLimit && !hasString(err.Error(), "No electable secondaries caught up as of") {
				t.Fatalf("262 message: %v", err)
			}
		})
	}
}

// TestStepDownAttemptRefusesWrites: while the primary waits for a secondary to catch up it
// reports isWritablePrimary:false, refuses writes and a second step-down (117); after a 262 it
// accepts writes again.
func TestStepDownAttemptRefusesWrites(t *testing.T) {
	c, addrs := newTestCluster(t, 3)
	initiate(t, c, addrs)
	p := waitPrimary(t, c)
	c.SetElectionTimeout(30 * time.Second)
	if err := c.Partition([]string{p}, others(addrs, p)); err != nil {
		t.Fatal(err)
	}
	pc, pc2 := directClient(t, p), directClient(t, p)
	done := make(chan error, 1)
	go func() {
		_, err := pc.Database("admin").RunCommand(ctxT(t, 30*time.Second),
			bson.D{{Key: "replSetStepDown", Value: 20}, {Key: "secondaryCatchUpPeriodSecs", Value: 4}}).Raw()
		done <- err
	}()
	waitFor(t, 5*time.Second, "the step-down attempt", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.nodes[p].steppingDown
	})
	hello, err := run(t, pc2, bson.D{{Key: "hello", Value: 1}})
	if err != nil || hello.Lookup("isWritablePrimary").Boolean() || hello.Lookup("secondary").Boolean() {
		t.Fatalf("hello during the attempt = %v, %v", hello, err)
	}
	if err := insertOne(t, pc2, 1); codeOf(err) != CodeNotWritablePrimary {
		t.Fatalf("insert during the attempt: %v, want 10107", err)
	}
	if _, err := run(t, pc2, bson.D{{Key: "replSetStepDown", Value: 20}}); codeOf(err) != CodeConflictingOperationInProgress {
		t.Fatalf("second stepdown: %v, want 117", err)
	}
	if err := <-done; codeOf(err) != CodeExceededTimeLimit {
		t.Fatalf("stepdown: %v, want 262", err)
	}
	insertDocs(t, pc2, 2, 1, 1)
}

// TestDrainModeAfterElection: a new primary is PRIMARY in replSetGetStatus but reports
// isWritablePrimary:false, secondary:true and refuses writes, commitmentStatus and reconfig
// until it has drained; then it accepts them.
func TestDrainModeAfterElection(t *testing.T) {
	const drain = 5 * time.Second
	c, addrs := newTestCluster(t, 3)
	initiate(t, c, addrs)
	p := waitPrimary(t, c)
	// Only the next election drains slowly, long enough for the checks below.
	c.mu.Lock()
	c.opts.DrainTime = drain
	c.mu.Unlock()
	if err := c.CrashNode(p); err != nil {
		t.Fatal(err)
	}
	clients := map[string]*mongo.Client{}
	for _, a := range others(addrs, p) {
		clients[a] = directClient(t, a)
	}
	var q string
	waitFor(t, 10*time.Second, "a draining primary", func() bool {
		for a, cl := range clients {
			h, err := run(t, cl, bson.D{{Key: "hello", Value: 1}})
			if err != nil {
				continue
			}
			if pr, ok := h.Lookup("primary").StringValueOK(); ok && pr == a && !h.Lookup("isWritablePrimary").Boolean() && h.Lookup("secondary").Boolean() {
				q = a
				return true
			}
		}
		return false
	})
	qc := clients[q]
	if got := myState(t, qc); got != int32(StatePrimary) {
		t.Fatalf("draining primary's myState = %d", got)
	}
	if err := insertOne(t, qc, 1); codeOf(err) != CodeNotWritablePrimary {
		t.Fatalf("insert while draining: %v, want 10107", err)
	}
	if _, err := run(t, qc, bson.D{{Key: "replSetGetConfig", Value: 1}, {Key: "commitmentStatus", Value: true}}); codeOf(err) != CodeNotWritablePrimary {
		t.Fatalf("commitmentStatus while draining: %v", err)
	}
	st, _ := c.Status(q)
	_, err := run(t, qc, bson.D{{Key: "replSetReconfig", Value: cfgDoc(st.Config.Version+1, membersDoc(addrs))}})
	if codeOf(err) != CodeNotWritablePrimary || !hasString(err.Error(), "Current state PRIMARY") {
		t.Fatalf("reconfig while draining: %v", err)
	}
	if st, _ := c.Status(q); st.Writable || st.State != StatePrimary {
		t.Fatalf("%s stopped draining before the checks were done (drain %s)", q, drain)
	}
	waitFor(t, 10*time.Second, "drain to complete", func() bool { st, _ := c.Status(q); return st.Writable })
	insertDocs(t, qc, 2, 1, 1)
	if d := eventsOf(c, EventDrainComplete, q); len(d) == 0 {
		t.Fatal("no drain-complete event")
	}
}

// TestPriorityTakeoverWaitsForRank: a member outranked by one other member (even a down one)
// takes over from a lower-priority primary no sooner than 2 × electionTimeout.
func TestPriorityTakeoverWaitsForRank(t *testing.T) {
	const et = 500 * time.Millisecond
	c, addrs := newTestClusterWith(t, 3, Options{ElectionTimeout: testElectionTimeout, HeartbeatInterval: 20 * time.Millisecond})
	initiate(t, c, addrs)
	p := waitPrimary(t, c)
	rest := others(addrs, p)
	second, top := rest[0], rest[1]
	if err := c.CrashNode(top); err != nil {
		t.Fatal(err)
	}
	c.SetElectionTimeout(et)
	st, _ := c.Status(p)
	prio := map[string]int{p: 1, second: 2, top: 3}
	m := bson.A{}
	for i, a := range addrs {
		m = append(m, member(i, a, bson.E{Key: "priority", Value: prio[a]}))
	}
	if _, err := run(t, directClient(t, p), bson.D{{Key: "replSetReconfig", Value: cfgDoc(st.Config.Version+1, m)}}); err != nil {
		t.Fatal(err)
	}
	var installed time.Time
	for _, ch := range c.ConfigChanges() {
		if ch.Node == second && ch.New.Version == st.Config.Version+1 {
			installed = ch.Time
		}
	}
	if installed.IsZero() {
		t.Fatal("the reconfig did not reach the second member")
	}
	var takeover Event
	waitFor(t, 10*time.Second, "the priority takeover", func() bool {
		for _, e := range eventsOf(c, EventElection, second) {
			if e.Detail == "priority takeover" {
				takeover = e
				return true
			}
		}
		return false
	})
	if waited := takeover.Time.Sub(installed); waited < 2*et {
		t.Fatalf("rank-1 member took over %s after seeing a lower-priority primary, want at least %s", waited, 2*et)
	}
}

// TestReconfigCommitsBetweenSteps: with the simulation steps stopped, a reconfig still installs,
// reaches the members by immediate heartbeats and commits, as mongod's restarted heartbeats do.
func TestReconfigCommitsBetweenSteps(t *testing.T) {
	c, addrs := newTestCluster(t, 3)
	initiate(t, c, addrs)
	p := waitPrimary(t, c)
	c.mu.Lock()
	c.stepsPaused = true
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.stepsPaused = false
		c.mu.Unlock()
	}()
	pc := directClient(t, p)
	st, _ := c.Status(p)
	m := bson.A{}
	for i, a := range addrs {
		pr := 1
		if a == p {
			pr = 2
		}
		m = append(m, member(i, a, bson.E{Key: "priority", Value: pr}))
	}
	if _, err := run(t, pc, bson.D{{Key: "replSetReconfig", Value: cfgDoc(st.Config.Version+1, m)}, {Key: "maxTimeMS", Value: 10000}}); err != nil {
		t.Fatalf("reconfig with the steps stopped: %v", err)
	}
	raw, err := run(t, pc, bson.D{{Key: "replSetGetConfig", Value: 1}, {Key: "commitmentStatus", Value: true}})
	if err != nil || !raw.Lookup("commitmentStatus").Boolean() {
		t.Fatalf("commitmentStatus = %v, %v", raw, err)
	}
	waitFor(t, 5*time.Second, "every member on the new config", func() bool {
		for _, a := range addrs {
			if s, _ := c.Status(a); s.Config.Version != st.Config.Version+1 {
				return false
			}
		}
		return true
	})
}

// TestConfigCommitmentRecomputed: commitmentStatus follows what the voters report now. Two
// secondaries that lost their data and are busy initiating elsewhere report no config, so the
// primary's config is no longer committed; once they took it again, it is.
func TestConfigCommitmentRecomputed(t *testing.T) {
	c, addrs := newTestClusterWith(t, 4, Options{ElectionTimeout: testElectionTimeout, HeartbeatInterval: 20 * time.Millisecond, HeartbeatTimeout: 6 * time.Second})
	set, silent := addrs[:3], addrs[3]
	initiate(t, c, set)
	p := waitPrimary(t, c)
	c.SetElectionTimeout(30 * time.Second)
	pc := directClient(t, p)
	committed := func() bool {
		raw, err := run(t, pc, bson.D{{Key: "replSetGetConfig", Value: 1}, {Key: "commitmentStatus", Value: true}})
		return err == nil && raw.Lookup("commitmentStatus").Boolean()
	}
	waitFor(t, 5*time.Second, "the config committed", committed)
	// The in-process reading (Cluster.Commitment) gives the same answer without a connection.
	sim := func() bool {
		cfg, ok, err := c.Commitment(p)
		if err != nil || cfg == nil {
			t.Fatalf("Commitment(%s) = %v, %v", p, cfg, err)
		}
		return ok
	}
	if !sim() {
		t.Fatal("Commitment says not committed where commitmentStatus says committed")
	}
	if _, _, err := c.Commitment(others(set, p)[0]); !isCode(err, CodeNotWritablePrimary) {
		t.Fatalf("Commitment on a secondary: %v, want NotWritablePrimary as the command", err)
	}
	if _, _, err := c.Commitment("127.0.0.1:1"); !errors.Is(err, ErrUnknownNode) {
		t.Fatalf("Commitment on an unknown node: %v", err)
	}
	wiped := others(set, p)
	if err := c.Partition([]string{p}, wiped[:1], wiped[1:], []string{silent}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, w := range wiped {
		if err := c.WipeNode(w); err != nil {
			t.Fatal(err)
		}
		if err := c.StartNode(w); err != nil {
			t.Fatal(err)
		}
		// An initiate that waits for a silent member keeps the node busy and without config.
		wc := directClient(t, w)
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := cfgDoc(1, bson.A{member(0, w), member(1, silent)})
			_, _ = wc.Database("admin").RunCommand(ctxT(t, 30*time.Second), bson.D{{Key: "replSetInitiate", Value: cfg}}).Raw()
		}()
	}
	waitFor(t, 5*time.Second, "both wiped members busy initiating", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.nodes[wiped[0]].configBusy && c.nodes[wiped[1]].configBusy
	})
	if err := c.Partition(set, []string{silent}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 3*time.Second, "commitmentStatus false while the voters report no config", func() bool { return !committed() })
	if sim() {
		t.Fatal("Commitment says committed while the voters report no config")
	}
	wg.Wait()
	waitFor(t, 10*time.Second, "commitmentStatus true once they took the config again", committed)
}

// TestReconfigQuorumVetoes: the reconfig quorum check reaches every member of the new config: a
// member of another set vetoes it (103) even as a non-voter, and a silent voter the majority
// needs keeps the check waiting for the heartbeat timeout before 74.
func TestReconfigQuorumVetoes(t *testing.T) {
	t.Run("member of another set", func(t *testing.T) {
		t.Parallel()
		c, addrs := newTestCluster(t, 4)
		initiate(t, c, addrs[:3])
		p := waitPrimary(t, c)
		if _, err := run(t, directClient(t, addrs[3]), bson.D{{Key: "replSetInitiate", Value: bson.D{}}}); err != nil {
			t.Fatal(err)
		}
		st, _ := c.Status(p)
		m := append(membersDoc(addrs[:3]), member(3, addrs[3], bson.E{Key: "votes", Value: 0}, bson.E{Key: "priority", Value: 0}))
		_, err := run(t, directClient(t, p), bson.D{{Key: "replSetReconfig", Value: cfgDoc(st.Config.Version+1, m)}})
		if codeOf(err) != CodeNewReplicaSetConfigurationIncompatible || !hasString(err.Error(), "did not match") {
			t.Fatalf("adding a member of another set: %v, want 103", err)
		}
	})
	t.Run("silent voters", func(t *testing.T) {
		t.Parallel()
		c, addrs := newTestClusterWith(t, 3, Options{ElectionTimeout: testElectionTimeout, HeartbeatInterval: 20 * time.Millisecond, HeartbeatTimeout: time.Second})
		initiate(t, c, addrs)
		p := waitPrimary(t, c)
		c.SetElectionTimeout(30 * time.Second)
		if err := c.Partition([]string{p}, others(addrs, p)); err != nil {
			t.Fatal(err)
		}
		st, _ := c.Status(p)
		cfg := cfgDoc(st.Config.Version+1, membersDoc(addrs))
		start := time.Now()
		_, err := run(t, directClient(t, p), bson.D{{Key: "replSetReconfig", Value: cfg}})
		if codeOf(err) != CodeNodeNotFound {
			t.Fatalf("reconfig with silent voters: %v, want 74", err)
		}
		if took := time.Since(start); took < time.Second {
			t.Fatalf("quorum check gave up after %s, before the 1 s heartbeat timeout", took)
		}
	})
}

// logHook records every log entry.
type logHook struct {
	mu      sync.Mutex
	entries []*logrus.Entry
}

func (h *logHook) Levels() []logrus.Level { return logrus.AllLevels }
func (h *logHook) Fire(e *logrus.Entry) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.entries = append(h.entries, e)
	return nil
}

func (h *logHook) seedLogged() (uint64, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range h.entries {
		if s, ok := e.Data["seed"].(uint64); ok {
			return s, true
		}
	}
	return 0, false
}

// TestStepOrderFollowsSeed: the seed is logged and returned, also when drawn at random, and the
// order in which members hear of a new config is drawn from it, not the config or start order.
func TestStepOrderFollowsSeed(t *testing.T) {
	for _, seed := range []uint64{0, 42} {
		l := logrus.New()
		l.SetOutput(io.Discard)
		h := &logHook{}
		l.AddHook(h)
		c := New(Options{Seed: seed, Logger: l})
		logged, ok := h.seedLogged()
		c.Close()
		if !ok || logged != c.Seed() || seed != 0 && logged != seed || c.Seed() == 0 {
			t.Fatalf("seed %d: logged %d (%v), Seed() = %d", seed, logged, ok, c.Seed())
		}
	}
	inConfigOrder := 0
	const runs = 6
	for seed := uint64(1); seed <= runs; seed++ {
		c, addrs := newTestClusterWith(t, 6, Options{ElectionTimeout: testElectionTimeout, HeartbeatInterval: 20 * time.Millisecond, Seed: seed})
		if _, err := run(t, directClient(t, addrs[0]), bson.D{{Key: "replSetInitiate", Value: cfgDoc(1, membersDoc(addrs))}}); err != nil {
			t.Fatal(err)
		}
		var order []string
		waitFor(t, 5*time.Second, "every member on the first config", func() bool {
			order = order[:0]
			for _, ch := range c.ConfigChanges() {
				if ch.Origin == OriginHeartbeat && ch.Prev == nil {
					order = append(order, ch.Node)
				}
			}
			return len(order) == len(addrs)-1
		})
		if strings.Join(order, ",") == strings.Join(addrs[1:], ",") {
			inConfigOrder++
		}
		c.Close()
	}
	if inConfigOrder == runs {
		t.Fatalf("members learned the config in config order under all %d seeds", runs)
	}
}

// TestSilentMemberHealthyUntilHeartbeatTimeout: a member behind a partition does not refuse
// heartbeats, it stops answering, so the others report what it last said until the heartbeat
// timeout has passed; a stopped member refuses and is reported down at once.
func TestSilentMemberHealthyUntilHeartbeatTimeout(t *testing.T) {
	const timeout = time.Second
	cases := []struct {
		name  string
		fault func(c *Cluster, p, victim string) error
		// minDown is how long after the fault the primary may first report the victim down.
		minDown time.Duration
	}{
		{"partitioned", func(c *Cluster, p, victim string) error {
			return c.Partition(others([]string{p, victim, "x"}, victim), []string{victim})
		}, timeout - 100*time.Millisecond},
		{"stopped", func(c *Cluster, _, victim string) error { return c.CrashNode(victim) }, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, addrs := newTestClusterWith(t, 3, Options{ElectionTimeout: testElectionTimeout, HeartbeatInterval: 20 * time.Millisecond, HeartbeatTimeout: timeout})
			initiate(t, c, addrs)
			p := waitPrimary(t, c)
			c.SetElectionTimeout(30 * time.Second)
			victim := others(addrs, p)[0]
			pc := directClient(t, p)
			health := func() (float64, bool) {
				raw, err := run(t, pc, bson.D{{Key: "replSetGetStatus", Value: 1}})
				if err != nil {
					return -1, false
				}
				members, _ := raw.Lookup("members").Array().Values()
				for _, m := range members {
					if d := m.Document(); d.Lookup("name").StringValue() == victim {
						return d.Lookup("health").Double(), true
					}
				}
				return -1, false
			}
			start := time.Now()
			if err := tc.fault(c, p, victim); err != nil {
				t.Fatal(err)
			}
			if tc.minDown == 0 {
				if h, ok := health(); !ok || h != 0 {
					t.Fatalf("stopped member health %v right after the stop, want 0", h)
				}
				return
			}
			if h, ok := health(); !ok || h != 1 {
				t.Fatalf("partitioned member health %v right after the partition, want 1 until the heartbeat timeout", h)
			}
			waitFor(t, 10*time.Second, "the partitioned member reported down", func() bool { h, _ := health(); return h == 0 })
			if took := time.Since(start); took < tc.minDown {
				t.Fatalf("reported down after %s, before the %s heartbeat timeout", took, timeout)
			}
		})
	}
}

// TestInitiateAcceptsRemovedMember: a REMOVED node answers the initiate quorum check with
// InvalidReplicaSetConfig and no data flag, which mongod accepts; the new set then lists a member
// that keeps its old config and its data and never joins, so it cannot elect a primary. Only
// the planner can prevent this.
func TestInitiateAcceptsRemovedMember(t *testing.T) {
	c, addrs := newTestCluster(t, 4)
	_, removed := removeFromSet(t, c, addrs[:3])
	before, _ := c.Status(removed)
	fresh := addrs[3]
	if _, err := run(t, directClient(t, fresh), bson.D{{Key: "replSetInitiate", Value: cfgDoc(1, bson.A{member(0, fresh), member(1, removed)})}}); err != nil {
		t.Fatalf("initiate with a REMOVED member: %v, want ok as from mongod", err)
	}
	// The new set cannot elect: its second voter never answers as a member.
	waitFor(t, 5*time.Second, "the new set's initiator SECONDARY", func() bool { st, _ := c.Status(fresh); return st.State == StateSecondary })
	status, err := run(t, directClient(t, fresh), bson.D{{Key: "replSetGetStatus", Value: 1}})
	if err != nil || memberState(status, removed) != int32(StateDown) {
		t.Fatalf("the new set sees the removed member as %d (%v), want down", memberState(status, removed), err)
	}
	after, _ := c.Status(removed)
	newSet, _ := c.Status(fresh)
	if after.State != StateRemoved || after.Config.ReplicaSetID != before.Config.ReplicaSetID || after.OplogLen != before.OplogLen {
		t.Fatalf("removed member changed: %+v -> %+v", before, after)
	}
	if newSet.Config.ReplicaSetID == before.Config.ReplicaSetID {
		t.Fatal("the new set shares the old replicaSetId")
	}
}

// isCode reports whether err is the emulator's own *CommandError with code (an in-process
// call's error, not a driver's).
func isCode(err error, code int32) bool {
	var ce *CommandError
	return errors.As(err, &ce) && ce.Code == code
}
