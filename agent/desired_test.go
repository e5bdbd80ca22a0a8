package agent

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/replset-agent/replset-agent/metadata"
	"github.com/replset-agent/replset-agent/mongors"
)

func TestRoleFromLabels(t *testing.T) {
	tests := []struct {
		name            string
		host, container map[string]string
		want            mongors.Role
		problems        []string
	}{
		{"none", nil, nil, mongors.Role{}, nil},
		{"priority on host", map[string]string{LabelPriority: "5"}, nil, mongors.Role{Priority: 5}, nil},
		{"container beats host", map[string]string{LabelPriority: "5"}, map[string]string{LabelPriority: "2"}, mongors.Role{Priority: 2}, nil},
		{"non-voting", nil, map[string]string{LabelNonVoting: "true"}, mongors.Role{NonVoting: true}, nil},
		{"hidden", map[string]string{LabelHidden: "yes"}, nil, mongors.Role{}, []string{labelBad}},
		{"hidden true", map[string]string{LabelHidden: "true"}, nil, mongors.Role{Hidden: true}, nil},
		{"priority out of range", nil, map[string]string{LabelPriority: "1001"}, mongors.Role{}, []string{labelBad}},
		{"priority zero is refused, not run at 1", nil, map[string]string{LabelPriority: "0"}, mongors.Role{}, []string{LabelNonVoting}},
		{"priority not a number", nil, map[string]string{LabelPriority: "high"}, mongors.Role{}, []string{labelBad}},
		{"typo is reported", nil, map[string]string{"replset-agent.votes": "0"}, mongors.Role{}, []string{labelUnknown}},
		{"other labels ignored", map[string]string{"io.rancher.host.os": "linux"}, nil, mongors.Role{}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, problems := roleFromLabels(tc.host, tc.container)
			if got != tc.want {
				t.Errorf("role = %+v, want %+v", got, tc.want)
			}
			if len(problems) != len(tc.problems) {
				t.Fatalf("problems = %q, want %d like %q", problems, len(tc.problems), tc.problems)
			}
			for i, p := range tc.problems {
				if !strings.Contains(problems[i], p) {
					t.Errorf("problem %q lacks %q", problems[i], p)
				}
			}
		})
	}
}

// snapshot builds a two-stack tree: stack "demo" with mongo on hosts 1-3, stack "other" with mongo
// on host 4.
func snapshot(self metadata.Self) metadata.Snapshot {
	s := metadata.Snapshot{Version: "v1", Self: self}
	for i, ip := range []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"} {
		s.Hosts = append(s.Hosts, metadata.Host{Name: "host" + string(rune('1'+i)), UUID: "h" + string(rune('1'+i)), AgentIP: ip})
	}
	mk := func(stack string, i int, host string) metadata.Container {
		return metadata.Container{Name: stack + "-mongo-" + string(rune('1'+i)), UUID: stack + "-c" + string(rune('1'+i)), PrimaryIP: "10.42.0." + string(rune('1'+i)),
			HostUUID: host, ServiceName: "mongo", StackName: stack, CreateIndex: i + 1, State: "running", HealthState: "healthy"}
	}
	demo := metadata.Service{Name: "mongo", StackName: "demo"}
	for i, h := range []string{"h1", "h2", "h3"} {
		demo.Containers = append(demo.Containers, mk("demo", i, h))
	}
	demo.Containers[1].Labels = map[string]string{LabelPriority: "3"}
	// A replaced container on host 3, still starting: not a member, but a peer.
	starting := mk("demo", 4, "h3")
	starting.State = "starting"
	demo.Containers = append(demo.Containers, starting)
	other := metadata.Service{Name: "mongo", StackName: "other", Containers: []metadata.Container{mk("other", 3, "h4")}}
	s.Services = []metadata.Service{demo, other}
	for _, svc := range s.Services {
		s.Containers = append(s.Containers, svc.Containers...)
	}
	return s
}

func TestLocateAndDesired(t *testing.T) {
	cfg := commonConfig{MongoService: "mongo", ReplSet: "letschat", AddressSource: "host", Port: 27017}
	base := snapshot(metadata.Self{})
	managed := snapshot(metadata.Self{Container: &base.Services[0].Containers[1]})
	third := snapshot(metadata.Self{Container: &base.Services[0].Containers[2]})

	for _, tc := range []struct {
		name      string
		snap      metadata.Snapshot
		stack     string
		wantStack string
		wantSelf  string
	}{
		{"metadata names the container", managed, "", "demo", "10.0.0.2:27017"},
		{"explicit stack", third, "demo", "demo", "10.0.0.3:27017"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := locate(tc.snap, tc.stack, "mongo")
			if err != nil {
				t.Fatal(err)
			}
			self, err := selfAddress(p, "host", 27017)
			if err != nil || p.Stack != tc.wantStack || self != tc.wantSelf {
				t.Fatalf("stack %q self %q err %v; want %q %q", p.Stack, self, err, tc.wantStack, tc.wantSelf)
			}
			ms, err := desiredFromTopology(tc.snap, &cfg, p.Stack, self)
			d := ms.Desired
			if err != nil {
				t.Fatal(err)
			}
			var hosts []string
			for _, m := range d.Members {
				hosts = append(hosts, m.Host)
			}
			if !reflect.DeepEqual(hosts, []string{"10.0.0.1:27017", "10.0.0.2:27017", "10.0.0.3:27017"}) {
				t.Fatalf("members %v", hosts)
			}
			if d.Members[1].Role.Priority != 3 || d.Members[0].HostID != "h1" || d.Members[2].Order != 3 {
				t.Fatalf("member details lost: %+v", d.Members)
			}
			if len(d.Peers) != 0 {
				t.Fatalf("peers = %v: with host addressing the starting container shares host 3's member address", d.Peers)
			}
			if !reflect.DeepEqual(d.Starting, []string{"demo-mongo-5"}) {
				t.Fatalf("starting = %v, want the starting container however it is addressed", d.Starting)
			}
			if !reflect.DeepEqual(d.Foreign, []string{"10.0.0.4:27017"}) {
				t.Fatalf("foreign = %v, want the other stack's member", d.Foreign)
			}
		})
	}

	// Never a guess: without self/container (the default entry an unlisted container gets names
	// the metadata server's host), or with another stack's container, the agent is not located.
	for name, snap := range map[string]metadata.Snapshot{
		"no self":          snapshot(metadata.Self{}),
		"host only":        snapshot(metadata.Self{Host: &base.Hosts[2]}),
		"another stack's":  snapshot(metadata.Self{Container: &base.Services[1].Containers[0]}),
		"unlisted in demo": snapshot(metadata.Self{Container: &metadata.Container{Name: "x", UUID: "x", StackName: "demo", ServiceName: "mongo", HostUUID: "h1"}}),
	} {
		if p, err := locate(snap, "demo", "mongo"); !errors.Is(err, errNotLocated) {
			t.Errorf("%s: locate = %+v, %v; want errNotLocated", name, p, err)
		}
	}
	// Another stack's container is located with its stack, when no --stack says otherwise.
	other := snapshot(metadata.Self{Container: &base.Services[1].Containers[0]})
	if p, err := locate(other, "", "mongo"); err != nil || p.Stack != "other" || p.Host.UUID != "h4" {
		t.Fatalf("stack %q err %v", p.Stack, err)
	}
	// A vanished service is an error, never an empty member list.
	if _, err := desiredFromTopology(managed, &cfg, "gone", "10.0.0.2:27017"); err == nil {
		t.Fatal("a vanished service gave a desired state")
	}
	// Container addressing uses primary_ip, and the starting container is a peer.
	p, _ := locate(managed, "", "mongo")
	self, err := selfAddress(p, "container", 27017)
	if err != nil || self != "10.42.0.2:27017" {
		t.Fatalf("container address %q err %v", self, err)
	}
	ccfg := cfg
	ccfg.AddressSource = "container"
	ms, err := desiredFromTopology(managed, &ccfg, "demo", self)
	if err != nil {
		t.Fatal(err)
	}
	d := ms.Desired
	want := []mongors.Peer{{Host: "10.42.0.5:27017", Order: 5, Name: "demo-mongo-5", State: "starting/healthy"}}
	if !reflect.DeepEqual(d.Peers, want) {
		t.Fatalf("peers = %+v, want %+v", d.Peers, want)
	}
}

// TestDesiredOrdersAndPeers: every container of the service takes part in choosing the initiator,
// whatever its state, and a member takes the lowest create_index at its address.
func TestDesiredOrdersAndPeers(t *testing.T) {
	cfg := commonConfig{MongoService: "mongo", ReplSet: "letschat", AddressSource: "host", Port: 27017}
	s := snapshot(metadata.Self{})
	demo := &s.Services[0]
	// Host 1's first container was replaced: the stopped one (create_index 1) and the running one
	// (create_index 6) share its address. Host 2's container is still initializing its health
	// check. A container on a host metadata no longer lists keeps only its container IP.
	demo.Containers[0].CreateIndex = 6
	old := demo.Containers[0]
	old.Name, old.UUID, old.CreateIndex, old.State = "demo-mongo-old", "demo-old", 1, "stopped"
	demo.Containers[1].HealthState = "initializing"
	lost := demo.Containers[2]
	lost.Name, lost.UUID, lost.CreateIndex, lost.HostUUID, lost.State = "demo-mongo-lost", "demo-lost", 7, "h9", "stopped"
	demo.Containers = append(demo.Containers, old, lost)
	ms, err := desiredFromTopology(s, &cfg, "demo", "10.0.0.1:27017")
	if err != nil {
		t.Fatal(err)
	}
	d := ms.Desired
	orders := map[string]int{}
	for _, m := range d.Members {
		orders[m.Host] = m.Order
	}
	if !reflect.DeepEqual(orders, map[string]int{"10.0.0.1:27017": 1, "10.0.0.3:27017": 3}) {
		t.Errorf("member orders %v, want host 1 at its first container's index 1", orders)
	}
	wantPeers := []mongors.Peer{
		{Host: "10.0.0.2:27017", Order: 2, Name: "demo-mongo-2", State: "running/initializing"},
		{Host: "10.42.0.3:27017", Order: 7, Name: "demo-mongo-lost", State: "stopped/healthy"},
	}
	if !reflect.DeepEqual(d.Peers, wantPeers) {
		t.Errorf("peers %+v, want %+v", d.Peers, wantPeers)
	}
	if !reflect.DeepEqual(d.Starting, []string{"demo-mongo-2", "demo-mongo-5"}) {
		t.Errorf("starting %v", d.Starting)
	}
}
