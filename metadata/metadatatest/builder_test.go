package metadatatest_test

import (
	"testing"

	"github.com/replset-agent/replset-agent/metadata/metadatatest"
)

func TestBuilder(t *testing.T) {
	tree := metadatatest.NewTree()
	hosts := tree.AddHosts(2)
	more := tree.AddHosts(1)
	if hosts[0].Name != "host1" || hosts[0].UUID != "host-uuid-1" || hosts[0].AgentIP != "10.0.0.11" ||
		more[0].Name != "host3" || more[0].AgentIP != "10.0.0.13" {
		t.Errorf("hosts = %+v %+v", *hosts[0], *more[0])
	}
	svc := tree.AddService("demo", "mongo").On(hosts[0], hosts[1], more[0])
	if tree.AddService("demo", "mongo") != svc {
		t.Error("AddService of an existing service made a new one")
	}
	c2 := tree.Container("demo-mongo-2")
	if c2 == nil || c2.HostUUID != "host-uuid-2" || c2.ServiceIndex != "2" || c2.CreateIndex != 2 ||
		c2.State != "running" || c2.HealthState != "healthy" || svc.Scale != 3 {
		t.Fatalf("container = %+v, scale %d", c2, svc.Scale)
	}

	clone := tree.Clone()
	clone.Container("demo-mongo-1").State = "stopped"
	clone.Host("host1").Label("role", "db")
	if tree.Container("demo-mongo-1").State != "running" || tree.Host("host1").Labels["role"] != "" {
		t.Error("changing the clone changed the original")
	}

	repl := svc.Replace(c2)
	if repl.Name != "demo-mongo-2" || repl.ServiceIndex != "2" || repl.HostUUID != "host-uuid-2" ||
		repl.CreateIndex != 4 || repl.UUID == c2.UUID || repl.PrimaryIP == c2.PrimaryIP {
		t.Errorf("replacement = %+v, old %+v", *repl, *c2)
	}
	if svc.Replace(c2) != nil {
		t.Error("replacing a container that is gone returned a container")
	}
	if !tree.RemoveContainer("demo-mongo-1") || tree.RemoveContainer("demo-mongo-1") || svc.Scale != 2 {
		t.Error("RemoveContainer")
	}
	if next := svc.AddContainer(hosts[0]); next.ServiceIndex != "1" || next.CreateIndex != 5 {
		t.Errorf("new container reuses free service_index 1 with create_index 5, got %q %d", next.ServiceIndex, next.CreateIndex)
	}
	if !tree.RemoveHost("host2") || tree.Host("host-uuid-2") != nil || tree.Container("demo-mongo-2") == nil {
		t.Error("RemoveHost must drop the host and keep its containers")
	}
}

func TestBuilderManyHostsHaveDistinctIPs(t *testing.T) {
	tree := metadatatest.NewTree()
	hosts := tree.AddHosts(1000)
	svc := tree.AddService("big", "mongo").On(hosts...)
	seen := map[string]bool{}
	for _, h := range hosts {
		seen[h.AgentIP] = true
	}
	for _, c := range svc.Containers {
		seen[c.PrimaryIP] = true
	}
	if len(seen) != 2000 {
		t.Errorf("%d distinct IPs among 1000 hosts and 1000 containers", len(seen))
	}
}
