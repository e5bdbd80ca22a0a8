package metadata_test

import (
	"testing"

	"github.com/replset-agent/replset-agent/metadata"
)

// FuzzSnapshotTopology feeds arbitrary answers through DecodeSnapshot and, when they decode,
// through Topology, checking that nothing panics and that the topology keeps its promises. The
// seed corpus is testdata/fuzz/FuzzSnapshotTopology: small trees, because the fuzzer minimises
// every interesting input byte by byte and stalls on the multi-kilobyte fixtures.
func FuzzSnapshotTopology(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		s, err := metadata.DecodeSnapshot(body)
		if err != nil {
			return
		}
		if s.Version == "" {
			t.Fatal("decoded a snapshot without a version")
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
