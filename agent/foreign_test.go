package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/replset-agent/replset-agent/metadata/metadatatest"
	"github.com/replset-agent/replset-agent/mongors"
)

// TestForeignSetAlarm: a fourth host joins the service with a mongod that was initiated on its
// own (another replica set under the same name, another replicaSetId). The primary's agent never
// adds it; the alarm shows in the log, /metrics, /status and the status command, with what a
// human must do, and clears once the node is wiped and added.
func TestForeignSetAlarm(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	d, err := newDemo(ctx, demoConfig{Hosts: 4, Grace: 2 * time.Second, StepLimit: 30 * time.Second}, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); d.close() })
	for _, h := range d.hosts[:3] {
		if err := d.bringUp(h); err != nil {
			t.Fatal(err)
		}
	}
	d.uri = "mongodb://" + hostList(d.hosts[:3]) + "/letschat"
	if err := d.await("settle", d.settled(d.hosts[:3])); err != nil {
		t.Fatal(err)
	}

	// Host 4's mongod holds a set of its own before it is listed.
	x := d.hosts[3]
	if err := d.nodes.StartNode(x.addr); err != nil {
		t.Fatal(err)
	}
	dc, err := mongors.NewDriverClient(mongors.ConnConfig{Address: x.addr, ConnectTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close(context.Background())
	ictx, icancel := context.WithTimeout(ctx, 10*time.Second)
	defer icancel()
	own := mongors.Config{Name: "letschat", Version: 1, Members: []mongors.ConfigMember{{ID: 0, Host: x.addr, Votes: 1, Priority: 1}}}
	if err := dc.Initiate(ictx, x.addr, own); err != nil {
		t.Fatal(err)
	}
	x.meta = d.tree.AddHost(x.name, x.ip)
	d.tree.Service("demo", "mongo").AddContainer(x.meta)
	d.meta.SetSelf(x.ip, metadatatest.Self{HostUUID: x.meta.UUID})
	d.meta.SetTree(d.tree)

	var primary *demoHost
	waitUntil(t, "the foreign-set alarm on the primary's agent", func() bool {
		for _, h := range d.hosts[:3] {
			st := h.agent.rec.Status()
			if len(st.ForeignSet) == 1 && st.ForeignSet[0].Addr == x.addr {
				primary = h
				return true
			}
		}
		return false
	})
	srv := httptest.NewServer(primary.agent.endpoints().handler())
	defer srv.Close()
	if v := metricValue(t, get(t, srv.URL+"/metrics"), "replset_agent_foreign_set"); v != 1 {
		t.Errorf("replset_agent_foreign_set = %v, want 1", v)
	}
	var st mongoRoleStatus
	if err := json.Unmarshal([]byte(get(t, srv.URL+"/status")), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.ForeignSet) != 1 || st.Healthy || !hasProblem(st.Problems, "FOREIGN SET", x.addr, "data directory aside") {
		t.Errorf("/status: foreign %+v healthy %t problems %q", st.ForeignSet, st.Healthy, st.Problems)
	}
	if v := primary.agent.rec.Status().Observed.Config; v == nil || has(v, x.addr) {
		t.Fatalf("the node of another set was added: %+v", v)
	}

	var out, errb bytes.Buffer
	if code := run(statusArgs(d, primary), noEnv, &out, &errb); code != 1 || !strings.Contains(out.String(), "FOREIGN SET") {
		t.Errorf("status exit %d, want 1 with the alarm:\n%s", code, out.String())
	}

	// Wiped, it joins; the alarm clears.
	w, ok := d.nodes.(interface{ WipeNode(string) error })
	if !ok {
		t.Skip("this cluster cannot wipe a node")
	}
	if err := w.WipeNode(x.addr); err != nil {
		t.Fatal(err)
	}
	if err := d.nodes.StartNode(x.addr); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the wiped node added and the alarm cleared", func() bool {
		st := primary.agent.rec.Status()
		o := st.Observed
		return len(st.ForeignSet) == 0 && o != nil && o.Config != nil && has(o.Config, x.addr)
	})
	if v := metricValue(t, get(t, srv.URL+"/metrics"), "replset_agent_foreign_set"); v != 0 {
		t.Errorf("replset_agent_foreign_set = %v after the node joined, want 0", v)
	}
}

func has(c *mongors.Config, host string) bool {
	_, ok := c.Member(host)
	return ok
}

func hasProblem(problems []string, parts ...string) bool {
	for _, p := range problems {
		all := true
		for _, part := range parts {
			all = all && strings.Contains(p, part)
		}
		if all {
			return true
		}
	}
	return false
}
