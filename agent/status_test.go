package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

// settledEnv brings up n simulated hosts with their mongo agents and waits until the set has
// every one of them.
func settledEnv(t *testing.T, n int) *demo {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d, err := newDemo(ctx, demoConfig{Hosts: n, Grace: 2 * time.Second, StepLimit: 30 * time.Second}, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); d.close() })
	for _, h := range d.hosts {
		if err := d.bringUp(h); err != nil {
			t.Fatal(err)
		}
	}
	d.uri = "mongodb://" + hostList(d.hosts) + "/letschat" // no letschat agent here
	if err := d.await("settle", d.settled(d.hosts)); err != nil {
		t.Fatal(err)
	}
	return d
}

func statusArgs(d *demo, h *demoHost, extra ...string) []string {
	return append([]string{"status", "--metadata-url", d.meta.BaseURL(), "--metadata-source-ip", h.ip, "--mongod-address", h.addr, "--timeout", "10s"}, extra...)
}

func TestStatusCommand(t *testing.T) {
	d := settledEnv(t, 3)
	h := d.hosts[0]

	var out, errb bytes.Buffer
	if code := run(statusArgs(d, h), noEnv, &out, &errb); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	table := out.String()
	for _, want := range []string{"Replica set letschat (stack demo)", "committed", "PRIMARY", "SECONDARY", "host1", h.addr + " *", "Next action: none", "Healthy."} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}

	out.Reset()
	if code := run(statusArgs(d, h, "--json"), noEnv, &out, &errb); code != 0 {
		t.Fatalf("json: exit %d: %s", code, errb.String())
	}
	var rep statusReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("status --json is not JSON: %v\n%s", err, out.String())
	}
	if !rep.Healthy || rep.Primary == "" || len(rep.Members) != 3 || rep.ConfigVersion < 1 || rep.Self != h.addr {
		t.Fatalf("unexpected report: %+v", rep)
	}
	for _, m := range rep.Members {
		if m.Votes == nil || *m.Votes != 1 || m.MetadataState != "running/healthy" {
			t.Errorf("member %+v: want a running, healthy voter", m)
		}
	}

	// Two of three members down: no primary, the command says so and fails.
	for _, x := range d.hosts[1:] {
		d.stopAgent(x)
		d.nodes.CrashNode(x.addr)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		out.Reset()
		code := run(statusArgs(d, h, "--json"), noEnv, &out, &errb)
		rep = statusReport{}
		json.Unmarshal(out.Bytes(), &rep)
		if code == 1 && !rep.Healthy && rep.Primary == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never reported the lost majority; last exit %d: %s", code, out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(rep.Problems) == 0 {
		t.Fatal("unhealthy report without problems")
	}
}

func TestStatusUnreachable(t *testing.T) {
	var out, errb bytes.Buffer
	// Nothing listens on these: both failures must be reported, quickly, with exit 1.
	code := run([]string{"status", "--metadata-url", "http://127.0.0.1:1/2016-07-29", "--mongod-address", "127.0.0.1:1", "--timeout", "3s"}, noEnv, &out, &errb)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if !strings.Contains(out.String(), "metadata") || !strings.Contains(out.String(), "Problems:") {
		t.Fatalf("output does not explain the failure:\n%s", out.String())
	}
}

func TestSecretsStayOutOfStatusAndLogs(t *testing.T) {
	d := settledEnv(t, 3)
	h := d.hosts[0]
	const secret = "Sup3r-s3cret-pw"
	pw := t.TempDir() + "/pw"
	os.WriteFile(pw, []byte(secret+"\n"), 0o600)

	const appSecret = "App-s3cret-pw"
	appPw := t.TempDir() + "/app"
	os.WriteFile(appPw, []byte(appSecret+"\n"), 0o600)

	// The emulator has no users, so every login fails: the error paths, the fallback without
	// credentials and the users' check are what must stay clean.
	var out, errb bytes.Buffer
	run(statusArgs(d, h, "--username", "admin", "--password-file", pw, "--app-password-file", appPw, "--json"), noEnv, &out, &errb)
	if strings.Contains(out.String()+errb.String(), secret) || strings.Contains(out.String()+errb.String(), appSecret) {
		t.Fatalf("status output holds a password:\n%s\n%s", out.String(), errb.String())
	}
	if !strings.Contains(out.String(), `"admin": "admin@admin"`) || !strings.Contains(out.String(), "no admin user yet") {
		t.Fatalf("status does not report the users:\n%s", out.String())
	}

	var logs bytes.Buffer
	cfg := mongoConfig{}
	cfg.options().parse(nil, noEnv)
	cfg.MetadataURL, cfg.SourceIP, cfg.MongodAddress = d.meta.BaseURL(), h.ip, h.addr
	cfg.Username, cfg.Password, cfg.AppPassword = "admin", secret, appSecret
	cfg.Recheck = 100 * time.Millisecond
	cfg.ActionTimeout = 2 * time.Second
	cfg.MetadataSpacing = 10 * time.Millisecond
	// No secrets given to the logger: the redaction hook must not be what keeps the password out.
	role, err := newMongoRole(cfg, mongoOptions{Logger: newLogger(&logs, "debug", "json")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	role.run(ctx)
	cancel()
	srv := httptest.NewServer(role.endpoints().handler())
	defer srv.Close()
	body := get(t, srv.URL+"/status")
	if strings.Contains(logs.String()+body, secret) || strings.Contains(logs.String()+body, appSecret) {
		t.Fatal("a password reached the logs or /status")
	}
	if !strings.Contains(logs.String(), `"component":"bootstrap"`) || !strings.Contains(logs.String(), `"msg":"decision"`) {
		t.Fatalf("the role did not log its bootstrap and decisions:\n%s", logs.String())
	}
	if !strings.Contains(body, `"admin": "admin@admin"`) {
		t.Fatalf("/status does not report the users:\n%s", body)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := httpClient.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// While metadata does not answer, the reconciler is told its desired state may be stale (so it
// removes nothing on its word); when metadata answers again, that is lifted.
func TestMetadataOutageMarksDesiredStale(t *testing.T) {
	d := settledEnv(t, 3)
	rec := d.hosts[0].agent.rec
	staleIs := func(want bool) func() bool {
		return func() bool {
			st := rec.Status()
			return st.Desired != nil && st.Desired.Stale == want && len(st.Desired.Members) == 3
		}
	}
	d.meta.Stop()
	waitUntil(t, "the desired state marked stale", staleIs(true))
	if err := d.meta.Restart(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the desired state fresh again", staleIs(false))
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
