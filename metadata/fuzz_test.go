package metadata_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/replset-agent/replset-agent/metadata"
)

// FuzzSnapshotTopology feeds arbitrary answers through DecodeSnapshot and, when they decode,
// through Topology, checking that nothing panics and that the topology keeps its promises. The
// seed corpus is testdata/fuzz/FuzzSnapshotTopology: small trees, because the fuzzer minimises
// every interesting input byte by byte and stalls on the multi-kilobyte fixtures.
//
// It also runs the scoped decode and the self lookup an agent uses: a scoped snapshot of an
// answer is never larger than the whole one, and both are deterministic, since snapshots are
// compared for equality to skip reloads without a change.
func FuzzSnapshotTopology(f *testing.F) {
	// Hostile shapes: wrong types, nesting the decoder walks itself, a sidekick self.
	f.Add([]byte(`{"containers":[],"environments":[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]],"hosts":[],"services":[],"version":"1"}`))
	f.Add([]byte(`{"containers":[{"name":"s","uuid":"k","service_name":"mongo-agent","service_uuid":"m","stack_name":"demo","host_uuid":"h","primary_ip":"10.42.0.1"}],` +
		`"hosts":[{"uuid":"h","agent_ip":"10.0.0.1"}],"self":{"container":{"name":"s","uuid":"k","service_name":"mongo-agent","service_uuid":"m","stack_name":"demo","host_uuid":"h","primary_ip":"10.42.0.1"},"stack":{"services":[{"containers":[1,"x",{}]}]}},` +
		`"services":[{"name":"mongo","uuid":"m","stack_name":"demo","sidekicks":["mongo-agent"],"containers":[{"name":"c","uuid":"c","host_uuid":"h","primary_ip":"10.42.0.1","state":"running"}]}],"stacks":[{"name":"demo","services":null}],"version":"2"}`))
	f.Add([]byte(`{"hosts":{"a":1},"services":[{"containers":{"x":[]}}],"containers":"x","version":"3"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		scope := metadata.Scope{Services: []string{"mongo"}, Self: "mongo", Stack: "demo"}
		scoped, scopedErr := metadata.Decode(bytes.NewReader(body), scope)
		s, err := metadata.DecodeSnapshot(body)
		if (err == nil) != (scopedErr == nil) {
			t.Fatalf("whole decode: %v; scoped decode: %v", err, scopedErr)
		}
		if err != nil {
			if !errors.Is(err, metadata.ErrMalformed) && !errors.Is(err, metadata.ErrIncomplete) {
				t.Fatalf("error %v is neither ErrMalformed nor ErrIncomplete", err)
			}
			return
		}
		if s.Version == "" {
			t.Fatal("decoded a snapshot without a version")
		}
		again, _ := metadata.DecodeSnapshot(body)
		if !s.EqualData(again) {
			t.Fatal("two decodes of one answer differ")
		}
		inServices := 0
		for _, svc := range s.Services {
			inServices += len(svc.Containers)
		}
		if len(scoped.Services) > len(s.Services) || len(scoped.Hosts) > len(s.Hosts) || len(scoped.Containers) > inServices {
			t.Fatalf("scoped snapshot is larger than the whole one")
		}
		for _, snap := range []metadata.Snapshot{s, scoped} {
			p := snap.Locate("mongo", "demo")
			if (p.State == metadata.SelfLocated) != (p.Container != nil) || (p.State == metadata.SelfLocated) == (p.Reason != "") {
				t.Fatalf("placement %+v is inconsistent", p)
			}
		}
		for _, src := range []metadata.AddressSource{metadata.AddressHostIP, metadata.AddressContainerIP} {
			opts := metadata.TopologyOptions{Stack: "demo", Service: "mongo", AddressSource: src}
			topo, err := s.Topology(opts)
			if err != nil {
				continue
			}
			all, err := s.ServiceContainers(opts)
			if err != nil || len(all) != len(topo.Members)+len(topo.Skipped) {
				t.Fatalf("%d containers, %d members + %d skipped, err %v", len(all), len(topo.Members), len(topo.Skipped), err)
			}
			hosts, addrs := map[string]bool{}, map[string]bool{}
			for i, m := range topo.Members {
				if hosts[m.HostUUID] || addrs[m.Address] || m.HostUUID == "" || m.IP == "" {
					t.Fatalf("member %+v repeats a host or address, or lacks one", m)
				}
				hosts[m.HostUUID], addrs[m.Address] = true, true
				if i > 0 && topo.Members[i-1].CreateIndex > m.CreateIndex {
					t.Fatalf("members out of create_index order: %d before %d", topo.Members[i-1].CreateIndex, m.CreateIndex)
				}
			}
			for _, sk := range topo.Skipped {
				if sk.Cause == "" || sk.Reason == "" {
					t.Fatalf("skipped %+v without a reason", sk)
				}
			}
			for _, c := range all {
				if _, _, err := s.ContainerRank(opts, c.ContainerUUID); err != nil && c.ContainerUUID != "" {
					t.Fatalf("rank of listed container %q: %v", c.ContainerUUID, err)
				}
			}
		}
	})
}
