package metadata_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/replset-agent/replset-agent/metadata"
	"github.com/replset-agent/replset-agent/metadata/metadatatest"
)

// treeSnapshot serves tree with self pinned to the container named self (none: host-only self
// of the metadata host) and decodes the answer with scope.
func treeSnapshot(t *testing.T, tree *metadatatest.Tree, self string, scope metadata.Scope) metadata.Snapshot {
	t.Helper()
	srv := metadatatest.StartT(t, metadatatest.Options{Tree: tree})
	if self != "" {
		uuid := ""
		if c := tree.Container(self); c != nil {
			uuid = c.UUID
		} else if c := tree.SidekickContainer(tree.Container(strings.Replace(self, "-mongo-agent", "", 1)), "mongo-agent"); c != nil {
			uuid = c.UUID
		}
		srv.SetSelf("127.0.0.1", metadatatest.Self{ContainerUUID: uuid})
	}
	s, err := metadata.Decode(bytes.NewReader(httpGetJSON(t, srv.BaseURL()+"/")), scope)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLocate(t *testing.T) {
	tree := sidekickTree()
	other := tree.AddService("other", "mongo").On(tree.Hosts[3])
	_ = other
	tests := []struct {
		name      string
		self      string
		service   string
		stack     string
		want      metadata.SelfState
		container string
		host      string
		sidekick  string
		reason    string
	}{
		{"the service's container", "demo-mongo-2", "mongo", "", metadata.SelfLocated, "demo-mongo-2", "host2", "", ""},
		{"its sidekick", "demo-mongo-mongo-agent-3", "mongo", "", metadata.SelfLocated, "demo-mongo-3", "host3", "mongo-agent", ""},
		{"in the named stack", "demo-mongo-2", "mongo", "demo", metadata.SelfLocated, "demo-mongo-2", "host2", "", ""},
		{"another stack's service", "other-mongo-1", "mongo", "demo", metadata.SelfOther, "", "", "", "not a container of demo/mongo"},
		{"another service", "web-nginx-1", "mongo", "", metadata.SelfOther, "", "", "", "web-nginx-1 of service web/nginx"},
		{"letschat role in its container", "demo-letschat-1", "letschat", "", metadata.SelfLocated, "demo-letschat-1", "host1", "", ""},
		{"not listed: the default entry", "", "mongo", "", metadata.SelfHostOnly, "", "host1", "", "only host host1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := treeSnapshot(t, tree, tc.self, metadata.Scope{})
			p := s.Locate(tc.service, tc.stack)
			if p.State != tc.want || !strings.Contains(p.Reason, tc.reason) || p.Sidekick != tc.sidekick {
				t.Fatalf("Locate = %s %q sidekick %q, want %s mentioning %q", p.State, p.Reason, p.Sidekick, tc.want, tc.reason)
			}
			if (p.State == metadata.SelfLocated) != (p.Reason == "") {
				t.Errorf("reason %q with state %s", p.Reason, p.State)
			}
			gotContainer, gotHost := "", ""
			if p.Container != nil {
				gotContainer = p.Container.Name
			}
			if p.Host != nil {
				gotHost = p.Host.Name
			}
			if gotContainer != tc.container || gotHost != tc.host {
				t.Errorf("placed in %q on %q, want %q on %q", gotContainer, gotHost, tc.container, tc.host)
			}
		})
	}
}

// A sidekick is placed on the container whose network it shares, not on an older container of
// the same host.
func TestLocateSidekickPrefersSharedNetwork(t *testing.T) {
	tree := sidekickTree()
	mongo := tree.Service("demo", "mongo")
	newer := mongo.AddContainer(tree.Host("host2")) // a second mongo container on host2
	s := treeSnapshot(t, tree, "", metadata.Scope{})
	sk := tree.SidekickContainer(newer, "mongo-agent")
	for i := range s.Containers {
		if s.Containers[i].UUID == sk.UUID {
			s.Self.Container = &s.Containers[i]
		}
	}
	if s.Self.Container == nil {
		t.Fatal("no sidekick container in the tree")
	}
	if p := s.Locate("mongo", ""); p.State != metadata.SelfLocated || p.Container.UUID != newer.UUID {
		t.Errorf("Locate = %s %+v, want the newer container %s that shares the sidekick's IP", p.State, p.Container, newer.Name)
	}
}

// A scoped decode keeps the named services in every stack with their stacks and hosts, and
// nothing else.
func TestDecodeScope(t *testing.T) {
	tree := sidekickTree()
	tree.AddService("other", "mongo").On(tree.Hosts[3])
	s := treeSnapshot(t, tree, "demo-mongo-mongo-agent-1", metadata.Scope{Services: []string{"MONGO"}, Self: "mongo", Stack: "demo"})
	var services, containers, hosts, stacks []string
	for _, svc := range s.Services {
		services = append(services, svc.StackName+"/"+svc.Name)
	}
	for _, c := range s.Containers {
		containers = append(containers, c.Name)
	}
	for _, h := range s.Hosts {
		hosts = append(hosts, h.Name)
	}
	for _, st := range s.Stacks {
		stacks = append(stacks, st.Name)
	}
	want := func(what string, got []string, want ...string) {
		t.Helper()
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	want("services", services, "demo/mongo", "other/mongo")
	want("containers", containers, "demo-mongo-1", "demo-mongo-2", "demo-mongo-3", "other-mongo-1")
	want("hosts", hosts, "host1", "host2", "host3", "host4")
	want("stacks", stacks, "demo", "other")
	if s.Self.Container == nil || s.Self.Container.Name != "demo-mongo-1" || s.Self.Host.Name != "host1" {
		t.Errorf("self = %+v, want the sidekick located on demo-mongo-1", s.Self)
	}
	if len(serviceNamed(t, s, "mongo").Containers) != 3 {
		t.Errorf("mongo service containers: %+v", serviceNamed(t, s, "mongo").Containers)
	}
}
