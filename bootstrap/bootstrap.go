// Package bootstrap owns creating a replica set's first users, exactly once: the administrator
// (role root), created through mongod's localhost exception by the agent that shares the primary's
// host, then the application's user with readWrite on the application's database and nothing
// else, created as that administrator.
//
// Every Step starts from what the set holds, never from what this process remembers: a user that
// exists and accepts its password is left alone, a step cut short resumes at the next one (after
// an agent restart too), and a set that already has users whose passwords this agent does not
// know gets nothing created — the Step reports an alarm instead. Check says what Step would do
// without creating anything, for status reports. It knows MongoDB, not Rancher.
package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// mongod error codes the bootstrap branches on.
const (
	codeUnauthorized         = 13
	codeAuthenticationFailed = 18
	codeNotWritablePrimary   = 10107
	codeUserExists           = 51003
)

// Alarms: conditions a human must resolve. The bootstrap never creates a user while one holds.
var (
	// ErrAdminRejected: the admin credentials do not log in, and mongod refuses to create the
	// admin user without them. Either the set already has users this agent does not own, or the
	// agent is not on mongod's host (the localhost exception needs a loopback connection).
	ErrAdminRejected = errors.New("bootstrap: mongod rejects the admin credentials and refuses to create the admin user: the set has users this agent does not own, or the agent is not on mongod's host")
	// ErrAppRejected: the application user exists but does not accept the configured password.
	ErrAppRejected = errors.New("bootstrap: the application user exists and rejects its configured password")
)

// Credential names a user and the database that holds it.
type Credential struct {
	Username string
	Password string
	// Source is the authentication database holding the user; empty means "admin".
	Source string
}

func (c Credential) source() string {
	if c.Source == "" {
		return "admin"
	}
	return c.Source
}

// String names the user without its password.
func (c Credential) String() string { return c.Username + "@" + c.source() }

// Config says which users to create and how to reach the local mongod.
type Config struct {
	// Address is the local mongod ("host:port"), reached by a direct connection. The admin user
	// can only be created over a loopback connection to it (127.0.0.1:27017 beside mongod).
	Address string
	// Admin is the administrator, created with role root in its Source database. Required.
	Admin Credential
	// App is the application's user, given readWrite on AppDatabase only. Required.
	App Credential
	// AppDatabase is the database the application uses, for example "letschat". Required.
	AppDatabase string
	// ClientOptions, when set, adjusts every client before it connects (TLS, a dialer bound to a
	// local address, the driver's monitors); it must not set credentials.
	ClientOptions func(*options.ClientOptions)
	// Timeout bounds each connection and command of a Step, and is the wtimeout of the user
	// writes (w:majority); zero means 30 s.
	Timeout time.Duration
	// Log receives one line per decision; nil discards.
	Log logrus.FieldLogger
}

// Result is what one Step found and did.
type Result struct {
	// Done is true once both users exist and accept their passwords: nothing will be created
	// from then on.
	Done bool `json:"done"`
	// Created lists the users this Step created, as "user@db".
	Created []string `json:"created,omitempty"`
	// Waiting says why nothing could be done yet (the set is not initiated, or the local mongod
	// is not the primary and the users are not there); empty when Done.
	Waiting string `json:"waiting,omitempty"`
	// Warnings are things a human may want to look at that do not stop the bootstrap, such as an
	// application user with other roles than readWrite on AppDatabase.
	Warnings []string `json:"warnings,omitempty"`
}

// Bootstrapper creates the first users of one set. It is not safe for concurrent use: one loop
// calls Step until Done.
type Bootstrapper struct {
	cfg Config
	log logrus.FieldLogger
	// refused remembers that mongod refused the admin user without credentials: later Steps only
	// try to log in, so this process never asks again while users it does not own exist.
	refused bool
}

// New checks cfg and returns a Bootstrapper.
func New(cfg Config) (*Bootstrapper, error) {
	switch {
	case cfg.Address == "":
		return nil, errors.New("bootstrap: no mongod address")
	case cfg.Admin.Username == "" || cfg.Admin.Password == "":
		return nil, errors.New("bootstrap: the admin user needs a name and a password")
	case cfg.App.Username == "" || cfg.App.Password == "":
		return nil, errors.New("bootstrap: the application user needs a name and a password")
	case cfg.AppDatabase == "":
		return nil, errors.New("bootstrap: no application database")
	case cfg.Admin.Username == cfg.App.Username && cfg.Admin.source() == cfg.App.source():
		return nil, fmt.Errorf("bootstrap: the admin and the application user are both %s", cfg.Admin)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	log := cfg.Log
	if log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		log = l
	}
	return &Bootstrapper{cfg: cfg, log: log.WithField("component", "bootstrap")}, nil
}

// Step looks at the set through the local mongod and does the next thing, if any: create the
// admin user (through the localhost exception, only on the primary, only while no user exists),
// create the application user (as the admin, only on the primary), or confirm both. Waiting is a
// Result, not an error; ErrAdminRejected and ErrAppRejected are alarms; other errors are
// transient (the next Step retries).
func (b *Bootstrapper) Step(ctx context.Context) (Result, error) { return b.step(ctx, false) }

// Check looks at the set as Step does and says what Step would do, creating nothing: for a
// status report. Without the admin user it asks mongod, without credentials, whether the
// localhost exception is open: open (no user yet) is Waiting, closed (users this agent does not
// own, or a connection from off the host) is ErrAdminRejected.
func (b *Bootstrapper) Check(ctx context.Context) (Result, error) { return b.step(ctx, true) }

func (b *Bootstrapper) step(ctx context.Context, dry bool) (Result, error) {
	var res Result
	anon, err := b.connect(nil)
	if err != nil {
		return res, err
	}
	defer b.disconnect(anon)
	state, err := b.hello(ctx, anon)
	if err != nil {
		return res, err
	}
	if !state.initiated {
		res.Waiting = "the replica set is not initiated yet"
		return res, nil
	}

	adminOK, err := b.logsIn(ctx, b.cfg.Admin)
	if err != nil {
		return res, err
	}
	if !adminOK && dry {
		return b.checkException(ctx, anon, state)
	}
	if !adminOK {
		if !state.primary {
			res.Waiting = "no admin user on this member yet, and it is not the primary: the agent beside the primary creates it"
			return res, nil
		}
		if b.refused {
			return res, ErrAdminRejected
		}
		created, err := b.createAdmin(ctx, anon)
		if err != nil {
			return res, err
		}
		if created {
			res.Created = append(res.Created, b.cfg.Admin.String())
		}
	}

	admin, err := b.connect(&b.cfg.Admin)
	if err != nil {
		return res, err
	}
	defer b.disconnect(admin)
	app, found, err := b.findUser(ctx, admin, b.cfg.App)
	if err != nil {
		return res, err
	}
	if !found {
		if !state.primary {
			res.Waiting = "no application user on this member yet, and it is not the primary: the agent beside the primary creates it"
			return res, nil
		}
		if dry {
			res.Waiting = "no application user yet: the agent beside the primary creates it as the admin"
			return res, nil
		}
		if err := b.createApp(ctx, admin); err != nil {
			return res, err
		}
		res.Created = append(res.Created, b.cfg.App.String())
		app = []roleDoc{{Role: "readWrite", DB: b.cfg.AppDatabase}}
	}
	appOK, err := b.logsIn(ctx, b.cfg.App)
	if err != nil {
		return res, err
	}
	if !appOK {
		b.log.WithField("user", b.cfg.App.String()).Error("the application user exists but rejects its configured password; nothing is changed")
		return res, ErrAppRejected
	}
	if want := []roleDoc{{Role: "readWrite", DB: b.cfg.AppDatabase}}; !slices.Equal(app, want) {
		res.Warnings = append(res.Warnings, fmt.Sprintf("the application user %s has roles %v; it was created with readWrite on %s only",
			b.cfg.App, app, b.cfg.AppDatabase))
	}
	res.Done = true
	if len(res.Created) == 0 {
		b.log.WithFields(logrus.Fields{"admin": b.cfg.Admin.String(), "app": b.cfg.App.String()}).Debug("users already in place")
	}
	return res, nil
}

// checkException tells a set without the admin user that the agent will bootstrap (mongod's
// localhost exception is open: no user exists) from one it must not touch.
func (b *Bootstrapper) checkException(ctx context.Context, anon *mongo.Client, state helloState) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	defer cancel()
	// replSetGetStatus is one of the few commands the exception grants.
	err := anon.Database("admin").RunCommand(ctx, bson.D{{Key: "replSetGetStatus", Value: 1}}).Err()
	switch code(err) {
	case 0:
		if err != nil {
			return Result{}, fmt.Errorf("bootstrap: replSetGetStatus on %s: %w", b.cfg.Address, err)
		}
	case codeUnauthorized:
		return Result{}, ErrAdminRejected
	}
	res := Result{Waiting: "no admin user yet (mongod's localhost exception is open): the agent beside the primary creates it"}
	if state.primary {
		res.Waiting = "no admin user yet (mongod's localhost exception is open): this member is the primary, its agent creates it"
	}
	return res, nil
}

type helloState struct {
	initiated bool
	primary   bool
}

func (b *Bootstrapper) hello(ctx context.Context, c *mongo.Client) (helloState, error) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	defer cancel()
	var h struct {
		SetName           string `bson:"setName"`
		IsWritablePrimary bool   `bson:"isWritablePrimary"`
	}
	if err := c.Database("admin").RunCommand(ctx, bson.D{{Key: "hello", Value: 1}}).Decode(&h); err != nil {
		return helloState{}, fmt.Errorf("bootstrap: hello to %s: %w", b.cfg.Address, err)
	}
	return helloState{initiated: h.SetName != "", primary: h.IsWritablePrimary}, nil
}

// logsIn reports whether cred authenticates on the local mongod. A rejected password is false
// with no error; anything else that fails is an error.
func (b *Bootstrapper) logsIn(ctx context.Context, cred Credential) (bool, error) {
	c, err := b.connect(&cred)
	if err != nil {
		return false, err
	}
	defer b.disconnect(c)
	ctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	defer cancel()
	err = c.Database("admin").RunCommand(ctx, bson.D{{Key: "ping", Value: 1}}).Err()
	if code(err) == codeAuthenticationFailed {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("bootstrap: log in as %s: %w", cred, err)
	}
	return true, nil
}

// createAdmin creates the admin user without credentials, which mongod allows only through the
// localhost exception. It reports whether this call created it.
func (b *Bootstrapper) createAdmin(ctx context.Context, anon *mongo.Client) (bool, error) {
	a := b.cfg.Admin
	err := b.createUser(ctx, anon, a, bson.A{bson.D{{Key: "role", Value: "root"}, {Key: "db", Value: "admin"}}})
	switch code(err) {
	case 0:
		if err != nil {
			return false, err // not an answer from mongod: try again
		}
		b.log.WithField("user", a.String()).Info("admin user created through the localhost exception (no user existed)")
		return true, nil
	case codeUnauthorized, codeUserExists:
		// Users exist and ours does not log in (or this connection is not local): never create.
		b.refused = true
		b.log.WithField("user", a.String()).WithField("code", code(err)).
			Error("mongod refused to create the admin user without credentials and rejects the admin credentials; nothing is created")
		return false, ErrAdminRejected
	case codeNotWritablePrimary:
		return false, fmt.Errorf("bootstrap: the local mongod stepped down before the admin user was created: %w", err)
	}
	return false, err
}

func (b *Bootstrapper) createApp(ctx context.Context, admin *mongo.Client) error {
	a := b.cfg.App
	err := b.createUser(ctx, admin, a, bson.A{bson.D{{Key: "role", Value: "readWrite"}, {Key: "db", Value: b.cfg.AppDatabase}}})
	if code(err) == codeUserExists {
		// Created meanwhile (another agent, or our own earlier write): the password check decides.
		return nil
	}
	if err != nil {
		return err
	}
	b.log.WithFields(logrus.Fields{"user": a.String(), "role": "readWrite", "db": b.cfg.AppDatabase}).
		Info("application user created with readWrite on its database only")
	return nil
}

// createUser runs createUser with w:majority, so that a user reported created survives a
// failover; a write-concern timeout is an error and the next Step finds out what stuck.
func (b *Bootstrapper) createUser(ctx context.Context, c *mongo.Client, cred Credential, roles bson.A) error {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	defer cancel()
	cmd := bson.D{
		{Key: "createUser", Value: cred.Username},
		{Key: "pwd", Value: cred.Password},
		{Key: "roles", Value: roles},
		{Key: "writeConcern", Value: bson.D{{Key: "w", Value: "majority"}, {Key: "wtimeout", Value: b.cfg.Timeout.Milliseconds()}}},
	}
	if err := c.Database(cred.source()).RunCommand(ctx, cmd).Err(); err != nil {
		return fmt.Errorf("bootstrap: create user %s: %w", cred, err)
	}
	return nil
}

type roleDoc struct {
	Role string `bson:"role"`
	DB   string `bson:"db"`
}

func (r roleDoc) String() string { return r.Role + "@" + r.DB }

// findUser looks cred's user up (as the admin) and returns its roles.
func (b *Bootstrapper) findUser(ctx context.Context, admin *mongo.Client, cred Credential) ([]roleDoc, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	defer cancel()
	var reply struct {
		Users []struct {
			Roles []roleDoc `bson:"roles"`
		} `bson:"users"`
	}
	cmd := bson.D{{Key: "usersInfo", Value: bson.D{{Key: "user", Value: cred.Username}, {Key: "db", Value: cred.source()}}}}
	if err := admin.Database("admin").RunCommand(ctx, cmd).Decode(&reply); err != nil {
		if code(err) == codeAuthenticationFailed {
			return nil, false, ErrAdminRejected
		}
		return nil, false, fmt.Errorf("bootstrap: look up %s: %w", cred, err)
	}
	if len(reply.Users) == 0 {
		return nil, false, nil
	}
	return reply.Users[0].Roles, true, nil
}

func (b *Bootstrapper) connect(cred *Credential) (*mongo.Client, error) {
	o := options.Client().SetHosts([]string{b.cfg.Address}).SetDirect(true).
		SetServerSelectionTimeout(b.cfg.Timeout).SetConnectTimeout(b.cfg.Timeout)
	if b.cfg.ClientOptions != nil {
		b.cfg.ClientOptions(o)
	}
	o.Auth = nil
	if cred != nil {
		o.SetAuth(options.Credential{Username: cred.Username, Password: cred.Password, AuthSource: cred.source()})
	}
	c, err := mongo.Connect(o)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: client for %s: %w", b.cfg.Address, err)
	}
	return c, nil
}

func (b *Bootstrapper) disconnect(c *mongo.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = c.Disconnect(ctx)
}

// code is the server error code in err, 0 for none.
func code(err error) int32 {
	var ce mongo.CommandError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}
