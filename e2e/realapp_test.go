package e2e

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/replset-agent/replset-agent/mongosim"
	"github.com/replset-agent/replset-agent/mongotest"
)

// TestRealLetschat runs the real Let's Chat 0.4.8 under `replset-agent letschat` against the
// emulated set (MongoDB 5.0) and uses it through its own HTTP API as a user: register, log in,
// get a token, create a room, post and read messages. Then the primary's host is lost: posting
// works again once a new primary is elected, and every message Let's Chat acknowledged is still
// there. Then the remaining seed hosts of its URI are lost one by one: the seeds-lost restart
// brings Let's Chat back on the new URI, with the messages and the session.
//
// It needs node, npm and the fixture (see realAppOrSkip); the installed dependency tree is cached
// between runs by the lockfile's hash. Timings go to the test log.
func TestRealLetschat(t *testing.T) {
	fixture, node := realAppOrSkip(t)
	app := filepath.Join(t.TempDir(), "letschat")
	if err := copyTree(fixture, app); err != nil {
		t.Fatalf("copy %s: %v", fixture, err)
	}
	installTook, fromCache := installApp(t, app, node)
	t.Logf("timing: install %s (from cache: %v)", installTook.Round(10*time.Millisecond), fromCache)

	e := newEnv(t, envOptions{hosts: 5})
	h := e.hosts
	e.addHosts(h[:3]...)
	e.waitSettled("3 hosts", h[:3])

	lc := e.listLetschat("letschat", "seeds-lost", 1)[0]
	port := freePort(t, lc.ip)
	child := []string{"env", "LCB_HTTP_HOST=" + lc.ip, "LCB_HTTP_PORT=" + port, "LCB_XMPP_ENABLE=false", node, "app.js"}
	bootStart := time.Now()
	lc.proc = e.procs.start(lc.name, e.letschatArgs(lc, app, "--uri-options", "w=majority"), child...)
	t.Cleanup(func() { stopRealLetschat(t, lc) })
	c := newAppClient("http://" + net.JoinHostPort(lc.ip, port))
	waitFor(t, "Let's Chat serves /login", 3*time.Minute, func() (bool, string) { return c.up(), "no answer yet" })
	t.Logf("timing: boot (agent start → /login answers) %s", time.Since(bootStart).Round(10*time.Millisecond))

	// A user, as the web page would do it: register, log in (session cookie), get an API token.
	var sm statusMessage
	user := map[string]string{"username": "alice", "email": "alice@example.com", "password": "s3cret-pass", "password-confirm": "s3cret-pass",
		"first-name": "Alice", "last-name": "Liddell", "display-name": "Alice"}
	if code, err := c.call(http.MethodPost, "/account/register", user, false, &sm); err != nil || code != http.StatusCreated || sm.Status != "success" {
		t.Fatalf("register: %d %+v %v", code, sm, err)
	}
	dup := map[string]string{"username": "alice2", "email": "alice@example.com", "password": "s3cret-pass", "password-confirm": "s3cret-pass"}
	if code, err := c.call(http.MethodPost, "/account/register", dup, false, &sm); err != nil || code == http.StatusCreated || sm.Status != "error" {
		t.Fatalf("a second account with the same email (unique index) was accepted: %d %+v %v", code, sm, err)
	}
	if code, err := c.call(http.MethodPost, "/account/login", map[string]string{"username": "alice", "password": "s3cret-pass"}, false, &sm); err != nil || code != http.StatusOK || sm.Status != "success" {
		t.Fatalf("login: %d %+v %v", code, sm, err)
	}
	if code, err := c.call(http.MethodPost, "/account/token/generate", nil, false, &sm); err != nil || code != http.StatusOK || sm.Token == "" {
		t.Fatalf("token: %d %+v %v", code, sm, err)
	}
	c.token = sm.Token
	var room struct {
		ID   string `json:"id"`
		Slug string `json:"slug"`
	}
	if code, err := c.call(http.MethodPost, "/rooms", map[string]string{"name": "General", "slug": "general", "description": "e2e"}, true, &room); err != nil || code != http.StatusCreated || room.ID == "" {
		t.Fatalf("create room: %d %+v %v", code, room, err)
	}
	var acked []appMessage
	for i := range 3 {
		m, err := c.post(room.ID, fmt.Sprintf("hello %d", i))
		if err != nil {
			t.Fatal(err)
		}
		acked = append(acked, m)
	}
	checkMessages(t, c, room.ID, acked)

	// The primary's host is lost. Let's Chat's driver finds the new primary by itself.
	v := e.view()
	primary := e.primaryHost(v)
	if primary == nil {
		t.Fatalf("no primary: %s", v)
	}
	lostAt := e.loseHosts(primary)
	failures := 0
	var firstAfter time.Duration
	// A request caught by the crash may never be answered (Let's Chat's driver drops it), so each
	// attempt gives up after a few seconds, as a user would, and posts again.
	waitFor(t, "a post after the primary was lost", 2*time.Minute, func() (bool, string) {
		m, err := c.postWithin(5*time.Second, room.ID, fmt.Sprintf("after failover %d", failures))
		if err != nil {
			failures++
			return false, err.Error()
		}
		firstAfter = time.Since(lostAt)
		acked = append(acked, m)
		return true, ""
	})
	t.Logf("timing: primary lost → first successful post %s (%d failed or abandoned posts meanwhile, 5 s each at most; election timeout %s)",
		firstAfter.Round(10*time.Millisecond), failures, 500*time.Millisecond)
	for i := range 3 {
		m, err := c.post(room.ID, fmt.Sprintf("steady %d", i))
		if err != nil {
			t.Fatal(err)
		}
		acked = append(acked, m)
	}
	checkMessages(t, c, room.ID, acked)

	// New hosts join; then the old seeds go one at a time (a majority must stay), and with the
	// last one Let's Chat's URI names no member: the seeds-lost policy restarts it on the new URI.
	rest := slices.DeleteFunc(slices.Clone(h[:3]), func(x *host) bool { return x == primary })
	e.addHosts(h[3:5]...)
	e.waitSettled("two hosts joined", append(slices.Clone(rest), h[3:5]...))
	st, err := lc.proc.letschatStatus()
	if err != nil {
		t.Fatal(err)
	}
	firstPID := st.Supervisor.PID
	e.loseHosts(rest[0])
	e.waitSettled("a seed host lost", []*host{rest[1], h[3], h[4]})
	lastSeedAt := e.loseHosts(rest[1])
	var restartedAfter time.Duration
	waitFor(t, "Let's Chat restarted on the new URI", 2*time.Minute, func() (bool, string) {
		restartedAfter = time.Since(lastSeedAt)
		st, err := lc.proc.letschatStatus()
		if err != nil {
			return false, err.Error()
		}
		return st.Supervisor.PID != firstPID && st.Supervisor.PID != 0 && st.Supervisor.State == "running" && slices.Equal(uriHosts(st.Supervisor.ChildURI), addrsOf(h[3:5])),
			fmt.Sprintf("pid %d state %s child URI %s", st.Supervisor.PID, st.Supervisor.State, st.Supervisor.ChildURI)
	})
	waitFor(t, "Let's Chat serves /login again", 3*time.Minute, func() (bool, string) { return c.up(), "no answer yet" })
	servingAfter := time.Since(lastSeedAt)
	var back time.Duration
	failed := 0
	waitFor(t, "a post after the seeds-lost restart", 3*time.Minute, func() (bool, string) {
		m, err := c.postWithin(5*time.Second, room.ID, "after restart")
		if err != nil {
			failed++
			return false, err.Error()
		}
		back = time.Since(lastSeedAt)
		acked = append(acked, m)
		return true, ""
	})
	t.Logf("timing: last seed lost → Let's Chat restarted on the new URI %s → serves /login %s → first successful post %s (%d failed posts)",
		restartedAfter.Round(10*time.Millisecond), servingAfter.Round(10*time.Millisecond), back.Round(10*time.Millisecond), failed)
	checkMessages(t, c, room.ID, acked)
	e.waitSettled("the old seeds removed", h[3:5])

	reportWire(t, e)
	if e.auth() {
		checkAppLogin(t, e, lc)
	}
	if e.obs != nil {
		if v := e.obs.SafetyViolations(); len(v) > 0 {
			t.Errorf("safety: %s", strings.Join(v, "; "))
		}
		if lost := e.obs.LostWrites(); len(lost) > 0 {
			t.Errorf("safety: %d majority-acknowledged writes were rolled back", len(lost))
		}
	}
}

// checkMessages reads the room and checks that every acknowledged message is there.
func checkMessages(t *testing.T, c *appClient, room string, acked []appMessage) {
	t.Helper()
	got, err := c.messages(room)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]string{}
	for _, m := range got {
		have[m.ID] = m.Text
	}
	for _, m := range acked {
		if have[m.ID] != m.Text {
			t.Fatalf("acknowledged message %s %q is missing (room has %d messages)", m.ID, m.Text, len(got))
		}
	}
	t.Logf("all %d acknowledged messages are in the room (%d in all)", len(acked), len(got))
}

// reportWire logs what Let's Chat sent, as the emulator answered it, and fails on any command
// the emulator does not know or refused for its opcode.
func reportWire(t *testing.T, e *env) {
	t.Helper()
	em, ok := e.cluster.(*mongotest.Emulator)
	if !ok {
		return
	}
	var lines []string
	for _, cc := range em.Sim().Commands() {
		op := "OP_MSG"
		if cc.OpQuery {
			op = "OP_QUERY"
		}
		lines = append(lines, fmt.Sprintf("%s %s code=%d ×%d", op, cc.Command, cc.Code, cc.Count))
		if cc.Code == mongosim.CodeCommandNotFound || cc.Code == mongosim.CodeUnsupportedOpQueryCommand {
			t.Errorf("the emulator refused %s %s with %d ×%d", op, cc.Command, cc.Code, cc.Count)
		}
	}
	t.Logf("commands on the wire (agents, probe and Let's Chat):\n  %s", strings.Join(lines, "\n  "))
}

// checkAppLogin checks that Let's Chat logged in as its own user: its URI names that user (never
// the admin), and its 2016 driver's SCRAM-SHA-1 conversation over OP_QUERY succeeded, while no
// legacy command of its was refused for want of a login.
func checkAppLogin(t *testing.T, e *env, lc *lcAgent) {
	t.Helper()
	st, err := lc.proc.letschatStatus()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(st.Supervisor.URI, "mongodb://"+appUser+":") || strings.Contains(st.Supervisor.URI, adminUser+":") {
		t.Errorf("Let's Chat's URI %q does not carry its own user alone", st.Supervisor.URI)
	}
	em, ok := e.cluster.(*mongotest.Emulator)
	if !ok {
		return
	}
	logins := 0
	for _, cc := range em.Sim().Commands() {
		if !cc.OpQuery {
			continue
		}
		switch {
		case cc.Command == "saslStart" && cc.Code == 0:
			logins += cc.Count
		case cc.Code == mongosim.CodeUnauthorized || cc.Code == mongosim.CodeAuthenticationFailed:
			t.Errorf("Let's Chat's OP_QUERY %s was refused with %d ×%d", cc.Command, cc.Code, cc.Count)
		}
	}
	if logins == 0 {
		t.Error("Let's Chat never logged in over OP_QUERY (saslStart)")
	}
	t.Logf("Let's Chat logged in %d times as %s (SCRAM over OP_QUERY)", logins, appUser)
}

// stopRealLetschat stops the agent (which stops Let's Chat), then kills whatever Let's Chat
// process group is left, so that no node process outlives the test.
func stopRealLetschat(t *testing.T, lc *lcAgent) {
	var pids []int
	if st, err := lc.proc.letschatStatus(); err == nil && st.Supervisor.PID > 0 {
		pids = append(pids, st.Supervisor.PID)
	}
	if !lc.proc.terminate(30 * time.Second) {
		lc.proc.kill()
	}
	for _, pid := range pids {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && strings.Contains(string(b), "app.js") {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
	}
}
