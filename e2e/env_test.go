package e2e

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/replset-agent/replset-agent/metadata/metadatatest"
	"github.com/replset-agent/replset-agent/mongosim"
	"github.com/replset-agent/replset-agent/mongotest"
)

const (
	stackName = "e2e"
	setName   = "letschat"
	// settleTimeout bounds how long the suite waits for the set to converge. It only catches a
	// hang: the suite never asserts how fast convergence is.
	settleTimeout = 90 * time.Second
)

// envOptions shape one scenario's world.
type envOptions struct {
	// hosts is how many host addresses to reserve (the most hosts the scenario uses).
	hosts int
	// grace is the agents' --removal-grace; zero means 2 s.
	grace time.Duration
	// addressSource is the agents' --address-source; "" means host.
	addressSource string
	// mongoFlags are appended to every mongo agent's flags (a later flag wins).
	mongoFlags []string
	// letschatFlags are appended to every letschat agent's flags.
	letschatFlags []string
	// logLevel is the agents' --log-level; "" means info.
	logLevel string
	// noAuth runs the set without access control, as a set deployed before it; by default every
	// mongod refuses clients without credentials, the mongo agents bootstrap the first users and
	// log in as the admin, and Let's Chat's agents put Let's Chat's own user in its URI.
	noAuth bool
	// testCommands starts the nodes with mongod's test commands (configureFailPoint).
	testCommands bool
}

// The scenario's credentials: the admin the agents create and log in as, and Let's Chat's user.
const (
	adminUser = "admin"
	appUser   = "letschat"
)

// host is one simulated Rancher host: a mongod on its own loopback address and the mongo agent
// beside it, which reaches metadata from that address so that metadata knows which host it is.
type host struct {
	name string
	ip   string // the host's loopback IP: the mongod's address and the agent's metadata source IP
	addr string // ip:27017, the member address
	meta *metadatatest.Host
	ctr  *metadatatest.Container // its container in the mongo service; nil when not listed
	// agent is the mongo agent process, nil before the host is up.
	agent *proc
}

// lcAgent is one letschat agent: a container of a Let's Chat service on a host of its own, and
// the agent process supervising a stand-in child that records every start.
type lcAgent struct {
	name    string
	ip      string
	service string
	policy  string
	ctr     *metadatatest.Container
	proc    *proc
	// starts is the file every start of the child appends "pid name uri" to; instances of one
	// service share it, so that its line order is the order of their starts.
	starts string
}

// env is one scenario's world: the fake metadata service and its tree, the replica set's nodes,
// the agent processes, a driver probe and the client writer.
type env struct {
	t       testing.TB
	opts    envOptions
	dir     string
	procs   *procSet
	meta    *metadatatest.Server
	tree    *metadatatest.Tree
	cluster mongotest.Cluster
	obs     mongotest.Observer // nil on real mongod
	probe   *probe
	hosts   []*host
	started []string // every address a node was ever started at, for the probe
	lcIPs   []string
	lcs     []*lcAgent
	writer  *writer
	// mu serializes changes to tree and its publication for a test that also changes it from
	// another goroutine (the health checker of letschat_invariant_test.go); others need not lock.
	mu sync.Mutex
	// With access control: the passwords, and the Rancher-secret-like files holding them.
	adminPW, appPW     string
	adminFile, appFile string
}

// auth reports whether the scenario's set runs with access control.
func (e *env) auth() bool { return !e.opts.noAuth }

func newEnv(t testing.TB, opts envOptions) *env {
	t.Helper()
	if opts.grace == 0 {
		opts.grace = 2 * time.Second
	}
	if opts.addressSource == "" {
		opts.addressSource = "host"
	}
	if opts.logLevel == "" {
		opts.logLevel = "info"
	}
	e := &env{t: t, opts: opts, dir: t.TempDir()}
	if e.auth() {
		// Passwords with characters a URI must escape.
		e.adminPW, e.appPW = "e2e admin:pw/"+rand.Text(), "e2e app@pw%"+rand.Text()
		e.adminFile, e.appFile = filepath.Join(e.dir, "admin-password"), filepath.Join(e.dir, "app-password")
		for f, pw := range map[string]string{e.adminFile: e.adminPW, e.appFile: e.appPW} {
			if err := os.WriteFile(f, []byte(pw+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		e.probe = newProbe(&options.Credential{Username: adminUser, Password: e.adminPW, AuthSource: "admin"})
	} else {
		e.probe = newProbe(nil)
	}
	e.meta = metadatatest.StartT(t, metadatatest.Options{})
	// The suite's set presents MongoDB 5.0, the newest series Let's Chat can use. Each loopback
	// address is a host of its own: only an agent on a node's address gets its localhost
	// exception, as only the agent sharing mongod's network namespace does in Rancher.
	e.cluster = mongotest.New(t, mongotest.Options{SetName: setName, ElectionTimeout: 500 * time.Millisecond, Version: mongosim.Version50,
		Auth: e.auth(), LocalClient: mongosim.SameHostClient, TestCommands: opts.testCommands})
	e.obs, _ = e.cluster.(mongotest.Observer)
	// Cleanups run last-registered first: the safety check (registered at the end) runs while
	// everything is up; then the agents stop, while their mongods still run (an agent's shutdown
	// waits on nodes it cannot reach); then stray children are reaped; then the nodes and the
	// metadata service go.
	t.Cleanup(e.reapChildren)
	e.procs = newProcSet(t)
	t.Cleanup(e.probe.close)
	e.tree = metadatatest.NewTree()
	e.tree.AddService(stackName, "mongo")
	for i, a := range mongotest.Addrs(t, opts.hosts) {
		ip, _, _ := net.SplitHostPort(a)
		e.hosts = append(e.hosts, &host{name: fmt.Sprintf("host%d", i+1), ip: ip, addr: a})
	}
	// Let's Chat agents need source addresses of their own; the port in these is never used.
	for _, a := range mongotest.Addrs(t, 8) {
		ip, _, _ := net.SplitHostPort(a)
		e.lcIPs = append(e.lcIPs, ip)
	}
	e.publish()
	t.Cleanup(func() {
		if e.writer != nil {
			e.checkSafety(t)
			e.writer.close()
		}
	})
	return e
}

// publish serves the current tree as a new metadata version.
func (e *env) publish() string { return e.meta.SetTree(e.tree) }

func (e *env) mongoArgs(h *host) []string {
	args := []string{"mongo",
		"--metadata-url", e.meta.BaseURL(),
		"--metadata-source-ip", h.ip,
		"--mongod-address", h.addr,
		"--replset", setName,
		"--address-source", e.opts.addressSource,
		"--recheck-interval", "300ms",
		"--removal-grace", e.opts.grace.String(),
		"--initiate-settle", "500ms",
		"--metadata-min-interval", "50ms",
		"--metadata-backoff-cap", "1s",
		"--heartbeat-interval", "500ms",
		"--action-timeout", "5s",
		"--step-down-period", "2s",
		"--no-primary-alarm", "5s",
		"--log-level", e.opts.logLevel,
	}
	if e.auth() {
		// The agent's connections leave from its host's address, as beside mongod in Rancher.
		args = append(args, "--username", adminUser, "--password-file", e.adminFile, "--app-password-file", e.appFile, "--mongo-source-ip", h.ip)
	}
	return append(args, e.opts.mongoFlags...)
}

// forgetNode stops watching the node at addr, crashed and removed for good: the probe no longer
// reads it.
func (e *env) forgetNode(addr string) {
	e.started = slices.DeleteFunc(e.started, func(a string) bool { return a == addr })
	e.probe.drop(addr)
}

// addHosts brings hosts up: mongod started, host and mongo container listed in metadata (one
// version for all of them), then their agents.
func (e *env) addHosts(hs ...*host) {
	e.t.Helper()
	for _, h := range hs {
		e.startNode(h.addr)
		e.list(h)
	}
	e.publish()
	for _, h := range hs {
		e.startAgent(h)
	}
}

func (e *env) startNode(addr string) {
	e.t.Helper()
	if err := e.cluster.StartNode(addr); err != nil {
		e.t.Fatalf("start mongod %s: %v", addr, err)
	}
	if !slices.Contains(e.started, addr) {
		e.started = append(e.started, addr)
	}
}

// list adds h and its mongo container to the tree (not yet published). With the container
// address source the member address is the container's primary IP, so the container gets the
// host's loopback IP and the host a fake agent IP.
func (e *env) list(h *host) {
	agentIP := h.ip
	if e.opts.addressSource == "container" {
		agentIP = "10.99." + strings.Join(strings.Split(h.ip, ".")[2:], ".")
	}
	if h.meta == nil {
		h.meta = e.tree.AddHost(h.name, agentIP)
	}
	h.ctr = e.tree.Service(stackName, "mongo").AddContainer(h.meta)
	if e.opts.addressSource == "container" {
		h.ctr.PrimaryIP, h.ctr.IPs = h.ip, []string{h.ip}
	}
	// The agent is its mongo container (or its sidekick) to metadata: an agent metadata knows
	// only by host waits for its container, as it must on a real server.
	e.meta.SetSelf(h.ip, metadatatest.Self{ContainerUUID: h.ctr.UUID})
}

func (e *env) startAgent(h *host) {
	e.t.Helper()
	h.agent = e.procs.start(h.name, e.mongoArgs(h))
}

// loseHosts makes hosts vanish as a failed machine does: agent killed, mongod crashed, container
// and host gone from metadata in one version. It returns when metadata was changed.
func (e *env) loseHosts(hs ...*host) time.Time {
	e.t.Helper()
	for _, h := range hs {
		if h.agent != nil {
			h.agent.kill()
		}
		if err := e.cluster.CrashNode(h.addr); err != nil {
			e.t.Fatalf("crash %s: %v", h.addr, err)
		}
		e.unlist(h)
	}
	at := time.Now()
	e.publish()
	return at
}

func (e *env) unlist(h *host) {
	if h.ctr != nil {
		e.tree.RemoveContainer(h.ctr.UUID)
		h.ctr = nil
	}
	if h.meta != nil {
		e.tree.RemoveHost(h.meta.UUID)
		h.meta = nil
	}
	e.meta.ClearSelf(h.ip)
}

func addrsOf(hs []*host) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.addr
	}
	return out
}

// view reads the set through the driver from every node ever started.
func (e *env) view() setView {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return e.probe.view(ctx, e.started)
}

// waitSettled waits until the set is exactly hs, settled, and every letschat agent's current
// URI names exactly the same hosts.
func (e *env) waitSettled(what string, hs []*host) setView {
	e.t.Helper()
	var v setView
	want := addrsOf(hs)
	begin := time.Now()
	defer func() { e.t.Logf("%s: settled after %s", what, time.Since(begin).Round(10*time.Millisecond)) }()
	waitFor(e.t, what, settleTimeout, func() (bool, string) {
		v = e.view()
		if ok, why := settledOn(v, want); !ok {
			return false, why
		}
		for _, lc := range e.lcs {
			st, err := lc.proc.letschatStatus()
			if err != nil {
				return false, lc.name + ": " + err.Error()
			}
			if !slices.Equal(st.Supervisor.Hosts, slices.Sorted(slices.Values(want))) {
				return false, fmt.Sprintf("%s: URI hosts %v", lc.name, st.Supervisor.Hosts)
			}
		}
		return true, ""
	})
	return v
}

// startWriter starts the client traffic; call it once the set has a primary.
func (e *env) startWriter(seeds []*host) {
	e.t.Helper()
	var cred *options.Credential
	if e.auth() {
		// As Let's Chat: its own user, readWrite on its database only.
		cred = &options.Credential{Username: appUser, Password: e.appPW, AuthSource: "admin"}
	}
	w, err := startWriter(addrsOf(seeds), setName, cred)
	if err != nil {
		e.t.Fatal(err)
	}
	e.writer = w
	// Wait for a first acknowledged write, so that "nothing lost" is never vacuous.
	waitFor(e.t, "first majority write", settleTimeout, func() (bool, string) {
		acked, failed := w.counts()
		return acked > 0, fmt.Sprintf("%d failed writes", failed)
	})
}

// checkSafety asserts what must hold after every scenario: no acknowledged majority write is
// missing from the set, and (emulator) no unsafe config was ever installed, no forced reconfig
// happened, no majority write was rolled back.
func (e *env) checkSafety(t testing.TB) {
	t.Helper()
	if e.writer != nil {
		missing, err := e.writer.verify(context.Background())
		acked, failed := e.writer.counts()
		switch {
		case err != nil:
			t.Errorf("safety: %v", err)
		case len(missing) > 0:
			t.Errorf("safety: %d of %d majority-acknowledged writes are missing: %v", len(missing), acked, missing)
		default:
			t.Logf("safety: %d majority writes acknowledged (%d failed during changes), none lost", acked, failed)
		}
	}
	if e.obs == nil {
		t.Logf("safety: real mongod; the emulator's history checks are skipped")
		return
	}
	if v := e.obs.SafetyViolations(); len(v) > 0 {
		t.Errorf("safety: unsafe history: %s", strings.Join(v, "; "))
	}
	if e.obs.ForceReconfigApplied() {
		t.Errorf("safety: a forced reconfig was applied")
	}
	if lost := e.obs.LostWrites(); len(lost) > 0 {
		t.Errorf("safety: %d majority-acknowledged writes were rolled back", len(lost))
	}
}

// addLetschat adds n instances of a Let's Chat service with the restart policy and starts their
// agents. Each instance has a host of its own that never leaves metadata.
func (e *env) addLetschat(service, policy string, n int, extra ...string) []*lcAgent {
	e.t.Helper()
	out := e.listLetschat(service, policy, n)
	for _, lc := range out {
		dir := filepath.Join(e.dir, lc.name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			e.t.Fatal(err)
		}
		// The stand-in Let's Chat records its process group (its pid: the supervisor gives it a
		// group of its own), its instance and the URI it got, then sleeps until stopped.
		script := fmt.Sprintf(`echo "$$ %s $LCB_DATABASE_URI" >> %q; exec sleep 600`, lc.name, lc.starts)
		lc.proc = e.procs.start(lc.name, e.letschatArgs(lc, dir, append([]string{"--ready-url", "none"}, extra...)...), "sh", "-c", script)
	}
	return out
}

// listLetschat adds a Let's Chat service with n containers to metadata, each on a host of its
// own, and publishes it; the agents are not started.
func (e *env) listLetschat(service, policy string, n int) []*lcAgent {
	e.t.Helper()
	svc := e.tree.AddService(stackName, service)
	starts := filepath.Join(e.dir, service+".starts")
	var out []*lcAgent
	for range n {
		ip := e.lcIPs[len(e.lcs)]
		lc := &lcAgent{name: fmt.Sprintf("%s-%d", service, len(out)), ip: ip, service: service, policy: policy, starts: starts}
		hostMeta := e.tree.AddHost("lc-"+lc.name, ip)
		lc.ctr = svc.AddContainer(hostMeta)
		lc.ctr.PrimaryIP, lc.ctr.IPs = ip, []string{ip}
		e.meta.SetSelf(ip, metadatatest.Self{ContainerUUID: lc.ctr.UUID})
		e.lcs = append(e.lcs, lc)
		out = append(out, lc)
	}
	e.publish()
	return out
}

// letschatArgs is a letschat agent's command line for instance lc, running its child in dir.
func (e *env) letschatArgs(lc *lcAgent, dir string, extra ...string) []string {
	args := []string{"letschat",
		"--metadata-url", e.meta.BaseURL(),
		"--metadata-source-ip", lc.ip,
		"--letschat-service", lc.service,
		"--replset", setName,
		"--address-source", e.opts.addressSource,
		"--restart-policy", lc.policy,
		"--dir", dir,
		"--settle-delay", "200ms",
		"--min-restart-interval", "1s",
		"--stagger", "2s",
		"--kill-timeout", "2s",
		"--cookie-secret", "e2e-cookie-secret-0123456789",
		"--metadata-min-interval", "50ms",
		"--metadata-backoff-cap", "1s",
		"--log-level", e.opts.logLevel,
	}
	if e.auth() {
		args = append(args, "--app-password-file", e.appFile)
	}
	return append(append(args, e.opts.letschatFlags...), extra...)
}

// childStart is one start of a stand-in Let's Chat, from its service's starts file.
type childStart struct {
	pid      int
	instance string
	hosts    []string // sorted hosts of the URI it was started with
}

func readStarts(path string) []childStart {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []childStart
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		pid, _ := strconv.Atoi(f[0])
		s := childStart{pid: pid, instance: f[1]}
		if len(f) > 2 {
			s.hosts = uriHosts(f[2])
		}
		out = append(out, s)
	}
	return out
}

// startsOf returns the starts of one instance, in order.
func (lc *lcAgent) startsOf() []childStart {
	var out []childStart
	for _, s := range readStarts(lc.starts) {
		if s.instance == lc.name {
			out = append(out, s)
		}
	}
	return out
}

// uriHosts returns the sorted hosts of a mongodb:// URI.
func uriHosts(uri string) []string {
	rest, ok := strings.CutPrefix(uri, "mongodb://")
	if !ok {
		return nil
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		rest = rest[at+1:]
	}
	hosts, _, _ := strings.Cut(rest, "/")
	return slices.Sorted(slices.Values(strings.Split(hosts, ",")))
}

// reapChildren kills any stand-in Let's Chat still alive once the agents are gone (an agent
// killed with SIGKILL cannot stop its child), so that no process outlives the test.
func (e *env) reapChildren() {
	seen := map[string]bool{}
	for _, lc := range e.lcs {
		if seen[lc.starts] {
			continue
		}
		seen[lc.starts] = true
		for _, s := range readStarts(lc.starts) {
			cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", s.pid))
			if err == nil && strings.Contains(string(cmdline), "sleep") {
				_ = syscall.Kill(-s.pid, syscall.SIGKILL)
			}
		}
	}
}

// sumOver returns the sum over procs of the named series.
func sumOver(t testing.TB, procs []*proc, name string, filter ...string) float64 {
	t.Helper()
	var sum float64
	for _, p := range procs {
		v, err := p.metric(name, filter...)
		if err != nil {
			t.Fatalf("%s /metrics: %v", p.name, err)
		}
		sum += v
	}
	return sum
}

// agents returns the running mongo agents of hs.
func agents(hs []*host) []*proc {
	var out []*proc
	for _, h := range hs {
		if h.agent != nil && h.agent.running() {
			out = append(out, h.agent)
		}
	}
	return out
}

// primaryHost returns the host whose mongod is primary in v.
func (e *env) primaryHost(v setView) *host {
	for _, h := range e.hosts {
		if h.addr == v.Primary {
			return h
		}
	}
	return nil
}
