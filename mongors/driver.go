package mongors

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// TLSConfig says how to reach mongod over TLS. The zero value means plain TCP.
type TLSConfig struct {
	// Enabled turns TLS on; setting CAFile or CertFile turns it on too.
	Enabled bool `json:"enabled"`
	// CAFile is a PEM bundle of the CAs to trust; empty means the system pool.
	CAFile string `json:"caFile,omitempty"`
	// CertFile and KeyFile are the PEM client certificate and key; empty means no client cert.
	CertFile string `json:"certFile,omitempty"`
	KeyFile  string `json:"keyFile,omitempty"`
	// Insecure skips verifying the server's certificate. It must be asked for explicitly.
	Insecure bool `json:"insecure,omitempty"`
}

func (t TLSConfig) on() bool { return t.Enabled || t.CAFile != "" || t.CertFile != "" }

// ConnConfig says how to reach the local mongod and its peers. Every connection is direct (one
// node, no discovery), which is the only way to reach a node without a config.
type ConnConfig struct {
	// Address is the local mongod's "host:port".
	Address string `json:"address"`
	// Username and Password authenticate every connection; empty Username means no auth.
	Username string `json:"username,omitempty"`
	Password string `json:"-"`
	// AuthSource is the database holding the user; empty means "admin".
	AuthSource string `json:"authSource,omitempty"`
	// AuthMechanism is e.g. "SCRAM-SHA-256"; empty lets the driver negotiate.
	AuthMechanism string `json:"authMechanism,omitempty"`
	// TLS is the transport security; zero means none.
	TLS TLSConfig `json:"tls"`
	// ConnectTimeout bounds dialling and server selection; zero means 5 s.
	ConnectTimeout time.Duration `json:"connectTimeout"`
	// CommandTimeout is the server-side maxTimeMS of a reconfig and the client-side bound of every
	// command (plus ConnectTimeout); zero means 10 s.
	CommandTimeout time.Duration `json:"commandTimeout"`
	// HeartbeatInterval is the driver's monitoring interval (minimum 500 ms); zero means the
	// driver's default of 10 s.
	HeartbeatInterval time.Duration `json:"heartbeatInterval"`
	// IdleClose closes connections to a node not used for this long; zero means 1 min.
	IdleClose time.Duration `json:"idleClose"`
	// LoginFallback, with a Username, copes with nodes that refuse the login with
	// AuthenticationFailed, as a node without users yet does under access control. The local node
	// (Address) is then used without credentials: mongod's localhost exception lets a client on
	// its own host read replSetGetStatus and initiate or reconfigure the set while no user exists
	// (it refuses replSetGetConfig). As soon as it answers Unauthorized (13) without credentials,
	// which it does for everything once a user exists, the client logs in again. Any other node is
	// sent only hello, which needs no login; other commands to it fail with a *LoginRefusedError
	// (ErrLoginRefused) until a login succeeds again, tried after LoginRetry.
	LoginFallback bool `json:"loginFallback,omitempty"`
	// LoginRetry is how long a node that refused the login is used without it before the next
	// login attempt; zero means 5 s.
	LoginRetry time.Duration `json:"loginRetry,omitempty"`
	// SourceIP, when set, is the local address every connection is made from. mongod's localhost
	// exception needs the connection to come from its own host; beside mongod the system's choice
	// (127.0.0.1 to 127.0.0.1) already does.
	SourceIP string `json:"sourceIP,omitempty"`
}

// String renders the config without its password.
func (c ConnConfig) String() string {
	pw := ""
	if c.Password != "" {
		pw = " password=<redacted>"
	}
	return fmt.Sprintf("address=%s user=%q authSource=%q%s tls=%t", c.Address, c.Username, c.AuthSource, pw, c.TLS.on())
}

func (c ConnConfig) withDefaults() ConnConfig {
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 5 * time.Second
	}
	if c.CommandTimeout <= 0 {
		c.CommandTimeout = 10 * time.Second
	}
	if c.IdleClose <= 0 {
		c.IdleClose = time.Minute
	}
	if c.AuthSource == "" {
		c.AuthSource = "admin"
	}
	if c.LoginRetry <= 0 {
		c.LoginRetry = 5 * time.Second
	}
	return c
}

// DriverClient is the Client backed by the MongoDB Go driver, one direct connection pool per node
// (two for a node that refused the login: with and without credentials).
type DriverClient struct {
	cfg    ConnConfig
	tls    *tls.Config
	dialer *net.Dialer

	mu      sync.Mutex
	clients map[poolKey]*pooled
	refused map[string]time.Time // node → when it last refused the login (LoginFallback)
	closed  bool
	// closing counts pools left idle that are being closed: off the caller's path, since closing
	// one to a node that is gone waits for the driver's server selection (ConnectTimeout), and
	// three such closes in a row once held a reconcile pass for 14 s.
	closing sync.WaitGroup
	pending atomic.Int32
}

// poolKey names a connection pool: a node, logged in or not.
type poolKey struct {
	addr string
	anon bool
}

type pooled struct {
	c        *mongo.Client
	lastUsed time.Time
}

var _ Client = (*DriverClient)(nil)

// NewDriverClient checks cfg and loads its TLS files; it dials nothing yet.
func NewDriverClient(cfg ConnConfig) (*DriverClient, error) {
	cfg = cfg.withDefaults()
	if err := checkAddress(cfg.Address); err != nil {
		return nil, fmt.Errorf("mongod address: %w", err)
	}
	if cfg.Password != "" && cfg.Username == "" {
		return nil, errors.New("mongod password given without a username")
	}
	dc := &DriverClient{cfg: cfg, clients: map[poolKey]*pooled{}, refused: map[string]time.Time{}}
	if cfg.SourceIP != "" {
		ip := net.ParseIP(cfg.SourceIP)
		if ip == nil {
			return nil, fmt.Errorf("source IP %q is not an IP address", cfg.SourceIP)
		}
		dc.dialer = &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: cfg.ConnectTimeout, KeepAlive: 30 * time.Second}
	}
	if cfg.TLS.on() {
		t, err := loadTLS(cfg.TLS)
		if err != nil {
			return nil, err
		}
		dc.tls = t
	}
	return dc, nil
}

func loadTLS(t TLSConfig) (*tls.Config, error) {
	out := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.Insecure} //nolint:gosec // opt-in switch
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read tls ca file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls ca file %s: no PEM certificate", t.CAFile)
		}
		out.RootCAs = pool
	}
	if t.CertFile != "" || t.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load tls client certificate %s: %w", t.CertFile, err)
		}
		out.Certificates = []tls.Certificate{cert}
	}
	return out, nil
}

// Local is the local mongod's address.
func (d *DriverClient) Local() string { return d.cfg.Address }

// Close disconnects from every node, all at once: a disconnect ends the node's sessions and so
// waits for a dead node until ctx ends, and one such wait per lost node in a row would outlast a
// container's stop timeout.
func (d *DriverClient) Close(ctx context.Context) error {
	d.mu.Lock()
	d.closed = true
	clients := d.clients
	d.clients = map[poolKey]*pooled{}
	d.mu.Unlock()
	errs := make(chan error, len(clients))
	var wg sync.WaitGroup
	for _, p := range clients {
		wg.Go(func() { errs <- p.c.Disconnect(ctx) })
	}
	wg.Wait()
	// Idle pools still closing: each ends within ConnectTimeout; Close waits for them while ctx lasts.
	closed := make(chan struct{})
	go func() {
		d.closing.Wait()
		close(closed)
	}()
	select {
	case <-closed:
	case <-ctx.Done():
	}
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

// client returns the pool for addr (without credentials when anon), closing pools left idle.
func (d *DriverClient) client(addr string, anon bool) (*mongo.Client, error) {
	now := time.Now()
	key := poolKey{addr: addr, anon: anon}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil, errors.New("mongo client closed")
	}
	var idle []*mongo.Client
	for k, p := range d.clients {
		if k != key && now.Sub(p.lastUsed) > d.cfg.IdleClose {
			idle = append(idle, p.c)
			delete(d.clients, k)
		}
	}
	p := d.clients[key]
	if p == nil {
		c, err := mongo.Connect(d.options(addr, anon))
		if err != nil {
			d.mu.Unlock()
			return nil, fmt.Errorf("connect %s: %s", addr, d.redact(err.Error()))
		}
		p = &pooled{c: c}
		d.clients[key] = p
	}
	p.lastUsed = now
	for _, c := range idle {
		d.closeLocked(c)
	}
	d.mu.Unlock()
	return p.c, nil
}

// closeLocked closes c in the background; d.mu is held.
func (d *DriverClient) closeLocked(c *mongo.Client) {
	d.pending.Add(1)
	d.closing.Go(func() {
		defer d.pending.Add(-1)
		ctx, cancel := context.WithTimeout(context.Background(), d.cfg.ConnectTimeout)
		defer cancel()
		_ = c.Disconnect(ctx) // a pool's close error changes nothing for the caller
	})
}

// Retain closes, in the background, the pools to every node but the local one and those in keep.
// A node that left both the set's config and the desired members has no more use for one, and
// its driver monitor would re-dial it every heartbeat until the idle close a minute later (after
// many hosts came and went, that was most of an idle agent's CPU).
func (d *DriverClient) Retain(keep []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	for k, p := range d.clients {
		if k.addr == d.cfg.Address || slices.Contains(keep, k.addr) {
			continue
		}
		delete(d.clients, k)
		d.closeLocked(p.c)
	}
}

func (d *DriverClient) options(addr string, anon bool) *options.ClientOptions {
	o := options.Client().
		SetHosts([]string{addr}).
		SetDirect(true).
		SetAppName("replset-agent").
		SetConnectTimeout(d.cfg.ConnectTimeout).
		SetServerSelectionTimeout(d.cfg.ConnectTimeout).
		SetMaxPoolSize(4).
		// One hello per heartbeat and no second connection: the streaming protocol's RTT monitor
		// doubles an idle agent's traffic per node, and the agent reads the set's state itself.
		SetServerMonitoringMode(options.ServerMonitoringModePoll).
		SetRetryReads(false).
		SetRetryWrites(false)
	if d.cfg.HeartbeatInterval > 0 {
		o.SetHeartbeatInterval(d.cfg.HeartbeatInterval)
	}
	if d.cfg.Username != "" && !anon {
		o.SetAuth(options.Credential{
			Username:      d.cfg.Username,
			Password:      d.cfg.Password,
			AuthSource:    d.cfg.AuthSource,
			AuthMechanism: d.cfg.AuthMechanism,
		})
	}
	d.ApplyTransport(o)
	return o
}

// ApplyTransport sets on o how this client reaches mongod — TLS and the source address — so
// that another client (the bootstrap's) connects the same way. It sets no credentials.
func (d *DriverClient) ApplyTransport(o *options.ClientOptions) {
	if d.tls != nil {
		o.SetTLSConfig(d.tls)
	}
	if d.dialer != nil {
		o.SetDialer(d.dialer)
	}
}

// run sends one admin command to addr and returns its reply, converting every failure into a
// *CommandError, *UnreachableError or *LoginRefusedError whose text holds no credential. With
// LoginFallback it copes with a node that refuses the login (see ConnConfig).
func (d *DriverClient) run(ctx context.Context, addr, op string, cmd bson.D) (bson.Raw, error) {
	if d.cfg.Username == "" || !d.cfg.LoginFallback {
		return d.runOn(ctx, addr, op, cmd, false)
	}
	if at, refused := d.refusedAt(addr); !refused || time.Since(at) >= d.cfg.LoginRetry {
		raw, err := d.runOn(ctx, addr, op, cmd, false)
		if !loginFailed(err) {
			if err == nil && refused {
				d.setRefused(addr, false)
			}
			return raw, err
		}
		d.setRefused(addr, true)
	}
	return d.runWithoutLogin(ctx, addr, op, cmd)
}

// runWithoutLogin serves a command for a node that refused the login: the local node without
// credentials (the localhost exception) until it says a user exists, any other node hello only.
func (d *DriverClient) runWithoutLogin(ctx context.Context, addr, op string, cmd bson.D) (bson.Raw, error) {
	if addr != d.cfg.Address {
		if op != "hello" {
			return nil, &LoginRefusedError{Op: op, Addr: addr}
		}
		return d.runOn(ctx, addr, op, cmd, true)
	}
	raw, err := d.runOn(ctx, addr, op, cmd, true)
	if ErrorCode(err) != codeUnauthorized {
		return raw, err
	}
	// Unauthorized without credentials: a user exists now (the exception is closed), or the
	// exception never granted this command (replSetGetConfig). Either way, log in again.
	raw, lerr := d.runOn(ctx, addr, op, cmd, false)
	switch {
	case lerr == nil:
		d.setRefused(addr, false)
		return raw, nil
	case loginFailed(lerr):
		// Still refused: the server's answer without credentials is the one that says why.
		return nil, err
	}
	return nil, lerr
}

func (d *DriverClient) refusedAt(addr string) (time.Time, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	at, ok := d.refused[addr]
	return at, ok
}

func (d *DriverClient) setRefused(addr string, refused bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if refused {
		d.refused[addr] = time.Now()
	} else {
		delete(d.refused, addr)
	}
}

// LoginRefused lists, sorted, the nodes that refused the login within the last LoginRetry and
// are used without it (see ConnConfig.LoginFallback); an older refusal is tried again at the
// node's next command.
func (d *DriverClient) LoginRefused() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]string, 0, len(d.refused))
	for a, at := range d.refused {
		if time.Since(at) < d.cfg.LoginRetry {
			out = append(out, a)
		}
	}
	sort.Strings(out)
	return out
}

// loginFailed reports whether err is mongod refusing the login (AuthenticationFailed).
func loginFailed(err error) bool { return ErrorCode(err) == codeAuthenticationFailed }

// runOn sends one command over the pool with credentials, or without them when anon.
func (d *DriverClient) runOn(ctx context.Context, addr, op string, cmd bson.D, anon bool) (bson.Raw, error) {
	c, err := d.client(addr, anon)
	if err != nil {
		return nil, &UnreachableError{Op: op, Addr: addr, Detail: err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.CommandTimeout+d.cfg.ConnectTimeout)
	defer cancel()
	raw, err := c.Database("admin").RunCommand(ctx, cmd).Raw()
	if err != nil {
		return nil, d.classify(ctx, op, addr, err)
	}
	return raw, nil
}

func (d *DriverClient) classify(ctx context.Context, op, addr string, err error) error {
	var ce mongo.CommandError
	if errors.As(err, &ce) && ce.Code != 0 {
		return &CommandError{Op: op, Addr: addr, Code: ce.Code, Name: ce.Name, Message: d.redact(ce.Message)}
	}
	if ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled) {
		return fmt.Errorf("%s on %s: %w", op, addr, context.Canceled)
	}
	return &UnreachableError{Op: op, Addr: addr, Detail: d.redact(err.Error())}
}

// redact removes the password from driver text; the driver is not known to include it, but a
// credential in a log line costs too much to trust that.
func (d *DriverClient) redact(s string) string {
	if d.cfg.Password == "" {
		return s
	}
	return strings.ReplaceAll(s, d.cfg.Password, "<redacted>")
}

// Hello returns addr's hello.
func (d *DriverClient) Hello(ctx context.Context, addr string) (Hello, error) {
	var raw bson.Raw
	var err error
	if addr == d.cfg.Address || d.cfg.Username == "" {
		raw, err = d.run(ctx, addr, "hello", bson.D{{Key: "hello", Value: 1}})
	} else {
		// mongod answers hello without a login, and a peer asked for its hello is usually a new
		// node without users, which refuses the login anyway: no login attempt, no second pool
		// after a refusal. The local node's pool is the logged-in one the agent keeps open.
		raw, err = d.runOn(ctx, addr, "hello", bson.D{{Key: "hello", Value: 1}}, true)
	}
	if err != nil {
		return Hello{}, err
	}
	var r helloReply
	if err := bson.Unmarshal(raw, &r); err != nil {
		return Hello{}, fmt.Errorf("decode hello from %s: %w", addr, err)
	}
	return r.hello(), nil
}

// GetConfig returns addr's config and, with commitment, whether it is committed.
func (d *DriverClient) GetConfig(ctx context.Context, addr string, commitment bool) (Config, bool, error) {
	cmd := bson.D{{Key: "replSetGetConfig", Value: 1}}
	if commitment {
		cmd = append(cmd, bson.E{Key: "commitmentStatus", Value: true})
	}
	raw, err := d.run(ctx, addr, "replSetGetConfig", cmd)
	if err != nil {
		return Config{}, false, err
	}
	doc, ok := raw.Lookup("config").DocumentOK()
	if !ok {
		return Config{}, false, fmt.Errorf("replSetGetConfig on %s: reply has no config", addr)
	}
	cfg, err := parseConfig(doc)
	if err != nil {
		return Config{}, false, fmt.Errorf("replSetGetConfig on %s: %w", addr, err)
	}
	committed, _ := raw.Lookup("commitmentStatus").BooleanOK()
	return cfg, committed, nil
}

// GetStatus returns addr's replSetGetStatus.
func (d *DriverClient) GetStatus(ctx context.Context, addr string) (ReplStatus, error) {
	raw, err := d.run(ctx, addr, "replSetGetStatus", bson.D{{Key: "replSetGetStatus", Value: 1}})
	if err != nil {
		return ReplStatus{}, err
	}
	var r statusReply
	if err := bson.Unmarshal(raw, &r); err != nil {
		return ReplStatus{}, fmt.Errorf("decode replSetGetStatus from %s: %w", addr, err)
	}
	return r.status(), nil
}

// Initiate runs replSetInitiate with an explicit config.
func (d *DriverClient) Initiate(ctx context.Context, addr string, cfg Config) error {
	_, err := d.run(ctx, addr, "replSetInitiate", bson.D{{Key: "replSetInitiate", Value: configDoc(cfg)}})
	return err
}

// Reconfig runs a non-force replSetReconfig bounded by maxTimeMS.
func (d *DriverClient) Reconfig(ctx context.Context, addr string, cfg Config) error {
	_, err := d.run(ctx, addr, "replSetReconfig", reconfigCommand(cfg, d.cfg.CommandTimeout))
	return err
}

// reconfigCommand is the one place a reconfig command is built: it has no force field.
func reconfigCommand(cfg Config, maxTime time.Duration) bson.D {
	return bson.D{
		{Key: "replSetReconfig", Value: configDoc(cfg)},
		{Key: "maxTimeMS", Value: maxTime.Milliseconds()},
	}
}

// StepDown runs replSetStepDown for period (at least 1 s), letting secondaries catch up for up
// to 10 s first.
func (d *DriverClient) StepDown(ctx context.Context, addr string, period time.Duration) error {
	secs := max(int64(period/time.Second), 2)
	catchUp := min(int64(10), secs-1)
	_, err := d.run(ctx, addr, "replSetStepDown", bson.D{
		{Key: "replSetStepDown", Value: secs},
		{Key: "secondaryCatchUpPeriodSecs", Value: catchUp},
	})
	return err
}
