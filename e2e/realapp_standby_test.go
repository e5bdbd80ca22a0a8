package e2e

import (
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestRealLetschatActiveStandby runs two real Let's Chat 0.4.8 instances under `replset-agent
// letschat --instances active-standby`, with Rancher's health check played against the agents'
// /readyz, and forces a policy restart of both (policy always, a host joins): the standby restarts
// first, then the serving instance hands over to it and restarts. A sampler polls both /readyz
// throughout; at no sample may neither be ready. A user posts through the serving instance before
// and reads through the new one after: the messages are there (one database).
//
// It needs node, npm and the fixture (see realAppOrSkip). Timings go to the test log.
func TestRealLetschatActiveStandby(t *testing.T) {
	fixture, node := realAppOrSkip(t)
	begin := time.Now()
	app := filepath.Join(t.TempDir(), "letschat")
	if err := copyTree(fixture, app); err != nil {
		t.Fatalf("copy %s: %v", fixture, err)
	}
	installTook, fromCache := installApp(t, app, node)
	t.Logf("timing: install %s (from cache: %v)", installTook.Round(10*time.Millisecond), fromCache)

	e := newEnv(t, envOptions{hosts: 4})
	h := e.hosts
	e.mu.Lock()
	e.addHosts(h[:3]...)
	e.mu.Unlock()
	e.waitSettled("3 hosts", h[:3])

	e.mu.Lock()
	lcs := e.listLetschat("letschat", "always", 2)
	for _, lc := range lcs {
		lc.ctr.HealthState = "initializing"
	}
	e.publish()
	e.mu.Unlock()
	var insts []*chatInstance
	clients := map[string]*appClient{}
	for _, lc := range lcs {
		port := freePort(t, lc.ip)
		addr := net.JoinHostPort(lc.ip, port)
		// Real Let's Chat boots for seconds on this machine: generous bounds, the handover delay
		// covering the played health check (3 × 200 ms + 200 ms).
		args := e.letschatArgs(lc, app, "--instances", "active-standby", "--ready-url", "http://"+addr+"/login",
			"--stagger", "2s", "--gate-retry", "500ms", "--handover-delay", "1s", "--handover-timeout", "60s",
			"--ready-timeout", "3m", "--kill-timeout", "10s", "--uri-options", "w=majority")
		child := []string{"env", "LCB_HTTP_HOST=" + lc.ip, "LCB_HTTP_PORT=" + port, "LCB_XMPP_ENABLE=false", node, "app.js"}
		lc.proc = e.procs.start(lc.name, args, child...)
		t.Cleanup(func() { stopRealLetschat(t, lc) })
		insts = append(insts, &chatInstance{lcAgent: lc, http: addr})
		clients[lc.name] = newAppClient("http://" + addr)
	}
	checker := startHealthChecker(e, 200*time.Millisecond, 2, 3, insts)
	sampler := startReadySampler(t, 50*time.Millisecond, map[string][]*chatInstance{"letschat": insts})
	serving := func() []*chatInstance {
		var out []*chatInstance
		for _, ci := range insts {
			if readyzOK(ci.proc, 3*time.Second) {
				out = append(out, ci)
			}
		}
		return out
	}
	bootStart := time.Now()
	var active *chatInstance
	waitFor(t, "one Let's Chat serves, the other warm", 4*time.Minute, func() (bool, string) {
		s := serving()
		if len(s) != 1 || checker.health(s[0].name) != "healthy" {
			return false, fmt.Sprintf("%d serving", len(s))
		}
		for _, ci := range insts {
			st, err := ci.proc.letschatStatus()
			if err != nil || st.Supervisor.State != "running" {
				return false, ci.name + " not running"
			}
		}
		// The standby's own Let's Chat answers too: it is warm.
		for _, ci := range insts {
			if ci != s[0] && !clients[ci.name].up() {
				return false, ci.name + " is not warm yet"
			}
		}
		active = s[0]
		return true, ""
	})
	t.Logf("timing: both booted, %s serves, after %s", active.name, time.Since(bootStart).Round(10*time.Millisecond))
	from := time.Now()

	// A user on the serving instance.
	c := clients[active.name]
	var sm statusMessage
	user := map[string]string{"username": "bob", "email": "bob@example.com", "password": "s3cret-pass", "password-confirm": "s3cret-pass",
		"first-name": "Bob", "last-name": "B", "display-name": "Bob"}
	if code, err := c.call(http.MethodPost, "/account/register", user, false, &sm); err != nil || code != http.StatusCreated {
		t.Fatalf("register: %d %+v %v", code, sm, err)
	}
	if code, err := c.call(http.MethodPost, "/account/login", map[string]string{"username": "bob", "password": "s3cret-pass"}, false, &sm); err != nil || code != http.StatusOK {
		t.Fatalf("login: %d %+v %v", code, sm, err)
	}
	if code, err := c.call(http.MethodPost, "/account/token/generate", nil, false, &sm); err != nil || sm.Token == "" {
		t.Fatalf("token: %d %+v %v", code, sm, err)
	}
	c.token = sm.Token
	var room struct {
		ID string `json:"id"`
	}
	if code, err := c.call(http.MethodPost, "/rooms", map[string]string{"name": "Ops", "slug": "ops", "description": "e2e"}, true, &room); err != nil || room.ID == "" {
		t.Fatalf("create room: %d %v", code, err)
	}
	m, err := c.post(room.ID, "before the handover")
	if err != nil {
		t.Fatal(err)
	}

	// A host joins: the URI's hosts change, so policy always restarts both, standby first.
	changeAt := time.Now()
	e.mu.Lock()
	e.startNode(h[3].addr)
	e.list(h[3])
	e.publish()
	e.mu.Unlock()
	e.startAgent(h[3])
	e.waitSettled("host 4 joined", h[:4])
	want := slices.Sorted(slices.Values(addrsOf(h[:4])))
	var successor *chatInstance
	waitFor(t, "both restarted on the new URI, the other instance serving", 6*time.Minute, func() (bool, string) {
		for _, ci := range insts {
			st, err := ci.proc.letschatStatus()
			if err != nil {
				return false, err.Error()
			}
			if st.Supervisor.State != "running" || st.Supervisor.Pending != "" || !slices.Equal(uriHosts(st.Supervisor.ChildURI), want) {
				return false, fmt.Sprintf("%s: %+v", ci.name, st.Supervisor)
			}
		}
		s := serving()
		if len(s) != 1 {
			return false, fmt.Sprintf("%d serving", len(s))
		}
		successor = s[0]
		return successor != active, successor.name + " serves"
	})
	t.Logf("timing: host joined → both restarted, %s serving: %s", successor.name, time.Since(changeAt).Round(10*time.Millisecond))
	to := time.Now()
	longest, zero, total := sampler.noneReady("letschat", from, to)
	t.Logf("no Let's Chat ready in %d of %d samples (every 50 ms), longest such run %s; at most %d ready at once",
		zero, total, longest.Round(time.Millisecond), sampler.mostReady("letschat", from, to))
	if zero > 0 {
		t.Errorf("%d samples with no Let's Chat ready (longest run %s)", zero, longest)
	}
	for _, ci := range insts {
		for _, l := range ci.proc.logLines() {
			if msg := fmt.Sprint(l["msg"]); strings.HasPrefix(msg, "handover") || strings.HasPrefix(msg, "took over") || msg == "restarting Let's Chat" {
				t.Logf("  %s %s: %s", l["time"], ci.name, msg)
			}
		}
	}

	// The same user, through the instance that serves now: the session was on the old one, so
	// log in again (as a browser sent to another instance would keep its cookie: sessions are in
	// MongoDB); the message is there, and posting works.
	c2 := clients[successor.name]
	if code, err := c2.call(http.MethodPost, "/account/login", map[string]string{"username": "bob", "password": "s3cret-pass"}, false, &sm); err != nil || code != http.StatusOK {
		t.Fatalf("login on %s: %d %v", successor.name, code, err)
	}
	c2.token = c.token
	m2, err := c2.post(room.ID, "after the handover")
	if err != nil {
		t.Fatal(err)
	}
	checkMessages(t, c2, room.ID, []appMessage{m, m2})
	t.Logf("timing: whole test %s", time.Since(begin).Round(100*time.Millisecond))
}
