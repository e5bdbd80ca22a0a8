package mongosim

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	xdg "github.com/xdg-go/scram"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/replset-agent/replset-agent/mongosim/scram"
)

func newAuthCluster(t testing.TB, n int, local func(string, net.Addr) bool) (*Cluster, []string) {
	t.Helper()
	return newTestClusterWith(t, n, Options{SetName: "rs0", ElectionTimeout: testElectionTimeout,
		HeartbeatInterval: 20 * time.Millisecond, Auth: AuthOptions{Enabled: true, LocalClient: local}})
}

// clientFor connects to one node (direct) or the set, optionally with a credential, optionally
// from a given local IP (so that SameHostClient sees it as the node's own host).
func clientFor(t testing.TB, addrs []string, direct bool, cred *options.Credential, fromIP string) *mongo.Client {
	t.Helper()
	o := options.Client().SetHosts(addrs).SetServerSelectionTimeout(5 * time.Second).
		SetConnectTimeout(2 * time.Second).SetHeartbeatInterval(500 * time.Millisecond)
	if direct {
		o.SetDirect(true)
	} else {
		o.SetReplicaSet("rs0")
	}
	if cred != nil {
		o.SetAuth(*cred)
	}
	if fromIP != "" {
		o.SetDialer(&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(fromIP)}, Timeout: 2 * time.Second})
	}
	cl, err := mongo.Connect(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Disconnect(context.Background()) })
	return cl
}

func cred(user, pw, mech string) *options.Credential {
	return &options.Credential{Username: user, Password: pw, AuthSource: "admin", AuthMechanism: mech}
}

func runOn(t testing.TB, cl *mongo.Client, db string, cmd bson.D) (bson.Raw, error) {
	t.Helper()
	return cl.Database(db).RunCommand(ctxT(t, 15*time.Second), cmd).Raw()
}

func createUserCmd(name, pw string, roles bson.A) bson.D {
	return bson.D{{Key: "createUser", Value: name}, {Key: "pwd", Value: pw}, {Key: "roles", Value: roles},
		{Key: "writeConcern", Value: bson.D{{Key: "w", Value: "majority"}}}}
}

func rootRole() bson.A {
	return bson.A{bson.D{{Key: "role", Value: "root"}, {Key: "db", Value: "admin"}}}
}

// initiateWithRoot initiates the set through the localhost exception, creates "root" on the
// primary and returns a client logged in as root.
func initiateWithRoot(t testing.TB, c *Cluster, addrs []string) *mongo.Client {
	t.Helper()
	initiate(t, c, addrs)
	p := waitPrimary(t, c)
	if _, err := runOn(t, clientFor(t, []string{p}, true, nil, ""), "admin", createUserCmd("root", "rootpw", rootRole())); err != nil {
		t.Fatalf("create the first user through the localhost exception: %v", err)
	}
	return clientFor(t, addrs, false, cred("root", "rootpw", ""), "")
}

func TestLocalhostException(t *testing.T) {
	c, addrs := newAuthCluster(t, 3, nil)
	cl := clientFor(t, addrs[:1], true, nil, "")
	// Before any user exists, a local client may set the set up and create the first user, and
	// nothing else.
	tests := []struct {
		name string
		db   string
		cmd  bson.D
		code int32 // 0: ok
		msg  string
	}{
		{"hello needs nothing", "admin", bson.D{{Key: "hello", Value: 1}}, 0, ""},
		{"ping needs nothing", "admin", bson.D{{Key: "ping", Value: 1}}, 0, ""},
		{"buildInfo needs nothing", "admin", bson.D{{Key: "buildInfo", Value: 1}}, 0, ""},
		{"replSetGetStatus is granted", "admin", bson.D{{Key: "replSetGetStatus", Value: 1}}, CodeNotYetInitialized, ""},
		{"replSetGetConfig is not", "admin", bson.D{{Key: "replSetGetConfig", Value: 1}}, CodeUnauthorized, "not authorized on admin to execute command { replSetGetConfig: 1"},
		{"reads are not", "letschat", bson.D{{Key: "find", Value: "messages"}}, CodeUnauthorized, "not authorized on letschat"},
		{"usersInfo is not", "admin", bson.D{{Key: "usersInfo", Value: 1}}, CodeUnauthorized, "not authorized on admin"},
		{"a user outside admin is not", "letschat", createUserCmd("x", "y", bson.A{"readWrite"}), CodeUnauthorized, "not authorized on letschat"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runOn(t, cl, tc.db, tc.cmd)
			if got := codeOf(err); (tc.code == 0 && err != nil) || (tc.code != 0 && got != tc.code) {
				t.Fatalf("err %v (code %d), want code %d", err, got, tc.code)
			}
			if tc.msg != "" && !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("message %q lacks %q", err.Error(), tc.msg)
			}
		})
	}
	// replSetInitiate is granted too; then the first user is created on the primary.
	initiate(t, c, addrs)
	p := waitPrimary(t, c)
	pcl := clientFor(t, []string{p}, true, nil, "")
	// Granting the app's role on another database is beyond the exception.
	appOnOther := createUserCmd("app", "apppw", bson.A{bson.D{{Key: "role", Value: "readWrite"}, {Key: "db", Value: "letschat"}}})
	if _, err := runOn(t, pcl, "admin", appOnOther); codeOf(err) != CodeUnauthorized {
		t.Fatalf("a user with a role on letschat through the exception: %v, want 13", err)
	}
	if _, err := runOn(t, pcl, "admin", createUserCmd("root", "rootpw", rootRole())); err != nil {
		t.Fatalf("first user: %v", err)
	}
	// The very next command on the same connection finds the exception closed.
	_, err := runOn(t, pcl, "admin", bson.D{{Key: "replSetGetStatus", Value: 1}})
	if codeOf(err) != CodeUnauthorized || !strings.Contains(err.Error(), "command replSetGetStatus requires authentication") {
		t.Fatalf("after the first user: %v, want 13 requires authentication", err)
	}
	if _, err := runOn(t, pcl, "admin", createUserCmd("second", "pw", rootRole())); codeOf(err) != CodeUnauthorized {
		t.Fatalf("a second user without credentials: %v, want 13", err)
	}
	// Once replicated, every member refuses it.
	for _, a := range addrs {
		waitFor(t, 5*time.Second, "the user on "+a, func() bool {
			names, _ := c.UserNames(a)
			return slices.Equal(names, []string{"admin.root"})
		})
		_, err := runOn(t, clientFor(t, []string{a}, true, nil, ""), "admin", bson.D{{Key: "replSetGetStatus", Value: 1}})
		if codeOf(err) != CodeUnauthorized {
			t.Fatalf("%s after the first user: %v, want 13", a, err)
		}
	}
}

// mongod latches "users exist" for the life of the process: dropping every user does not reopen
// the exception until the node restarts.
func TestLocalhostExceptionStaysClosedUntilRestart(t *testing.T) {
	c, addrs := newAuthCluster(t, 1, nil)
	root := initiateWithRoot(t, c, addrs)
	if _, err := runOn(t, root, "admin", bson.D{{Key: "dropUser", Value: "root"}}); err != nil {
		t.Fatal(err)
	}
	status := bson.D{{Key: "replSetGetStatus", Value: 1}}
	if _, err := runOn(t, clientFor(t, addrs, true, nil, ""), "admin", status); codeOf(err) != CodeUnauthorized {
		t.Fatalf("after dropping every user: %v, want 13", err)
	}
	if err := c.StopNode(addrs[0]); err != nil {
		t.Fatal(err)
	}
	if err := c.StartNode(addrs[0]); err != nil {
		t.Fatal(err)
	}
	waitPrimary(t, c)
	if _, err := runOn(t, clientFor(t, addrs, true, nil, ""), "admin", status); err != nil {
		t.Fatalf("after a restart with no users: %v", err)
	}
}

func TestLocalhostExceptionNeedsTheNodesHost(t *testing.T) {
	c, addrs := newAuthCluster(t, 1, SameHostClient)
	_ = c
	status := bson.D{{Key: "replSetGetStatus", Value: 1}}
	// From another "host" (127.0.0.1): no exception.
	_, err := runOn(t, clientFor(t, addrs, true, nil, ""), "admin", status)
	if codeOf(err) != CodeUnauthorized || !strings.Contains(err.Error(), "requires authentication") {
		t.Fatalf("remote client: %v, want 13 requires authentication", err)
	}
	// From the node's own address: the exception applies.
	ip, _, _ := net.SplitHostPort(addrs[0])
	if _, err := runOn(t, clientFor(t, addrs, true, nil, ip), "admin", status); codeOf(err) != CodeNotYetInitialized {
		t.Fatalf("local client: %v, want 94", err)
	}
	if !LoopbackClient("x", &net.TCPAddr{IP: net.ParseIP("127.9.9.9")}) || LoopbackClient("x", &net.TCPAddr{IP: net.ParseIP("10.0.0.1")}) {
		t.Fatal("LoopbackClient does not follow mongod's 127/8 rule")
	}
}

func TestGoDriverAuthenticates(t *testing.T) {
	c, addrs := newAuthCluster(t, 3, nil)
	root := initiateWithRoot(t, c, addrs)
	sha1Only := bson.D{{Key: "createUser", Value: "old"}, {Key: "pwd", Value: "oldpw"},
		{Key: "roles", Value: rootRole()}, {Key: "mechanisms", Value: bson.A{"SCRAM-SHA-1"}}}
	if _, err := runOn(t, root, "admin", sha1Only); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		cred     *options.Credential
		wantCode int32
	}{
		{"negotiated (SCRAM-SHA-256, speculative)", cred("root", "rootpw", ""), 0},
		{"SCRAM-SHA-1", cred("root", "rootpw", "SCRAM-SHA-1"), 0},
		{"SCRAM-SHA-256", cred("root", "rootpw", "SCRAM-SHA-256"), 0},
		{"negotiated for a SHA-1-only user", cred("old", "oldpw", ""), 0},
		{"SHA-256 for a SHA-1-only user", cred("old", "oldpw", "SCRAM-SHA-256"), CodeAuthenticationFailed},
		{"wrong password", cred("root", "nope", ""), CodeAuthenticationFailed},
		{"unknown user", cred("nobody", "rootpw", "SCRAM-SHA-1"), CodeAuthenticationFailed},
		{"wrong database", &options.Credential{Username: "root", Password: "rootpw", AuthSource: "letschat"}, CodeAuthenticationFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cl := clientFor(t, addrs, false, tc.cred, "")
			raw, err := runOn(t, cl, "admin", bson.D{{Key: "connectionStatus", Value: 1}})
			if tc.wantCode != 0 {
				if codeOf(err) != tc.wantCode {
					t.Fatalf("err %v, want code %d", err, tc.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			u := raw.Lookup("authInfo", "authenticatedUsers", "0", "user").StringValue()
			if u != tc.cred.Username {
				t.Fatalf("authenticated as %q: %s", u, raw)
			}
			if _, err := runOn(t, cl, "admin", bson.D{{Key: "replSetGetConfig", Value: 1}}); err != nil {
				t.Fatalf("root cannot read the config: %v", err)
			}
		})
	}
}

// The Go driver's default handshake authenticates inside hello (speculativeAuthenticate with
// SCRAM-SHA-256, or the mechanism asked for), as it does against mongod.
func TestGoDriverAuthenticatesSpeculatively(t *testing.T) {
	var logs syncLog
	l := logrus.New()
	l.SetOutput(&logs)
	c, addrs := newTestClusterWith(t, 1, Options{SetName: "rs0", ElectionTimeout: testElectionTimeout,
		HeartbeatInterval: 20 * time.Millisecond, Auth: AuthOptions{Enabled: true}, Logger: l})
	initiateWithRoot(t, c, addrs)
	for _, tc := range []struct{ mech, logged, speculative string }{
		{"", "SCRAM-SHA-256", "true"},
		{"SCRAM-SHA-1", "SCRAM-SHA-1", "true"},
	} {
		if _, err := runOn(t, clientFor(t, addrs, true, cred("root", "rootpw", tc.mech), ""), "admin", bson.D{{Key: "ping", Value: 1}}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, tc.logged+" speculative="+tc.speculative, func() bool {
			for _, line := range strings.Split(logs.String(), "\n") {
				if strings.Contains(line, "authentication succeeded") && strings.Contains(line, "mechanism="+tc.logged+" ") &&
					strings.Contains(line, "speculative="+tc.speculative+" ") && strings.Contains(line, "user=root@admin") {
					return true
				}
			}
			return false
		})
	}
}

type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncLog) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncLog) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestHelloAdvertisesMechanismsAndStartsSpeculatively(t *testing.T) {
	c, addrs := newAuthCluster(t, 1, nil)
	root := initiateWithRoot(t, c, addrs)
	raw, err := runOn(t, root, "admin", bson.D{{Key: "hello", Value: 1}, {Key: "saslSupportedMechs", Value: "admin.root"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := raw.Lookup("saslSupportedMechs").String(); got != `["SCRAM-SHA-1","SCRAM-SHA-256"]` {
		t.Fatalf("saslSupportedMechs = %s", got)
	}
	raw, _ = runOn(t, root, "admin", bson.D{{Key: "hello", Value: 1}, {Key: "saslSupportedMechs", Value: "admin.nobody"}})
	if _, err := raw.LookupErr("saslSupportedMechs"); err == nil {
		t.Fatal("mechanisms advertised for a user that does not exist")
	}

	// One connection: hello carries saslStart, saslContinue finishes it.
	cl, err := mongo.Connect(options.Client().SetHosts(addrs).SetDirect(true).SetMaxPoolSize(1).SetServerSelectionTimeout(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Disconnect(context.Background())
	client, _ := xdg.SHA256.NewClientUnprepped("root", "rootpw", "")
	conv := client.NewConversation()
	first, _ := conv.Step("")
	hello := bson.D{{Key: "hello", Value: 1}, {Key: "speculativeAuthenticate", Value: bson.D{
		{Key: "saslStart", Value: 1}, {Key: "mechanism", Value: "SCRAM-SHA-256"},
		{Key: "payload", Value: bson.Binary{Data: []byte(first)}}, {Key: "db", Value: "admin"},
		{Key: "options", Value: bson.D{{Key: "skipEmptyExchange", Value: true}}},
	}}}
	raw, err = runOn(t, cl, "admin", hello)
	if err != nil {
		t.Fatal(err)
	}
	spec := raw.Lookup("speculativeAuthenticate").Document()
	if spec.Lookup("conversationId").Int32() != 1 || spec.Lookup("done").Boolean() {
		t.Fatalf("speculativeAuthenticate = %s", spec)
	}
	_, payload := spec.Lookup("payload").Binary()
	final, err := conv.Step(string(payload))
	if err != nil {
		t.Fatal(err)
	}
	raw, err = runOn(t, cl, "admin", bson.D{{Key: "saslContinue", Value: 1}, {Key: "conversationId", Value: 1},
		{Key: "payload", Value: bson.Binary{Data: []byte(final)}}})
	if err != nil {
		t.Fatal(err)
	}
	_, payload = raw.Lookup("payload").Binary()
	if !raw.Lookup("done").Boolean() {
		t.Fatalf("skipEmptyExchange ignored: %s", raw)
	}
	if _, err := conv.Step(string(payload)); err != nil || !conv.Valid() {
		t.Fatalf("the server's signature does not verify: %v", err)
	}
	raw, err = runOn(t, cl, "admin", bson.D{{Key: "connectionStatus", Value: 1}})
	if err != nil || raw.Lookup("authInfo", "authenticatedUsers", "0", "user").StringValue() != "root" {
		t.Fatalf("not logged in after the speculative conversation: %v %s", err, raw)
	}
	// A connection logs in once: a second user on the same database is refused at the end of its
	// conversation, as mongod 8.0 does.
	if _, err := runOn(t, root, "admin", createUserCmd("other", "otherpw", bson.A{})); err != nil {
		t.Fatal(err)
	}
	oc, _ := xdg.SHA256.NewClientUnprepped("other", "otherpw", "")
	oconv := oc.NewConversation()
	msg, _ := oconv.Step("")
	raw, err = runOn(t, cl, "admin", bson.D{{Key: "saslStart", Value: 1}, {Key: "mechanism", Value: "SCRAM-SHA-256"},
		{Key: "payload", Value: bson.Binary{Data: []byte(msg)}}, {Key: "options", Value: bson.D{{Key: "skipEmptyExchange", Value: true}}}})
	if err != nil {
		t.Fatal(err)
	}
	_, payload = raw.Lookup("payload").Binary()
	msg, _ = oconv.Step(string(payload))
	_, err = runOn(t, cl, "admin", bson.D{{Key: "saslContinue", Value: 1}, {Key: "conversationId", Value: 1}, {Key: "payload", Value: bson.Binary{Data: []byte(msg)}}})
	if codeOf(err) != CodeAuthenticatedSameDB || !strings.Contains(err.Error(), "Already authenticated as: root@admin") {
		t.Fatalf("a second user on one connection: %v", err)
	}
	// A speculative attempt for an unknown user is dropped silently, as mongod does.
	bad := bson.D{{Key: "hello", Value: 1}, {Key: "speculativeAuthenticate", Value: bson.D{
		{Key: "saslStart", Value: 1}, {Key: "mechanism", Value: "SCRAM-SHA-256"},
		{Key: "payload", Value: bson.Binary{Data: []byte("n,,n=nobody,r=abc")}}, {Key: "db", Value: "admin"}}}}
	raw, err = runOn(t, cl, "admin", bad)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.LookupErr("speculativeAuthenticate"); err == nil {
		t.Fatal("a failed speculative start was answered")
	}
}

func TestSASLProtocolErrors(t *testing.T) {
	c, addrs := newAuthCluster(t, 1, nil)
	root := initiateWithRoot(t, c, addrs)
	_ = root
	cl, err := mongo.Connect(options.Client().SetHosts(addrs).SetDirect(true).SetMaxPoolSize(1).SetServerSelectionTimeout(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Disconnect(context.Background())
	cont := bson.D{{Key: "saslContinue", Value: 1}, {Key: "conversationId", Value: 1}, {Key: "payload", Value: bson.Binary{}}}
	if _, err := runOn(t, cl, "admin", cont); codeOf(err) != CodeProtocolError {
		t.Fatalf("saslContinue first: %v, want 17", err)
	}
	if _, err := runOn(t, cl, "admin", bson.D{{Key: "saslStart", Value: 1}, {Key: "mechanism", Value: "PLAIN"}, {Key: "payload", Value: bson.Binary{}}}); codeOf(err) != CodeMechanismUnavailable {
		t.Fatalf("PLAIN: %v, want 334", err)
	}
	// A base64-string payload (old clients) is answered in kind.
	start := bson.D{{Key: "saslStart", Value: 1}, {Key: "mechanism", Value: "SCRAM-SHA-1"},
		{Key: "payload", Value: base64.StdEncoding.EncodeToString([]byte("n,,n=root,r=abcdef"))}}
	raw, err := runOn(t, cl, "admin", start)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := raw.Lookup("payload").StringValueOK()
	if b, err := base64.StdEncoding.DecodeString(p); !ok || err != nil || !strings.HasPrefix(string(b), "r=abcdef") {
		t.Fatalf("payload %s", raw.Lookup("payload"))
	}
	wrongID := bson.D{{Key: "saslContinue", Value: 1}, {Key: "conversationId", Value: 2}, {Key: "payload", Value: bson.Binary{}}}
	if _, err := runOn(t, cl, "admin", wrongID); codeOf(err) != CodeProtocolError {
		t.Fatalf("wrong conversation id: %v, want 17", err)
	}
	// A bad proof fails with the generic message and ends the conversation.
	bad := bson.D{{Key: "saslContinue", Value: 1}, {Key: "conversationId", Value: 1},
		{Key: "payload", Value: bson.Binary{Data: []byte("c=biws,r=x,p=AAAA")}}}
	_, err = runOn(t, cl, "admin", bad)
	if codeOf(err) != CodeAuthenticationFailed || !strings.Contains(err.Error(), "Authentication failed.") {
		t.Fatalf("bad final message: %v, want 18", err)
	}
	if _, err := runOn(t, cl, "admin", cont); codeOf(err) != CodeProtocolError {
		t.Fatalf("continue after a failure: %v, want 17", err)
	}
}

func TestStoredUsersAsMongodStoresThem(t *testing.T) {
	c, addrs := newAuthCluster(t, 1, nil)
	root := initiateWithRoot(t, c, addrs)
	raw, err := runOn(t, root, "admin", bson.D{{Key: "usersInfo", Value: "root"}, {Key: "showCredentials", Value: true}})
	if err != nil {
		t.Fatal(err)
	}
	u := raw.Lookup("users", "0").Document()
	keys := []string{}
	elems, _ := u.Elements()
	for _, e := range elems {
		keys = append(keys, e.Key())
	}
	if want := []string{"_id", "userId", "user", "db", "roles", "credentials", "mechanisms"}; !slices.Equal(keys, want) {
		t.Fatalf("fields %v, want %v", keys, want)
	}
	if st, data := u.Lookup("userId").Binary(); st != bson.TypeBinaryUUID || len(data) != 16 {
		t.Fatalf("userId %s", u.Lookup("userId"))
	}
	if u.Lookup("_id").StringValue() != "admin.root" || u.Lookup("roles").String() != `[{"role": "root","db": "admin"}]` {
		t.Fatalf("user %s", u)
	}
	for _, m := range scram.Mechanisms() {
		cr := u.Lookup("credentials", m.Name()).Document()
		it := cr.Lookup("iterationCount").Int32()
		salt, _ := base64.StdEncoding.DecodeString(cr.Lookup("salt").StringValue())
		if int(it) != m.DefaultIterations() || len(salt) != m.SaltLen() {
			t.Fatalf("%s: iterations %d, salt %d bytes", m.Name(), it, len(salt))
		}
		want, err := m.Derive("root", "rootpw", salt, int(it))
		if err != nil {
			t.Fatal(err)
		}
		if cr.Lookup("storedKey").StringValue() != base64.StdEncoding.EncodeToString(want.StoredKey) {
			t.Fatalf("%s storedKey does not derive from the password", m.Name())
		}
	}
	// The write is in the oplog, on admin.system.users, where replication carries it.
	log, _ := c.Oplog(addrs[0])
	found := false
	for _, e := range log {
		if e.NS == "admin.system.users" && e.Op == "i" && e.Doc.Lookup("user").StringValue() == "root" {
			found = true
		}
	}
	if !found {
		t.Fatal("no oplog insert on admin.system.users")
	}
}

func TestRolesGrantWhatMongodGrants(t *testing.T) {
	c, addrs := newAuthCluster(t, 3, nil)
	root := initiateWithRoot(t, c, addrs)
	users := map[string]bson.A{
		"app":      {bson.D{{Key: "role", Value: "readWrite"}, {Key: "db", Value: "letschat"}}},
		"reader":   {bson.D{{Key: "role", Value: "read"}, {Key: "db", Value: "letschat"}}},
		"operator": {bson.D{{Key: "role", Value: "clusterAdmin"}, {Key: "db", Value: "admin"}}},
		"useradm":  {bson.D{{Key: "role", Value: "userAdminAnyDatabase"}, {Key: "db", Value: "admin"}}},
	}
	for name, roles := range users {
		if _, err := runOn(t, root, "admin", createUserCmd(name, name+"pw", roles)); err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
	}
	insert := func(db, coll string) (string, bson.D) {
		return db, bson.D{{Key: "insert", Value: coll}, {Key: "documents", Value: bson.A{bson.D{{Key: "x", Value: 1}}}}}
	}
	find := func(db, coll string) (string, bson.D) { return db, bson.D{{Key: "find", Value: coll}} }
	type check struct {
		user    string
		db      string
		cmd     bson.D
		allowed bool
	}
	var checks []check
	add := func(user string, allowed bool, db string, cmd bson.D) {
		checks = append(checks, check{user, db, cmd, allowed})
	}
	db, cmd := insert("letschat", "messages")
	add("app", true, db, cmd)
	add("reader", false, db, cmd)
	add("operator", false, db, cmd)
	add("useradm", false, db, cmd)
	add("root", true, db, cmd)
	db, cmd = find("letschat", "messages")
	add("app", true, db, cmd)
	add("reader", true, db, cmd)
	add("operator", false, db, cmd)
	db, cmd = insert("other", "things")
	add("app", false, db, cmd)
	db, cmd = find("admin", "system.users")
	add("app", false, db, cmd)
	add("useradm", true, db, cmd)
	add("root", true, db, cmd)
	status := bson.D{{Key: "replSetGetConfig", Value: 1}}
	add("app", false, "admin", status)
	add("operator", true, "admin", status)
	add("useradm", false, "admin", status)
	newUser := createUserCmd("made", "pw", bson.A{"read"})
	add("app", false, "letschat", newUser)
	add("operator", false, "letschat", newUser)
	add("useradm", true, "letschat", newUser)
	add("app", true, "admin", bson.D{{Key: "usersInfo", Value: "app"}}) // itself
	add("app", false, "admin", bson.D{{Key: "usersInfo", Value: "root"}})
	add("app", true, "admin", bson.D{{Key: "endSessions", Value: bson.A{}}})
	for _, ck := range checks {
		t.Run(ck.user+"/"+ck.db+"/"+ck.cmd[0].Key, func(t *testing.T) {
			pw := ck.user + "pw"
			if ck.user == "root" {
				pw = "rootpw"
			}
			cl := clientFor(t, addrs, false, cred(ck.user, pw, ""), "")
			_, err := runOn(t, cl, ck.db, ck.cmd)
			if ck.allowed && err != nil {
				t.Fatalf("denied: %v", err)
			}
			if !ck.allowed && (codeOf(err) != CodeUnauthorized || !strings.Contains(err.Error(), "not authorized on "+ck.db)) {
				t.Fatalf("err %v, want 13 not authorized on %s", err, ck.db)
			}
		})
	}
	// Without credentials nothing but the public commands runs once users exist.
	anon := clientFor(t, addrs, false, nil, "")
	if _, err := runOn(t, anon, "letschat", bson.D{{Key: "find", Value: "messages"}}); codeOf(err) != CodeUnauthorized ||
		!strings.Contains(err.Error(), "command find requires authentication") {
		t.Fatalf("anonymous find: %v", err)
	}
}

func TestUserManagementCommands(t *testing.T) {
	c, addrs := newAuthCluster(t, 3, nil)
	root := initiateWithRoot(t, c, addrs)
	tests := []struct {
		name string
		db   string
		cmd  bson.D
		code int32
		msg  string
	}{
		{"exists", "admin", createUserCmd("root", "x", rootRole()), CodeUserAlreadyExists, `User "root@admin" already exists`},
		{"no roles", "admin", bson.D{{Key: "createUser", Value: "a"}, {Key: "pwd", Value: "p"}}, CodeMissingRequiredField, "'createUser.roles' is missing"},
		{"no password", "admin", bson.D{{Key: "createUser", Value: "a"}, {Key: "roles", Value: bson.A{}}}, CodeBadValue, "Must provide a 'pwd' field"},
		{"password not a string", "admin", bson.D{{Key: "createUser", Value: "a"}, {Key: "pwd", Value: true}, {Key: "roles", Value: bson.A{}}}, CodeTypeMismatch, "'createUser.pwd' is the wrong type 'bool'"},
		{"empty password", "admin", createUserCmd("a", "", bson.A{}), CodeEmptyPassword, "U_STRING_NOT_TERMINATED_WARNING"},
		{"unknown role", "admin", createUserCmd("a", "p", bson.A{"wizard"}), CodeRoleNotFound, "Could not find role: wizard@admin"},
		{"root outside admin", "letschat", createUserCmd("a", "p", bson.A{"root"}), CodeRoleNotFound, "Could not find role: root@letschat"},
		{"local database", "local", createUserCmd("a", "p", bson.A{}), CodeBadValue, "Cannot create users in the local database"},
		{"empty mechanisms", "admin", append(createUserCmd("a", "p", bson.A{}), bson.E{Key: "mechanisms", Value: bson.A{}}), CodeBadValue, "mechanisms field must not be empty"},
		{"unknown mechanism", "admin", append(createUserCmd("a", "p", bson.A{}), bson.E{Key: "mechanisms", Value: bson.A{"PLAIN"}}), CodeBadValue, "Unknown auth mechanism 'PLAIN'"},
		{"drop unknown", "admin", bson.D{{Key: "dropUser", Value: "ghost"}}, CodeUserNotFound, "User 'ghost@admin' not found"},
		{"update unknown", "admin", bson.D{{Key: "updateUser", Value: "ghost"}, {Key: "pwd", Value: "p"}}, CodeUserNotFound, "User ghost@admin not found"},
		{"update nothing", "admin", bson.D{{Key: "updateUser", Value: "root"}}, CodeBadValue, "Must specify at least one field to update in updateUser"},
		{"usersInfo null", "admin", bson.D{{Key: "usersInfo", Value: nil}}, CodeBadValue, "UserName must be either a string or an object"},
		{"usersInfo no db", "admin", bson.D{{Key: "usersInfo", Value: bson.A{bson.D{{Key: "user", Value: "x"}}}}}, CodeBadValue, "UserName must contain a field named: db"},
		{"grant nothing", "admin", bson.D{{Key: "grantRolesToUser", Value: "root"}, {Key: "roles", Value: bson.A{}}}, CodeBadValue, "non-empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runOn(t, root, tc.db, tc.cmd)
			if codeOf(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err %v, want %d %q", err, tc.code, tc.msg)
			}
		})
	}
	// A secondary refuses writes to admin.system.users.
	p := waitPrimary(t, c)
	for _, a := range addrs {
		if a == p {
			continue
		}
		sec := clientFor(t, []string{a}, true, cred("root", "rootpw", ""), "")
		if _, err := runOn(t, sec, "admin", createUserCmd("b", "p", bson.A{})); codeOf(err) != CodeNotWritablePrimary {
			t.Fatalf("createUser on a secondary: %v, want 10107", err)
		}
		break
	}

	// The life of one user: create, log in, change roles and password, drop.
	if _, err := runOn(t, root, "admin", createUserCmd("app", "pw1", bson.A{bson.D{{Key: "role", Value: "read"}, {Key: "db", Value: "letschat"}}})); err != nil {
		t.Fatal(err)
	}
	app := clientFor(t, addrs, false, cred("app", "pw1", ""), "")
	write := bson.D{{Key: "insert", Value: "m"}, {Key: "documents", Value: bson.A{bson.D{{Key: "a", Value: 1}}}}}
	if _, err := runOn(t, app, "letschat", write); codeOf(err) != CodeUnauthorized {
		t.Fatalf("read-only app wrote: %v", err)
	}
	if _, err := runOn(t, root, "admin", bson.D{{Key: "grantRolesToUser", Value: "app"},
		{Key: "roles", Value: bson.A{bson.D{{Key: "role", Value: "readWrite"}, {Key: "db", Value: "letschat"}}}}}); err != nil {
		t.Fatal(err)
	}
	// Granted roles apply to connections already logged in, once they reach the node they use.
	waitFor(t, 10*time.Second, "the grant to apply", func() bool {
		_, err := runOn(t, app, "letschat", write)
		return err == nil
	})
	raw, err := runOn(t, root, "admin", bson.D{{Key: "usersInfo", Value: bson.D{{Key: "user", Value: "app"}, {Key: "db", Value: "admin"}}}})
	if err != nil || raw.Lookup("users", "0", "roles").String() != `[{"role": "read","db": "letschat"},{"role": "readWrite","db": "letschat"}]` {
		t.Fatalf("usersInfo: %v %s", err, raw)
	}
	if _, err := runOn(t, root, "admin", bson.D{{Key: "updateUser", Value: "app"}, {Key: "pwd", Value: "pw2"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := runOn(t, clientFor(t, addrs, false, cred("app", "pw1", ""), ""), "letschat", bson.D{{Key: "find", Value: "m"}}); codeOf(err) != CodeAuthenticationFailed {
		t.Fatalf("old password after the change: %v, want 18", err)
	}
	if _, err := runOn(t, clientFor(t, addrs, false, cred("app", "pw2", ""), ""), "letschat", bson.D{{Key: "find", Value: "m"}}); err != nil {
		t.Fatalf("new password: %v", err)
	}
	if _, err := runOn(t, root, "admin", bson.D{{Key: "dropUser", Value: "app"}}); err != nil {
		t.Fatal(err)
	}
	// A dropped user's connections lose their login.
	waitFor(t, 10*time.Second, "the drop to log app out", func() bool {
		_, err := runOn(t, app, "letschat", bson.D{{Key: "find", Value: "m"}})
		return codeOf(err) == CodeUnauthorized
	})
	raw, err = runOn(t, root, "admin", bson.D{{Key: "usersInfo", Value: 1}})
	if err != nil || raw.Lookup("users").String() == "[]" || strings.Contains(raw.Lookup("users").String(), `"app"`) {
		t.Fatalf("usersInfo after drop: %v %s", err, raw)
	}
}

func TestUsersReplicateAndRollBack(t *testing.T) {
	// A primary cut off from the majority keeps its role for one election timeout: long enough,
	// even on a loaded machine, for the write below.
	c, addrs := newTestClusterWith(t, 3, Options{SetName: "rs0", ElectionTimeout: 2 * time.Second,
		HeartbeatInterval: 20 * time.Millisecond, Auth: AuthOptions{Enabled: true}})
	initiateWithRoot(t, c, addrs)
	p := waitPrimary(t, c)
	// A user written with w:1 on a primary cut off from the majority is rolled back with it.
	var minority, majority []string
	minority = append(minority, p)
	for _, a := range addrs {
		if a != p {
			majority = append(majority, a)
		}
	}
	pcl := clientFor(t, []string{p}, true, cred("root", "rootpw", ""), "")
	// The primary accepts writes (a new primary may still be draining) and pcl is logged in.
	waitFor(t, 10*time.Second, "a writable primary", func() bool {
		_, err := runOn(t, pcl, "test", bson.D{{Key: "insert", Value: "warmup"}, {Key: "documents", Value: bson.A{bson.D{}}},
			{Key: "writeConcern", Value: bson.D{{Key: "w", Value: "majority"}}}})
		return err == nil
	})
	if err := c.Partition(minority, majority); err != nil {
		t.Fatal(err)
	}
	w1 := bson.D{{Key: "createUser", Value: "doomed"}, {Key: "pwd", Value: "pw"}, {Key: "roles", Value: bson.A{}},
		{Key: "writeConcern", Value: bson.D{{Key: "w", Value: 1}}}}
	if _, err := runOn(t, pcl, "admin", w1); err != nil {
		t.Fatalf("w:1 createUser on the isolated primary: %v", err)
	}
	if names, _ := c.UserNames(p); !slices.Contains(names, "admin.doomed") {
		t.Fatalf("users on %s: %v", p, names)
	}
	waitFor(t, 10*time.Second, "a new primary in the majority", func() bool {
		np, ok := c.Primary()
		return ok && np != p
	})
	if err := c.Heal(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the rollback of the user", func() bool {
		names, _ := c.UserNames(p)
		return slices.Equal(names, []string{"admin.root"})
	})
	// root was majority-committed: it survives on every node, and logs in on the new primary.
	for _, a := range addrs {
		names, _ := c.UserNames(a)
		if !slices.Equal(names, []string{"admin.root"}) {
			t.Fatalf("users on %s: %v", a, names)
		}
	}
	if _, err := runOn(t, clientFor(t, addrs, false, cred("root", "rootpw", ""), ""), "admin", bson.D{{Key: "replSetGetStatus", Value: 1}}); err != nil {
		t.Fatal(err)
	}
}

func TestAuthOffStillKnowsUsers(t *testing.T) {
	c, addrs := newTestCluster(t, 1)
	initiate(t, c, addrs)
	cl := directClient(t, addrs[0])
	if _, err := run(t, cl, createUserCmd("u", "pw", bson.A{"read"})); err != nil {
		t.Fatal(err)
	}
	// Without --auth nothing is enforced, but credentials are still checked when offered.
	if _, err := runOn(t, clientFor(t, addrs, true, nil, ""), "admin", bson.D{{Key: "replSetGetConfig", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := runOn(t, clientFor(t, addrs, true, cred("u", "bad", ""), ""), "admin", bson.D{{Key: "ping", Value: 1}}); codeOf(err) != CodeAuthenticationFailed {
		t.Fatalf("wrong password with auth off: %v, want 18", err)
	}
}

// legacyConn speaks OP_QUERY as Let's Chat's Node driver 2.2 does.
type legacyConn struct {
	t    testing.TB
	conn net.Conn
	id   int32
}

func (l *legacyConn) query(cmd bson.D) bson.Raw {
	l.t.Helper()
	doc, err := bson.Marshal(cmd)
	if err != nil {
		l.t.Fatal(err)
	}
	l.id++
	b := make([]byte, 16)
	binary.LittleEndian.PutUint32(b[4:], uint32(l.id))
	binary.LittleEndian.PutUint32(b[12:], opQuery)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = append(append(b, "admin.$cmd"...), 0)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(0xffffffff)) // numberToReturn -1
	b = append(b, doc...)
	binary.LittleEndian.PutUint32(b, uint32(len(b)))
	_ = l.conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := l.conn.Write(b); err != nil {
		l.t.Fatal(err)
	}
	hdr := make([]byte, 36)
	if _, err := io.ReadFull(l.conn, hdr); err != nil {
		l.t.Fatal(err)
	}
	if op := binary.LittleEndian.Uint32(hdr[12:]); op != opReply {
		l.t.Fatalf("reply opcode %d", op)
	}
	rest := make([]byte, binary.LittleEndian.Uint32(hdr)-36)
	if _, err := io.ReadFull(l.conn, rest); err != nil {
		l.t.Fatal(err)
	}
	return bson.Raw(rest)
}

func TestSCRAMSHA1OverLegacyOpQuery(t *testing.T) {
	c, addrs := newAuthCluster(t, 1, nil)
	initiateWithRoot(t, c, addrs)
	for _, tc := range []struct {
		name, pw string
		ok       bool
	}{{"right password", "rootpw", true}, {"wrong password", "nope", false}} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addrs[0])
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			l := &legacyConn{t: t, conn: conn}
			if r := l.query(bson.D{{Key: "isMaster", Value: 1}}); r.Lookup("ok").Double() != 1 {
				t.Fatalf("isMaster: %s", r)
			}
			client, _ := xdg.SHA1.NewClientUnprepped("root", scram.MongoPasswordDigest("root", tc.pw), "")
			conv := client.NewConversation()
			msg, _ := conv.Step("")
			r := l.query(bson.D{{Key: "saslStart", Value: 1}, {Key: "mechanism", Value: "SCRAM-SHA-1"},
				{Key: "payload", Value: bson.Binary{Data: []byte(msg)}}, {Key: "autoAuthorize", Value: 1}})
			if r.Lookup("ok").Double() != 1 {
				t.Fatalf("saslStart: %s", r)
			}
			// Three round trips without skipEmptyExchange, the last one empty.
			for step := 0; !r.Lookup("done").Boolean(); step++ {
				_, payload := r.Lookup("payload").Binary()
				next, err := conv.Step(string(payload))
				if err != nil {
					t.Fatalf("client step %d: %v", step, err)
				}
				r = l.query(bson.D{{Key: "saslContinue", Value: 1}, {Key: "conversationId", Value: r.Lookup("conversationId").Int32()},
					{Key: "payload", Value: bson.Binary{Data: []byte(next)}}})
				if !tc.ok {
					if code := r.Lookup("code").Int32(); code != CodeAuthenticationFailed {
						t.Fatalf("wrong password: %s", r)
					}
					return
				}
				if r.Lookup("ok").Double() != 1 || step > 2 {
					t.Fatalf("saslContinue %d: %s", step, r)
				}
			}
			if !conv.Valid() {
				t.Fatal("the client did not verify the server")
			}
		})
	}
}
