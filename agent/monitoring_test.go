package agent

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/sirupsen/logrus"

	"github.com/replset-agent/replset-agent/lcconfig"
	"github.com/replset-agent/replset-agent/metadata/metadatatest"
)

// The alert rules and the Grafana dashboard in monitoring/ are checked against the agents
// themselves: the rules with Prometheus' own rule-file parser, every PromQL expression with its
// parser, and every metric and label they use against the /metrics of running roles.

const (
	rulesFile     = "../monitoring/replset-agent.rules.yml"
	dashboardFile = "../monitoring/replset-agent.dashboard.json"
)

// pendingMetrics are used by monitoring/ and agreed in the round plan, but exported by work that
// is merged separately. They are skipped with a message while absent; once a running role exports
// one, the test fails until its entry is removed here, so the check cannot stay switched off.
var pendingMetrics = map[string]string{}

// eventOnlyMetrics get a series only when something goes wrong in a way the healthy in-process
// scenario does not produce; for them the role's registry must declare the metric and its labels.
var eventOnlyMetrics = map[string]string{
	"replset_agent_mongo_errors_total": "counted when an action fails, which a healthy set never does",
}

// unscrapedLabelValues are label values the monitoring matches on that the healthy scenario does
// not produce, with the code that sets them.
var unscrapedLabelValues = map[string][]string{
	"result": {"error"}, // reconcilerMetrics.ActionRun in mongo.go
}

// targetLabels are attached by Prometheus when it scrapes, not by the agent.
var targetLabels = []string{"job", "instance"}

func loadRules(t *testing.T) *rulefmt.RuleGroups {
	t.Helper()
	// Legacy name validation: the rules must load on Prometheus 2 as well as 3.
	groups, errs := rulefmt.ParseFile(rulesFile, false, model.LegacyValidation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Errorf("%v", err)
	}
	if groups == nil {
		t.FailNow()
	}
	return groups
}

func TestAlertRules(t *testing.T) {
	groups := loadRules(t)
	alerts := map[string]rulefmt.Rule{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				t.Errorf("group %s: %q is not an alert", g.Name, r.Record)
				continue
			}
			alerts[r.Alert] = r
			if s := r.Labels["severity"]; s != "critical" && s != "warning" {
				t.Errorf("%s: severity %q, want critical or warning", r.Alert, s)
			}
			for _, a := range []string{"summary", "description"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("%s: no %s annotation", r.Alert, a)
				}
			}
		}
	}
	// What issue 13 asks to be alerted on.
	for _, name := range []string{"ReplsetNoPrimary", "ReplsetForeignSet", "ReplsetMetadataStale", "ReplsetMembersUnhealthy", "LetsChatRestartLoop"} {
		if _, ok := alerts[name]; !ok {
			t.Errorf("no alert %s", name)
		}
	}
}

// The parser the rules test relies on does reject what Prometheus would refuse to load.
func TestAlertRulesParserRejects(t *testing.T) {
	p := parser.NewParser(parser.Options{})
	for name, doc := range map[string]string{
		"bad PromQL":     "groups: [{name: g, rules: [{alert: A, expr: 'rate(x)'}]}]",
		"bad template":   "groups: [{name: g, rules: [{alert: A, expr: 'up == 0', annotations: {summary: '{{ $value '}}]}]",
		"unknown field":  "groups: [{name: g, rules: [{alert: A, expr: 'up == 0', severity: page}]}]",
		"duplicate name": "groups: [{name: g, rules: []}, {name: g, rules: []}]",
	} {
		if _, errs := rulefmt.Parse([]byte(doc), false, model.LegacyValidation, p, slog.New(slog.DiscardHandler)); len(errs) == 0 {
			t.Errorf("%s: accepted", name)
		}
	}
}

// grafanaDashboard is the part of Grafana's dashboard model the checks read.
type grafanaDashboard struct {
	Title         string         `json:"title"`
	UID           string         `json:"uid"`
	SchemaVersion int            `json:"schemaVersion"`
	Panels        []grafanaPanel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Datasource *grafanaDS      `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

type grafanaDS struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type grafanaPanel struct {
	ID         int                      `json:"id"`
	Type       string                   `json:"type"`
	Title      string                   `json:"title"`
	Datasource *grafanaDS               `json:"datasource"`
	GridPos    struct{ H, W, X, Y int } `json:"gridPos"`
	Targets    []struct {
		RefID      string     `json:"refId"`
		Expr       string     `json:"expr"`
		Datasource *grafanaDS `json:"datasource"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"`
}

func loadDashboard(t *testing.T) grafanaDashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d grafanaDashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// The dashboard imports as is: a title and uid, one data source variable that every query uses,
// unique panel ids, and panels that fit Grafana's 24-column grid without overlapping.
func TestGrafanaDashboard(t *testing.T) {
	d := loadDashboard(t)
	if d.Title == "" || d.UID == "" || d.SchemaVersion < 30 {
		t.Errorf("title %q, uid %q, schemaVersion %d", d.Title, d.UID, d.SchemaVersion)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
	}
	if vars["datasource"] != "datasource" {
		t.Fatal("no datasource variable: the dashboard would be tied to one Prometheus")
	}
	ids := map[int]bool{}
	type cell struct{ x, y int }
	taken := map[cell]string{}
	var walk func([]grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			if ids[p.ID] || p.ID == 0 {
				t.Errorf("panel %q: id %d missing or reused", p.Title, p.ID)
			}
			ids[p.ID] = true
			g := p.GridPos
			if g.W < 1 || g.H < 1 || g.X < 0 || g.X+g.W > 24 || g.Y < 0 {
				t.Errorf("panel %q: gridPos %+v outside the grid", p.Title, g)
			}
			for x := g.X; x < g.X+g.W; x++ {
				for y := g.Y; y < g.Y+g.H; y++ {
					if other, dup := taken[cell{x, y}]; dup {
						t.Errorf("panels %q and %q overlap at %d,%d", other, p.Title, x, y)
						return
					}
					taken[cell{x, y}] = p.Title
				}
			}
			if p.Type != "row" {
				if p.Datasource == nil || p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
					t.Errorf("panel %q: no query on ${datasource}", p.Title)
				}
				for _, tg := range p.Targets {
					if tg.RefID == "" || strings.TrimSpace(tg.Expr) == "" {
						t.Errorf("panel %q: target without refId or expr", p.Title)
					}
				}
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
}

// promQLUse is one PromQL expression of the monitoring files, where it comes from.
type promQLUse struct{ where, expr string }

// grafanaVar is how Grafana writes a template variable into a query: $name or ${name}.
var grafanaVar = regexp.MustCompile(`\$\{?(\w+)\}?`)

// grafanaValues stand in for the variables the dashboard's queries use, as Grafana would
// substitute them.
var grafanaValues = map[string]string{"__rate_interval": "1m", "__interval": "1m", "__range": "1h", "job": ".+"}

var labelValuesQuery = regexp.MustCompile(`^label_values\((.+),\s*(\w+)\)$`)

func monitoringExprs(t *testing.T) []promQLUse {
	t.Helper()
	var uses []promQLUse
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			uses = append(uses, promQLUse{"rule " + r.Alert, r.Expr})
		}
	}
	d := loadDashboard(t)
	substitute := func(where, q string) string {
		return grafanaVar.ReplaceAllStringFunc(q, func(m string) string {
			name := grafanaVar.FindStringSubmatch(m)[1]
			v, ok := grafanaValues[name]
			if !ok {
				t.Errorf("%s: unknown Grafana variable %s", where, m)
			}
			return v
		})
	}
	var walk func([]grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				where := "panel " + p.Title
				uses = append(uses, promQLUse{where, substitute(where, tg.Expr)})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct{ Query string }
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Errorf("variable %s: query %s: %v", v.Name, v.Query, err)
			continue
		}
		m := labelValuesQuery.FindStringSubmatch(q.Query)
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(selector, label)", v.Name, q.Query)
			continue
		}
		where := "variable " + v.Name
		uses = append(uses, promQLUse{where, substitute(where, m[1])})
	}
	return uses
}

// family is what the running agents expose of one metric.
type family struct {
	typ    dto.MetricType
	labels map[string]map[string]bool // label name → values seen
}

// TestMonitoringUsesRealMetrics starts the roles in this process — three mongo agents on the
// emulated set with fake metadata, and a letschat agent whose stand-in Let's Chat crashes once —,
// scrapes their /metrics, and checks every metric, label and matched value that a rule, a
// dashboard query or a dashboard variable uses.
func TestMonitoringUsesRealMetrics(t *testing.T) {
	uses := monitoringExprs(t)
	if t.Failed() {
		t.FailNow()
	}
	scraped, declared := scrapeRunningRoles(t)

	p := parser.NewParser(parser.Options{})
	pendingSeen := map[string]bool{}
	for _, u := range uses {
		expr, err := p.ParseExpr(u.expr)
		if err != nil {
			t.Errorf("%s: %q: %v", u.where, u.expr, err)
			continue
		}
		usedLabels := map[string]bool{}
		for _, sel := range selectors(expr) {
			name := sel.Name
			f, ok := scraped[name]
			if !ok {
				f, ok = scraped[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")]
				ok = ok && (f.typ == dto.MetricType_HISTOGRAM || f.typ == dto.MetricType_SUMMARY)
			}
			if why, pending := pendingMetrics[name]; pending {
				if !pendingSeen[name] {
					pendingSeen[name] = true
					if ok {
						t.Errorf("%s is exported now: remove it from pendingMetrics", name)
					} else {
						t.Logf("skipped %s, used by %s: pending %s", name, u.where, why)
					}
				}
				continue
			}
			if !ok {
				if _, eventOnly := eventOnlyMetrics[name]; eventOnly {
					f, ok = declared[name]
				}
			}
			if !ok {
				t.Errorf("%s uses %s, which no running role exports", u.where, name)
				continue
			}
			for _, m := range sel.LabelMatchers {
				if m.Name == model.MetricNameLabel {
					continue
				}
				values, has := f.labels[m.Name]
				if !has && !slices.Contains(targetLabels, m.Name) && !(m.Name == "le" && strings.HasSuffix(name, "_bucket")) {
					t.Errorf("%s: %s has no label %q", u.where, name, m.Name)
					continue
				}
				if has && m.Type == labels.MatchEqual && !values[m.Value] && !slices.Contains(unscrapedLabelValues[m.Name], m.Value) {
					t.Errorf("%s: %s{%s=%q}: the agents never set that value (seen: %v)", u.where, name, m.Name, m.Value, keys(values))
				}
			}
			for l := range f.labels {
				usedLabels[l] = true
			}
		}
		// Grouping labels must exist on what is grouped, or come from the scrape.
		parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
			if agg, ok := n.(*parser.AggregateExpr); ok {
				for _, l := range agg.Grouping {
					if !usedLabels[l] && !slices.Contains(targetLabels, l) && l != "le" && !pendingIn(agg.Expr) {
						t.Errorf("%s: groups by %q, which none of its metrics carries", u.where, l)
					}
				}
			}
			return nil
		})
	}
	for name, why := range pendingMetrics {
		if !pendingSeen[name] {
			t.Errorf("pending metric %s (%s) is used nowhere: remove it from pendingMetrics", name, why)
		}
	}
}

func selectors(expr parser.Expr) []*parser.VectorSelector {
	var out []*parser.VectorSelector
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			out = append(out, vs)
		}
		return nil
	})
	return out
}

// pendingIn reports whether expr reads a pending metric, whose labels cannot be checked yet.
func pendingIn(expr parser.Expr) bool {
	for _, s := range selectors(expr) {
		if _, ok := pendingMetrics[s.Name]; ok {
			return true
		}
	}
	return false
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// scrapeRunningRoles runs the roles and returns what their /metrics serve, merged over all agents,
// plus the metrics their registries declare (for eventOnlyMetrics).
func scrapeRunningRoles(t *testing.T) (scraped, declared map[string]*family) {
	t.Helper()
	d := settledEnv(t, 3)
	lc := startCrashOnceLetschat(t, d)

	scraped = map[string]*family{}
	var handlers []*httptest.Server
	for _, h := range d.hosts {
		srv := httptest.NewServer(h.agent.endpoints().handler())
		t.Cleanup(srv.Close)
		handlers = append(handlers, srv)
	}
	lcSrv := httptest.NewServer(lc.endpoints().handler())
	t.Cleanup(lcSrv.Close)

	// The crash restart is what brings the restart counter's series into /metrics.
	deadline := time.Now().Add(60 * time.Second)
	for {
		fams := scrape(t, lcSrv.URL+"/metrics")
		if f := fams["replset_agent_letschat_restarts_total"]; f != nil && f.labels["reason"][string(lcconfig.ReasonCrashed)] {
			merge(scraped, fams)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the letschat agent never counted the crash restart; /status: %s", get(t, lcSrv.URL+"/status"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, srv := range handlers {
		merge(scraped, scrape(t, srv.URL+"/metrics"))
	}

	declared = map[string]*family{}
	for _, r := range []*metrics{d.hosts[0].agent.m, lc.m} {
		for name, labels := range registeredMetrics(t, r) {
			f := declared[name]
			if f == nil {
				f = &family{labels: map[string]map[string]bool{}}
				declared[name] = f
			}
			for _, l := range labels {
				f.labels[l] = map[string]bool{}
			}
		}
	}
	return scraped, declared
}

var descString = regexp.MustCompile(`^Desc\{fqName: "([^"]+)", .*constLabels: \{([^}]*)\}, variableLabels: \{([^}]*)\}\}$`)

// registeredMetrics returns every metric a role's registry declares, with its label names, series
// or not: a vector without children is declared but not in /metrics.
func registeredMetrics(t *testing.T, m *metrics) map[string][]string {
	t.Helper()
	ch := make(chan *prometheus.Desc)
	go func() { m.registry.Describe(ch); close(ch) }()
	var descs []*prometheus.Desc
	for d := range ch {
		descs = append(descs, d)
	}
	out := map[string][]string{}
	for _, d := range descs {
		sm := descString.FindStringSubmatch(d.String())
		if sm == nil {
			t.Fatalf("unexpected descriptor %s", d)
		}
		var names []string
		for _, kv := range strings.Split(sm[2], ",") {
			if k, _, ok := strings.Cut(kv, "="); ok {
				names = append(names, k)
			}
		}
		for _, v := range strings.Split(sm[3], ",") {
			if v = strings.TrimSuffix(strings.TrimPrefix(v, "c("), ")"); v != "" {
				names = append(names, v)
			}
		}
		out[sm[1]] = names
	}
	return out
}

func scrape(t *testing.T, url string) map[string]*family {
	t.Helper()
	body := get(t, url)
	tp := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := tp.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	out := map[string]*family{}
	for name, mf := range mfs {
		f := &family{typ: mf.GetType(), labels: map[string]map[string]bool{}}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if f.labels[lp.GetName()] == nil {
					f.labels[lp.GetName()] = map[string]bool{}
				}
				f.labels[lp.GetName()][lp.GetValue()] = true
			}
		}
		out[name] = f
	}
	return out
}

func merge(into, from map[string]*family) {
	for name, f := range from {
		g := into[name]
		if g == nil {
			into[name] = f
			continue
		}
		for l, vs := range f.labels {
			if g.labels[l] == nil {
				g.labels[l] = map[string]bool{}
			}
			for v := range vs {
				g.labels[l][v] = true
			}
		}
	}
}

// startCrashOnceLetschat runs a letschat role in this process, listed in metadata beside the mongo
// service, whose child exits on its own once and then keeps running.
func startCrashOnceLetschat(t *testing.T, d *demo) *letschatRole {
	t.Helper()
	c := d.tree.Service("demo", "letschat").AddContainer(d.hosts[0].meta)
	c.PrimaryIP, c.IPs = d.lcIP, []string{d.lcIP}
	d.meta.SetTree(d.tree)
	d.meta.SetSelf(d.lcIP, metadatatest.Self{ContainerUUID: c.UUID})

	dir := t.TempDir()
	marker := filepath.Join(dir, "crashed-once")
	cfg := letschatConfig{}
	if _, err := cfg.options().parse(nil, noEnv); err != nil {
		t.Fatal(err)
	}
	cfg.MetadataURL, cfg.SourceIP = d.meta.BaseURL(), d.lcIP
	cfg.MetadataSpacing = 20 * time.Millisecond
	cfg.Settle = 50 * time.Millisecond
	cfg.KillTimeout = 2 * time.Second
	cfg.Dir = dir
	cfg.CookieSecret = "monitoring-test-cookie-secret"
	cfg.Command = []string{"sh", "-c", `if [ ! -e ` + marker + ` ]; then touch ` + marker + `; exit 3; fi; trap 'exit 0' TERM; while :; do sleep 0.05; done`}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	role, err := newLetschatRole(cfg, letschatOptions{
		Logger:      log,
		ChildStdout: io.Discard,
		ChildStderr: io.Discard,
		Env:         []string{"PATH=" + os.Getenv("PATH")},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); role.run(ctx, nil) }()
	t.Cleanup(func() { cancel(); <-done })
	return role
}
