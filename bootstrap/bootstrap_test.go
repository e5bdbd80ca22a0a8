package bootstrap_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.uber.org/goleak"

	"github.com/replset-agent/replset-agent/bootstrap"
	"github.com/replset-agent/replset-agent/mongosim"
	"github.com/replset-agent/replset-agent/mongotest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	adminCred = bootstrap.Credential{Username: "admin", Password: "admin-secret-1"}
	appCred   = bootstrap.Credential{Username: "letschat", Password: "app-secret-2"}
)

func config(addr string) bootstrap.Config {
	return bootstrap.Config{Address: addr, Admin: adminCred, App: appCred, AppDatabase: "letschat", Timeout: 20 * time.Second}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func connect(t testing.TB, addr string, cred *bootstrap.Credential, direct bool) *mongo.Client {
	t.Helper()
	o := options.Client().SetHosts([]string{addr}).SetServerSelectionTimeout(10 * time.Second)
	if direct {
		o.SetDirect(true)
	}
	if cred != nil {
		o.SetAuth(options.Credential{Username: cred.Username, Password: cred.Password, AuthSource: "admin"})
	}
	c, err := mongo.Connect(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(context.Background()) })
	return c
}

func code(err error) int32 {
	var ce mongo.CommandError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return -1
}

type set struct {
	c     mongotest.Cluster
	addrs []string
}

// newSet starts n auth-enabled nodes and initiates them through the localhost exception.
func newSet(t testing.TB, n int, opts mongotest.Options) *set {
	t.Helper()
	opts.Auth = true
	c := mongotest.New(t, opts)
	s := &set{c: c, addrs: mongotest.Addrs(t, n)}
	for _, a := range s.addrs {
		if err := c.StartNode(a); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func (s *set) initiate(t testing.TB, from string) {
	t.Helper()
	members := bson.A{}
	for i, a := range s.addrs {
		members = append(members, bson.D{{Key: "_id", Value: i}, {Key: "host", Value: a}})
	}
	cfg := bson.D{{Key: "_id", Value: s.c.SetName()}, {Key: "members", Value: members},
		{Key: "settings", Value: bson.D{{Key: "electionTimeoutMillis", Value: 1000}}}}
	cl := connect(t, s.addrs[0], nil, true)
	if from != "" {
		cl = connectFrom(t, s.addrs[0], from)
	}
	if err := cl.Database("admin").RunCommand(ctxT(t), bson.D{{Key: "replSetInitiate", Value: cfg}}).Err(); err != nil {
		t.Fatalf("initiate through the localhost exception: %v", err)
	}
}

// primary waits for a primary, asking each node's hello (which needs no credentials).
func (s *set) primary(t testing.TB, except string) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		for _, a := range s.addrs {
			if a == except {
				continue
			}
			var h struct {
				IsWritablePrimary bool `bson:"isWritablePrimary"`
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			err := connect(t, a, nil, true).Database("admin").RunCommand(ctx, bson.D{{Key: "hello", Value: 1}}).Decode(&h)
			cancel()
			if err == nil && h.IsWritablePrimary {
				return a
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no primary")
	return ""
}

func connectFrom(t testing.TB, addr, ip string) *mongo.Client {
	t.Helper()
	c, err := mongo.Connect(options.Client().SetHosts([]string{addr}).SetDirect(true).SetServerSelectionTimeout(10 * time.Second).
		SetDialer(&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(context.Background()) })
	return c
}

func step(t testing.TB, b *bootstrap.Bootstrapper) (bootstrap.Result, error) {
	t.Helper()
	return b.Step(ctxT(t))
}

func mustNew(t testing.TB, cfg bootstrap.Config) *bootstrap.Bootstrapper {
	t.Helper()
	b, err := bootstrap.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// users lists the set's users as "db.user", read as root through the given client.
func users(t testing.TB, root *mongo.Client) []string {
	t.Helper()
	var reply struct {
		Users []struct {
			ID string `bson:"_id"`
		} `bson:"users"`
	}
	cmd := bson.D{{Key: "usersInfo", Value: bson.D{{Key: "forAllDBs", Value: true}}}}
	if err := root.Database("admin").RunCommand(ctxT(t), cmd).Decode(&reply); err != nil {
		t.Fatalf("usersInfo: %v", err)
	}
	var out []string
	for _, u := range reply.Users {
		out = append(out, u.ID)
	}
	slices.Sort(out)
	return out
}

// createCounter counts createUser commands sent by a Bootstrapper's clients.
func createCounter(n *atomic.Int32) func(*options.ClientOptions) {
	return func(o *options.ClientOptions) {
		o.SetMonitor(&event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
			if e.CommandName == "createUser" {
				n.Add(1)
			}
		}})
	}
}

func TestCreatesBothUsersOnceWithLeastPrivilege(t *testing.T) {
	s := newSet(t, 3, mongotest.Options{})
	b := mustNew(t, config(s.addrs[0]))
	// Not initiated: nothing to do yet, nothing created.
	res, err := step(t, b)
	if err != nil || res.Done || !strings.Contains(res.Waiting, "not initiated") {
		t.Fatalf("before initiate: %+v, %v", res, err)
	}
	s.initiate(t, "")
	p := s.primary(t, "")
	var creates atomic.Int32
	cfg := config(p)
	cfg.ClientOptions = createCounter(&creates)
	b = mustNew(t, cfg)
	res, err = step(t, b)
	if err != nil || !res.Done || !slices.Equal(res.Created, []string{"admin@admin", "letschat@admin"}) || len(res.Warnings) > 0 {
		t.Fatalf("first step: %+v, %v", res, err)
	}
	// Idempotent: the next steps find both users and create nothing.
	for range 2 {
		res, err = step(t, b)
		if err != nil || !res.Done || len(res.Created) > 0 {
			t.Fatalf("later step: %+v, %v", res, err)
		}
	}
	if n := creates.Load(); n != 2 {
		t.Fatalf("%d createUser commands, want 2", n)
	}
	root := connect(t, p, &adminCred, true)
	if got := users(t, root); !slices.Equal(got, []string{"admin.admin", "admin.letschat"}) {
		t.Fatalf("users %v", got)
	}
	var info struct {
		Users []struct {
			Roles []bson.M `bson:"roles"`
		} `bson:"users"`
	}
	if err := root.Database("admin").RunCommand(ctxT(t), bson.D{{Key: "usersInfo", Value: "letschat"}}).Decode(&info); err != nil {
		t.Fatal(err)
	}
	if len(info.Users) != 1 || len(info.Users[0].Roles) != 1 || info.Users[0].Roles[0]["role"] != "readWrite" || info.Users[0].Roles[0]["db"] != "letschat" {
		t.Fatalf("app roles %+v, want readWrite@letschat only", info.Users)
	}

	// The application user can use its database and nothing else.
	app := connect(t, p, &appCred, true)
	insert := func(db string) error {
		return app.Database(db).RunCommand(ctxT(t), bson.D{{Key: "insert", Value: "messages"},
			{Key: "documents", Value: bson.A{bson.D{{Key: "text", Value: "hi"}}}}}).Err()
	}
	if err := insert("letschat"); err != nil {
		t.Fatalf("app insert into letschat: %v", err)
	}
	denied := []struct {
		name string
		err  error
	}{
		{"insert into another database", insert("other")},
		{"read the users", app.Database("admin").RunCommand(ctxT(t), bson.D{{Key: "find", Value: "system.users"}}).Err()},
		{"read the replica set config", app.Database("admin").RunCommand(ctxT(t), bson.D{{Key: "replSetGetConfig", Value: 1}}).Err()},
		{"create a user", app.Database("letschat").RunCommand(ctxT(t), bson.D{{Key: "createUser", Value: "x"},
			{Key: "pwd", Value: "y"}, {Key: "roles", Value: bson.A{"readWrite"}}}).Err()},
		{"list other users", app.Database("admin").RunCommand(ctxT(t), bson.D{{Key: "usersInfo", Value: "admin"}}).Err()},
	}
	for _, d := range denied {
		if code(d.err) != 13 {
			t.Errorf("app may %s: %v, want 13 Unauthorized", d.name, d.err)
		}
	}
	// The users replicate: the agent of a secondary finds them and is done without creating.
	for _, a := range s.addrs {
		if a == p {
			continue
		}
		sb := mustNew(t, config(a))
		deadline := time.Now().Add(30 * time.Second)
		for {
			res, err := step(t, sb)
			if err != nil {
				t.Fatalf("secondary %s: %v", a, err)
			}
			if res.Done {
				if len(res.Created) > 0 {
					t.Fatalf("secondary %s created %v", a, res.Created)
				}
				break
			}
			if !strings.Contains(res.Waiting, "not the primary") || time.Now().After(deadline) {
				t.Fatalf("secondary %s: %+v", a, res)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func TestSecondaryWaitsForThePrimarysAgent(t *testing.T) {
	s := newSet(t, 3, mongotest.Options{})
	s.initiate(t, "")
	p := s.primary(t, "")
	for _, a := range s.addrs {
		if a == p {
			continue
		}
		res, err := step(t, mustNew(t, config(a)))
		if err != nil || res.Done || len(res.Created) > 0 || !strings.Contains(res.Waiting, "not the primary") {
			t.Fatalf("secondary %s before the users exist: %+v, %v", a, res, err)
		}
	}
}

// crashedStep runs a Step whose agent "dies" right after mongod acknowledged its first user.
func crashedStep(t testing.TB, addr string) (bootstrap.Result, error) {
	t.Helper()
	ctx, crash := context.WithCancel(ctxT(t))
	cfg := config(addr)
	cfg.ClientOptions = func(o *options.ClientOptions) {
		o.SetMonitor(&event.CommandMonitor{Succeeded: func(_ context.Context, e *event.CommandSucceededEvent) {
			if e.CommandName == "createUser" {
				crash()
			}
		}})
	}
	return mustNew(t, cfg).Step(ctx)
}

// An agent killed between the two users: the admin exists, the app user does not. The next
// process (a fresh Bootstrapper, no memory) resumes and creates only the app user.
func TestResumesAfterAnAgentCrashBetweenTheUsers(t *testing.T) {
	s := newSet(t, 3, mongotest.Options{})
	s.initiate(t, "")
	p := s.primary(t, "")
	res, err := crashedStep(t, p)
	if err == nil || res.Done {
		t.Fatalf("crashed step: %+v, %v", res, err)
	}
	root := connect(t, p, &adminCred, true)
	if got := users(t, root); !slices.Equal(got, []string{"admin.admin"}) {
		t.Fatalf("after the crash: users %v, want the admin only", got)
	}
	var creates atomic.Int32
	cfg := config(p)
	cfg.ClientOptions = createCounter(&creates)
	res, err = step(t, mustNew(t, cfg))
	if err != nil || !res.Done || !slices.Equal(res.Created, []string{"letschat@admin"}) {
		t.Fatalf("after restart: %+v, %v", res, err)
	}
	if creates.Load() != 1 {
		t.Fatalf("%d createUser commands after restart, want 1", creates.Load())
	}
}

// The primary dies between the two users: the agent beside the new primary finishes the job with
// the admin user it finds there (it was written with w:majority).
func TestResumesOnTheNewPrimaryAfterThePrimaryCrashes(t *testing.T) {
	s := newSet(t, 3, mongotest.Options{})
	s.initiate(t, "")
	p := s.primary(t, "")
	if _, err := crashedStep(t, p); err == nil {
		t.Fatal("the crashed step succeeded")
	}
	if err := s.c.CrashNode(p); err != nil {
		t.Fatal(err)
	}
	np := s.primary(t, p)
	res, err := step(t, mustNew(t, config(np)))
	if err != nil || !res.Done || !slices.Equal(res.Created, []string{"letschat@admin"}) {
		t.Fatalf("on the new primary %s: %+v, %v", np, res, err)
	}
	if err := s.c.StartNode(p); err != nil {
		t.Fatal(err)
	}
	if got := users(t, connect(t, np, &adminCred, true)); !slices.Equal(got, []string{"admin.admin", "admin.letschat"}) {
		t.Fatalf("users %v", got)
	}
}

func TestNeverCreatesOnASetWithForeignUsers(t *testing.T) {
	tests := []struct {
		name    string
		foreign bootstrap.Credential
	}{
		{"another administrator", bootstrap.Credential{Username: "someone", Password: "theirs"}},
		{"our admin name with another password", bootstrap.Credential{Username: "admin", Password: "not-ours"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSet(t, 1, mongotest.Options{})
			s.initiate(t, "")
			p := s.primary(t, "")
			first := bson.D{{Key: "createUser", Value: tc.foreign.Username}, {Key: "pwd", Value: tc.foreign.Password},
				{Key: "roles", Value: bson.A{bson.D{{Key: "role", Value: "root"}, {Key: "db", Value: "admin"}}}}}
			if err := connect(t, p, nil, true).Database("admin").RunCommand(ctxT(t), first).Err(); err != nil {
				t.Fatal(err)
			}
			var creates atomic.Int32
			cfg := config(p)
			cfg.ClientOptions = createCounter(&creates)
			b := mustNew(t, cfg)
			for i := range 3 {
				res, err := step(t, b)
				if !errors.Is(err, bootstrap.ErrAdminRejected) || res.Done || len(res.Created) > 0 {
					t.Fatalf("step %d: %+v, %v; want ErrAdminRejected", i, res, err)
				}
			}
			// mongod refused the one attempt; the Bootstrapper does not ask again.
			if n := creates.Load(); n > 1 {
				t.Fatalf("%d createUser attempts", n)
			}
			if got := users(t, connect(t, p, &tc.foreign, true)); !slices.Equal(got, []string{"admin." + tc.foreign.Username}) {
				t.Fatalf("users %v", got)
			}
		})
	}
}

func TestAppUserWithAnotherPasswordIsAnAlarm(t *testing.T) {
	s := newSet(t, 1, mongotest.Options{})
	s.initiate(t, "")
	p := s.primary(t, "")
	other := config(p)
	other.App.Password = "someone-elses"
	if res, err := step(t, mustNew(t, other)); err != nil || !res.Done {
		t.Fatalf("setup: %+v, %v", res, err)
	}
	var creates atomic.Int32
	cfg := config(p)
	cfg.ClientOptions = createCounter(&creates)
	res, err := step(t, mustNew(t, cfg))
	if !errors.Is(err, bootstrap.ErrAppRejected) || res.Done || creates.Load() != 0 {
		t.Fatalf("%+v, %v, %d creates; want ErrAppRejected and nothing created", res, err, creates.Load())
	}
	// It is left as it was: its own password still works.
	if err := connect(t, p, &other.App, true).Database("letschat").RunCommand(ctxT(t), bson.D{{Key: "ping", Value: 1}}).Err(); err != nil {
		t.Fatal(err)
	}
}

func TestWarnsAboutAnAppUserWithMoreRoles(t *testing.T) {
	s := newSet(t, 1, mongotest.Options{})
	s.initiate(t, "")
	p := s.primary(t, "")
	if res, err := step(t, mustNew(t, config(p))); err != nil || !res.Done {
		t.Fatal(res, err)
	}
	grant := bson.D{{Key: "grantRolesToUser", Value: "letschat"}, {Key: "roles", Value: bson.A{bson.D{{Key: "role", Value: "clusterAdmin"}, {Key: "db", Value: "admin"}}}}}
	if err := connect(t, p, &adminCred, true).Database("admin").RunCommand(ctxT(t), grant).Err(); err != nil {
		t.Fatal(err)
	}
	res, err := step(t, mustNew(t, config(p)))
	if err != nil || !res.Done || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "clusterAdmin@admin") {
		t.Fatalf("%+v, %v", res, err)
	}
}

// An agent that is not on mongod's host never gets the localhost exception, even on a set with no
// user: it creates nothing and says why. (Emulator only: real mongod counts every loopback client
// as local.)
func TestAnAgentOffTheHostCannotCreate(t *testing.T) {
	s := newSet(t, 1, mongotest.Options{LocalClient: mongosim.SameHostClient})
	if s.c.Kind() != mongotest.KindEmulator {
		t.Skip("real mongod on loopback counts every client as local")
	}
	ip, _, _ := net.SplitHostPort(s.addrs[0])
	s.initiate(t, ip)
	p := s.primary(t, "")
	res, err := step(t, mustNew(t, config(p)))
	if !errors.Is(err, bootstrap.ErrAdminRejected) || len(res.Created) > 0 {
		t.Fatalf("remote agent: %+v, %v", res, err)
	}
	if names, _ := s.c.(*mongotest.Emulator).UserNames(p); len(names) != 0 {
		t.Fatalf("users %v", names)
	}
	// The agent on the host (its connections leave from the node's address) does the job.
	cfg := config(p)
	cfg.ClientOptions = func(o *options.ClientOptions) {
		o.SetDialer(&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}})
	}
	res, err = step(t, mustNew(t, cfg))
	if err != nil || !res.Done || len(res.Created) != 2 {
		t.Fatalf("local agent: %+v, %v", res, err)
	}
}

func TestNewRefusesIncompleteConfigs(t *testing.T) {
	good := config("127.0.0.1:27017")
	tests := []struct {
		name string
		edit func(*bootstrap.Config)
	}{
		{"no address", func(c *bootstrap.Config) { c.Address = "" }},
		{"no admin password", func(c *bootstrap.Config) { c.Admin.Password = "" }},
		{"no app user", func(c *bootstrap.Config) { c.App.Username = "" }},
		{"no app database", func(c *bootstrap.Config) { c.AppDatabase = "" }},
		{"one user for both", func(c *bootstrap.Config) { c.App.Username = c.Admin.Username }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.edit(&c)
			_, err := bootstrap.New(c)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, pw := range []string{adminCred.Password, appCred.Password} {
				if strings.Contains(err.Error(), pw) {
					t.Fatalf("error %q holds a password", err)
				}
			}
		})
	}
	if _, err := bootstrap.New(good); err != nil {
		t.Fatal(err)
	}
	sameNameOtherDB := good
	sameNameOtherDB.App = bootstrap.Credential{Username: "admin", Password: "x", Source: "letschat"}
	if _, err := bootstrap.New(sameNameOtherDB); err != nil {
		t.Fatalf("same name in another database: %v", err)
	}
}

// No secret reaches the log, whatever happens.
func TestLogsHoldNoSecret(t *testing.T) {
	s := newSet(t, 1, mongotest.Options{})
	s.initiate(t, "")
	p := s.primary(t, "")
	var buf syncBuf
	log := newTestLogger(&buf)
	cfg := config(p)
	cfg.Log = log
	if res, err := step(t, mustNew(t, cfg)); err != nil || !res.Done {
		t.Fatal(res, err)
	}
	bad := config(p)
	bad.Log = log
	bad.App.Password = "wrong-app-secret"
	if _, err := step(t, mustNew(t, bad)); !errors.Is(err, bootstrap.ErrAppRejected) {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, "admin user created") || !strings.Contains(out, "application user created") {
		t.Fatalf("decisions not logged:\n%s", out)
	}
	for _, secret := range []string{adminCred.Password, appCred.Password, "wrong-app-secret"} {
		if strings.Contains(out, secret) {
			t.Fatalf("log holds %q:\n%s", secret, out)
		}
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Check says what Step would do and creates nothing: waiting while the localhost exception is
// open, done once both users log in, and the same alarms as Step when users it does not own
// exist or the application user rejects its password.
func TestCheckCreatesNothing(t *testing.T) {
	s := newSet(t, 1, mongotest.Options{})
	var creates atomic.Int32
	cfg := config(s.addrs[0])
	cfg.ClientOptions = createCounter(&creates)
	if res, err := mustNew(t, cfg).Check(ctxT(t)); err != nil || !strings.Contains(res.Waiting, "not initiated") {
		t.Fatalf("before initiate: %+v, %v", res, err)
	}
	s.initiate(t, "")
	p := s.primary(t, "")
	cfg.Address = p
	b := mustNew(t, cfg)
	for range 2 {
		res, err := b.Check(ctxT(t))
		if err != nil || res.Done || !strings.Contains(res.Waiting, "localhost exception is open") || len(res.Created) > 0 {
			t.Fatalf("no user yet: %+v, %v", res, err)
		}
	}
	if n := creates.Load(); n != 0 {
		t.Fatalf("Check sent %d createUser commands", n)
	}
	// Only the admin: Check waits for the application user.
	admin := bson.D{{Key: "createUser", Value: adminCred.Username}, {Key: "pwd", Value: adminCred.Password},
		{Key: "roles", Value: bson.A{bson.D{{Key: "role", Value: "root"}, {Key: "db", Value: "admin"}}}}}
	if err := connect(t, p, nil, true).Database("admin").RunCommand(ctxT(t), admin).Err(); err != nil {
		t.Fatal(err)
	}
	if res, err := b.Check(ctxT(t)); err != nil || res.Done || !strings.Contains(res.Waiting, "no application user yet") {
		t.Fatalf("admin only: %+v, %v", res, err)
	}
	if got := users(t, connect(t, p, &adminCred, true)); !slices.Equal(got, []string{"admin.admin"}) {
		t.Fatalf("users after Check: %v", got)
	}
	if res, err := step(t, mustNew(t, config(p))); err != nil || !res.Done {
		t.Fatalf("step: %+v, %v", res, err)
	}
	if res, err := b.Check(ctxT(t)); err != nil || !res.Done {
		t.Fatalf("both users: %+v, %v", res, err)
	}
	wrongApp := cfg
	wrongApp.App.Password = "not-the-app-password"
	if _, err := mustNew(t, wrongApp).Check(ctxT(t)); !errors.Is(err, bootstrap.ErrAppRejected) {
		t.Fatalf("app password refused: %v, want ErrAppRejected", err)
	}
	wrongAdmin := cfg
	wrongAdmin.Admin.Password = "not-the-admin-password"
	if _, err := mustNew(t, wrongAdmin).Check(ctxT(t)); !errors.Is(err, bootstrap.ErrAdminRejected) {
		t.Fatalf("admin password refused with users present: %v, want ErrAdminRejected", err)
	}
	if n := creates.Load(); n != 0 {
		t.Fatalf("Check sent %d createUser commands", n)
	}
}
