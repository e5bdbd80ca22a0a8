package agent

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/replset-agent/replset-agent/lcconfig"
)

// The catalog template is checked against the binary's own CLI: a renamed flag or env var must
// break this test, not a user's stack.

type composeFile struct {
	Version  string                    `yaml:"version"`
	Services map[string]composeService `yaml:"services"`
	// Secrets are the stack's Rancher secrets (rancher-compose-executor's SecretConfig: file or
	// external, both strings).
	Secrets map[string]map[string]any `yaml:"secrets"`
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
	// Secrets mount Rancher secrets under /run/secrets/<target> (rancher-compose-executor's
	// SecretReference: source, target, uid and gid strings; mode a string, which every 1.6
	// executor reads, or from v0.14 on an octal int).
	Secrets []composeSecret `yaml:"secrets"`
}

type composeSecret struct {
	Source string `yaml:"source"`
	Target string `yaml:"target"`
	UID    any    `yaml:"uid"`
	GID    any    `yaml:"gid"`
	Mode   any    `yaml:"mode"`
}

type rancherCompose struct {
	Version string `yaml:"version"`
	Catalog struct {
		Name                  string            `yaml:"name"`
		Version               string            `yaml:"version"`
		MinimumRancherVersion string            `yaml:"minimum_rancher_version"`
		Questions             []catalogQuestion `yaml:"questions"`
	} `yaml:"catalog"`
	Services map[string]map[string]any `yaml:"services"`
}

type catalogQuestion struct {
	Variable string   `yaml:"variable"`
	Type     string   `yaml:"type"`
	Required bool     `yaml:"required"`
	Default  any      `yaml:"default"`
	Options  []string `yaml:"options"`
}

var (
	templateVar = regexp.MustCompile(`\$\{([a-zA-Z0-9_]+)\}`)
	valuesVar   = regexp.MustCompile(`\.Values\.([a-zA-Z0-9_]+)`)
)

// loadTemplate reads the root compose files with the questions' default answers.
func loadTemplate(t *testing.T) (composeFile, rancherCompose, map[string]string) {
	t.Helper()
	return loadTemplateWith(t, nil)
}

// loadTemplateWith reads the root compose files as Rancher 1.6's stack executor does
// (rancher-compose-executor, template.Apply): first a Go template over the raw text with the
// answers as .Values (here with missingkey=error, so that every value the template reads is a
// question), then YAML. answers are the questions' defaults, with set's values instead.
func loadTemplateWith(t *testing.T, set map[string]string) (composeFile, rancherCompose, map[string]string) {
	t.Helper()
	dc, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := os.ReadFile("../rancher-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var r rancherCompose
	if err := yaml.Unmarshal(rc, &r); err != nil {
		t.Fatalf("rancher-compose.yml: %v", err)
	}
	answers := map[string]string{}
	for _, q := range r.Catalog.Questions {
		answers[q.Variable] = strings.TrimSpace(strings.Trim(yamlScalar(q.Default), "'"))
	}
	for k, v := range set {
		if _, ok := answers[k]; !ok {
			t.Fatalf("no question %s", k)
		}
		answers[k] = v
	}
	// Every ${var} and .Values.var must be a question, or Rancher substitutes an empty string
	// silently.
	for name, b := range map[string][]byte{"docker-compose.yml": dc, "rancher-compose.yml": rc} {
		for _, re := range []*regexp.Regexp{templateVar, valuesVar} {
			for _, m := range re.FindAllStringSubmatch(string(b), -1) {
				if _, ok := answers[m[1]]; !ok {
					t.Errorf("%s uses %s, which no question defines", name, m[0])
				}
			}
		}
	}
	rendered := renderTemplate(t, "docker-compose.yml", dc, answers)
	var c composeFile
	if err := yaml.Unmarshal(rendered, &c); err != nil {
		t.Fatalf("docker-compose.yml rendered with %v: %v\n%s", set, err, rendered)
	}
	return c, r, answers
}

// renderTemplate applies the executor's templating to a compose file.
func renderTemplate(t *testing.T, name string, b []byte, answers map[string]string) []byte {
	t.Helper()
	tpl, err := template.New(name).Option("missingkey=error").Parse(string(b))
	if err != nil {
		t.Fatalf("%s is not a valid Go template: %v", name, err)
	}
	var out bytes.Buffer
	if err := tpl.Execute(&out, map[string]any{"Values": answers}); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return out.Bytes()
}

func yamlScalar(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
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

// secretsAnswers are the two ways the template takes its secrets: Rancher secrets (the default)
// and the password questions, filled in here as a user would.
var secretsAnswers = map[string]map[string]string{
	"rancher-secrets": nil,
	"questions": {"secrets_source": "questions", "mongo_keyfile": "a2V5ZnJvbXRoZXF1ZXN0aW9u", "mongo_admin_password": "admin-from-question",
		"letschat_db_password": "app-from-question", "letschat_cookie_secret": "cookie-from-question"},
}

// secretContent is what a test puts in each Rancher secret the template mounts, by target.
var secretContent = map[string]string{
	"mongo-keyfile":          "c2VjcmV0LWtleWZpbGUta2V5\n",
	"mongo-admin-password":   "admin-from-secret\n",
	"letschat-db-password":   "app-from-secret\n",
	"letschat-cookie-secret": "cookie-from-secret\n",
}

// secretVariables are the agent's variables that hold a secret's value; with Rancher secrets
// none of them may be set (the *_FILE variables name the files instead).
var secretVariables = []string{"MONGO_PASSWORD", "MONGO_KEYFILE", "LETSCHAT_DB_PASSWORD", "LETSCHAT_COOKIE_SECRET", "MONGO_USERNAME_FILE"}

func TestComposeMatchesCLI(t *testing.T) {
	for source, answers := range secretsAnswers {
		t.Run(source, func(t *testing.T) {
			c, r, all := loadTemplateWith(t, answers)
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
					argv[i] = substitute(argv[i], all)
				}
				env := map[string]string{}
				for k, v := range svc.Environment {
					env[k] = substitute(v, all)
				}
				t.Run(name, func(t *testing.T) {
					checkSecretSources(t, c, name, svc, env, source == "rancher-secrets")
					checkAgentInvocation(t, argv, env)
				})
			}
			if usesAgent != 4 {
				t.Fatalf("found %d services running replset-agent, want 4 (mongo, mongo-agent-install, letschat, agent-install)", usesAgent)
			}
			if source == "questions" && len(c.Secrets) > 0 {
				t.Errorf("secrets from the questions, yet the stack declares Rancher secrets %v", c.Secrets)
			}
		})
	}
}

// checkSecretSources holds a service's secrets to the template's promise. With Rancher secrets,
// every secret the agent reads comes from a file under /run/secrets mounted from a secret the
// stack declares as external (with Rancher's field types), and no secret is in a plain
// variable; the files are replaced in env with temporary ones holding test content. Without
// them, nothing is mounted.
func checkSecretSources(t *testing.T, c composeFile, name string, svc composeService, env map[string]string, rancherSecrets bool) {
	t.Helper()
	if !rancherSecrets {
		if len(svc.Secrets) > 0 {
			t.Errorf("%s mounts Rancher secrets %v with secrets from the questions", name, svc.Secrets)
		}
		return
	}
	for _, v := range secretVariables {
		if _, set := env[v]; set {
			t.Errorf("%s sets %s, a secret in a plain variable, while its file is available", name, v)
		}
	}
	mounted := map[string]composeSecret{}
	for _, sec := range svc.Secrets {
		mounted[sec.Target] = sec
		for field, v := range map[string]any{"uid": sec.UID, "gid": sec.GID, "mode": sec.Mode} {
			if _, isString := v.(string); v != nil && !isString {
				t.Errorf("%s secret %s: %s %v is not a string (Rancher's SecretReference reads a string)", name, sec.Target, field, v)
			}
		}
		decl, ok := c.Secrets[sec.Source]
		if !ok || yamlScalar(decl["external"]) != "true" {
			t.Errorf("%s mounts secret %q, which the stack does not declare external: %v", name, sec.Source, decl)
		}
	}
	dir := t.TempDir()
	for k, v := range env {
		target, ok := strings.CutPrefix(v, "/run/secrets/")
		if !ok {
			continue
		}
		if _, ok := mounted[target]; !ok {
			t.Errorf("%s: %s=%s, but no secret is mounted as %s", name, k, v, target)
			continue
		}
		f := filepath.Join(dir, target)
		if err := os.WriteFile(f, []byte(secretContent[target]), 0o400); err != nil {
			t.Fatal(err)
		}
		env[k] = f
	}
	for target := range mounted {
		if secretContent[target] == "" {
			t.Errorf("%s mounts %s, which the test does not know", name, target)
		}
	}
}

// checkAgentInvocation parses a service's command and environment exactly as the binary would,
// and checks what the roles need to start: the mongo role its keyFile and both users'
// passwords (mongod started with --keyFile at the path the agent writes), Let's Chat its cookie
// secret and its own user's password.
func checkAgentInvocation(t *testing.T, argv []string, env map[string]string) {
	if len(argv) == 0 {
		t.Fatal("no command")
	}
	switch argv[0] {
	case "mongo":
		var c mongoConfig
		ready := func() error {
			child := c.Command
			switch {
			case c.Username == "" || c.Password == "" || c.AppPassword == "":
				return fmt.Errorf("no admin (%q) or no passwords: the set would run without its users", c.Username)
			case c.KeyFile == "" || c.KeyFilePath == "":
				return errors.New("no keyFile")
			case len(child) < 2 || child[0] != "docker-entrypoint.sh" || child[1] != "mongod":
				return fmt.Errorf("child %v is not the image's docker-entrypoint.sh mongod", child)
			case !commandHasKeyFile(child, c.KeyFilePath):
				return fmt.Errorf("mongod %v does not read the keyFile the agent writes at %s", child, c.KeyFilePath)
			}
			return nil
		}
		checkParsed(t, c.options(), c.validate, ready, argv, env, func(child []string) { c.Command = child })
	case "letschat":
		var c letschatConfig
		ready := func() error {
			if c.CookieSecret == "" {
				return errors.New("no cookie secret: Let's Chat would refuse to start")
			}
			if c.AppPassword == "" || c.AppUsername == "" {
				return errors.New("no user of its own in Let's Chat's URI")
			}
			return nil
		}
		checkParsed(t, c.options(), c.validate, ready, argv, env, func([]string) {})
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
}

func checkParsed(t *testing.T, s *optionSet, validate, ready func() error, argv []string, env map[string]string, setChild func([]string)) {
	t.Helper()
	known := map[string]bool{}
	for _, o := range s.opts {
		known[o.env] = true
	}
	for k := range env {
		if !known[k] {
			t.Errorf("environment variable %s is not read by replset-agent %s", k, argv[0])
		}
	}
	own, child := splitCommand(argv[1:])
	rest, err := s.parse(own, envMap(env))
	if err != nil {
		t.Fatalf("%v: %v", argv, err)
	}
	if len(rest) > 0 {
		t.Fatalf("%v: unexpected arguments %v", argv, rest)
	}
	setChild(child)
	if err := validate(); err != nil {
		t.Fatalf("%v with template defaults: %v", argv, err)
	}
	if err := ready(); err != nil {
		t.Errorf("%v: %v", argv, err)
	}
}

func TestComposeRancherRules(t *testing.T) {
	c, r, _ := loadTemplate(t)
	installers := map[string]bool{}
	for name, svc := range c.Services {
		if cmd := words(svc.Command); len(cmd) > 0 && cmd[0] == "install" {
			installers[name] = true
		}
	}
	for name, svc := range c.Services {
		if svc.Labels["io.rancher.container.start_once"] != "" && !installers[name] {
			t.Errorf("%s carries start_once; only the install sidekicks may (a watcher must keep running)", name)
		}
	}
	for _, name := range []string{"agent-install", "mongo-agent-install"} {
		if !installers[name] || c.Services[name].Labels["io.rancher.container.start_once"] != "true" {
			t.Errorf("%s must install the agent and carry io.rancher.container.start_once: 'true'", name)
		}
	}
	mongo := c.Services["mongo"]
	if mongo.Labels["io.rancher.scheduler.global"] != "true" {
		t.Error("mongo must be scheduled globally")
	}
	if _, old := c.Services["mongo-agent"]; old {
		t.Error("the mongo-agent sidekick is gone: the agent is mongo's entrypoint")
	}
	if mongo.Labels["io.rancher.sidekicks"] != "mongo-agent-install" || len(mongo.VolumesFrom) == 0 || mongo.VolumesFrom[0] != "mongo-agent-install" {
		t.Error("mongo must take the agent from its mongo-agent-install sidekick")
	}
	if ep := words(mongo.Entrypoint); len(ep) != 3 || ep[1] != "mongo" || ep[2] != "--" {
		t.Errorf("mongo's entrypoint %v, want the installed agent's `mongo --`", ep)
	}
	cmd := words2(mongo.Command)
	for _, want := range []string{"docker-entrypoint.sh mongod", "--replSet ${replset_name}", "--bind_ip_all", "--keyFile " + mongo.Environment["MONGOD_KEYFILE_PATH"]} {
		if !strings.Contains(cmd, want) {
			t.Errorf("mongo command %q lacks %q", cmd, want)
		}
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
	for _, svc := range []string{"mongo", "letschat"} {
		if r.Services[svc]["health_check"] == nil {
			t.Errorf("%s has no health check", svc)
		}
	}
	// mongo's health is mongod's (the planner counts only healthy members): TCP on 27017.
	hc, _ := r.Services["mongo"]["health_check"].(map[string]any)
	if port := yamlScalar(hc["port"]); port != "27017" || hc["request_line"] != nil {
		t.Errorf("mongo health check %v, want TCP 27017", hc)
	}
	// The agents' endpoints are where monitoring/ scrapes them.
	for svc, port := range map[string]string{"mongo": "9216", "letschat": "9217"} {
		if listen := c.Services[svc].Environment["LISTEN_ADDRESS"]; listen != "0.0.0.0:"+port {
			t.Errorf("%s LISTEN_ADDRESS %q, want 0.0.0.0:%s (monitoring/ and the README scrape it there)", svc, listen, port)
		}
	}
	// The old questions that switched authentication off are gone: it is always on. A secret
	// typed in is a password field.
	for _, q := range r.Catalog.Questions {
		switch q.Variable {
		case "mongo_username", "mongo_password":
			t.Errorf("question %s: authentication is not optional", q.Variable)
		case "mongo_keyfile", "mongo_admin_password", "letschat_db_password", "letschat_cookie_secret":
			if q.Type != "password" {
				t.Errorf("question %s holds a secret but is a %s, not a password", q.Variable, q.Type)
			}
		}
	}
}

func words2(v any) string { return strings.Join(words(v), " ") }

// The catalog entry as Rancher 1.6 reads it: templates/letschat/config.yml and the icon describe
// the template, each numbered folder is one version, and the root compose files are the newest
// version (for `rancher up` without a catalog).
func TestCatalogEntry(t *testing.T) {
	const entry = "../templates/letschat"
	folders := versionFolders(t, entry)
	if len(folders) == 0 {
		t.Fatal("templates/letschat has no version folder")
	}
	newest := folders[len(folders)-1]
	for _, f := range []string{"docker-compose.yml", "rancher-compose.yml"} {
		root, _ := os.ReadFile(filepath.Join("..", f))
		cat, err := os.ReadFile(filepath.Join(entry, newest, f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(root, cat) {
			t.Errorf("templates/letschat/%s/%s differs from the root %s; copy it over", newest, f, f)
		}
	}
	for _, f := range []string{"config.yml", "catalogIcon-letschat.svg", newest + "/README.md"} {
		if _, err := os.Stat(filepath.Join(entry, f)); err != nil {
			t.Errorf("catalog entry file missing: %v", err)
		}
	}
	var cfg map[string]any
	b, _ := os.ReadFile(filepath.Join(entry, "config.yml"))
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"name", "description", "version", "category", "maintainer", "license", "projectURL"} {
		if cfg[k] == nil {
			t.Errorf("config.yml lacks %s", k)
		}
	}
	// Rancher shows the maintainer as a contact: a name and an address.
	if m := yamlScalar(cfg["maintainer"]); !regexp.MustCompile(`^[^<>@]*[^<>@\s] <[^<>@\s]+@[^<>@\s]+\.[a-z]{2,}>$`).MatchString(m) {
		t.Errorf("config.yml maintainer %q is not `Name <email>`", m)
	}
	// config.yml's version is the template's default version: it must name a real one.
	versions := map[string]string{}
	for _, f := range folders {
		var r rancherCompose
		rc, err := os.ReadFile(filepath.Join(entry, f, "rancher-compose.yml"))
		if err != nil {
			t.Fatalf("version folder %s: %v", f, err)
		}
		if err := yaml.Unmarshal(rc, &r); err != nil {
			t.Fatalf("version folder %s: rancher-compose.yml: %v", f, err)
		}
		if r.Catalog.Version == "" {
			t.Errorf("version folder %s: no catalog version (Rancher would not list it)", f)
		}
		if other, dup := versions[r.Catalog.Version]; dup {
			t.Errorf("version folders %s and %s both claim version %s", other, f, r.Catalog.Version)
		}
		versions[r.Catalog.Version] = f
		if _, err := os.Stat(filepath.Join(entry, f, "docker-compose.yml")); err != nil {
			t.Errorf("version folder %s: %v", f, err)
		}
	}
	if def := yamlScalar(cfg["version"]); versions[def] == "" {
		t.Errorf("config.yml version %s is none of the versions %v", def, versions)
	}
}

// versionFolders returns the numbered version folders of a catalog entry, oldest first.
func versionFolders(t *testing.T, entry string) []string {
	t.Helper()
	des, err := os.ReadDir(entry)
	if err != nil {
		t.Fatal(err)
	}
	var nums []int
	for _, de := range des {
		if n, err := strconv.Atoi(de.Name()); err == nil && de.IsDir() {
			nums = append(nums, n)
		}
	}
	sort.Ints(nums)
	var out []string
	for _, n := range nums {
		out = append(out, strconv.Itoa(n))
	}
	return out
}

// A Rancher catalog pointed at this repository must find the Let's Chat template and nothing else.
// Rancher 1.6's catalog service does not look only under templates/: it walks every file of the
// clone (catalog-service v1.6, manager/traverse.go and parse/path.go) and files a path a/b/… under
// template b, with a template base taken from a's prefix before a '-' (infra-templates/x: base
// "infra"). config.yml and catalogIcon* anywhere below b describe the template, b/README.md is its
// readme, and every file in b/<n>/, where n is a number or a semantic version, belongs to version
// n. The root compose files are one level up and never read. catalogPaths reproduces those rules.
func TestCatalogRepositoryLayout(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	found, err := catalogPaths(root)
	if err != nil {
		t.Fatal(err)
	}
	for key, paths := range found {
		if key != "letschat" {
			t.Errorf("a Rancher catalog would make a template %q of %v; only templates/letschat may look like one", key, paths)
			continue
		}
		for _, p := range paths {
			if !strings.HasPrefix(p, "templates/letschat/") {
				t.Errorf("%s would be read as part of the letschat template", p)
			}
		}
	}
	if len(found["letschat"]) == 0 {
		t.Fatal("the catalog walk found no letschat template")
	}
}

func TestCatalogPathRules(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{
		"docker-compose.yml", "README.md", // root: never read
		"templates/app/config.yml", "templates/app/0/rancher-compose.yml", "templates/app/v1.2.3/README.md",
		"infra-templates/net/catalogIcon-net.svg",
		"docs/README.md",        // a readme of template "README.md"
		"e2e/testdata/x.json",   // neither metadata nor a version folder
		"monitoring/rules.yml",  // neither
		"tools/gen/1/main.go",   // a version folder of template "gen"
		"deploy/k8s/config.yml", // config.yml anywhere below the template folder
		"lib/x/notaversion/rancher-compose.yml",
	} {
		p := filepath.Join(dir, f)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, nil, 0o644)
	}
	os.Symlink("config.yml", filepath.Join(dir, "templates", "link.yml"))
	got, err := catalogPaths(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"app":       {"templates/app/0/rancher-compose.yml", "templates/app/config.yml", "templates/app/v1.2.3/README.md"},
		"infra/net": {"infra-templates/net/catalogIcon-net.svg"},
		"README.md": {"docs/README.md"},
		"gen":       {"tools/gen/1/main.go"},
		"k8s":       {"deploy/k8s/config.yml"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("catalog walk:\n got %v\nwant %v", got, want)
	}
}

var semverFolder = regexp.MustCompile(`^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)

// catalogPaths returns, by template key ("base/name", or "name" without a base), the files of the
// tree at root that Rancher 1.6's catalog service would attach to a template. In a git checkout the
// files are those a clone would have (tracked, or new and not ignored); elsewhere every file.
func catalogPaths(root string) (map[string][]string, error) {
	files, err := repositoryFiles(root)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, rel := range files {
		fi, err := os.Lstat(filepath.Join(root, rel))
		if err != nil || !fi.Mode().IsRegular() {
			continue // deleted in the work tree, or a symlink, which the catalog service skips
		}
		parts := strings.Split(rel, "/")
		if len(parts) < 2 {
			continue
		}
		name := parts[len(parts)-1]
		relevant := name == "config.yml" || strings.HasPrefix(name, "catalogIcon")
		if strings.HasPrefix(strings.ToLower(name), "readme.md") && len(parts) == 2 {
			relevant = true
		}
		if len(parts) >= 3 {
			if _, err := strconv.Atoi(parts[2]); err == nil || semverFolder.MatchString(strings.Trim(parts[2], "v")) {
				relevant = true
			}
		}
		if !relevant {
			continue
		}
		key := parts[1]
		if base, _, ok := strings.Cut(parts[0], "-"); ok {
			key = base + "/" + key
		}
		out[key] = append(out[key], rel)
	}
	for _, paths := range out {
		sort.Strings(paths)
	}
	return out, nil
}

// repositoryFiles lists the files under root, slash-separated and relative to it.
func repositoryFiles(root string) ([]string, error) {
	if _, err := os.Stat(filepath.Join(root, ".git")); err == nil {
		out, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
		if err != nil {
			return nil, fmt.Errorf("git ls-files: %w", err)
		}
		var files []string
		for _, f := range strings.Split(string(out), "\x00") {
			if f != "" {
				files = append(files, f)
			}
		}
		return files, nil
	}
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(root, path)
		files = append(files, filepath.ToSlash(rel))
		return err
	})
	return files, err
}

// Every image the stack runs is pinned: Let's Chat at the release the agent is built for, the
// agent at the release this tree builds (the Dockerfile's VERSION, which is also the catalog
// version), MongoDB at a patch release of the version window, the balancer at a fixed release.
func TestTemplateImagesPinned(t *testing.T) {
	c, r, _ := loadTemplate(t)
	agentVersion := dockerfileArg(t, "VERSION")
	if r.Catalog.Version != agentVersion {
		t.Errorf("catalog version %s, want the agent release %s (Dockerfile ARG VERSION)", r.Catalog.Version, agentVersion)
	}
	want := map[string]string{
		"replsetagent/replset-agent": agentVersion,
		"sdelements/lets-chat":       "0.4.8",
		"mongo":                      "${mongo_version}",
	}
	for name, svc := range c.Services {
		repo, tag, ok := strings.Cut(svc.Image, ":")
		if !ok || strings.Contains(tag, "/") {
			t.Errorf("service %s: image %q has no tag (Docker would pull latest)", name, svc.Image)
			continue
		}
		if tag == "latest" || strings.HasPrefix(tag, "latest") {
			t.Errorf("service %s: image %q is not pinned", name, svc.Image)
		}
		w, listed := want[repo]
		switch {
		case listed && tag != w:
			t.Errorf("service %s: image %s, want tag %s", name, svc.Image, w)
		case !listed && !regexp.MustCompile(`^v?[0-9]+\.[0-9]+\.[0-9]+$`).MatchString(tag):
			t.Errorf("service %s: image %s is not pinned to a release", name, svc.Image)
		}
	}
	for _, q := range r.Catalog.Questions {
		if strings.HasSuffix(q.Variable, "_version") && q.Variable != "mongo_version" {
			t.Errorf("question %s lets the user pick an image the template was not checked with", q.Variable)
		}
	}
}

// The stack runs MongoDB 4.4 or 5.0 (mongodb-replica-set.md §0): the Go driver needs 4.4, Let's
// Chat's OP_QUERY driver is refused from 5.1 on, 6.0+ images fail on Rancher 1.6's Docker. The
// question offers exactly one patch release of each, 5.0 by default; 4.4 is there for CPUs
// without AVX.
func TestMongoVersionQuestion(t *testing.T) {
	c, r, answers := loadTemplate(t)
	var q *catalogQuestion
	for i := range r.Catalog.Questions {
		if r.Catalog.Questions[i].Variable == "mongo_version" {
			q = &r.Catalog.Questions[i]
		}
	}
	if q == nil {
		t.Fatal("no mongo_version question")
	}
	if q.Type != "enum" || !q.Required {
		t.Errorf("mongo_version is a %s (required %v), want a required enum", q.Type, q.Required)
	}
	patch := regexp.MustCompile(`^(4\.4|5\.0)\.[0-9]+$`)
	lines := map[string]string{}
	for _, o := range q.Options {
		m := patch.FindStringSubmatch(o)
		if m == nil {
			t.Errorf("mongo_version option %q is outside the 4.4/5.0 window or not a patch release", o)
			continue
		}
		if prev, dup := lines[m[1]]; dup {
			t.Errorf("mongo_version offers %s twice (%s and %s)", m[1], prev, o)
		}
		lines[m[1]] = o
	}
	if lines["5.0"] == "" || lines["4.4"] == "" {
		t.Errorf("mongo_version options %v, want one 5.0.x and one 4.4.x", q.Options)
	}
	if def := answers["mongo_version"]; def != lines["5.0"] || def == "" {
		t.Errorf("mongo_version default %q, want the 5.0 option %q", def, lines["5.0"])
	}
	if img := c.Services["mongo"].Image; img != "mongo:${mongo_version}" {
		t.Errorf("mongo image %q does not follow the question", img)
	}
}

// Rancher 1.6.8 is the first release that health-checks a sidekick sharing its primary's network
// namespace, and mongo-agent is one.
func TestMinimumRancherVersion(t *testing.T) {
	_, r, _ := loadTemplate(t)
	if r.Catalog.MinimumRancherVersion != "v1.6.8" {
		t.Errorf("minimum_rancher_version %q, want v1.6.8", r.Catalog.MinimumRancherVersion)
	}
}

func TestEnumQuestionDefaults(t *testing.T) {
	_, r, _ := loadTemplate(t)
	for _, q := range r.Catalog.Questions {
		if q.Type == "enum" {
			if d := yamlScalar(q.Default); !slices.Contains(q.Options, d) {
				t.Errorf("question %s: default %q is not one of %v", q.Variable, d, q.Options)
			}
		}
	}
}

// Active–standby in the template: the load balancer routes by the Let's Chat health check, so it
// must be the agent's /readyz on the port the agent listens on; a failing standby must never be
// recreated; and the handover delay must cover the time the load balancer takes to act on a
// change of /readyz (interval × the larger threshold + the timeout).
func TestComposeActiveStandby(t *testing.T) {
	c, r, answers := loadTemplate(t)
	lc := c.Services["letschat"]
	if got := substitute(lc.Environment["LETSCHAT_INSTANCES"], answers); got != string(lcconfig.ActiveStandby) {
		t.Errorf("LETSCHAT_INSTANCES defaults to %q, want active-standby", got)
	}
	var q *catalogQuestion
	for i := range r.Catalog.Questions {
		if r.Catalog.Questions[i].Variable == "letschat_instances" {
			q = &r.Catalog.Questions[i]
		}
	}
	if q == nil || q.Type != "enum" || !slices.Equal(slices.Sorted(slices.Values(q.Options)), []string{"active-standby", "all-active"}) {
		t.Fatalf("question letschat_instances: %+v", q)
	}
	hc, _ := r.Services["letschat"]["health_check"].(map[string]any)
	if hc == nil {
		t.Fatal("letschat has no health check")
	}
	listen := lc.Environment["LISTEN_ADDRESS"]
	if port := yamlScalar(hc["port"]); !strings.HasSuffix(listen, ":"+port) {
		t.Errorf("letschat health check port %s is not the agent's LISTEN_ADDRESS %q", port, listen)
	}
	if rl := yamlScalar(hc["request_line"]); !regexp.MustCompile(`^GET /readyz HTTP/1\.[01]$`).MatchString(rl) {
		t.Errorf("letschat health check %q does not ask the agent's /readyz", rl)
	}
	if s := yamlScalar(hc["strategy"]); s != "none" {
		t.Errorf("letschat health check strategy %q: a standby fails the check by design and must not be recreated", s)
	}
	ms := func(k string) time.Duration {
		n, err := strconv.Atoi(yamlScalar(hc[k]))
		if err != nil || n <= 0 {
			t.Fatalf("letschat health check %s = %v", k, hc[k])
		}
		return time.Duration(n) * time.Millisecond
	}
	threshold := func(k string) int {
		n, err := strconv.Atoi(yamlScalar(hc[k]))
		if err != nil || n <= 0 {
			t.Fatalf("letschat health check %s = %v", k, hc[k])
		}
		return n
	}
	react := time.Duration(max(threshold("healthy_threshold"), threshold("unhealthy_threshold")))*ms("interval") + ms("response_timeout")
	delay, err := time.ParseDuration(lc.Environment["LETSCHAT_HANDOVER_DELAY"])
	if err != nil {
		t.Fatalf("LETSCHAT_HANDOVER_DELAY: %v", err)
	}
	if delay < react {
		t.Errorf("LETSCHAT_HANDOVER_DELAY %s is shorter than the load balancer's reaction, %s", delay, react)
	}
	// The load balancer sends users to Let's Chat's port, not the agent's.
	if lb := yamlScalar(r.Services["lb"]["lb_config"]); !strings.Contains(lb, "target_port: 8080") {
		t.Errorf("the load balancer does not target Let's Chat's port 8080:\n%s", lb)
	}
}
