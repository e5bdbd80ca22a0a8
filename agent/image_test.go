package agent

import (
	"bytes"
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
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
}

// The image's release is what `replset-agent version` prints inside it: the -X flag must name this
// module's agent.Version (a wrong path is silently ignored by the linker, and the image says "dev").
func TestDockerfileVersion(t *testing.T) {
	v := dockerfileArg(t, "VERSION")
	if !regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`).MatchString(v) {
		t.Errorf("Dockerfile ARG VERSION=%q is not a release version", v)
	}
	gomod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^module (\S+)$`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod has no module line")
	}
	var _ string = Version // the flag's target: a string variable of this package
	flag := "-X " + string(m[1]) + "/agent.Version=${VERSION}"
	found := false
	for _, in := range finalStage(t, "build") {
		if in.cmd == "RUN" && strings.Contains(in.args, flag) {
			found = true
		}
	}
	if !found {
		t.Errorf("the build stage does not link %q", flag)
	}
}

// A container gets an anonymous volume for every VOLUME of its image and every bare path in its
// compose `volumes`. In this stack such a volume exists to be shared: one that no other service
// takes with volumes_from is left behind on every upgrade (one per host for a global service). And
// the service that runs the installed binary must find it in a volume it does take.
func TestNoStrayAnonymousVolumes(t *testing.T) {
	c, _, _ := loadTemplate(t)
	var imageVolumes []string
	for _, in := range finalStage(t, "") {
		if in.cmd == "VOLUME" {
			imageVolumes = append(imageVolumes, volumePaths(t, in.args)...)
		}
	}
	shared := map[string]bool{}
	for _, svc := range c.Services {
		for _, from := range svc.VolumesFrom {
			shared[strings.SplitN(from, ":", 2)[0]] = true
		}
	}
	anonymous := func(svc composeService) []string {
		var out []string
		if strings.HasPrefix(svc.Image, "replsetagent/replset-agent:") {
			out = append(out, imageVolumes...)
		}
		for _, v := range svc.Volumes {
			if !strings.Contains(v, ":") {
				out = append(out, v)
			}
		}
		return out
	}
	for name, svc := range c.Services {
		if vols := anonymous(svc); len(vols) > 0 && !shared[name] {
			t.Errorf("service %s gets anonymous volume(s) %v that no service shares with volumes_from", name, vols)
		}
	}

	// A service that runs the installed agent (Let's Chat today) finds it in a volume it takes from
	// an install sidekick, which installs into that volume; the image pre-fills the same path.
	df, _ := os.ReadFile("../Dockerfile")
	runsInstalled := 0
	for name, svc := range c.Services {
		bin := words(svc.Entrypoint)
		if len(bin) == 0 || !strings.HasSuffix(bin[0], "/replset-agent") || strings.HasPrefix(svc.Image, "replsetagent/") {
			continue
		}
		runsInstalled++
		if len(svc.VolumesFrom) == 0 {
			t.Errorf("%s runs %s but takes no volume", name, bin[0])
			continue
		}
		src := strings.SplitN(svc.VolumesFrom[0], ":", 2)[0]
		from := c.Services[src]
		dir := path.Dir(bin[0])
		if !slices.Contains(anonymous(from), dir) {
			t.Errorf("%s runs %s, but %s has no volume at %s", name, bin[0], src, dir)
		}
		if cmd := words(from.Command); len(cmd) < 2 || cmd[0] != "install" || cmd[len(cmd)-1] != dir {
			t.Errorf("%s runs %v, want install into %s", src, cmd, dir)
		}
		if !strings.Contains(string(df), " "+bin[0]+"\n") {
			t.Errorf("the image does not put the binary at %s", bin[0])
		}
	}
	if runsInstalled == 0 {
		t.Error("no service runs the installed agent")
	}
}

func TestDockerfileParser(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "Dockerfile")
	os.WriteFile(p, []byte("FROM a AS build\nARG VERSION=1.2.3\nRUN x \\\n  y\n# comment\n\nFROM scratch\nVOLUME [\"/a\", \"/b\"]\nVOLUME /c /d\n"), 0o644)
	stages := parseDockerfile(t, p)
	if len(stages) != 2 || stages[0].name != "build" || stages[1].name != "" {
		t.Fatalf("stages %+v", stages)
	}
	if got := stages[0].instrs[2]; got.cmd != "RUN" || got.args != "x y" {
		t.Errorf("continued RUN parsed as %+v", got)
	}
	var vols []string
	for _, in := range stages[1].instrs {
		if in.cmd == "VOLUME" {
			vols = append(vols, volumePaths(t, in.args)...)
		}
	}
	if strings.Join(vols, " ") != "/a /b /c /d" {
		t.Errorf("volumes %v", vols)
	}
}

type dockerInstr struct{ cmd, args string }

type dockerStage struct {
	name   string
	instrs []dockerInstr
}

// parseDockerfile splits a Dockerfile into stages of instructions, with continuation lines joined
// and comments dropped: enough for the instructions this image uses.
func parseDockerfile(t *testing.T, file string) []dockerStage {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var stages []dockerStage
	var line string
	for _, raw := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(raw)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && line == "") {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			line += strings.TrimSuffix(trimmed, "\\") + " "
			continue
		}
		line = strings.Join(strings.Fields(line+trimmed), " ")
		cmd, args, _ := strings.Cut(line, " ")
		line = ""
		cmd = strings.ToUpper(cmd)
		if cmd == "FROM" {
			st := dockerStage{}
			if f := strings.Fields(args); len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			}
			stages = append(stages, st)
		}
		if len(stages) == 0 {
			if cmd != "ARG" {
				t.Fatalf("%s: %s before FROM", file, cmd)
			}
			continue
		}
		stages[len(stages)-1].instrs = append(stages[len(stages)-1].instrs, dockerInstr{cmd, args})
	}
	return stages
}

// finalStage returns the instructions of the named stage of ../Dockerfile, or of the last stage
// for "".
func finalStage(t *testing.T, name string) []dockerInstr {
	t.Helper()
	stages := parseDockerfile(t, "../Dockerfile")
	if name == "" {
		return stages[len(stages)-1].instrs
	}
	for _, st := range stages {
		if st.name == name {
			return st.instrs
		}
	}
	t.Fatalf("Dockerfile has no stage %s", name)
	return nil
}

// dockerfileArg returns the default value of a build argument of ../Dockerfile.
func dockerfileArg(t *testing.T, name string) string {
	t.Helper()
	for _, st := range parseDockerfile(t, "../Dockerfile") {
		for _, in := range st.instrs {
			if k, v, ok := strings.Cut(in.args, "="); in.cmd == "ARG" && ok && k == name {
				return v
			}
		}
	}
	t.Fatalf("Dockerfile has no ARG %s with a default", name)
	return ""
}

func volumePaths(t *testing.T, args string) []string {
	t.Helper()
	if strings.HasPrefix(args, "[") {
		var out []string
		if err := json.Unmarshal([]byte(args), &out); err != nil {
			t.Fatalf("VOLUME %s: %v", args, err)
		}
		return out
	}
	return strings.Fields(args)
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
