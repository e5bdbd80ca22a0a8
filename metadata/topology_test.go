package metadata_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/replset-agent/replset-agent/metadata"
)

// mongoContainer returns the mongo container named name in s, for a test to change.
func mongoContainer(t *testing.T, s *metadata.Snapshot, name string) *metadata.Container {
	t.Helper()
	svc := serviceNamed(t, *s, "mongo")
	for i := range svc.Containers {
		if c := &svc.Containers[i]; c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %s", name)
	return nil
}

func TestTopology(t *testing.T) {
	mongo := metadata.TopologyOptions{Stack: "demo", Service: "mongo"}
	type skip struct {
		name  string
		cause metadata.SkipCause
	}
	tests := []struct {
		name        string
		change      func(t *testing.T, s *metadata.Snapshot)
		opts        metadata.TopologyOptions
		wantMembers []string
		wantSkipped []skip
		// a word the reason of the first skipped container must contain
		reasonMentions string
	}{
		{name: "three healthy members by host IP", opts: mongo,
			wantMembers: []string{"10.0.0.11:27017", "10.0.0.12:27017", "10.0.0.13:27017"}},
		{name: "names compare ignoring case", opts: metadata.TopologyOptions{Stack: "Demo", Service: "MONGO"},
			wantMembers: []string{"10.0.0.11:27017", "10.0.0.12:27017", "10.0.0.13:27017"}},
		{name: "container IPs and another port",
			opts:        metadata.TopologyOptions{Stack: "demo", Service: "mongo", AddressSource: metadata.AddressContainerIP, Port: 27018},
			wantMembers: []string{"10.42.0.1:27018", "10.42.0.2:27018", "10.42.0.3:27018"}},
		{name: "order by create_index, not list order", opts: mongo,
			change: func(t *testing.T, s *metadata.Snapshot) {
				mongoContainer(t, s, "demo-mongo-1").CreateIndex = 9
			},
			wantMembers: []string{"10.0.0.12:27017", "10.0.0.13:27017", "10.0.0.11:27017"}},
		{name: "stopped and starting are not usable", opts: mongo,
			change: func(t *testing.T, s *metadata.Snapshot) {
				mongoContainer(t, s, "demo-mongo-1").State = "stopped"
				mongoContainer(t, s, "demo-mongo-3").State = "starting"
			},
			wantMembers:    []string{"10.0.0.12:27017"},
			wantSkipped:    []skip{{"demo-mongo-1", metadata.SkipState}, {"demo-mongo-3", metadata.SkipState}},
			reasonMentions: "stopped"},
		{name: "configurable usable states", opts: metadata.TopologyOptions{Stack: "demo", Service: "mongo", UsableStates: []string{"running", "starting"}},
			change: func(t *testing.T, s *metadata.Snapshot) {
				mongoContainer(t, s, "demo-mongo-3").State = "starting"
			},
			wantMembers: []string{"10.0.0.11:27017", "10.0.0.12:27017", "10.0.0.13:27017"}},
		{name: "unhealthy skipped, no health check usable", opts: mongo,
			change: func(t *testing.T, s *metadata.Snapshot) {
				mongoContainer(t, s, "demo-mongo-1").HealthState = "unhealthy"
				mongoContainer(t, s, "demo-mongo-2").HealthState = ""
			},
			wantMembers:    []string{"10.0.0.12:27017", "10.0.0.13:27017"},
			wantSkipped:    []skip{{"demo-mongo-1", metadata.SkipHealth}},
			reasonMentions: "unhealthy"},
		{name: "host missing", opts: mongo,
			change: func(t *testing.T, s *metadata.Snapshot) {
				s.Hosts = s.Hosts[:2]
			},
			wantMembers:    []string{"10.0.0.11:27017", "10.0.0.12:27017"},
			wantSkipped:    []skip{{"demo-mongo-3", metadata.SkipNoHost}},
			reasonMentions: "host-uuid-3"},
		{name: "empty host_uuid", opts: mongo,
			change: func(t *testing.T, s *metadata.Snapshot) {
				mongoContainer(t, s, "demo-mongo-2").HostUUID = ""
			},
			wantMembers: []string{"10.0.0.11:27017", "10.0.0.13:27017"},
			wantSkipped: []skip{{"demo-mongo-2", metadata.SkipNoHost}}},
		{name: "agent_ip not an IP", opts: mongo,
			change: func(t *testing.T, s *metadata.Snapshot) {
				s.Hosts[1].AgentIP = "host2.example"
			},
			wantMembers:    []string{"10.0.0.11:27017", "10.0.0.13:27017"},
			wantSkipped:    []skip{{"demo-mongo-2", metadata.SkipBadAddress}},
			reasonMentions: "host2.example"},
		{name: "empty and unspecified IPs", opts: metadata.TopologyOptions{Stack: "demo", Service: "mongo", AddressSource: metadata.AddressContainerIP},
			change: func(t *testing.T, s *metadata.Snapshot) {
				mongoContainer(t, s, "demo-mongo-1").PrimaryIP = ""
				mongoContainer(t, s, "demo-mongo-2").PrimaryIP = "0.0.0.0"
			},
			wantMembers: []string{"10.42.0.3:27017"},
			wantSkipped: []skip{{"demo-mongo-1", metadata.SkipBadAddress}, {"demo-mongo-2", metadata.SkipBadAddress}}},
		{name: "IPv6 and IPv4-mapped addresses", opts: mongo,
			change: func(t *testing.T, s *metadata.Snapshot) {
				s.Hosts[0].AgentIP = "fd00::11"
				s.Hosts[1].AgentIP = "::ffff:10.0.0.12"
			},
			wantMembers: []string{"[fd00::11]:27017", "10.0.0.12:27017", "10.0.0.13:27017"}},
		{name: "two containers on one host keep the oldest", opts: mongo,
			change: func(t *testing.T, s *metadata.Snapshot) {
				c := mongoContainer(t, s, "demo-mongo-1")
				c.HostUUID = "host-uuid-2"
				c.CreateIndex = 7
			},
			wantMembers:    []string{"10.0.0.12:27017", "10.0.0.13:27017"},
			wantSkipped:    []skip{{"demo-mongo-1", metadata.SkipSameHost}},
			reasonMentions: "demo-mongo-2"},
		{name: "a stopped older container does not block the host", opts: mongo,
			change: func(t *testing.T, s *metadata.Snapshot) {
				old := mongoContainer(t, s, "demo-mongo-2")
				old.State = "stopped"
				repl := *old
				repl.UUID, repl.CreateIndex, repl.State = "c-mongo-2b", 4, "running"
				svc := serviceNamed(t, *s, "mongo")
				svc.Containers = append(svc.Containers, repl)
			},
			wantMembers: []string{"10.0.0.11:27017", "10.0.0.13:27017", "10.0.0.12:27017"},
			wantSkipped: []skip{{"demo-mongo-2", metadata.SkipState}}},
		{name: "two hosts with one agent IP", opts: mongo,
			change: func(t *testing.T, s *metadata.Snapshot) {
				s.Hosts[2].AgentIP = "10.0.0.11"
			},
			wantMembers:    []string{"10.0.0.11:27017", "10.0.0.12:27017"},
			wantSkipped:    []skip{{"demo-mongo-3", metadata.SkipDuplicateAddress}},
			reasonMentions: "demo-mongo-1"},
		{name: "service with no containers", opts: mongo,
			change: func(t *testing.T, s *metadata.Snapshot) {
				serviceNamed(t, *s, "mongo").Containers = nil
			},
			wantMembers: []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := loadSnapshot(t, "host-network.json")
			if tc.change != nil {
				tc.change(t, &s)
			}
			topo, err := s.Topology(tc.opts)
			if err != nil {
				t.Fatalf("Topology: %v", err)
			}
			got := []string{}
			for _, m := range topo.Members {
				got = append(got, m.Address)
			}
			if !reflect.DeepEqual(got, tc.wantMembers) {
				t.Errorf("members = %v, want %v", got, tc.wantMembers)
			}
			var skipped []skip
			for _, sk := range topo.Skipped {
				skipped = append(skipped, skip{sk.Name, sk.Cause})
			}
			if !reflect.DeepEqual(skipped, tc.wantSkipped) {
				t.Errorf("skipped = %v, want %v", skipped, tc.wantSkipped)
			}
			if tc.reasonMentions != "" && !strings.Contains(topo.Skipped[0].Reason, tc.reasonMentions) {
				t.Errorf("reason %q does not mention %q", topo.Skipped[0].Reason, tc.reasonMentions)
			}
		})
	}
}

func TestTopologyMemberFields(t *testing.T) {
	s := loadSnapshot(t, "host-network.json")
	topo, err := s.Topology(metadata.TopologyOptions{Stack: "demo", Service: "mongo"})
	if err != nil {
		t.Fatal(err)
	}
	want := metadata.Member{
		Address: "10.0.0.12:27017", IP: "10.0.0.12", Port: 27017,
		HostUUID: "host-uuid-2", HostName: "host2", ContainerName: "demo-mongo-2", ContainerUUID: "c-mongo-2",
		CreateIndex: 2, ServiceIndex: "2", State: "running", HealthState: "healthy",
		Labels:     map[string]string{"io.rancher.stack_service.name": "demo/mongo"},
		HostLabels: map[string]string{"role": "db"},
	}
	if !reflect.DeepEqual(topo.Members[1], want) {
		t.Errorf("member = %+v\nwant     %+v", topo.Members[1], want)
	}
}

func TestTopologyErrors(t *testing.T) {
	s := loadSnapshot(t, "host-network.json")
	tests := []struct {
		name string
		opts metadata.TopologyOptions
		want error
	}{
		{"vanished service", metadata.TopologyOptions{Stack: "demo", Service: "mongodb"}, metadata.ErrServiceNotFound},
		{"other stack", metadata.TopologyOptions{Stack: "prod", Service: "mongo"}, metadata.ErrServiceNotFound},
		{"no service name", metadata.TopologyOptions{Stack: "demo"}, metadata.ErrTopologyOptions},
		{"no stack name", metadata.TopologyOptions{Service: "mongo"}, metadata.ErrTopologyOptions},
		{"port too big", metadata.TopologyOptions{Stack: "demo", Service: "mongo", Port: 70000}, metadata.ErrTopologyOptions},
		{"negative port", metadata.TopologyOptions{Stack: "demo", Service: "mongo", Port: -1}, metadata.ErrTopologyOptions},
		{"unknown address source", metadata.TopologyOptions{Stack: "demo", Service: "mongo", AddressSource: "dns"}, metadata.ErrTopologyOptions},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			topo, err := s.Topology(tc.opts)
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
			if len(topo.Members) != 0 {
				t.Errorf("members %v returned with an error", topo.Members)
			}
		})
	}
}

func TestServiceContainersListsUnusable(t *testing.T) {
	s := loadSnapshot(t, "host-network.json")
	mongoContainer(t, &s, "demo-mongo-2").State = "stopped"
	all, err := s.ServiceContainers(metadata.TopologyOptions{Stack: "demo", Service: "mongo"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range all {
		got = append(got, c.ContainerName+"="+map[bool]string{true: "usable", false: string(c.Cause)}[c.Usable])
	}
	want := []string{"demo-mongo-1=usable", "demo-mongo-2=state", "demo-mongo-3=usable"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("containers = %v, want %v", got, want)
	}
	if all[1].Address != "10.0.0.12:27017" || all[1].HostName != "host2" {
		t.Errorf("unusable container keeps what is known: %+v", all[1].Member)
	}
}

func TestContainerRank(t *testing.T) {
	s := loadSnapshot(t, "host-network.json")
	mongoContainer(t, &s, "demo-mongo-1").CreateIndex = 5
	mongoContainer(t, &s, "demo-mongo-3").State = "stopped"
	opts := metadata.TopologyOptions{Stack: "demo", Service: "mongo"}
	tests := []struct {
		key       string
		rank, of  int
		wantError error
	}{
		{"demo-mongo-2", 0, 3, nil},
		{"c-mongo-3", 1, 3, nil}, // by UUID; a stopped container still holds its rank
		{"demo-mongo-1", 2, 3, nil},
		{"demo-mongo-9", 0, 0, metadata.ErrContainerNotFound},
	}
	for _, tc := range tests {
		rank, of, err := s.ContainerRank(opts, tc.key)
		if rank != tc.rank || of != tc.of || !errors.Is(err, tc.wantError) {
			t.Errorf("ContainerRank(%s) = %d of %d, %v; want %d of %d, %v", tc.key, rank, of, err, tc.rank, tc.of, tc.wantError)
		}
	}
	if _, _, err := s.ContainerRank(metadata.TopologyOptions{Stack: "demo", Service: "gone"}, "x"); !errors.Is(err, metadata.ErrServiceNotFound) {
		t.Errorf("rank in a vanished service: %v", err)
	}
}
