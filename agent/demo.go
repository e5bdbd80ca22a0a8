package agent

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/replset-agent/replset-agent/lcconfig"
	"github.com/replset-agent/replset-agent/metadata/metadatatest"
	"github.com/replset-agent/replset-agent/mongosim"
	"github.com/replset-agent/replset-agent/mongotest/mongodproc"
)

// The demo runs the whole system in one process: a fake Rancher metadata service, simulated mongod
// nodes on distinct loopback addresses (one per "host"), a mongo agent per host that sees only its
// own host in metadata, and a letschat agent supervising a stand-in child. A scripted scenario
// changes metadata and crashes nodes; every step must converge, or the demo exits 1.

type demoConfig struct {
	Hosts     int
	Grace     time.Duration
	StepLimit time.Duration
	Verbose   bool
	Mongod    string
	// Version is the MongoDB series the emulator presents; empty means 5.0, the newest Let's Chat
	// can use.
	Version mongosim.ServerVersion
	// Auth runs the set with access control (the emulator's, or --keyFile for real mongod): the
	// agents bootstrap the first users and Let's Chat connects as its own user.
	Auth bool
}

func (c *demoConfig) options() *optionSet {
	s := newOptionSet("demo", "Runs the whole system on simulated hosts in one process and prints a timeline:\n3 hosts → initiated; hosts 4 and 5 join; host 2 is lost and removed after the grace period;\nthe primary crashes and a new one takes over; the crashed node comes back. Exits 0 when every\nstep converged.")
	s.Duration(&c.Grace, "removal-grace", "DEMO_REMOVAL_GRACE", 3*time.Second, "removal grace used by the demo's agents")
	s.Duration(&c.StepLimit, "step-timeout", "DEMO_STEP_TIMEOUT", 30*time.Second, "how long one step may take to converge")
	s.Bool(&c.Verbose, "verbose", "DEMO_VERBOSE", false, "also print every agent's log lines")
	s.String(&c.Mongod, "mongod", "MONGOD_BIN", "", "run real mongod processes from this binary instead of the emulator")
	s.Bool(&c.Auth, "auth", "DEMO_AUTH", true, "run the set with access control: the agents create the first users, Let's Chat logs in as its own (--auth=false: none)")
	return s
}

func runDemoCmd(args []string, env func(string) (string, bool), stdout, stderr io.Writer) int {
	cfg := demoConfig{Hosts: 5}
	s := cfg.options()
	rest, err := s.parse(args, env)
	if code, done := handleParseError(s, "demo [flags]", err, stdout, stderr); done {
		return code
	}
	if len(rest) > 0 {
		return reportUsage(stderr, s, usagef("demo: unexpected argument %q", rest[0]))
	}
	if cfg.Grace <= 0 || cfg.StepLimit <= 0 {
		return reportUsage(stderr, s, usagef("demo: durations must be positive"))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	d, err := newDemo(ctx, cfg, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "replset-agent demo: %v\n", err)
		return 1
	}
	defer d.close()
	if err := d.run(); err != nil {
		fmt.Fprintf(stdout, "\nFAILED: %v\n", err)
		return 1
	}
	return 0
}

// demoNodes starts and stops the mongod of each simulated host.
type demoNodes interface {
	StartNode(addr string) error
	CrashNode(addr string) error
	Close()
}

type demoHost struct {
	name   string
	ip     string
	addr   string // mongod host:port, as the set's config names it
	local  string // where the agent dials its mongod; empty means addr (in Rancher: 127.0.0.1:27017)
	meta   *metadatatest.Host
	agent  *mongoRole
	cancel context.CancelFunc
	done   chan struct{}
}

type demo struct {
	ctx     context.Context
	cfg     demoConfig
	out     io.Writer
	start   time.Time
	log     *logrus.Logger
	meta    *metadatatest.Server
	tree    *metadatatest.Tree
	nodes   demoNodes
	hosts   []*demoHost
	lc      *letschatRole
	lcStop  context.CancelFunc
	lcDone  chan struct{}
	lcIP    string
	backend string
	// adminPW and appPW are the demo's passwords, made up for each run (with Auth).
	adminPW, appPW string

	outMu     sync.Mutex // serialises writes to out
	mu        sync.Mutex
	uri       string
	restarts  int
	lastView  string
	summaries []string
	closers   []func()
}

func newDemo(ctx context.Context, cfg demoConfig, stdout, stderr io.Writer) (*demo, error) {
	d := &demo{ctx: ctx, cfg: cfg, out: stdout, start: time.Now()}
	d.log = logrus.New()
	d.log.SetFormatter(&logrus.TextFormatter{FullTimestamp: true, DisableColors: true})
	if cfg.Verbose {
		d.log.SetOutput(stderr)
		d.log.SetLevel(logrus.DebugLevel)
	} else {
		d.log.SetOutput(io.Discard)
	}
	block, err := freeLoopbackBlock(cfg.Hosts + 1)
	if err != nil {
		return nil, err
	}
	meta, err := metadatatest.Start(metadatatest.Options{})
	if err != nil {
		return nil, fmt.Errorf("fake metadata service: %w", err)
	}
	d.meta = meta
	d.closers = append(d.closers, meta.Close)
	if cfg.Mongod != "" {
		dir, err := os.MkdirTemp("", "replset-agent-demo-")
		if err != nil {
			return nil, err
		}
		d.closers = append(d.closers, func() { os.RemoveAll(dir) })
		procs := mongodproc.New(cfg.Mongod, "letschat", dir)
		if cfg.Auth {
			// mongod refuses a keyFile that others may read.
			key := filepath.Join(dir, "keyfile")
			if err := os.WriteFile(key, []byte(crand.Text()+crand.Text()), 0o400); err != nil {
				return nil, err
			}
			procs.UseKeyFile(key)
		}
		d.nodes = procs
		d.backend = "real mongod " + cfg.Mongod
	} else {
		version := cfg.Version
		if version == "" {
			version = mongosim.Version50
		}
		// Each loopback address is a host of its own: only an agent on a node's own address gets
		// the localhost exception there, as only the agent sharing mongod's network does in Rancher.
		auth := mongosim.AuthOptions{Enabled: cfg.Auth, LocalClient: mongosim.SameHostClient}
		sim := mongosim.New(mongosim.Options{SetName: "letschat", ElectionTimeout: 500 * time.Millisecond, Logger: d.log.WithField("component", "mongosim"), Version: version, Auth: auth})
		d.nodes = sim
		d.backend = "mongosim presenting MongoDB " + sim.FullVersion()
	}

	d.tree = metadatatest.NewTree()
	d.tree.AddService("demo", "mongo")
	d.tree.AddService("demo", "letschat")
	for i := 1; i <= cfg.Hosts; i++ {
		ip := fmt.Sprintf("%s.%d", block, i)
		d.hosts = append(d.hosts, &demoHost{name: fmt.Sprintf("host%d", i), ip: ip, addr: net.JoinHostPort(ip, "27017")})
	}
	d.lcIP = fmt.Sprintf("%s.%d", block, cfg.Hosts+1)
	if cfg.Auth {
		d.adminPW, d.appPW = "demo-admin-"+crand.Text(), "demo-app-"+crand.Text()
	}
	return d, nil
}

// freeLoopbackBlock finds a 127.x.y block whose first n addresses can listen on 27017.
func freeLoopbackBlock(n int) (string, error) {
	for range 50 {
		block := fmt.Sprintf("127.%d.%d", 64+rand.IntN(128), 1+rand.IntN(250))
		ok := true
		for i := 1; i <= n && ok; i++ {
			ln, err := net.Listen("tcp", fmt.Sprintf("%s.%d:27017", block, i))
			if err != nil {
				ok = false
				break
			}
			ln.Close()
		}
		if ok {
			return block, nil
		}
	}
	return "", errors.New("no free loopback block with port 27017 (the demo needs 127.0.0.0/8 on lo)")
}

func (d *demo) close() {
	for _, h := range d.hosts {
		d.stopAgent(h)
	}
	if d.lcStop != nil {
		d.lcStop()
		<-d.lcDone
	}
	if d.nodes != nil {
		d.nodes.Close()
	}
	for i := len(d.closers) - 1; i >= 0; i-- {
		d.closers[i]()
	}
}

// say prints one timeline line; agents' callbacks call it from their own goroutines.
func (d *demo) say(event, detail string) {
	d.printf("%7.2fs  %-22s %s\n", time.Since(d.start).Seconds(), event, detail)
}

func (d *demo) printf(format string, args ...any) {
	d.outMu.Lock()
	defer d.outMu.Unlock()
	fmt.Fprintf(d.out, format, args...)
}

// bringUp adds host h to metadata and starts its mongod and agent.
func (d *demo) bringUp(h *demoHost) error {
	if err := d.nodes.StartNode(h.addr); err != nil {
		return err
	}
	h.meta = d.tree.AddHost(h.name, h.ip)
	c := d.tree.Service("demo", "mongo").AddContainer(h.meta)
	d.meta.SetSelf(h.ip, metadatatest.Self{ContainerUUID: c.UUID})
	d.meta.SetTree(d.tree)
	return d.startAgent(h)
}

func (d *demo) startAgent(h *demoHost) error {
	cfg := mongoConfig{}
	s := cfg.options()
	if _, err := s.parse(nil, noEnv); err != nil {
		return err
	}
	cfg.MetadataURL = d.meta.BaseURL()
	cfg.SourceIP = h.ip
	cfg.MongodAddress = h.addr
	if h.local != "" {
		cfg.MongodAddress = h.local
	}
	cfg.RemovalGrace = d.cfg.Grace
	if d.cfg.Auth {
		cfg.Username, cfg.Password, cfg.AppPassword = "admin", d.adminPW, d.appPW
		// The agent's connections leave from its host's address, as they do beside mongod.
		cfg.MongoSourceIP = h.ip
	}
	cfg.Recheck = 300 * time.Millisecond
	cfg.InitiateSettle = 500 * time.Millisecond
	cfg.ActionTimeout = 5 * time.Second
	cfg.NoPrimaryAlarm = 10 * time.Second
	if err := cfg.validate(); err != nil {
		return err
	}
	cfg.MetadataSpacing = 20 * time.Millisecond
	cfg.Heartbeat = 500 * time.Millisecond
	cfg.StepDownPeriod = 5 * time.Second
	role, err := newMongoRole(cfg, mongoOptions{Logger: d.log.WithField("host", h.name), RetryMin: 100 * time.Millisecond})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(d.ctx)
	h.agent, h.cancel, h.done = role, cancel, make(chan struct{})
	go func() { defer close(h.done); role.run(ctx) }()
	return nil
}

func (d *demo) stopAgent(h *demoHost) {
	if h.cancel != nil {
		h.cancel()
		<-h.done
		h.cancel = nil
	}
}

func (d *demo) startLetschat() error {
	lcHost := d.hosts[0].meta
	c := d.tree.Service("demo", "letschat").AddContainer(lcHost)
	c.PrimaryIP, c.IPs = d.lcIP, []string{d.lcIP}
	d.meta.SetTree(d.tree)
	cfg := letschatConfig{}
	s := cfg.options()
	if _, err := s.parse(nil, noEnv); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cfg.MetadataURL = d.meta.BaseURL()
	cfg.SourceIP = d.lcIP
	cfg.Dir = os.TempDir()
	cfg.Command = []string{self, demoChildCommand}
	cfg.MinRestart = time.Second
	cfg.Stagger = time.Second
	cfg.KillTimeout = 2 * time.Second
	cfg.MetadataSpacing = 20 * time.Millisecond
	cfg.Settle = 100 * time.Millisecond
	cfg.CookieSecret = "demo-cookie-secret-not-for-production"
	cfg.AppPassword = d.appPW   // Let's Chat logs in as its own user (none without Auth)
	cfg.ReadyURL = readyURLNone // the stand-in serves no HTTP
	if err := cfg.validate(); err != nil {
		return err
	}
	role, err := newLetschatRole(cfg, letschatOptions{
		Logger:      d.log.WithField("host", "letschat"),
		ChildStdout: io.Discard,
		ChildStderr: io.Discard,
		Env:         []string{"PATH=" + os.Getenv("PATH")},
		OnLetschat:  d.onLetschat,
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(d.ctx)
	d.lc, d.lcStop, d.lcDone = role, cancel, make(chan struct{})
	go func() { defer close(d.lcDone); role.run(ctx, nil) }()
	return nil
}

func (d *demo) onLetschat(e lcconfig.Event) {
	switch e.Kind {
	case lcconfig.EventURIChanged:
		d.mu.Lock()
		d.uri = e.URI
		d.mu.Unlock()
		d.say("letschat URI", e.URI)
	case lcconfig.EventStarted:
		d.say("letschat started", fmt.Sprintf("pid %d", e.PID))
	case lcconfig.EventRestart:
		d.mu.Lock()
		d.restarts++
		d.mu.Unlock()
		d.say("letschat restarted", fmt.Sprintf("pid %d (%s)", e.PID, e.Reason))
	}
}

// setView is the replica set as one observer reads it through the driver.
type setView struct {
	unknown   bool // no running agent sees a primary right now
	version   int
	committed bool
	primary   string
	members   map[string]memberView
}

type memberView struct {
	state string
	votes int
}

func (v setView) String() string {
	if v.unknown {
		return "no agent sees a primary yet"
	}
	if v.version == 0 {
		return "not initiated"
	}
	hosts := make([]string, 0, len(v.members))
	for h := range v.members {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	parts := []string{fmt.Sprintf("v%d", v.version)}
	for _, h := range hosts {
		m := v.members[h]
		parts = append(parts, fmt.Sprintf("%s=%s/%dv", h, abbrev(m.state), m.votes))
	}
	return strings.Join(parts, " ")
}

func abbrev(state string) string {
	switch state {
	case "PRIMARY":
		return "P"
	case "SECONDARY":
		return "S"
	case "":
		return "?"
	}
	return strings.ToLower(state)
}

// view reads the set from the first host whose agent runs.
func (d *demo) view() setView {
	// The primary's agent reads the set on every pass; the others re-read it only now and then.
	hosts := append([]*demoHost(nil), d.hosts...)
	sort.SliceStable(hosts, func(i, j int) bool { return d.readsFully(hosts[i]) && !d.readsFully(hosts[j]) })
	for _, h := range hosts {
		if h.agent == nil || h.cancel == nil {
			continue
		}
		st := h.agent.rec.Status()
		o := st.Observed
		if o == nil || o.Config == nil || !o.Local.Reachable() {
			continue
		}
		v := setView{version: o.Config.Version, committed: o.Committed, primary: o.Primary, members: map[string]memberView{}}
		for _, m := range o.Config.Members {
			mv := memberView{votes: m.Votes}
			if o.Status != nil {
				if ms, ok := o.Status.Member(m.Host); ok {
					mv.state = ms.StateStr
				}
			}
			v.members[m.Host] = mv
		}
		if o.Primary == "" {
			continue
		}
		return v
	}
	return setView{unknown: true}
}

// readsFully reports whether h's agent is the primary's, whose last pass read the whole set.
func (d *demo) readsFully(h *demoHost) bool {
	if h.agent == nil || h.cancel == nil {
		return false
	}
	o := h.agent.rec.Status().Observed
	return o != nil && !o.Light && o.Local.Hello.IsWritablePrimary
}

func (d *demo) currentURI() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.uri
}

// await polls until cond holds, printing the set's view whenever it changes.
func (d *demo) await(step string, cond func(v setView) bool) error {
	deadline := time.Now().Add(d.cfg.StepLimit)
	begin := time.Now()
	for {
		v := d.view()
		if s := v.String(); s != d.lastView {
			d.lastView = s
			primary := v.primary
			if primary == "" {
				primary = "none"
			}
			d.say("replica set", fmt.Sprintf("%s (primary %s)", s, primary))
		}
		if cond(v) {
			took := time.Since(begin)
			d.summaries = append(d.summaries, fmt.Sprintf("  %-40s converged in %5.2fs", step, took.Seconds()))
			d.say("converged", fmt.Sprintf("%s (%.2fs)", step, took.Seconds()))
			return nil
		}
		if time.Now().After(deadline) {
			d.summaries = append(d.summaries, fmt.Sprintf("  %-40s DID NOT CONVERGE", step))
			return fmt.Errorf("step %q did not converge within %s; last view: %s", step, d.cfg.StepLimit, v)
		}
		select {
		case <-d.ctx.Done():
			return d.ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// settled: the config holds exactly want, every member is PRIMARY or SECONDARY, voters are as
// many as the planner's odd-count rule allows, the config is committed, and the Let's Chat URI
// names exactly the same hosts.
func (d *demo) settled(want []*demoHost) func(setView) bool {
	return func(v setView) bool {
		if v.primary == "" || !v.committed || len(v.members) != len(want) {
			return false
		}
		voters := 0
		for _, h := range want {
			m, ok := v.members[h.addr]
			if !ok || (m.state != "PRIMARY" && m.state != "SECONDARY") {
				return false
			}
			voters += m.votes
		}
		if voters != wantVoters(len(want)) {
			return false
		}
		return uriHosts(d.currentURI()) == hostList(want)
	}
}

// wantVoters is the voter count a settled set of n members has: all of them up to 7, one fewer
// when that would be even.
func wantVoters(n int) int {
	v := min(n, 7)
	if v%2 == 0 {
		v--
	}
	return v
}

func hostList(hs []*demoHost) string {
	var out []string
	for _, h := range hs {
		out = append(out, h.addr)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func uriHosts(uri string) string {
	rest, ok := strings.CutPrefix(uri, "mongodb://")
	if !ok {
		return ""
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		rest = rest[at+1:]
	}
	hosts, _, _ := strings.Cut(rest, "/")
	list := strings.Split(hosts, ",")
	sort.Strings(list)
	return strings.Join(list, ",")
}

func (d *demo) run() error {
	d.printf("replset-agent demo: fake Rancher metadata at %s, %d simulated hosts (%s)\n", d.meta.BaseURL(), d.cfg.Hosts, d.backend)
	d.printf("removal grace %s; every step must converge within %s\n", d.cfg.Grace, d.cfg.StepLimit)
	if d.cfg.Auth {
		d.printf("access control ON: every mongod refuses clients without credentials; the agents create the first users (admin, then Let's Chat's) and log in as the admin; Let's Chat logs in as its own user\n\n")
	} else {
		d.printf("access control OFF (--auth=false): mongod answers every client\n\n")
	}
	h := d.hosts
	live := slices.Clone(h[:3])

	d.say("metadata", "hosts host1 host2 host3 with a mongo container each; letschat on host1")
	for _, x := range live {
		if err := d.bringUp(x); err != nil {
			return err
		}
	}
	if err := d.startLetschat(); err != nil {
		return err
	}
	if err := d.await("3 hosts: set initiated", d.settled(live)); err != nil {
		return err
	}
	if d.cfg.Auth {
		if err := d.awaitUsers(live); err != nil {
			return err
		}
	}
	writer, err := startDemoWriter(d.ctx, []string{live[0].addr, live[1].addr, live[2].addr}, "letschat", "letschat", d.appPW)
	if err != nil {
		return err
	}
	defer writer.stop()
	d.say("traffic", "a client starts inserting messages with w:majority every 50 ms")

	for _, x := range h[3:5] {
		d.say("metadata", x.name+" joins the mongo service")
		if err := d.bringUp(x); err != nil {
			return err
		}
		live = append(live, x)
		if err := d.await(x.name+" joins the set", d.settled(live)); err != nil {
			return err
		}
	}

	lost := h[1]
	d.say("fault", lost.name+" is lost: its mongod crashes and Rancher removes its container")
	d.stopAgent(lost)
	if err := d.nodes.CrashNode(lost.addr); err != nil {
		return err
	}
	svc := d.tree.Service("demo", "mongo")
	for _, c := range svc.Containers {
		if c.HostUUID == lost.meta.UUID {
			d.tree.RemoveContainer(c.UUID)
			break
		}
	}
	d.meta.SetTree(d.tree)
	live = slices.DeleteFunc(live, func(x *demoHost) bool { return x == lost })
	if err := d.await(lost.name+" removed after the grace", d.settled(live)); err != nil {
		return err
	}

	old := d.view().primary
	var crashed *demoHost
	for _, x := range live {
		if x.addr == old {
			crashed = x
		}
	}
	if crashed == nil {
		return fmt.Errorf("no primary to crash (view: %s)", d.view())
	}
	d.say("fault", "the primary "+crashed.name+" ("+old+") crashes")
	if err := d.nodes.CrashNode(crashed.addr); err != nil {
		return err
	}
	if err := d.await("a new primary takes over", func(v setView) bool {
		return v.primary != "" && v.primary != old
	}); err != nil {
		return err
	}
	d.say("recovery", crashed.name+"'s mongod restarts with its data")
	if err := d.nodes.StartNode(crashed.addr); err != nil {
		return err
	}
	if err := d.await("everything settles", d.settled(live)); err != nil {
		return err
	}

	writer.stop()
	d.mu.Lock()
	restarts := d.restarts
	d.mu.Unlock()
	d.printf("\nSummary (%.1fs):\n%s\n", time.Since(d.start).Seconds(), strings.Join(d.summaries, "\n"))
	d.printf("  final set: %s\n  Let's Chat URI: %s\n  Let's Chat restarts: %d (policy seeds-lost)\n", d.view(), d.currentURI(), restarts)
	d.printf("  MongoDB: %s\n", d.versionSummary())
	if err := d.authSummary(); err != nil {
		return err
	}
	if sim, ok := d.nodes.(*mongosim.Cluster); ok {
		if v := sim.SafetyViolations(); len(v) > 0 {
			return fmt.Errorf("unsafe configs were installed: %s", strings.Join(v, "; "))
		}
		if sim.ForceReconfigApplied() {
			return errors.New("a forced reconfig was applied")
		}
		if lost := sim.LostWrites(); len(lost) > 0 {
			return fmt.Errorf("%d majority-acknowledged writes were lost", len(lost))
		}
		acked := sim.MajorityAcknowledged()
		d.printf("  writes: %d acknowledged by the client (%d failed during failovers), %d majority-committed, %d lost\n",
			writer.acked.Load(), writer.failed.Load(), acked, len(sim.LostWrites()))
		d.printf("  safety: no forced reconfig, no config with more than one voting change, no lost majority write\n")
	} else {
		d.printf("  writes: %d acknowledged by the client (%d failed during failovers); safety audit: emulator only\n", writer.acked.Load(), writer.failed.Load())
	}
	d.printf("\nOK: every step converged.\n")
	return nil
}

// demoChildCommand is the stand-in Let's Chat the demo supervises: it waits for a signal.
const demoChildCommand = "__demo-letschat"

func runDemoChild() int {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	<-sigs
	return 0
}

// awaitUsers waits until every agent of hs has seen both users in place, and says who created
// them: the agent beside the primary, through mongod's localhost exception.
func (d *demo) awaitUsers(hs []*demoHost) error {
	begin := time.Now()
	deadline := begin.Add(d.cfg.StepLimit)
	for {
		done, created := 0, []string{}
		for _, h := range hs {
			if st := h.agent.authOf(); st != nil {
				if st.Done {
					done++
				}
				for _, u := range st.Created {
					created = append(created, h.name+" created "+u)
				}
				if st.Alarm != "" {
					return fmt.Errorf("%s: auth bootstrap alarm: %s", h.name, st.AlarmText)
				}
			}
		}
		if done == len(hs) {
			took := time.Since(begin)
			d.summaries = append(d.summaries, fmt.Sprintf("  %-40s converged in %5.2fs", "first users created, exactly once", took.Seconds()))
			d.say("auth", strings.Join(created, "; ")+" (the admin through the localhost exception)")
			d.say("converged", fmt.Sprintf("every agent logs in as the admin (%.2fs)", took.Seconds()))
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the first users were not in place within %s (%d of %d agents done)", d.cfg.StepLimit, done, len(hs))
		}
		select {
		case <-d.ctx.Done():
			return d.ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// authSummary prints the users the set holds and who created them; on the emulator it fails the
// demo unless the set holds exactly the two users, each created once.
func (d *demo) authSummary() error {
	if !d.cfg.Auth {
		d.printf("  access control: off\n")
		return nil
	}
	// Every host that ever ran an agent, the lost ones too: the creator may be gone since.
	var created []string
	for _, h := range d.hosts {
		if h.agent == nil {
			continue
		}
		if st := h.agent.authOf(); st != nil {
			created = append(created, st.Created...)
		}
	}
	sort.Strings(created)
	d.printf("  access control: on; users created by the agents: %s; Let's Chat's URI carries letschat, never the admin\n", strings.Join(created, ", "))
	sim, ok := d.nodes.(*mongosim.Cluster)
	if !ok {
		return nil
	}
	if want := []string{"admin@admin", "letschat@admin"}; !slices.Equal(created, want) {
		return fmt.Errorf("the agents created %v, want each of %v exactly once", created, want)
	}
	if p := d.view().primary; p != "" {
		names, err := sim.UserNames(p)
		if err != nil {
			return err
		}
		d.printf("  users on the set: %s\n", strings.Join(names, ", "))
	}
	return nil
}
