package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/replset-agent/replset-agent/mongosim"
)

func TestJudgeVersion(t *testing.T) {
	cases := []struct {
		version  string
		letschat bool
		tooOld   bool
		alarm    bool
	}{
		{"4.2.25", false, true, false},
		{"4.2", true, true, false},
		{"3.6", false, true, false},
		{"4.4.29", true, false, false},
		{"5.0.31", true, false, false},
		{"5.0.31", false, false, false},
		{"5.1.0", true, false, true},
		{"6.0.20", true, false, true},
		{"8.0.4", true, false, true},
		{"8.0.4", false, false, false},
		{"10.0.1", true, false, true},
		{"", true, false, false},
	}
	for _, tc := range cases {
		v := judgeVersion(tc.version, tc.letschat)
		if v.TooOld != tc.tooOld || (v.Alarm != "") != tc.alarm {
			t.Errorf("judgeVersion(%q, letschat=%v) = %+v, want tooOld=%v alarm=%v", tc.version, tc.letschat, v, tc.tooOld, tc.alarm)
		}
		if tc.alarm && !strings.Contains(v.Alarm, tc.version) {
			t.Errorf("alarm %q does not name the version", v.Alarm)
		}
	}
	refusal := errors.New("buildInfo on 10.0.0.1:27017: unreachable: server selection error: server at 10.0.0.1:27017 reports wire version 8, but this version of the Go driver requires at least 9 (MongoDB 4.4)")
	if v, ok := versionFromRefusal(refusal); !ok || v != "4.2" {
		t.Errorf("versionFromRefusal = %q, %v", v, ok)
	}
	if _, ok := versionFromRefusal(errors.New("connection refused")); ok {
		t.Error("a network error taken for a version")
	}
}

func TestVersionWatchMetricsFollowLetschatPresence(t *testing.T) {
	reg := prometheus.NewRegistry()
	w := newVersionWatch(discardLogger(), reg, "mongo", true, false)
	if w.record("6.0.20", "h:27017", nil) {
		t.Fatal("6.0 refused")
	}
	if got := gauge(t, reg, "replset_agent_mongodb_version_alarm", ""); got != 0 {
		t.Fatalf("alarm = %v without Let's Chat", got)
	}
	if got := gauge(t, reg, "replset_agent_mongodb_version_info", "6.0.20"); got != 1 {
		t.Fatalf("version_info{6.0.20} = %v", got)
	}
	w.setLetschat(true)
	if got := gauge(t, reg, "replset_agent_mongodb_version_alarm", ""); got != 1 || w.status().Alarm == "" {
		t.Fatalf("alarm = %v, status %+v once Let's Chat is in the stack", got, w.status())
	}
	w.setLetschat(false)
	if got := gauge(t, reg, "replset_agent_mongodb_version_alarm", ""); got != 0 || w.status().Alarm != "" {
		t.Fatalf("alarm = %v, status %+v once Let's Chat left", got, w.status())
	}
	if !w.record("4.2", "h:27017", nil) || !w.status().Refused || gauge(t, reg, "replset_agent_mongodb_version_alarm", "") != 1 {
		t.Fatalf("4.2 not refused: %+v", w.status())
	}
	if gauge(t, reg, "replset_agent_mongodb_version_info", "6.0.20") != 0 {
		t.Fatal("the old version_info series stayed")
	}
}

// gauge reads a gauge from reg: the series whose version label is version ("" for none); 0 when
// absent.
func gauge(t *testing.T, reg *prometheus.Registry, name, version string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			v := ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "version" {
					v = l.GetValue()
				}
			}
			if v == version {
				return m.GetGauge().GetValue()
			}
		}
	}
	return 0
}

// versionEnv starts the demo's world with the emulator presenting version, and n hosts with
// their mongo agents; the demo's stack has a Let's Chat service.
func versionEnv(t *testing.T, version mongosim.ServerVersion, n int, logs io.Writer) *demo {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cfg := demoConfig{Hosts: n, Grace: 2 * time.Second, StepLimit: 30 * time.Second, Version: version, Verbose: logs != nil}
	if logs == nil {
		logs = io.Discard
	}
	d, err := newDemo(ctx, cfg, io.Discard, logs)
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
	return d
}

func waitVersion(t *testing.T, what string, st func() *versionStatus, ok func(*versionStatus) bool) *versionStatus {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := st()
		if s != nil && ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: last version status %+v", what, s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMongoAgentRefusesMongoDBOlderThan44: against 4.2 every agent names the version, says in its
// log, /status and metrics that it refuses to manage the set, and its reconciler stops: a later
// metadata change causes no pass.
func TestMongoAgentRefusesMongoDBOlderThan44(t *testing.T) {
	var logs syncBuffer
	d := versionEnv(t, mongosim.Version42, 3, &logs)
	for _, h := range d.hosts {
		st := waitVersion(t, h.name+" refuses", h.agent.version.status, func(s *versionStatus) bool { return s.Refused })
		if st.Version != "4.2" || !strings.Contains(st.Problem, "MongoDB 4.2 is older than 4.4") {
			t.Fatalf("%s: %+v", h.name, st)
		}
	}
	waitLog(t, &logs, "the reconciler is stopped")
	a := d.hosts[0].agent
	srv := httptest.NewServer(a.endpoints().handler())
	defer srv.Close()
	var doc struct {
		MongoDB  *versionStatus `json:"mongodb"`
		Problems []string       `json:"problems"`
		Healthy  bool           `json:"healthy"`
	}
	if err := json.Unmarshal([]byte(get(t, srv.URL+"/status")), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.MongoDB == nil || !doc.MongoDB.Refused || doc.Healthy || !strings.Contains(strings.Join(doc.Problems, "\n"), "does not manage this set") {
		t.Fatalf("/status: %+v", doc)
	}
	if v := metricValue(t, get(t, srv.URL+"/metrics"), "replset_agent_mongodb_version_alarm"); v != 1 {
		t.Fatalf("version alarm = %v", v)
	}
	if !strings.Contains(get(t, srv.URL+"/metrics"), `replset_agent_mongodb_version_info{role="mongo",version="4.2"} 1`) {
		t.Fatalf("version_info missing:\n%s", grep(get(t, srv.URL+"/metrics"), "mongodb_version"))
	}
	// The reconciler is stopped: a metadata change reaches the agent but starts no pass.
	passes := a.rec.Status().Passes
	snaps := a.watcher.Stats().Snapshots
	d.tree.Host(d.hosts[0].meta.UUID).Label("rack", "r1")
	d.meta.SetTree(d.tree)
	deadline := time.Now().Add(10 * time.Second)
	for a.watcher.Stats().Snapshots == snaps {
		if time.Now().After(deadline) {
			t.Fatal("the metadata change never reached the agent")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := a.rec.Status().Passes; got != passes {
		t.Fatalf("the reconciler ran %d more passes after refusing", got-passes)
	}
	if sim, ok := d.nodes.(*mongosim.Cluster); ok && len(sim.ConfigChanges()) != 0 {
		t.Fatal("a config was installed on a 4.2 set")
	}
}

func waitLog(t *testing.T, logs *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(logs.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no log line %q", want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestVersionAlarmWithLetschat: MongoDB 6.0 with a Let's Chat service in the stack. The agents
// still manage the set, but raise the alarm in /status and metrics, and so does the letschat
// agent, which reads the version from the set; the status command shows it and fails.
func TestVersionAlarmWithLetschat(t *testing.T) {
	d := versionEnv(t, mongosim.Version60, 3, nil)
	if err := d.await("settle", d.settled(d.hosts)); err != nil {
		t.Fatal(err)
	}
	a := d.hosts[0].agent
	st := waitVersion(t, "alarm", a.version.status, func(s *versionStatus) bool { return s.Alarm != "" })
	if st.Version != "6.0.20" || st.Refused || !strings.Contains(st.Alarm, "Let's Chat") {
		t.Fatalf("mongo agent: %+v", st)
	}
	srv := httptest.NewServer(a.endpoints().handler())
	defer srv.Close()
	metrics := get(t, srv.URL+"/metrics")
	if metricValue(t, metrics, "replset_agent_mongodb_version_alarm") != 1 || !strings.Contains(metrics, `replset_agent_mongodb_version_info{role="mongo",version="6.0.20"} 1`) {
		t.Fatalf("metrics:\n%s", grep(metrics, "mongodb_version"))
	}

	if err := d.startLetschat(); err != nil {
		t.Fatal(err)
	}
	lst := waitVersion(t, "letschat alarm", d.lc.version.status, func(s *versionStatus) bool { return s.Alarm != "" })
	if lst.Version != "6.0.20" || !strings.Contains(lst.Alarm, "OP_QUERY") {
		t.Fatalf("letschat agent: %+v", lst)
	}
	lsrv := httptest.NewServer(d.lc.endpoints().handler())
	defer lsrv.Close()
	if metricValue(t, get(t, lsrv.URL+"/metrics"), "replset_agent_mongodb_version_alarm") != 1 {
		t.Fatal("letschat agent's alarm metric is not raised")
	}
	if !strings.Contains(get(t, lsrv.URL+"/status"), `"alarm": "MongoDB 6.0.20 rejects`) {
		t.Fatalf("letschat /status:\n%s", get(t, lsrv.URL+"/status"))
	}

	var out, errb bytes.Buffer
	if code := run(statusArgs(d, d.hosts[0]), noEnv, &out, &errb); code != 1 {
		t.Fatalf("status exit %d with the alarm\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), "MongoDB 6.0.20 on "+d.hosts[0].addr+": too new for Let's Chat") || !strings.Contains(out.String(), "rejects the legacy OP_QUERY commands") {
		t.Fatalf("status output:\n%s", out.String())
	}
}

// TestStatusShowsVersionInsideWindow: on 5.0 the status command names the version and is healthy.
func TestStatusShowsVersionInsideWindow(t *testing.T) {
	d := settledEnv(t, 3)
	var out, errb bytes.Buffer
	if code := run(statusArgs(d, d.hosts[1], "--json"), noEnv, &out, &errb); code != 0 {
		t.Fatalf("exit %d\n%s", code, out.String())
	}
	var rep statusReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.MongoDB == nil || rep.MongoDB.Version != "5.0.31" || rep.MongoDB.Alarm != "" || rep.MongoDB.Problem != "" {
		t.Fatalf("version in the report: %+v", rep.MongoDB)
	}
}
