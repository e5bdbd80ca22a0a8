package metadatatest_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/replset-agent/replset-agent/metadata/metadatatest"
)

type servedContainer struct {
	Name        string `json:"name"`
	UUID        string `json:"uuid"`
	PrimaryIP   string `json:"primary_ip"`
	ServiceName string `json:"service_name"`
	ServiceUUID string `json:"service_uuid"`
	HostUUID    string `json:"host_uuid"`
}

type named struct {
	Name string `json:"name"`
}

// servedTree is the part of a served tree these tests compare, in served order.
type servedTree struct {
	Hosts      []named           `json:"hosts"`
	Containers []servedContainer `json:"containers"`
	Services   []struct {
		Name               string   `json:"name"`
		UUID               string   `json:"uuid"`
		PrimaryServiceName string   `json:"primary_service_name"`
		Sidekicks          []string `json:"sidekicks"`
		Containers         []named  `json:"containers"`
	} `json:"services"`
	Stacks []struct {
		Name     string  `json:"name"`
		Services []named `json:"services"`
	} `json:"stacks"`
	Self struct {
		Container named `json:"container"`
		Service   named `json:"service"`
	} `json:"self"`
}

func readTree(t *testing.T, body string) servedTree {
	t.Helper()
	var tree servedTree
	if err := json.Unmarshal([]byte(body), &tree); err != nil {
		t.Fatalf("tree is not JSON: %v", err)
	}
	return tree
}

func TestSidekickEntries(t *testing.T) {
	tree := demoTree()
	tree.Service("demo", "mongo").AddSidekick("mongo-agent")
	mongo2 := tree.Container("demo-mongo-2")
	mongo2.PrimaryIP = "127.0.0.41"
	srv := metadatatest.StartT(t, metadatatest.Options{Tree: tree})
	got := readTree(t, get(t, newClient(t, "127.0.0.41"), srv.BaseURL()+"/", jsonAccept).body)

	var names []string
	for _, s := range got.Services {
		names = append(names, s.Name+"/"+s.PrimaryServiceName)
		if s.Name == "mongo-agent" {
			if s.UUID != "svc-demo-mongo" || !slices.Equal(s.Sidekicks, []string{"mongo-agent"}) || len(s.Containers) != 3 {
				t.Errorf("sidekick service = %+v, want the primary's UUID, its sidekick list and three containers", s)
			}
		}
	}
	if !slices.Equal(names, []string{"mongo/mongo", "mongo-agent/mongo", "letschat/letschat"}) {
		t.Errorf("services (name/primary_service_name) = %v", names)
	}
	var sidekick *servedContainer
	for i, c := range got.Containers {
		if c.Name == "demo-mongo-mongo-agent-2" {
			sidekick = &got.Containers[i]
		}
	}
	if sidekick == nil || sidekick.PrimaryIP != "127.0.0.41" || sidekick.ServiceName != "mongo-agent" ||
		sidekick.ServiceUUID != "svc-demo-mongo" || sidekick.HostUUID != mongo2.HostUUID {
		t.Fatalf("sidekick container = %+v, want mongo-2's IP and host, service mongo-agent of svc-demo-mongo", sidekick)
	}
	if sk := tree.SidekickContainer(mongo2, "mongo-agent"); sk == nil || sk.Name != sidekick.Name || sk.UUID != sidekick.UUID {
		t.Errorf("SidekickContainer = %+v, want %s", sk, sidekick.Name)
	}
	if len(got.Stacks) != 1 || len(got.Stacks[0].Services) != 3 {
		t.Errorf("stacks = %+v, want demo listing mongo, mongo-agent and letschat", got.Stacks)
	}
	// Without Shuffle a shared IP resolves to the first container listed: the primary one.
	if got.Self.Container.Name != "demo-mongo-2" || got.Self.Service.Name != "mongo" {
		t.Errorf("self = %+v, want demo-mongo-2 of mongo", got.Self)
	}
}

func TestShuffleReordersListsAndAlternatesSelf(t *testing.T) {
	tree := demoTree()
	tree.AddHosts(5)
	tree.AddService("other", "web").On(tree.Hosts...)
	tree.Service("demo", "mongo").AddSidekick("mongo-agent")
	tree.Container("demo-mongo-1").PrimaryIP = "127.0.0.42"
	srv := metadatatest.StartT(t, metadatatest.Options{Tree: tree, Shuffle: true})
	byIP := newClient(t, "127.0.0.42")
	pinned := newClient(t, "127.0.0.43")
	srv.SetSelf("127.0.0.43", metadatatest.Self{ContainerUUID: tree.Container("demo-mongo-1").UUID})

	orders := map[string]bool{}
	seenByIP, seenPinned := map[string]int{}, map[string]int{}
	prevByIP := ""
	for i := range 12 {
		if i > 0 {
			srv.Reload()
		}
		body := get(t, byIP, srv.BaseURL()+"/", jsonAccept).body
		got := readTree(t, body)
		var order []string
		for _, h := range got.Hosts {
			order = append(order, h.Name)
		}
		for _, c := range got.Containers {
			order = append(order, c.Name)
		}
		for _, s := range got.Services {
			order = append(order, s.Name)
		}
		orders[fmtList(order)] = true
		if len(got.Hosts) != 8 || len(got.Containers) != 15 || len(got.Services) != 4 {
			t.Fatalf("reload %d: %d hosts, %d containers, %d services: shuffling lost entries", i, len(got.Hosts), len(got.Containers), len(got.Services))
		}
		self := got.Self.Container.Name
		seenByIP[self]++
		if self == prevByIP {
			t.Errorf("reload %d: self stayed %s; the sidekick and the main container must take turns", i, self)
		}
		prevByIP = self
		seenPinned[readTree(t, get(t, pinned, srv.BaseURL()+"/", jsonAccept).body).Self.Container.Name]++
	}
	want := map[string]int{"demo-mongo-1": 6, "demo-mongo-mongo-agent-1": 6}
	if !mapsEqual(seenByIP, want) || !mapsEqual(seenPinned, want) {
		t.Errorf("self over 12 reloads: by IP %v, pinned %v; want %v", seenByIP, seenPinned, want)
	}
	if len(orders) < 10 {
		t.Errorf("only %d distinct list orders in 12 reloads", len(orders))
	}
}

func fmtList(l []string) string {
	b, _ := json.Marshal(l)
	return string(b)
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestOutageAnswers503AndCounts(t *testing.T) {
	srv := metadatatest.StartT(t, metadatatest.Options{Tree: demoTree()})
	c := newClient(t, "")
	srv.SetOutage(true)
	for _, path := range []string{"/", "/version", "/version?wait=true&value=1"} {
		if got := get(t, c, srv.BaseURL()+path, jsonAccept); got.status != 503 {
			t.Errorf("GET %s during an outage = %d, want 503", path, got.status)
		}
	}
	if n := srv.Requests(); n.Total != 3 || n.Tree != 1 || n.Version != 1 || n.LongPoll != 1 {
		t.Errorf("requests during the outage = %+v, want each counted", n)
	}
	srv.SetOutage(false)
	if got := get(t, c, srv.BaseURL()+"/version", jsonAccept); got.status != 200 || got.body != `"1"` {
		t.Errorf("after the outage /version = %d %q", got.status, got.body)
	}
}
