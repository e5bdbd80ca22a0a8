package agent

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func parseMongo(t *testing.T, args []string, env map[string]string) (mongoConfig, error) {
	t.Helper()
	var c mongoConfig
	if _, err := c.options().parse(args, envMap(env)); err != nil {
		t.Fatal(err)
	}
	return c, c.validate()
}

// A secret's file wins over its value; between a flag and its variable, the flag wins.
func TestSecretPrecedence(t *testing.T) {
	pw := writeFile(t, "pw", "from-file\n")
	app := writeFile(t, "app", "app-from-file\n")
	key := writeFile(t, "key", "a2V5ZnJvbWZpbGU=\n")
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		get     func(*mongoConfig) string
		want    string
		warning string
	}{
		{"password: env only", nil, map[string]string{"MONGO_USERNAME": "u", "MONGO_PASSWORD": "from-env", "LETSCHAT_DB_PASSWORD": "app"},
			func(c *mongoConfig) string { return c.Password }, "from-env", ""},
		{"password: flag beats env", []string{"--password", "from-flag"}, map[string]string{"MONGO_USERNAME": "u", "MONGO_PASSWORD": "from-env", "LETSCHAT_DB_PASSWORD": "app"},
			func(c *mongoConfig) string { return c.Password }, "from-flag", ""},
		{"password: file beats env", nil, map[string]string{"MONGO_USERNAME": "u", "MONGO_PASSWORD": "from-env", "MONGO_PASSWORD_FILE": pw, "LETSCHAT_DB_PASSWORD": "app"},
			func(c *mongoConfig) string { return c.Password }, "from-file", "--password (env MONGO_PASSWORD) is set and ignored: --password-file (env MONGO_PASSWORD_FILE) wins"},
		{"password: file beats flag", []string{"--username", "u", "--password", "from-flag", "--password-file", pw, "--app-password", "app"}, nil,
			func(c *mongoConfig) string { return c.Password }, "from-file", "--password (env MONGO_PASSWORD) is set and ignored"},
		{"app password: file beats env", nil, map[string]string{"MONGO_USERNAME": "u", "MONGO_PASSWORD": "pw", "LETSCHAT_DB_PASSWORD": "app-from-env", "LETSCHAT_DB_PASSWORD_FILE": app},
			func(c *mongoConfig) string { return c.AppPassword }, "app-from-file", "--app-password (env LETSCHAT_DB_PASSWORD) is set and ignored"},
		{"keyfile: file beats env", []string{"--keyfile-path", "/run/key"}, map[string]string{"MONGO_KEYFILE": "a2V5ZnJvbWVudg==", "MONGO_KEYFILE_FILE": key},
			func(c *mongoConfig) string { return c.KeyFile }, "a2V5ZnJvbWZpbGU=", "--keyfile (env MONGO_KEYFILE) is set and ignored"},
		{"keyfile: white space dropped as mongod does", []string{"--keyfile-path", "/run/key", "--keyfile", " a2V5\n ZnJv\tbWVu dg== \n"}, nil,
			func(c *mongoConfig) string { return c.KeyFile }, "a2V5ZnJvbWVudg==", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseMongo(t, tc.args, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.get(&c); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			joined := strings.Join(c.warnings, "\n")
			if tc.warning == "" && joined != "" || !strings.Contains(joined, tc.warning) {
				t.Fatalf("warnings %q, want %q", joined, tc.warning)
			}
			for _, secret := range []string{"from-env", "from-flag", "from-file"} {
				if strings.Contains(joined, secret) {
					t.Fatalf("a warning holds a secret: %q", joined)
				}
			}
		})
	}
}

func TestSecretFileBounds(t *testing.T) {
	lines := func(n, width int) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			if i > 0 && i%width == 0 {
				b.WriteByte('\n')
			}
			b.WriteByte("ABCDEFGH"[i%8])
		}
		return b.String() + "\n"
	}
	tests := []struct {
		name    string
		flag    string
		content string
		ok      bool
	}{
		{"password of 4096 bytes", "--password-file", strings.Repeat("p", 4095) + "\n", true},
		{"password of 4097 bytes", "--password-file", strings.Repeat("p", 4097), false},
		// `openssl rand -base64 756`, MongoDB's own recipe: 1008 characters in lines of 64.
		{"openssl keyFile", "--keyfile-file", lines(1008, 64), true},
		{"keyFile of 1025 bytes", "--keyfile-file", strings.Repeat("A", 1025), false},
		{"keyFile of 5 characters", "--keyfile-file", "AAAAA\n", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := writeFile(t, "secret", tc.content)
			args := []string{"--username", "u", tc.flag, f, "--app-password", "app"}
			if tc.flag == "--keyfile-file" {
				args = []string{tc.flag, f, "--keyfile-path", "/run/key"}
			}
			_, err := parseMongo(t, args, nil)
			if tc.ok != (err == nil) {
				t.Fatalf("err %v, want ok=%v", err, tc.ok)
			}
			var ue *usageError
			if err != nil && (!errors.As(err, &ue) || !strings.Contains(err.Error(), tc.flag)) {
				t.Fatalf("error %q is not a usage error naming %s", err, tc.flag)
			}
		})
	}
}

func TestNormalizeKey(t *testing.T) {
	tests := []struct {
		in, want string
		err      string
	}{
		{"abcdef", "abcdef", ""},
		{"ab+/cd==\r\n", "ab+/cd==", ""},
		{"ab cd\tef\vgh\fij", "abcdefghij", ""},
		{"abcde", "", "5 characters"},
		{strings.Repeat("a", 1025), "", "1025 characters"},
		{"abc-def", "", "byte 4"},
		{"abcdéf", "", "outside base64"},
	}
	for _, tc := range tests {
		got, err := normalizeKey(tc.in)
		if tc.err == "" && (err != nil || got != tc.want) {
			t.Errorf("normalizeKey(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
		if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || strings.Contains(err.Error(), tc.in)) {
			t.Errorf("normalizeKey(%q) error %v, want one mentioning %q and not the key", tc.in, err, tc.err)
		}
	}
}

func TestNormalizeKeyFileRotation(t *testing.T) {
	tests := []struct {
		in, want string
		err      string
	}{
		{"- b2xka2V5\n- bmV3a2V5\n", "- b2xka2V5\n- bmV3a2V5", ""},
		{"- 'b2xka2V5'\n- \"bmV3a2V5\"\n", "- b2xka2V5\n- bmV3a2V5", ""},
		{"b2xka2V5", "b2xka2V5", ""},
		{"- b2xka2V5\n- abc\n", "", "key 2 of 2"},
		{"- b2xka2V5\n- bad-key-x\n", "", "outside base64"},
	}
	for _, tc := range tests {
		got, err := normalizeKeyFile(tc.in)
		if tc.err == "" && (err != nil || got != tc.want) {
			t.Errorf("normalizeKeyFile(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
		if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("normalizeKeyFile(%q) error %v, want %q", tc.in, err, tc.err)
		}
	}
}

func fakeSystem(t *testing.T, euid int) keyFileSystem {
	passwd := writeFile(t, "passwd", "root:x:0:0:root:/root:/bin/sh\n# comment\nbroken\nmongodb:x:999:998::/home/mongodb:/bin/sh\nodd:x:one:1::/:/bin/sh\n")
	return keyFileSystem{passwd: passwd, euid: func() int { return euid }, egid: func() int { return euid }}
}

func TestWriteKeyFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run", "mongod")
	path := filepath.Join(dir, "keyfile")
	check := func(t *testing.T, content string) os.FileInfo {
		t.Helper()
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o400 {
			t.Fatalf("mode %v, want 0400", st.Mode().Perm())
		}
		b, _ := os.ReadFile(path)
		if string(b) != content+"\n" {
			t.Fatalf("content %q", b)
		}
		left, _ := filepath.Glob(filepath.Join(dir, ".keyfile-*"))
		if len(left) > 0 {
			t.Fatalf("temporary files left: %v", left)
		}
		return st
	}
	t.Run("not root: the agent's own file, said so", func(t *testing.T) {
		res, err := writeKeyFile(path, "c2VjcmV0a2V5", "mongodb", fakeSystem(t, os.Geteuid()+1))
		if err != nil {
			t.Fatal(err)
		}
		if !res.AsSelf {
			t.Fatal("not reported as written by the agent's own user")
		}
		st := check(t, "c2VjcmV0a2V5")
		if uid := st.Sys().(*syscall.Stat_t).Uid; int(uid) != os.Geteuid() {
			t.Fatalf("owner %d", uid)
		}
		// Written again (a restart): the read-only file is replaced, not refused.
		if _, err := writeKeyFile(path, "bmV3a2V5a2V5", "mongodb", fakeSystem(t, os.Geteuid()+1)); err != nil {
			t.Fatal(err)
		}
		check(t, "bmV3a2V5a2V5")
	})
	t.Run("root: given to mongod's user", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root to chown")
		}
		res, err := writeKeyFile(path, "c2VjcmV0a2V5", "mongodb", fakeSystem(t, 0))
		if err != nil {
			t.Fatal(err)
		}
		st := check(t, "c2VjcmV0a2V5")
		sys := st.Sys().(*syscall.Stat_t)
		if res.AsSelf || sys.Uid != 999 || sys.Gid != 998 || res.UID != 999 {
			t.Fatalf("owner %d:%d, result %+v; want 999:998 from the passwd file", sys.Uid, sys.Gid, res)
		}
	})
	for _, tc := range []struct{ user, want string }{{"nobody", `no user "nobody"`}, {"odd", "malformed entry"}} {
		t.Run("root: "+tc.user, func(t *testing.T) {
			_, err := writeKeyFile(path+"2", "c2VjcmV0a2V5", tc.user, fakeSystem(t, 0))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "--mongod-user") {
				t.Fatalf("err %v, want %q naming --mongod-user", err, tc.want)
			}
			if _, err := os.Stat(path + "2"); err == nil {
				t.Fatal("a keyFile was written for an unknown user")
			}
		})
	}
}

func TestCommandHasKeyFile(t *testing.T) {
	tests := []struct {
		argv []string
		want bool
	}{
		{[]string{"mongod", "--keyFile", "/run/k"}, true},
		{[]string{"docker-entrypoint.sh", "mongod", "--keyFile=/run/k"}, true},
		{[]string{"mongod", "--keyFile", "/other"}, false},
		{[]string{"mongod", "--keyFile"}, false},
		{[]string{"mongod"}, false},
	}
	for _, tc := range tests {
		if got := commandHasKeyFile(tc.argv, "/run/k"); got != tc.want {
			t.Errorf("%v: %v", tc.argv, got)
		}
	}
	if !isMongodCommand([]string{"docker-entrypoint.sh", "/usr/bin/mongod"}) || isMongodCommand([]string{"sh", "-c", "x"}) {
		t.Error("isMongodCommand")
	}
}

func TestChildEnvDropsEveryAgentVariable(t *testing.T) {
	base := []string{"PATH=/bin", "HOME=/root", "MONGO_INITDB_ROOT_PASSWORD_FILE=/run/secrets/x", "LCB_HTTP_PORT=5000",
		"MONGO_PASSWORD=p", "MONGO_PASSWORD_FILE=/run/secrets/p", "MONGO_KEYFILE=k", "MONGO_KEYFILE_FILE=/run/secrets/k",
		"LETSCHAT_DB_PASSWORD=a", "LETSCHAT_DB_PASSWORD_FILE=/f", "MONGO_USERNAME=u", "METADATA_URL=http://x", "REPLSET_NAME=rs",
		"MONGOD_KEYFILE_PATH=/run/k", "LISTEN_ADDRESS=:1", "RESTART_POLICY=always", "INSTALL_NAME=x", "MONGOD_BIN=/bin/mongod"}
	got := childEnv(base)
	want := []string{"PATH=/bin", "HOME=/root", "MONGO_INITDB_ROOT_PASSWORD_FILE=/run/secrets/x", "LCB_HTTP_PORT=5000"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("child env %v\nwant %v", got, want)
	}
	// Every variable of every command is the agent's: none may reach a child.
	for v := range agentVariables() {
		if len(childEnv([]string{v + "=x"})) != 0 {
			t.Errorf("%s reaches the child", v)
		}
	}
	if childEnvOr([]string{"A=1"})[0] != "A=1" {
		t.Error("an explicit environment was changed")
	}
}

// The real mongod child, started by the mongo command, sees none of the agent's secrets, and the
// keyFile is in place, read-only, before it starts.
func TestMongoChildGetsNoAgentSecret(t *testing.T) {
	dir := t.TempDir()
	pwFile := writeFile(t, "pw", "pw-from-file-7\n")
	keyFile := writeFile(t, "key", "a2V5LWZyb20tZmlsZS05\n")
	keyPath := filepath.Join(dir, "run", "keyfile")
	for k, v := range map[string]string{
		"MONGO_USERNAME": "admin", "MONGO_PASSWORD_FILE": pwFile, "MONGO_PASSWORD": "pw-from-env-3",
		"MONGO_KEYFILE_FILE": keyFile, "MONGOD_KEYFILE_PATH": keyPath, "MONGOD_USER": "root",
		"LETSCHAT_DB_PASSWORD": "app-pw-5", "METADATA_URL": deadMetadata[1], "METADATA_BACKOFF_CAP": "1s",
		"UNRELATED_SETTING": "kept",
	} {
		t.Setenv(k, v)
	}
	out := filepath.Join(dir, "env")
	script := `stat -c %a ` + keyPath + ` > ` + out + `.mode; env > ` + out + `.tmp && mv ` + out + `.tmp ` + out
	var errb syncBuffer
	code := run([]string{"mongo", "--", "sh", "-c", script}, os.LookupEnv, &bytes.Buffer{}, &errb)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errb.String())
	}
	env, _ := os.ReadFile(out)
	if !strings.Contains(string(env), "UNRELATED_SETTING=kept") {
		t.Fatalf("the child lost the environment that is not the agent's:\n%s", env)
	}
	for _, leak := range []string{"MONGO_PASSWORD", "MONGO_KEYFILE", "MONGOD_KEYFILE_PATH", "LETSCHAT_DB_PASSWORD", "MONGO_USERNAME",
		"METADATA_URL", "pw-from-file-7", "pw-from-env-3", "a2V5LWZyb20tZmlsZS05", "app-pw-5"} {
		if strings.Contains(string(env), leak) {
			t.Errorf("the child saw %s", leak)
		}
	}
	if mode, _ := os.ReadFile(out + ".mode"); strings.TrimSpace(string(mode)) != "400" {
		t.Errorf("keyFile mode when mongod started: %q, want 400", mode)
	}
	logs := errb.String()
	if !strings.Contains(logs, "keyFile written") || !strings.Contains(logs, "is set and ignored") {
		t.Errorf("the keyFile and the ignored --password are not logged:\n%s", logs)
	}
	for _, leak := range []string{"pw-from-file-7", "pw-from-env-3", "a2V5LWZyb20tZmlsZS05", "app-pw-5"} {
		if strings.Contains(logs, leak) {
			t.Errorf("the logs hold %s", leak)
		}
	}
}

func TestLetschatChildGetsNoAgentSecret(t *testing.T) {
	dir := t.TempDir()
	for k, v := range map[string]string{
		"MONGO_USERNAME": "chat", "MONGO_PASSWORD": "chat-pw-4", "MONGO_PASSWORD_FILE": writeFile(t, "pw", "chat-pw-file-6\n"),
		"MONGO_KEYFILE": "a2V5a2V5a2V5", "METADATA_URL": deadMetadata[1], "START_WITHOUT_MEMBERS": "true",
		"LETSCHAT_COOKIE_SECRET": "secrets-test-cookie", "LETSCHAT_READY_URL": "none",
		"UNRELATED_SETTING": "kept",
	} {
		t.Setenv(k, v)
	}
	out := filepath.Join(dir, "env")
	script := `env > ` + out + `.tmp && mv ` + out + `.tmp ` + out + `; trap 'exit 0' TERM; while :; do sleep 0.05; done`
	done := make(chan int, 1)
	var errb syncBuffer
	go func() {
		done <- run([]string{"letschat", "--dir", dir, "--", "sh", "-c", script}, os.LookupEnv, &bytes.Buffer{}, &errb)
	}()
	waitFile(t, out)
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("letschat did not stop")
	}
	env, _ := os.ReadFile(out)
	if !strings.Contains(string(env), "UNRELATED_SETTING=kept") {
		t.Fatalf("the child lost the environment that is not the agent's:\n%s", env)
	}
	for _, leak := range []string{"MONGO_PASSWORD", "MONGO_KEYFILE", "MONGO_USERNAME", "START_WITHOUT_MEMBERS", "chat-pw-4", "chat-pw-file-6", "a2V5a2V5a2V5"} {
		if strings.Contains(string(env), leak) {
			t.Errorf("Let's Chat saw %s", leak)
		}
	}
}

func TestEveryKeyIsRedacted(t *testing.T) {
	c, err := parseMongo(t, []string{"--keyfile-path", "/run/k", "--keyfile", "- b2xka2V5b2xk\n- bmV3a2V5bmV3\n", "--app-password", "app-pw-8"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	log := newLogger(&out, "info", "text", c.secrets()...)
	log.Infof("oops: b2xka2V5b2xk bmV3a2V5bmV3 app-pw-8")
	for _, s := range []string{"b2xka2V5b2xk", "bmV3a2V5bmV3", "app-pw-8"} {
		if strings.Contains(out.String(), s) {
			t.Fatalf("%s not redacted: %s", s, out.String())
		}
	}
}

// The new secrets stay out of /status, /metrics and the logs of a running mongo role.
func TestNewSecretsStayOutOfEndpointsAndLogs(t *testing.T) {
	listen := freeAddr(t)
	keyFile := writeFile(t, "key", "- c2VjcmV0a2V5b2xk\n- c2VjcmV0a2V5bmV3\n")
	args := append(append([]string{"mongo"}, deadMetadata...), "--listen", listen,
		"--username", "admin", "--password", "admin-pw-11", "--app-password", "app-pw-12",
		"--keyfile-file", keyFile, "--keyfile-path", filepath.Join(t.TempDir(), "k"))
	done := make(chan int, 1)
	var errb syncBuffer
	go func() { done <- run(args, noEnv, &bytes.Buffer{}, &errb) }()
	var status, metrics string
	waitUntil(t, "the endpoints", func() bool {
		resp, err := http.Get("http://" + listen + "/status")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	})
	status = get(t, "http://"+listen+"/status")
	metrics = get(t, "http://"+listen+"/metrics")
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the agent did not stop")
	}
	all := status + metrics + errb.String()
	if !strings.Contains(errb.String(), "--keyfile-path is ignored") {
		t.Errorf("the unused keyFile path is not explained:\n%s", errb.String())
	}
	for _, secret := range []string{"admin-pw-11", "app-pw-12", "c2VjcmV0a2V5b2xk", "c2VjcmV0a2V5bmV3"} {
		if strings.Contains(all, secret) {
			t.Errorf("%s reached /status, /metrics or the logs", secret)
		}
	}
}
