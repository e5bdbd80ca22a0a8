package agent

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var httpClient = &http.Client{Timeout: 10 * time.Second}

func TestDemoConverges(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"demo", "--removal-grace", "2s"}, noEnv, &out, &errb)
	if code != 0 {
		t.Fatalf("demo exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	for _, want := range []string{"3 hosts: set initiated", "host2 removed after the grace", "a new primary takes over", "everything settles", "0 lost", "MongoDB: 5.0.31 as read by the agents", "OK: every step converged.",
		"access control ON", "first users created, exactly once", "users created by the agents: admin@admin, letschat@admin", "mongodb://letschat:xxxxx@"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
}

func TestDemoReportsAStepThatDoesNotConverge(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"demo", "--step-timeout", "1ms"}, noEnv, &out, &errb)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), "FAILED") || !strings.Contains(out.String(), "did not converge") {
		t.Fatalf("output does not say which step failed:\n%s", out.String())
	}
}

func TestMetricsMove(t *testing.T) {
	d := settledEnv(t, 3)
	srv := httptest.NewServer(d.hosts[0].agent.endpoints().handler())
	defer srv.Close()
	before := metricValue(t, get(t, srv.URL+"/metrics"), "replset_agent_snapshots_total")
	if before < 1 {
		t.Fatalf("snapshots_total = %v after the set settled", before)
	}
	// A metadata change must reach the agent as one more snapshot.
	d.tree.Host(d.hosts[0].meta.UUID).Label("rack", "r1")
	d.meta.SetTree(d.tree)
	deadline := time.Now().Add(10 * time.Second)
	for metricValue(t, get(t, srv.URL+"/metrics"), "replset_agent_snapshots_total") <= before {
		if time.Now().After(deadline) {
			t.Fatal("snapshots_total did not move after a metadata change")
		}
		time.Sleep(50 * time.Millisecond)
	}
	body := get(t, srv.URL+"/metrics")
	for _, name := range []string{"replset_agent_metadata_requests_total", "replset_agent_members", "replset_agent_metadata_last_success_timestamp_seconds"} {
		if !strings.Contains(body, name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	if !strings.Contains(body, `replset_agent_members{role="mongo",state="PRIMARY"} 1`) {
		t.Errorf("/metrics does not count the primary:\n%s", grep(body, "replset_agent_members"))
	}
	if got := get(t, srv.URL+"/readyz"); strings.TrimSpace(got) != "ok" {
		t.Errorf("/readyz = %q on a settled member", got)
	}
	if got := get(t, srv.URL+"/healthz"); strings.TrimSpace(got) != "ok" {
		t.Errorf("/healthz = %q", got)
	}
}

func metricValue(t *testing.T, body, name string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + `(\{[^}]*\})? ([0-9.e+]+)$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("metric %s not found", name)
	}
	v, _ := strconv.ParseFloat(m[2], 64)
	return v
}

func grep(body, substr string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
