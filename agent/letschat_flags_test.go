package agent

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/replset-agent/replset-agent/lcconfig"
)

// Every bad letschat value exits 2 with a message naming the flag and its variable, before
// anything runs; secrets are never echoed.
func TestLetschatCommand_badValuesExit2(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, bytes.Repeat([]byte("x"), 4097), 0o600); err != nil {
		t.Fatal(err)
	}
	dupBase := filepath.Join(dir, "base.yml")
	if err := os.WriteFile(dupBase, []byte("database:\n  uri: a\nhttp:\n  port: 1\ndatabase:\n  uri: b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ok := []string{"--dir", dir, "--cookie-secret", testCookie, "--metadata-url", "http://127.0.0.1:1/2016-07-29"}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"database with a slash", []string{"--database", "chat/db"}, []string{"--database", "LETSCHAT_DATABASE"}},
		{"uri option value the driver cannot read", []string{"--uri-options", "readPreference=primary preferred"}, []string{"--uri-options", "LETSCHAT_URI_OPTIONS"}},
		{"uri options that do not parse", []string{"--uri-options", "a=%zz"}, []string{"--uri-options", "LETSCHAT_URI_OPTIONS"}},
		{"uri options setting the set name", []string{"--uri-options", "replicaSet=x"}, []string{"--uri-options", "own flag"}},
		{"set name Let's Chat's URI cannot carry", []string{"--replset", "chat+rs"}, []string{"--replset", "REPLSET_NAME"}},
		{"auth source", []string{"--app-password", "pw", "--auth-source", "ad min"}, []string{"--auth-source", "MONGO_AUTH_SOURCE"}},
		{"empty app user with a password", []string{"--app-password", "pw", "--app-username", ""}, []string{"--app-username", "LETSCHAT_DB_USERNAME"}},
		{"app password file too large", []string{"--app-password-file", big}, []string{"--app-password-file", "LETSCHAT_DB_PASSWORD_FILE", "4 KiB"}},
		{"cookie secret: the public default", []string{"--cookie-secret", "secretsauce"}, []string{"--cookie-secret", "LETSCHAT_COOKIE_SECRET", "public default"}},
		{"cookie secret: number-like", []string{"--cookie-secret", "31415x"}, []string{"--cookie-secret", "LETSCHAT_COOKIE_SECRET", "number"}},
		{"cookie secret file missing", []string{"--cookie-secret-file", filepath.Join(dir, "nope")}, []string{"--cookie-secret-file", "LETSCHAT_COOKIE_SECRET_FILE"}},
		{"cookie secret file too large", []string{"--cookie-secret-file", big}, []string{"--cookie-secret-file", "LETSCHAT_COOKIE_SECRET_FILE", "4 KiB"}},
		{"working directory missing", []string{"--dir", filepath.Join(dir, "nope")}, []string{"--dir", "LETSCHAT_DIR"}},
		{"base settings Let's Chat would refuse", []string{"--delivery", "settings", "--base-settings", dupBase}, []string{"--base-settings", "LETSCHAT_BASE_SETTINGS", dupBase + ":5", `duplicated key "database"`}},
		{"ready URL", []string{"--ready-url", "ftp://x"}, []string{"--ready-url", "LETSCHAT_READY_URL"}},
		{"healthy run", []string{"--healthy-run", "0s"}, []string{"--healthy-run", "LETSCHAT_HEALTHY_RUN"}},
		{"ready timeout", []string{"--ready-timeout", "0s"}, []string{"--ready-timeout", "LETSCHAT_READY_TIMEOUT"}},
		{"instances", []string{"--instances", "hot-standby"}, []string{"--instances", "LETSCHAT_INSTANCES"}},
		{"active-standby without the lease", []string{"--instances", "active-standby", "--restart-gate", "none"}, []string{"--restart-gate", "LETSCHAT_RESTART_GATE", "--instances"}},
		{"restart gate", []string{"--restart-gate", "memory"}, []string{"--restart-gate", "LETSCHAT_RESTART_GATE"}},
		{"handover delay", []string{"--handover-delay", "0s"}, []string{"--handover-delay", "LETSCHAT_HANDOVER_DELAY"}},
		{"handover timeout", []string{"--handover-timeout", "-1s"}, []string{"--handover-timeout", "LETSCHAT_HANDOVER_TIMEOUT"}},
		{"lease TTL", []string{"--lease-ttl", "0s"}, []string{"--lease-ttl", "LETSCHAT_LEASE_TTL"}},
		{"gate retry", []string{"--gate-retry", "0s"}, []string{"--gate-retry", "LETSCHAT_GATE_RETRY"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var errb bytes.Buffer
			args := append(append([]string{"letschat"}, ok...), tc.args...)
			if code := run(args, noEnv, &bytes.Buffer{}, &errb); code != 2 {
				t.Fatalf("exit %d, want 2\n%s", code, errb.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(errb.String(), w) {
					t.Errorf("message lacks %q:\n%s", w, errb.String())
				}
			}
			for _, secret := range []string{"31415x", "secretsauce\n", "xxxxxxxxxxxx"} {
				if strings.Contains(errb.String(), secret) {
					t.Errorf("message echoes a secret:\n%s", errb.String())
				}
			}
		})
	}
}

// Without a cookie secret Let's Chat would sign sessions with its public default: refused, exit 2,
// saying why and how to fix it. The same values from the environment are read the same way.
func TestLetschatCommand_requiresCookieSecret(t *testing.T) {
	dir := t.TempDir()
	var errb bytes.Buffer
	args := []string{"letschat", "--dir", dir, "--metadata-url", "http://127.0.0.1:1/2016-07-29"}
	if code := run(args, noEnv, &bytes.Buffer{}, &errb); code != 2 {
		t.Fatalf("exit %d, want 2\n%s", code, errb.String())
	}
	for _, w := range []string{"--cookie-secret-file", "LETSCHAT_COOKIE_SECRET_FILE", "LETSCHAT_COOKIE_SECRET", "secretsauce"} {
		if !strings.Contains(errb.String(), w) {
			t.Errorf("message lacks %q:\n%s", w, errb.String())
		}
	}
	env := envMap(map[string]string{"LETSCHAT_DIR": dir, "LETSCHAT_COOKIE_SECRET": "12345"})
	errb.Reset()
	if code := run([]string{"letschat"}, env, &bytes.Buffer{}, &errb); code != 2 || !strings.Contains(errb.String(), "LETSCHAT_COOKIE_SECRET") {
		t.Fatalf("number-like secret from the environment: exit %d\n%s", code, errb.String())
	}
}

func TestLetschatConfig_secretsAndURI(t *testing.T) {
	dir := t.TempDir()
	cookieFile := filepath.Join(dir, "cookie")
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(cookieFile, []byte(testCookie+"\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pwFile, []byte("p@ss w/rd\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		wantURI string // query and credentials of a one-host URI
	}{
		{"defaults: no credentials, w=majority", nil, "mongodb://h:27017/letschat?replicaSet=letschat&w=majority"},
		{"w from --uri-options wins", []string{"--uri-options", "w=1&readPreference=primaryPreferred"}, "mongodb://h:27017/letschat?replicaSet=letschat&readPreference=primaryPreferred&w=1"},
		{"w in another case counts", []string{"--uri-options", "W=2"}, "mongodb://h:27017/letschat?replicaSet=letschat&W=2"},
		{"the application user, from a file, percent-encoded", []string{"--app-password-file", pwFile, "--username", "root", "--password", "rootpw"},
			"mongodb://letschat:p%40ss%20w%2Frd@h:27017/letschat?replicaSet=letschat&authSource=admin&w=majority"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c letschatConfig
			s := c.options()
			args := append([]string{"--dir", dir, "--cookie-secret-file", cookieFile, "--cookie-secret", "ignored-since-the-file-wins"}, tc.args...)
			if _, err := s.parse(args, noEnv); err != nil {
				t.Fatal(err)
			}
			if err := c.validate(); err != nil {
				t.Fatal(err)
			}
			if c.CookieSecret != testCookie {
				t.Fatalf("cookie secret %q: the file must win and lose its line break", c.CookieSecret)
			}
			if len(c.notes) == 0 || !strings.Contains(strings.Join(c.notes, "\n"), "using the file") {
				t.Errorf("both cookie sources given without a note: %v", c.notes)
			}
			uri, err := buildTestURI(c)
			if err != nil || uri != tc.wantURI {
				t.Fatalf("URI %q, %v\nwant %q", uri, err, tc.wantURI)
			}
		})
	}
}

// SIGQUIT stops Let's Chat cleanly (SIGTERM to its group, the child's status as exit code) instead
// of Go's goroutine dump, which would leave the child orphaned.
func TestLetschatCommand_SIGQUITStopsCleanly(t *testing.T) {
	dir := t.TempDir()
	ready := filepath.Join(dir, "ready")
	got := filepath.Join(dir, "got")
	script := `trap 'echo TERM > ` + got + `; exit 6' TERM; trap 'echo QUIT > ` + got + `; exit 9' QUIT; touch ` + ready + `; while :; do sleep 0.05; done`
	args := []string{"letschat", "--metadata-url", "http://127.0.0.1:1/2016-07-29", "--metadata-backoff-cap", "1s",
		"--dir", dir, "--cookie-secret", testCookie, "--ready-url", "none", "--start-without-members", "--", "sh", "-c", script}
	done := make(chan int, 1)
	var errb syncBuffer
	go func() { done <- run(args, noEnv, &bytes.Buffer{}, &errb) }()
	waitFile(t, ready)
	syscall.Kill(os.Getpid(), syscall.SIGQUIT)
	select {
	case code := <-done:
		if code != 6 {
			t.Fatalf("exit %d, want the child's 6 after SIGTERM\n%s", code, errb.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("letschat did not stop on SIGQUIT")
	}
	if b, _ := os.ReadFile(got); strings.TrimSpace(string(b)) != "TERM" {
		t.Fatalf("the child saw %q, want TERM", b)
	}
}

// buildTestURI is the URI c delivers for the single member h.
func buildTestURI(c letschatConfig) (string, error) {
	return lcconfig.BuildURI(lcconfig.MembersOf("h"), c.uriOptions())
}

// --settle-delay 0 is accepted and means no batching window (each change acts at once); a
// negative delay is still refused, naming the flag and its variable.
func TestLetschatConfig_settleDelayZero(t *testing.T) {
	dir := t.TempDir()
	var c letschatConfig
	s := c.options()
	if _, err := s.parse([]string{"--dir", dir, "--cookie-secret", testCookie, "--settle-delay", "0s"}, noEnv); err != nil {
		t.Fatal(err)
	}
	if err := c.validate(); err != nil {
		t.Fatalf("--settle-delay 0 refused: %v", err)
	}
	if c.Settle != 0 {
		t.Fatalf("settle %s, want 0", c.Settle)
	}
	var errb bytes.Buffer
	args := []string{"letschat", "--dir", dir, "--cookie-secret", testCookie, "--metadata-url", "http://127.0.0.1:1/2016-07-29", "--settle-delay", "-1s"}
	if code := run(args, noEnv, &bytes.Buffer{}, &errb); code != 2 || !strings.Contains(errb.String(), "--settle-delay") || !strings.Contains(errb.String(), "SETTLE_DELAY") {
		t.Fatalf("negative settle delay: exit %d\n%s", code, errb.String())
	}
}
