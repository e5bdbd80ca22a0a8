package agent

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The catalog template is checked against the binary's own CLI: a renamed flag or env var must
// break this test, not a user's stack.

type composeFile struct {
	Version  string                    `yaml:"version"`
	Services map[string]composeService `yaml:"services"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Command     any               `yaml:"command"`
	Entrypoint  any               `yaml:"entrypoint"`
	NetworkMode string            `yaml:"network_mode"`
	Environment map[string]string `yaml:"environment"`
	Labels      map[string]string `yaml:"labels"`
	VolumesFrom []string          `yaml:"volumes_from"`
	Volumes     []string          `yaml:"volumes"`
}

type rancherCompose struct {
	Version string `yaml:"version"`
	Catalog struct {
		Name      string `yaml:"name"`
		Version   string `yaml:"version"`
		Questions []struct {
			Variable string   `yaml:"variable"`
			Type     string   `yaml:"type"`
			Default  any      `yaml:"default"`
			Options  []string `yaml:"options"`
		} `yaml:"questions"`
	} `yaml:"catalog"`
	Services map[string]map[string]any `yaml:"services"`
}

var templateVar = regexp.MustCompile(`\$\{([a-zA-Z0-9_]+)\}`)

func loadTemplate(t *testing.T) (composeFile, rancherCompose, map[string]string) {
	t.Helper()
	dc, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := os.ReadFile("../rancher-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(dc, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	var r rancherCompose
	if err := yaml.Unmarshal(rc, &r); err != nil {
		t.Fatalf("rancher-compose.yml: %v", err)
	}
	answers := map[string]string{}
	for _, q := range r.Catalog.Questions {
		answers[q.Variable] = strings.TrimSpace(strings.Trim(yamlScalar(q.Default), "'"))
	}
	// Every ${var} must be a question, or Rancher substitutes an empty string silently.
	for name, b := range map[string][]byte{"docker-compose.yml": dc, "rancher-compose.yml": rc} {
		for _, m := range templateVar.FindAllStringSubmatch(string(b), -1) {
			if _, ok := answers[m[1]]; !ok {
				t.Errorf("%s uses ${%s}, which no question defines", name, m[1])
			}
		}
	}
	return c, r, answers
}

func yamlScalar(v any) string {
	if v == nil {
		return ""
	}
	b, _ := yaml.Marshal(v)
	return strings.TrimSpace(string(b))
}

func substitute(s string, answers map[string]string) string {
	return templateVar.ReplaceAllStringFunc(s, func(m string) string {
		return answers[templateVar.FindStringSubmatch(m)[1]]
	})
}

func words(v any) []string {
	switch x := v.(type) {
	case string:
		return strings.Fields(x)
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, yamlScalar(e))
		}
		return out
	}
	return nil
}

func TestComposeMatchesCLI(t *testing.T) {
	c, r, answers := loadTemplate(t)
	if c.Version != "2" || r.Version != "2" {
		t.Fatalf("compose versions %q/%q, want '2' (Rancher 1.2+ catalog block)", c.Version, r.Version)
	}
	if r.Catalog.Name == "" || r.Catalog.Version == "" || len(r.Catalog.Questions) == 0 {
		t.Fatal("rancher-compose.yml lacks a catalog block with questions")
	}
	usesAgent := 0
	for name, svc := range c.Services {
		argv := append(words(svc.Entrypoint), words(svc.Command)...)
		isAgentImage := strings.Contains(svc.Image, "replset-agent")
		if len(argv) > 0 && strings.HasSuffix(argv[0], "/replset-agent") {
			argv = argv[1:] // the installed binary as entrypoint
		} else if !isAgentImage {
			continue
		}
		usesAgent++
		for i := range argv {
			argv[i] = substitute(argv[i], answers)
		}
		env := map[string]string{}
		for k, v := range svc.Environment {
			env[k] = substitute(v, answers)
		}
		t.Run(name, func(t *testing.T) { checkAgentInvocation(t, argv, env) })
	}
	if usesAgent != 3 {
		t.Fatalf("found %d services running replset-agent, want 3 (mongo-agent, letschat, agent-install)", usesAgent)
	}
}

// checkAgentInvocation parses a service's command and environment exactly as the binary would.
func checkAgentInvocation(t *testing.T, argv []string, env map[string]string) {
	if len(argv) == 0 {
		t.Fatal("no command")
	}
	var s *optionSet
	var validate func() error
	switch argv[0] {
	case "mongo":
		var c mongoConfig
		s, validate = c.options(), c.validate
	case "letschat":
		var c letschatConfig
		s, validate = c.options(), c.validate
	case "install":
		var out, errb bytes.Buffer
		dir := t.TempDir()
		args := append([]string{"install"}, argv[1:len(argv)-1]...)
		if code := run(append(args, dir), envMap(env), &out, &errb); code != 0 {
			t.Fatalf("install: exit %d: %s", code, errb.String())
		}
		return
	default:
		t.Fatalf("command %q is not a replset-agent command", argv[0])
	}
	known := map[string]bool{}
	for _, o := range s.opts {
		known[o.env] = true
	}
	for k := range env {
		if !known[k] {
			t.Errorf("environment variable %s is not read by replset-agent %s", k, argv[0])
		}
	}
	if _, err := s.parse(argv[1:], envMap(env)); err != nil {
		t.Fatalf("%v: %v", argv, err)
	}
	if err := validate(); err != nil {
		t.Fatalf("%v with template defaults: %v", argv, err)
	}
}

func TestComposeRancherRules(t *testing.T) {
	c, r, _ := loadTemplate(t)
	for name, svc := range c.Services {
		if svc.Labels["io.rancher.container.start_once"] != "" && name != "agent-install" {
			t.Errorf("%s carries start_once; only the install sidekick may (a watcher must keep running)", name)
		}
	}
	if c.Services["agent-install"].Labels["io.rancher.container.start_once"] != "true" {
		t.Error("agent-install must carry io.rancher.container.start_once: 'true'")
	}
	mongo := c.Services["mongo"]
	if mongo.Labels["io.rancher.scheduler.global"] != "true" {
		t.Error("mongo must be scheduled globally")
	}
	if !strings.Contains(mongo.Labels["io.rancher.sidekicks"], "mongo-agent") {
		t.Error("mongo-agent must be a sidekick of mongo")
	}
	if !strings.Contains(words2(mongo.Command), "--replSet ${replset_name}") {
		t.Errorf("mongo command %v lacks --replSet ${replset_name}", mongo.Command)
	}
	if c.Services["mongo-agent"].NetworkMode != "container:mongo" {
		t.Error("mongo-agent must share mongo's network namespace")
	}
	lc := c.Services["letschat"]
	if lc.Labels["io.rancher.scheduler.global"] != "true" || !strings.Contains(lc.Labels["io.rancher.sidekicks"], "agent-install") {
		t.Error("letschat must be global with the agent-install sidekick")
	}
	if len(lc.VolumesFrom) == 0 || lc.VolumesFrom[0] != "agent-install" {
		t.Error("letschat must take the binary via volumes_from agent-install")
	}
	if !strings.HasPrefix(c.Services["lb"].Image, "rancher/lb-service-haproxy") {
		t.Error("the load balancer must be rancher/lb-service-haproxy")
	}
	lb := r.Services["lb"]["lb_config"]
	if !strings.Contains(yamlScalar(lb), "connect.sid") {
		t.Error("the load balancer must stick on the connect.sid cookie")
	}
	for _, svc := range []string{"mongo", "mongo-agent", "letschat"} {
		if r.Services[svc]["health_check"] == nil {
			t.Errorf("%s has no health check", svc)
		}
	}
	// The agent's health check must hit the port it listens on.
	hc, _ := r.Services["mongo-agent"]["health_check"].(map[string]any)
	listen := c.Services["mongo-agent"].Environment["LISTEN_ADDRESS"]
	if port := yamlScalar(hc["port"]); listen == "" || !strings.HasSuffix(listen, ":"+port) {
		t.Errorf("mongo-agent health check port %s does not match LISTEN_ADDRESS %q", port, listen)
	}
	if rl := yamlScalar(hc["request_line"]); !strings.Contains(rl, "/healthz") {
		t.Errorf("mongo-agent health check %q does not ask /healthz", rl)
	}
}

func words2(v any) string { return strings.Join(words(v), " ") }

func TestCatalogEntry(t *testing.T) {
	for _, f := range []string{"docker-compose.yml", "rancher-compose.yml"} {
		root, _ := os.ReadFile(filepath.Join("..", f))
		cat, err := os.ReadFile(filepath.Join("..", "templates", "letschat", "0", f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(root, cat) {
			t.Errorf("templates/letschat/0/%s differs from the root %s; copy it over", f, f)
		}
	}
	for _, f := range []string{"config.yml", "catalogIcon-letschat.svg", "0/README.md"} {
		if _, err := os.Stat(filepath.Join("..", "templates", "letschat", f)); err != nil {
			t.Errorf("catalog entry file missing: %v", err)
		}
	}
	var cfg map[string]any
	b, _ := os.ReadFile("../templates/letschat/config.yml")
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"name", "description", "version", "category"} {
		if cfg[k] == nil {
			t.Errorf("config.yml lacks %s", k)
		}
	}
}
