package metadata_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/replset-agent/replset-agent/metadata"
)

func TestDecodeFixtures(t *testing.T) {
	tests := []struct {
		file          string
		version       string
		selfHost      string
		selfContainer string
	}{
		{"host-network.json", "6f1c2d0e-3b7a-4c55-9e0a-2b8f4d7c1a93", "host-uuid-1", ""},
		// self has a container but no host: the host comes from the container's host_uuid.
		{"managed-network.json", "371486-4f3c5c96", "host-uuid-1", "demo-letschat-1"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			s := loadSnapshot(t, tc.file)
			if s.Version != tc.version || len(s.Hosts) != 3 || len(s.Services) != 2 || len(s.Containers) != 4 || len(s.Stacks) != 1 {
				t.Errorf("snapshot %q: %d hosts, %d services, %d containers, %d stacks",
					s.Version, len(s.Hosts), len(s.Services), len(s.Containers), len(s.Stacks))
			}
			if s.Self.Host == nil || s.Self.Host.UUID != tc.selfHost || s.SelfHostUUID() != tc.selfHost {
				t.Errorf("self host = %+v, want %s", s.Self.Host, tc.selfHost)
			}
			gotContainer := ""
			if s.Self.Container != nil {
				gotContainer = s.Self.Container.Name
			}
			if gotContainer != tc.selfContainer {
				t.Errorf("self container = %q, want %q", gotContainer, tc.selfContainer)
			}
			c := serviceNamed(t, s, "mongo").Containers[1]
			if c.ServiceIndex != "2" || c.CreateIndex != 2 || c.HostUUID != "host-uuid-2" || c.Labels["io.rancher.stack_service.name"] != "demo/mongo" {
				t.Errorf("container = %+v", c)
			}
		})
	}
}

func TestDecodeBadInput(t *testing.T) {
	tests := []struct {
		name string
		body string
		want error
		// words the message must contain, so that an operator can tell what was wrong
		mention string
	}{
		{"empty", ``, metadata.ErrMalformed, ""},
		{"html", `<html>502 Bad Gateway</html>`, metadata.ErrMalformed, "invalid character"},
		{"truncated", `{"version":"1","hosts":[{"name":`, metadata.ErrMalformed, ""},
		{"array", `[1,2,3]`, metadata.ErrMalformed, ""},
		{"version number", `{"version":5,"hosts":[],"services":[],"containers":[]}`, metadata.ErrMalformed, "number"},
		{"version null", `{"version":null,"hosts":[],"services":[],"containers":[]}`, metadata.ErrMalformed, "null"},
		{"version empty", `{"version":"","hosts":[],"services":[],"containers":[]}`, metadata.ErrMalformed, "empty version"},
		{"no version", `{"hosts":[],"services":[],"containers":[]}`, metadata.ErrIncomplete, "version"},
		{"no hosts", `{"version":"1","services":[],"containers":[]}`, metadata.ErrIncomplete, "hosts"},
		{"no services", `{"version":"1","hosts":[],"containers":[]}`, metadata.ErrIncomplete, "services"},
		{"no containers", `{"version":"1","hosts":[],"services":[]}`, metadata.ErrIncomplete, "containers"},
		{"create_index as string", `{"version":"1","hosts":[],"services":[{"containers":[{"create_index":"3"}]}],"containers":[]}`, metadata.ErrMalformed, "create_index"},
		{"2015-07-25 container names", `{"version":"1","hosts":[],"services":[{"containers":["demo-mongo-1"]}],"containers":[]}`, metadata.ErrMalformed, ""},
		{"labels not a map", `{"version":"1","hosts":[{"labels":[1]}],"services":[],"containers":[]}`, metadata.ErrMalformed, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := metadata.DecodeSnapshot([]byte(tc.body))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("err %q does not mention %q", err, tc.mention)
			}
		})
	}
}

func TestDecodeTolerates(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"null lists are empty", `{"version":"1","hosts":null,"services":null,"containers":null}`},
		{"no self, no stacks", `{"version":"1","hosts":[],"services":[],"containers":[]}`},
		{"unknown and missing fields", `{"version":"1","environments":[{}],"hosts":[{"uuid":"h","extra":{"a":[1]}}],"services":[{"name":"s","containers":[{"name":"c"}]}],"containers":[]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := metadata.DecodeSnapshot([]byte(tc.body))
			if err != nil || s.Version != "1" {
				t.Fatalf("DecodeSnapshot = %q, %v", s.Version, err)
			}
			if s.Self.Host != nil || s.Self.Container != nil || s.SelfHostUUID() != "" {
				t.Errorf("self = %+v, want empty", s.Self)
			}
		})
	}
}

func TestEqualDataIgnoresVersion(t *testing.T) {
	a := loadSnapshot(t, "host-network.json")
	b := loadSnapshot(t, "host-network.json")
	b.Version = "other"
	if !a.EqualData(b) {
		t.Error("same data with another version is not equal")
	}
	c := loadSnapshot(t, "host-network.json")
	serviceNamed(t, c, "mongo").Containers[2].HealthState = "unhealthy"
	if a.EqualData(c) {
		t.Error("a health change is equal")
	}
	d := loadSnapshot(t, "managed-network.json")
	d.Version = a.Version
	if a.EqualData(d) {
		t.Error("a self change is equal")
	}
}

// Two answers of a real rancher-metadata v0.10.4 around a reload without a data change: new
// version, lists reordered, self naming the mongo container once and its sidekick once. Scoped as
// the mongo role reads them they are the same data; whole, they are too but for self.
func TestDecodeRealServerReload(t *testing.T) {
	read := func(name string, scope metadata.Scope) metadata.Snapshot {
		t.Helper()
		f, err := os.Open(filepath.Join("testdata", "rancher-metadata-v0.10.4", name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		s, err := metadata.Decode(f, scope)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return s
	}
	scope := metadata.Scope{Services: []string{"mongo"}, Self: "mongo"}
	main, side := read("real-self-main.json", scope), read("real-self-sidekick.json", scope)
	if main.Version == side.Version || !main.EqualData(side) {
		t.Fatalf("versions %q %q; scoped snapshots equal: %v", main.Version, side.Version, main.EqualData(side))
	}
	if main.Self.Container == nil || main.Self.Container.Name != "demo-mongo-2" || main.Self.Host.Name != "host2" {
		t.Errorf("self = %+v, want demo-mongo-2 on host2", main.Self)
	}
	if len(main.Services) != 1 || len(main.Containers) != 3 || len(main.Hosts) != 3 || len(main.Stacks) != 1 {
		t.Errorf("scoped: %d services, %d containers, %d hosts, %d stacks", len(main.Services), len(main.Containers), len(main.Hosts), len(main.Stacks))
	}
	wholeMain, wholeSide := read("real-self-main.json", metadata.Scope{}), read("real-self-sidekick.json", metadata.Scope{})
	if wholeSide.Self.Container.Name != "demo-mongo-mongo-agent-2" {
		t.Fatalf("unscoped self = %s, want the sidekick as served", wholeSide.Self.Container.Name)
	}
	if p := wholeSide.Locate("mongo", "demo"); p.State != metadata.SelfLocated || p.Container.Name != "demo-mongo-2" || p.Sidekick != "mongo-agent" {
		t.Errorf("Locate from the sidekick = %+v", p)
	}
	wholeMain.Self, wholeSide.Self = metadata.Self{}, metadata.Self{}
	if !wholeMain.EqualData(wholeSide) {
		t.Error("the whole trees differ beyond self: reordering was taken for a change")
	}
}
