package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/replset-agent/replset-agent/mongosim"
)

// settledAuthEnv is settledEnv with access control on: the agents bootstrap the first users, and
// it returns once every agent has seen them in place.
func settledAuthEnv(t *testing.T, n int) *demo {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d, err := newDemo(ctx, demoConfig{Hosts: n, Grace: 2 * time.Second, StepLimit: 60 * time.Second, Auth: true}, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); d.close() })
	for _, h := range d.hosts {
		if err := d.bringUp(h); err != nil {
			t.Fatal(err)
		}
	}
	d.uri = "mongodb://" + hostList(d.hosts) + "/letschat"
	if err := d.await("settle", d.settled(d.hosts)); err != nil {
		t.Fatal(err)
	}
	if err := d.awaitUsers(d.hosts); err != nil {
		t.Fatal(err)
	}
	return d
}

// With access control the set is initiated, its first users are created once by the agent beside
// the primary, every agent reports it (/status, replset_agent_auth_bootstrap_done, the log) and
// logs in as the admin from then on; `status` with the credentials says the users are in place.
func TestMongoRoleBootstrapsTheFirstUsers(t *testing.T) {
	d := settledAuthEnv(t, 3)
	var created []string
	for _, h := range d.hosts {
		srv := httptest.NewServer(h.agent.endpoints().handler())
		body := get(t, srv.URL+"/status")
		metrics := get(t, srv.URL+"/metrics")
		srv.Close()
		var st mongoRoleStatus
		if err := json.Unmarshal([]byte(body), &st); err != nil {
			t.Fatalf("%s /status: %v", h.name, err)
		}
		a := st.Auth
		if a == nil || !a.Done || a.Alarm != "" || a.Admin != "admin@admin" || a.App != "letschat@admin" || a.Database != "letschat" {
			t.Fatalf("%s /status auth: %+v", h.name, a)
		}
		if slices.Contains(a.LoginRefused, h.addr) {
			t.Errorf("%s still uses its own node without logging in: %v", h.name, a.LoginRefused)
		}
		created = append(created, a.Created...)
		if v := metricValue(t, metrics, "replset_agent_auth_bootstrap_done"); v != 1 {
			t.Errorf("%s replset_agent_auth_bootstrap_done = %v", h.name, v)
		}
		if v := metricValue(t, metrics, "replset_agent_auth_bootstrap_alarm"); v != 0 {
			t.Errorf("%s replset_agent_auth_bootstrap_alarm = %v", h.name, v)
		}
		if !st.Healthy {
			t.Errorf("%s unhealthy: %v", h.name, st.Problems)
		}
		for _, secret := range []string{d.adminPW, d.appPW} {
			if strings.Contains(body+metrics, secret) {
				t.Errorf("%s: a password reached /status or /metrics", h.name)
			}
		}
	}
	if strings.Join(created, ",") != "admin@admin,letschat@admin" {
		t.Errorf("users created by the agents: %v, want each once, by one agent", created)
	}

	dir := t.TempDir()
	pw, app := filepath.Join(dir, "pw"), filepath.Join(dir, "app")
	os.WriteFile(pw, []byte(d.adminPW+"\n"), 0o600)
	os.WriteFile(app, []byte(d.appPW+"\n"), 0o600)
	h := d.hosts[0]
	creds := []string{"--username", "admin", "--password-file", pw, "--app-password-file", app, "--mongo-source-ip", h.ip}
	var out, errb bytes.Buffer
	if code := run(statusArgs(d, h, creds...), noEnv, &out, &errb); code != 0 {
		t.Fatalf("status with the credentials: exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	for _, want := range []string{"Access control on", "Users admin@admin and letschat@admin (readWrite on letschat) exist and log in", "Healthy."} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}
	// Without credentials mongod tells the status command nothing but hello: it fails, saying so.
	out.Reset()
	if code := run(statusArgs(d, h), noEnv, &out, &errb); code != 1 || !strings.Contains(out.String(), "Unauthorized") {
		t.Errorf("status without credentials: exit %d, want 1 naming Unauthorized:\n%s", code, out.String())
	}
	if strings.Contains(out.String()+errb.String(), d.adminPW) || strings.Contains(out.String()+errb.String(), d.appPW) {
		t.Error("a password reached the status output")
	}
}

// An agent given another admin password than the set's admin has raises the bootstrap alarm
// (log, /status, replset_agent_auth_bootstrap_alarm, `status`) and creates nothing.
func TestMongoRoleAlarmsOnUsersItDoesNotOwn(t *testing.T) {
	d := settledAuthEnv(t, 3)
	var p *demoHost
	for _, h := range d.hosts {
		if h.addr == d.view().primary {
			p = h
		}
	}
	if p == nil {
		t.Fatal("no primary")
	}
	var logs syncBuffer
	cfg := mongoConfig{}
	cfg.options().parse(nil, noEnv)
	cfg.MetadataURL, cfg.SourceIP, cfg.MongodAddress, cfg.MongoSourceIP = d.meta.BaseURL(), p.ip, p.addr, p.ip
	cfg.Username, cfg.Password, cfg.AppPassword = "admin", "not-the-admin-password", d.appPW
	cfg.Recheck = 100 * time.Millisecond
	cfg.ActionTimeout = 5 * time.Second
	cfg.MetadataSpacing = 10 * time.Millisecond
	role, err := newMongoRole(cfg, mongoOptions{Logger: newLogger(&logs, "info", "json")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); role.run(ctx) }()
	defer func() { cancel(); <-done }()
	srv := httptest.NewServer(role.endpoints().handler())
	defer srv.Close()
	waitUntil(t, "the bootstrap alarm", func() bool {
		return metricValue(t, get(t, srv.URL+"/metrics"), "replset_agent_auth_bootstrap_alarm") == 1
	})
	var st mongoRoleStatus
	json.Unmarshal([]byte(get(t, srv.URL+"/status")), &st)
	if st.Auth == nil || st.Auth.Alarm != alarmAdminRejected || st.Auth.Done || len(st.Auth.Created) != 0 || st.Healthy {
		t.Fatalf("/status: %+v healthy=%v", st.Auth, st.Healthy)
	}
	if !strings.Contains(strings.Join(st.Problems, "\n"), "AUTH BOOTSTRAP") {
		t.Errorf("problems %v lack the alarm", st.Problems)
	}
	if !strings.Contains(logs.String(), "AUTH BOOTSTRAP ALARM") || strings.Contains(logs.String(), "not-the-admin-password") {
		t.Errorf("logs:\n%s", logs.String())
	}
	if names, _ := d.nodes.(*mongosim.Cluster).UserNames(p.addr); strings.Join(names, ",") != "admin.admin,admin.letschat" {
		t.Errorf("users %v: the agent must create nothing", names)
	}
	dir := t.TempDir()
	pw, app := filepath.Join(dir, "pw"), filepath.Join(dir, "app")
	os.WriteFile(pw, []byte("not-the-admin-password\n"), 0o600)
	os.WriteFile(app, []byte(d.appPW+"\n"), 0o600)
	var out, errb bytes.Buffer
	code := run(statusArgs(d, p, "--username", "admin", "--password-file", pw, "--app-password-file", app, "--mongo-source-ip", p.ip), noEnv, &out, &errb)
	if code != 1 || !strings.Contains(out.String(), "AUTH BOOTSTRAP") || !strings.Contains(out.String(), "ALARM (admin-rejected)") {
		t.Errorf("status: exit %d, want 1 with the alarm:\n%s", code, out.String())
	}
}
