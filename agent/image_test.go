package agent

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// No Docker engine runs here, so the Dockerfile is checked for the properties the image promises.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	for _, want := range []struct{ what, re string }{
		{"a build stage", `(?m)^FROM golang:\S+ AS build$`},
		{"a static binary", `CGO_ENABLED=0 go build -trimpath`},
		{"a minimal final image", `(?m)^FROM scratch$`},
		{"the fixed binary path", `(?m)^COPY --from=build /out/replset-agent /usr/local/bin/replset-agent$`},
		{"a non-root user", `(?m)^USER [1-9][0-9]*:[1-9][0-9]*$`},
		{"the binary as entrypoint", `(?m)^ENTRYPOINT \["/usr/local/bin/replset-agent"\]$`},
		{"the binary pre-filled in the shared volume", `(?m)^COPY --from=build --chown=65532:65532 /out/replset-agent /opt/replset-agent/replset-agent$`},
	} {
		if !regexp.MustCompile(want.re).MatchString(df) {
			t.Errorf("Dockerfile lacks %s (%s)", want.what, want.re)
		}
	}
	// The compose file's install sidekick writes where the Dockerfile prepared a writable volume.
	c, _, _ := loadTemplate(t)
	install := strings.Join(words(c.Services["agent-install"].Command), " ")
	if !strings.Contains(install, "/opt/replset-agent") || !strings.Contains(df, "/opt/replset-agent") {
		t.Errorf("install target %q is not the image's prepared volume", install)
	}
}

func TestLetschatRefusesBadBaseSettings(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "base.yml")
	os.WriteFile(base, []byte("secrets: [unclosed\n"), 0o600)
	var out, errb bytes.Buffer
	code := run([]string{"letschat", "--delivery", "settings", "--dir", dir, "--base-settings", base, "--metadata-url", "http://127.0.0.1:1/2016-07-29", "--", "true"}, noEnv, &out, &errb)
	if code != 2 {
		t.Fatalf("exit %d, want 2\n%s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "base settings") {
		t.Fatalf("the error does not name the base settings:\n%s", errb.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "config", "settings.yml")); !os.IsNotExist(err) {
		t.Fatal("a settings file was written from an invalid base")
	}
}
