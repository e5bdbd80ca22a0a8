package mongosim

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestVersionPresented: each series answers with its wire version and build info, through the Go
// driver (which needs 4.4 or later).
func TestVersionPresented(t *testing.T) {
	want := map[ServerVersion]struct {
		wire   int32
		prefix string
	}{
		Version44: {9, "4.4."}, Version50: {13, "5.0."}, Version60: {17, "6.0."}, Version70: {21, "7.0."}, Version80: {25, "8.0."},
	}
	if len(Versions()) != len(want)+1 {
		t.Fatalf("Versions() = %v", Versions())
	}
	for _, v := range Versions() {
		if v == Version42 {
			continue
		}
		t.Run(string(v), func(t *testing.T) {
			c, addrs := newTestClusterWith(t, 1, Options{ElectionTimeout: testElectionTimeout, Version: v})
			cl := directClient(t, addrs[0])
			hello, err := run(t, cl, bson.D{{Key: "hello", Value: 1}})
			if err != nil {
				t.Fatal(err)
			}
			if got := hello.Lookup("maxWireVersion").Int32(); got != want[v].wire {
				t.Errorf("maxWireVersion = %d, want %d", got, want[v].wire)
			}
			bi, err := run(t, cl, bson.D{{Key: "buildInfo", Value: 1}})
			if err != nil {
				t.Fatal(err)
			}
			version := bi.Lookup("version").StringValue()
			arr, _ := bi.Lookup("versionArray").Array().Values()
			if !strings.HasPrefix(version, want[v].prefix) || version != c.FullVersion() ||
				fmt.Sprintf("%d.%d.%d", arr[0].Int32(), arr[1].Int32(), arr[2].Int32()) != version {
				t.Errorf("buildInfo version %q, versionArray %v", version, arr)
			}
		})
	}
	if _, err := ParseVersion("3.6"); err == nil {
		t.Error("ParseVersion accepts 3.6")
	}
	if v, err := ParseVersion(""); err != nil || v != DefaultVersion {
		t.Errorf("ParseVersion(\"\") = %v, %v", v, err)
	}
}

// sendOpQuery sends one OP_QUERY and reads the OP_REPLY: its flags and document.
func sendOpQuery(t testing.TB, conn net.Conn, r *bufio.Reader, ns string, flags uint32, cmd bson.D) (uint32, bson.Raw) {
	t.Helper()
	doc, err := bson.Marshal(cmd)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 16)
	binary.LittleEndian.PutUint32(b[4:], 9)
	binary.LittleEndian.PutUint32(b[12:], opQuery)
	b = binary.LittleEndian.AppendUint32(b, flags)
	b = append(append(b, ns...), 0)
	b = binary.LittleEndian.AppendUint32(b, 0)          // numberToSkip
	b = binary.LittleEndian.AppendUint32(b, 0xffffffff) // numberToReturn -1
	b = append(b, doc...)
	binary.LittleEndian.PutUint32(b, uint32(len(b)))
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(b); err != nil {
		t.Fatal(err)
	}
	var hdr [16]byte
	if _, err := ioReadFull(r, hdr[:]); err != nil {
		t.Fatalf("read reply: %v", err)
	}
	size := binary.LittleEndian.Uint32(hdr[:])
	if op := binary.LittleEndian.Uint32(hdr[12:]); op != opReply {
		t.Fatalf("reply opcode %d, want OP_REPLY", op)
	}
	body := make([]byte, size-16)
	if _, err := ioReadFull(r, body); err != nil {
		t.Fatal(err)
	}
	return binary.LittleEndian.Uint32(body), bson.Raw(body[20:])
}

func ioReadFull(r *bufio.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		k, err := r.Read(b[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// TestOpQueryByVersion: commands over legacy OP_QUERY, as Let's Chat's Node driver 2.2 sends
// them, work up to 5.0 and are refused from 5.1 with mongod's error, except the handshake.
func TestOpQueryByVersion(t *testing.T) {
	for _, v := range []ServerVersion{Version44, Version50, Version60, Version80} {
		t.Run(string(v), func(t *testing.T) {
			c, addrs := newTestClusterWith(t, 1, Options{SetName: "rs0", ElectionTimeout: testElectionTimeout, Version: v})
			initiate(t, c, addrs)
			conn, err := net.Dial("tcp", addrs[0])
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			r := bufio.NewReader(conn)
			_, hello := sendOpQuery(t, conn, r, "admin.$cmd", 0, bson.D{{Key: "ismaster", Value: true}})
			if !hello.Lookup("ismaster").Boolean() {
				t.Fatalf("isMaster over OP_QUERY: %v", hello)
			}
			_, bi := sendOpQuery(t, conn, r, "admin.$cmd", 0, bson.D{{Key: "buildinfo", Value: 1}})
			if bi.Lookup("version").StringValue() != c.FullVersion() {
				t.Fatalf("buildinfo over OP_QUERY: %v", bi)
			}
			_, ins := sendOpQuery(t, conn, r, "letschat.$cmd", 0, bson.D{{Key: "insert", Value: "messages"}, {Key: "documents", Value: bson.A{bson.D{{Key: "text", Value: "hi"}}}}, {Key: "ordered", Value: true}})
			_, find := sendOpQuery(t, conn, r, "letschat.$cmd", 0, bson.D{{Key: "find", Value: "messages"}, {Key: "filter", Value: bson.D{{Key: "text", Value: "hi"}}}})
			_, unknown := sendOpQuery(t, conn, r, "letschat.$cmd", 0, bson.D{{Key: "frobnicate", Value: 1}})
			flags, legacyFind := sendOpQuery(t, conn, r, "letschat.messages", 0, bson.D{{Key: "text", Value: "hi"}})
			if v == Version44 || v == Version50 {
				if ins.Lookup("n").Int32() != 1 || ins.Lookup("ok").Double() != 1 {
					t.Fatalf("insert over OP_QUERY: %v", ins)
				}
				docs, _ := find.Lookup("cursor", "firstBatch").Array().Values()
				if len(docs) != 1 || docs[0].Document().Lookup("text").StringValue() != "hi" {
					t.Fatalf("find over OP_QUERY: %v", find)
				}
				if unknown.Lookup("code").Int32() != CodeCommandNotFound || unknown.Lookup("errmsg").StringValue() != "no such command: 'frobnicate'" {
					t.Fatalf("unknown command over OP_QUERY: %v", unknown)
				}
				// A cursor over OP_QUERY, as the Node driver 2.2 pages through a result.
				sendOpQuery(t, conn, r, "letschat.$cmd", 0, bson.D{{Key: "insert", Value: "messages"}, {Key: "documents", Value: bson.A{bson.D{{Key: "text", Value: "b"}}, bson.D{{Key: "text", Value: "c"}}}}})
				_, first := sendOpQuery(t, conn, r, "letschat.$cmd", 0, bson.D{{Key: "find", Value: "messages"}, {Key: "batchSize", Value: 1}})
				id := first.Lookup("cursor", "id").Int64()
				_, more := sendOpQuery(t, conn, r, "letschat.$cmd", 0, bson.D{{Key: "getMore", Value: id}, {Key: "collection", Value: "messages"}, {Key: "batchSize", Value: 5}})
				next, _ := more.Lookup("cursor", "nextBatch").Array().Values()
				if id == 0 || len(next) != 2 || more.Lookup("cursor", "id").Int64() != 0 {
					t.Fatalf("getMore over OP_QUERY: first %v, more %v", first, more)
				}
				return
			}
			for name, reply := range map[string]bson.Raw{"insert": ins, "find": find, "frobnicate": unknown} {
				want := "Unsupported OP_QUERY command: " + name + ". The client driver may require an upgrade. For more details see https://dochub.mongodb.org/core/legacy-opcode-removal"
				if reply.Lookup("code").Int32() != CodeUnsupportedOpQueryCommand || reply.Lookup("codeName").StringValue() != "UnsupportedOpQueryCommand" || reply.Lookup("errmsg").StringValue() != want {
					t.Fatalf("%s over OP_QUERY on %s: %v", name, v, reply)
				}
			}
			if flags&flagQueryFailure == 0 || legacyFind.Lookup("code").Int32() != codeOpQueryFind || !strings.HasPrefix(legacyFind.Lookup("$err").StringValue(), "OP_QUERY is no longer supported") {
				t.Fatalf("legacy find on %s: flags %b, %v", v, flags, legacyFind)
			}
			if n := countOf(c, "insert", CodeUnsupportedOpQueryCommand); n != 1 {
				t.Fatalf("Commands() counts %d refused inserts", n)
			}
		})
	}
}

// TestSecondaryOkFlag: over OP_QUERY a secondary serves reads only with the secondaryOk flag.
func TestSecondaryOkFlag(t *testing.T) {
	c, addrs := newTestClusterWith(t, 3, Options{SetName: "rs0", ElectionTimeout: testElectionTimeout, HeartbeatInterval: 20 * time.Millisecond, Version: Version50})
	initiate(t, c, addrs)
	p := waitPrimary(t, c)
	conn, err := net.Dial("tcp", addrs[indexNot(addrs, p)])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	_, refused := sendOpQuery(t, conn, r, "app.$cmd", 0, bson.D{{Key: "count", Value: "c"}})
	if refused.Lookup("code").Int32() != CodeNotPrimaryNoSecondaryOk {
		t.Fatalf("secondary read without secondaryOk: %v", refused)
	}
	_, ok := sendOpQuery(t, conn, r, "app.$cmd", flagSecondaryOk, bson.D{{Key: "count", Value: "c"}})
	if ok.Lookup("ok").Double() != 1 {
		t.Fatalf("secondary read with secondaryOk: %v", ok)
	}
}

// TestSlaveDelayOn44: a 4.4 node names the member delay slaveDelay in its config and hello, and
// refuses the 5.0 name; 5.0 and later do the opposite.
func TestSlaveDelayOn44(t *testing.T) {
	for _, v := range []ServerVersion{Version44, Version50} {
		t.Run(string(v), func(t *testing.T) {
			c, addrs := newTestClusterWith(t, 3, Options{SetName: "rs0", ElectionTimeout: testElectionTimeout, HeartbeatInterval: 20 * time.Millisecond, Version: v})
			initiate(t, c, addrs)
			p := waitPrimary(t, c)
			cl := directClient(t, p)
			cfg := getConfig(t, cl)
			own, other := delayField50, delayField44
			if v == Version44 {
				own, other = delayField44, delayField50
			}
			if _, err := cfg.LookupErr("members", "0", own); err != nil {
				t.Fatalf("config members lack %s: %v", own, cfg)
			}
			if _, err := cfg.LookupErr("members", "0", other); err == nil {
				t.Fatalf("config members carry %s: %v", other, cfg)
			}
			st, _ := c.Status(p)
			delayed := membersDoc(addrs)
			last := indexNot(addrs, p)
			delayed[last] = bson.D{{Key: "_id", Value: last}, {Key: "host", Value: addrs[last]}, {Key: "priority", Value: 0}, {Key: "hidden", Value: true}, {Key: other, Value: 5}}
			_, err := run(t, cl, bson.D{{Key: "replSetReconfig", Value: cfgDoc(st.Config.Version+1, delayed)}})
			if codeOf(err) != CodeInvalidReplicaSetConfig || !strings.Contains(err.Error(), other) {
				t.Fatalf("reconfig with %s on %s: %v", other, v, err)
			}
			delayed[last] = bson.D{{Key: "_id", Value: last}, {Key: "host", Value: addrs[last]}, {Key: "priority", Value: 0}, {Key: "hidden", Value: true}, {Key: own, Value: 5}}
			if _, err := run(t, cl, bson.D{{Key: "replSetReconfig", Value: cfgDoc(st.Config.Version+1, delayed)}}); err != nil {
				t.Fatalf("reconfig with %s on %s: %v", own, v, err)
			}
			hello, err := run(t, directClient(t, addrs[last]), bson.D{{Key: "hello", Value: 1}})
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, 5*time.Second, "the delayed member's hello", func() bool {
				hello, err = run(t, directClient(t, addrs[last]), bson.D{{Key: "hello", Value: 1}})
				_, has := hello.LookupErr(own)
				return err == nil && has == nil
			})
			if _, err := hello.LookupErr(other); err == nil {
				t.Fatalf("hello carries %s: %v", other, hello)
			}
		})
	}
}

// TestImplicitDefaultWriteConcern: without a write concern, 5.0 and later wait for a majority
// (the implicit default), 4.4 acknowledges at once (w:1).
func TestImplicitDefaultWriteConcern(t *testing.T) {
	for _, tc := range []struct {
		v        ServerVersion
		majority int
	}{{Version44, 0}, {Version50, 1}} {
		t.Run(string(tc.v), func(t *testing.T) {
			c, addrs := newTestClusterWith(t, 3, Options{SetName: "rs0", ElectionTimeout: testElectionTimeout, HeartbeatInterval: 20 * time.Millisecond, Version: tc.v})
			initiate(t, c, addrs)
			p := waitPrimary(t, c)
			db := directClient(t, p).Database("app")
			if _, err := db.RunCommand(ctxT(t, 5*time.Second), bson.D{{Key: "insert", Value: "c"}, {Key: "documents", Value: bson.A{bson.D{{Key: "_id", Value: 1}}}}}).Raw(); err != nil {
				t.Fatal(err)
			}
			if got := c.MajorityAcknowledged(); got != tc.majority {
				t.Fatalf("majority-acknowledged writes = %d, want %d", got, tc.majority)
			}
		})
	}
}

// TestVersion42RefusedByDriver: the Go driver (4.4 and later) refuses a node presenting 4.2, with
// the compatibility error naming its wire version, as it refuses a real 4.2.
func TestVersion42RefusedByDriver(t *testing.T) {
	_, addrs := newTestClusterWith(t, 1, Options{ElectionTimeout: testElectionTimeout, Version: Version42})
	_, err := run(t, directClient(t, addrs[0]), bson.D{{Key: "buildInfo", Value: 1}})
	if err == nil || !strings.Contains(err.Error(), "reports wire version 8") {
		t.Fatalf("buildInfo on 4.2: %v, want the driver's wire version error", err)
	}
}
