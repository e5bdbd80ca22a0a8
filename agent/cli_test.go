package agent

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestHelpGolden(t *testing.T) {
	for _, cmd := range []string{"mongo", "letschat", "install", "status", "demo"} {
		t.Run(cmd, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run([]string{cmd, "--help"}, noEnv, &out, &errb); code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			golden := filepath.Join("testdata", "help-"+cmd+".golden")
			if *update {
				os.WriteFile(golden, out.Bytes(), 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./agent -run TestHelpGolden -update)", err)
			}
			if out.String() != string(want) {
				t.Errorf("help differs from %s:\n%s", golden, out.String())
			}
		})
	}
}

func TestHelpListsEveryEnvVar(t *testing.T) {
	var c mongoConfig
	s := c.options()
	var out bytes.Buffer
	s.help(&out, "mongo")
	for _, o := range s.opts {
		if !strings.Contains(out.String(), "--"+o.name) || (o.env != "" && !strings.Contains(out.String(), o.env)) {
			t.Errorf("help lacks --%s / %s", o.name, o.env)
		}
	}
}

func TestBadInvocations(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	os.WriteFile(pwFile, []byte("hunter2-secret\n"), 0o600)
	bigFile := filepath.Join(dir, "big")
	os.WriteFile(bigFile, []byte(strings.Repeat("hunter2-secret", 400)), 0o600)
	emptyFile := filepath.Join(dir, "empty")
	os.WriteFile(emptyFile, []byte("\n"), 0o600)
	twoLines := filepath.Join(dir, "two")
	os.WriteFile(twoLines, []byte("hunter2-secret\nmore\n"), 0o600)
	keyFile := filepath.Join(dir, "key")
	os.WriteFile(keyFile, []byte("c2VjcmV0a2V5\n"), 0o600)
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string // all must appear in stderr
	}{
		{"no command", nil, nil, []string{"Usage"}},
		{"unknown command", []string{"frobnicate"}, nil, []string{`unknown command "frobnicate"`}},
		{"bad int flag", []string{"mongo", "--port", "abc"}, nil, []string{"--port", "MONGO_PORT"}},
		{"bad int env", []string{"mongo"}, map[string]string{"MIN_MEMBERS": "three"}, []string{"MIN_MEMBERS", "--min-members"}},
		{"port out of range", []string{"mongo", "--port", "70000"}, nil, []string{"--port", "not a TCP port"}},
		{"min members out of range", []string{"mongo", "--min-members", "9"}, nil, []string{"--min-members", "1..7"}},
		{"bad duration env", []string{"mongo"}, map[string]string{"REMOVAL_GRACE": "soon"}, []string{"REMOVAL_GRACE", "duration"}},
		{"backoff cap below the first retry", []string{"mongo", "--metadata-backoff-cap", "100ms"}, nil, []string{"METADATA_BACKOFF_CAP", "500ms"}},
		{"metadata URL with a bad version", []string{"mongo", "--metadata-url", "http://x/v"}, nil, []string{"METADATA_URL", "API version"}},
		{"metadata URL with credentials", []string{"mongo", "--metadata-url", "http://u:hunter2-secret@x/2016-07-29"}, nil, []string{"METADATA_URL", "credentials"}},
		{"bad source IP", []string{"letschat", "--metadata-source-ip", "bogus"}, nil, []string{"--metadata-source-ip", "METADATA_SOURCE_IP"}},
		{"zero removal grace", []string{"mongo"}, map[string]string{"REMOVAL_GRACE": "0s"}, []string{"--removal-grace", "REMOVAL_GRACE", "positive"}},
		{"zero initiate settle", []string{"mongo", "--initiate-settle", "0s"}, nil, []string{"--initiate-settle", "INITIATE_SETTLE", "positive"}},
		{"zero stagger", []string{"letschat", "--stagger", "0s"}, nil, []string{"--stagger", "RESTART_STAGGER"}},
		{"zero min interval", []string{"status", "--metadata-min-interval", "0s"}, nil, []string{"METADATA_MIN_INTERVAL"}},
		{"zero status timeout", []string{"status", "--timeout", "0s"}, nil, []string{"--timeout"}},
		{"install name ..", []string{"install", "--name", "..", "/tmp"}, nil, []string{"--name"}},
		{"negative duration", []string{"mongo", "--removal-grace", "-5s"}, nil, []string{"--removal-grace", "negative"}},
		{"unversioned metadata URL", []string{"mongo", "--metadata-url", "http://rancher-metadata"}, nil, []string{"METADATA_URL", "API version"}},
		{"metadata URL not http", []string{"status", "--metadata-url", "ftp://x/2016-07-29"}, nil, []string{"--metadata-url"}},
		{"bad enum", []string{"letschat", "--restart-policy", "sometimes"}, nil, []string{"--restart-policy", "seeds-lost"}},
		{"bad address source env", []string{"mongo"}, map[string]string{"ADDRESS_SOURCE": "dns"}, []string{"ADDRESS_SOURCE"}},
		{"bad mongod address", []string{"mongo", "--mongod-address", "localhost"}, nil, []string{"--mongod-address", "MONGOD_ADDRESS"}},
		{"bad listen", []string{"mongo", "--listen", "nope"}, nil, []string{"--listen", "LISTEN_ADDRESS"}},
		{"unreadable password file", []string{"mongo", "--username", "u", "--password-file", "/nonexistent/pw"}, nil, []string{"--password-file", "/nonexistent/pw"}},
		{"password without user", []string{"mongo", "--password-file", pwFile}, nil, []string{"without --username"}},
		{"password file too large", []string{"mongo", "--username", "u", "--password-file", bigFile}, nil, []string{"--password-file", "MONGO_PASSWORD_FILE", "larger than 4096 bytes"}},
		{"empty password file", []string{"mongo", "--username", "u"}, map[string]string{"MONGO_PASSWORD_FILE": emptyFile}, []string{"--password-file", "MONGO_PASSWORD_FILE", "is empty"}},
		{"two-line password file", []string{"mongo", "--username", "u", "--password-file", twoLines}, nil, []string{"--password-file", "more than one line"}},
		{"control character in user name", []string{"mongo"}, map[string]string{"MONGO_USERNAME": "u"}, []string{"--username", "MONGO_USERNAME", "control character"}},
		{"key without a path", []string{"mongo", "--keyfile-file", keyFile}, nil, []string{"--keyfile-path", "MONGOD_KEYFILE_PATH"}},
		{"path without a key", []string{"mongo", "--keyfile-path", "/run/key"}, nil, []string{"--keyfile-path", "--keyfile-file"}},
		{"relative key path", []string{"mongo", "--keyfile-file", keyFile, "--keyfile-path", "run/key"}, nil, []string{"--keyfile-path", "absolute"}},
		{"key too short", []string{"mongo", "--keyfile-path", "/run/key"}, map[string]string{"MONGO_KEYFILE": "abc"}, []string{"--keyfile", "MONGO_KEYFILE", "6 to 1024"}},
		{"key not base64", []string{"mongo", "--keyfile-file", pwFile, "--keyfile-path", "/run/key"}, nil, []string{"--keyfile-file", "MONGO_KEYFILE_FILE", "outside base64"}},
		{"key file too large", []string{"mongo", "--keyfile-file", bigFile, "--keyfile-path", "/run/key"}, nil, []string{"--keyfile-file", "larger than 1024 bytes"}},
		{"mongod user with a colon", []string{"mongo", "--mongod-user", "a:b"}, nil, []string{"--mongod-user", "MONGOD_USER"}},
		{"app user is the admin", []string{"mongo", "--username", "letschat"}, nil, []string{"--app-username", "LETSCHAT_DB_USERNAME", "--username"}},
		{"empty app user", []string{"mongo"}, map[string]string{"LETSCHAT_DB_USERNAME": ""}, []string{"--app-username", "LETSCHAT_DB_USERNAME"}},
		{"unreadable app password file", []string{"mongo", "--app-password-file", "/nonexistent/app"}, nil, []string{"--app-password-file", "LETSCHAT_DB_PASSWORD_FILE", "/nonexistent/app"}},
		{"mongod address without a port", []string{"mongo", "--mongod-address", "127.0.0.1:abc"}, nil, []string{"--mongod-address", "MONGOD_ADDRESS", "TCP port"}},
		{"mongod address port out of range", []string{"status", "--mongod-address", "127.0.0.1:0"}, nil, []string{"--mongod-address", "MONGOD_ADDRESS"}},
		{"mongod address host", []string{"mongo"}, map[string]string{"MONGOD_ADDRESS": "bad host:27017"}, []string{"--mongod-address", "MONGOD_ADDRESS", "host name"}},
		{"listen port out of range", []string{"letschat", "--listen", "127.0.0.1:99999"}, nil, []string{"--listen", "LISTEN_ADDRESS", "TCP port"}},
		{"listen on a bad IP", []string{"mongo", "--listen", "300.1.1.1:80"}, nil, []string{"--listen", "LISTEN_ADDRESS"}},
		{"replset with a slash", []string{"mongo", "--replset", "rs/a"}, nil, []string{"--replset", "REPLSET_NAME", `"/"`}},
		{"replset with a newline", []string{"letschat"}, map[string]string{"REPLSET_NAME": "rs\n"}, []string{"--replset", "REPLSET_NAME"}},
		{"replset too long", []string{"status", "--replset", strings.Repeat("r", 129)}, nil, []string{"--replset", "128"}},
		{"half a TLS pair", []string{"mongo", "--tls-cert-file", "c.pem"}, nil, []string{"--tls-key-file"}},
		{"stray argument", []string{"mongo", "extra"}, nil, []string{`unexpected argument "extra"`}},
		{"bad uri options", []string{"letschat", "--uri-options", "replicaSet=x"}, nil, []string{"--uri-options", "own flag"}},
		{"unknown flag", []string{"status", "--colour"}, nil, []string{"colour"}},
		{"bad metadata size", []string{"mongo", "--metadata-max-bytes", "lots"}, nil, []string{"--metadata-max-bytes", "METADATA_MAX_BYTES", "64MiB"}},
		{"zero metadata size env", []string{"letschat"}, map[string]string{"METADATA_MAX_BYTES": "0"}, []string{"METADATA_MAX_BYTES", "positive size"}},
		{"admin without a password", []string{"mongo", "--username", "admin", "--app-password", "a"}, nil, []string{"--username", "MONGO_USERNAME", "--password-file", "MONGO_PASSWORD_FILE"}},
		{"admin without Let's Chat's password", []string{"mongo", "--username", "admin", "--password", "p"}, nil, []string{"--app-password-file", "LETSCHAT_DB_PASSWORD_FILE"}},
		{"bad database", []string{"mongo", "--database", "let chat"}, nil, []string{"--database", "LETSCHAT_DATABASE"}},
		{"empty database", []string{"status"}, map[string]string{"LETSCHAT_DATABASE": ""}, []string{"--database", "LETSCHAT_DATABASE"}},
		{"bad mongo source IP", []string{"mongo", "--mongo-source-ip", "host1"}, nil, []string{"--mongo-source-ip", "MONGO_SOURCE_IP"}},
		{"bad mongo source IP env", []string{"status"}, map[string]string{"MONGO_SOURCE_IP": "1.2.3"}, []string{"--mongo-source-ip", "MONGO_SOURCE_IP"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(tc.args, envMap(tc.env), &out, &errb)
			if code != 2 {
				t.Fatalf("exit %d, want 2; stderr: %s", code, errb.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(errb.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, errb.String())
				}
			}
			if strings.Contains(errb.String()+out.String(), "hunter2-secret") {
				t.Error("a password reached the output")
			}
		})
	}
}

func TestFlagBeatsEnvironment(t *testing.T) {
	var c mongoConfig
	s := c.options()
	if _, err := s.parse([]string{"--replset", "fromflag"}, envMap(map[string]string{"REPLSET_NAME": "fromenv", "MONGO_PORT": "27018"})); err != nil {
		t.Fatal(err)
	}
	if c.ReplSet != "fromflag" || c.Port != 27018 {
		t.Fatalf("replset %q port %d: want the flag to win and the environment to fill the rest", c.ReplSet, c.Port)
	}
}

func TestCredentialsFromFiles(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(dir+"/user", []byte("chat\n"), 0o600)
	os.WriteFile(dir+"/pw", []byte("p@ss word\r\n"), 0o600)
	var c mongoConfig
	if _, err := c.options().parse(nil, envMap(map[string]string{"MONGO_USERNAME_FILE": dir + "/user", "MONGO_PASSWORD_FILE": dir + "/pw", "LETSCHAT_DB_PASSWORD": "app"})); err != nil {
		t.Fatal(err)
	}
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	if c.Username != "chat" || c.Password != "p@ss word" {
		t.Fatalf("user %q password %q: want the files' contents without the line end", c.Username, c.Password)
	}
}

func TestVersionCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"version"}, noEnv, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "replset-agent ") {
		t.Fatalf("exit %d out %q", code, out.String())
	}
}

// The README's configuration reference must name every flag and variable the binary reads.
func TestReadmeDocumentsEveryOption(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var mc mongoConfig
	var lc letschatConfig
	var sc statusConfig
	var dc demoConfig
	for _, s := range []*optionSet{mc.options(), lc.options(), sc.options(), dc.options()} {
		for _, o := range s.opts {
			if !bytes.Contains(readme, []byte("`--"+o.name+"`")) {
				t.Errorf("README does not document %s --%s", s.cmd, o.name)
			}
			if o.env != "" && !bytes.Contains(readme, []byte("`"+o.env+"`")) {
				t.Errorf("README does not document %s", o.env)
			}
		}
	}
}
