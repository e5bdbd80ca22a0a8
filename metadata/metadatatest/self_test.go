package metadatatest_test

import (
	"encoding/json"
	"testing"

	"github.com/replset-agent/replset-agent/metadata/metadatatest"
)

// selfView is what a client sees under self/, reduced to identities.
type selfView struct {
	host, container, service, stack string
}

func readSelf(t *testing.T, body string) selfView {
	t.Helper()
	var self map[string]struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal([]byte(body), &self); err != nil {
		t.Fatalf("self is not JSON: %v (%q)", err, body)
	}
	return selfView{self["host"].Name, self["container"].Name, self["service"].Name, self["stack"].Name}
}

func TestSelfResolution(t *testing.T) {
	tree := demoTree()
	// A container whose primary IP is a loopback address, so a test client can be it.
	tree.Container("demo-mongo-2").PrimaryIP = "127.0.0.22"
	tree.MetadataHost = "host-uuid-3"
	tests := []struct {
		name     string
		src      string // client source IP
		xff      string
		trustXFF bool
		want     selfView
	}{
		{"unknown ip gets default host only", "127.0.0.21", "", false, selfView{host: "host3"}},
		{"container primary ip", "127.0.0.22", "", false, selfView{"host2", "demo-mongo-2", "mongo", "demo"}},
		{"pinned host-network client", "127.0.0.23", "", false, selfView{host: "host1"}},
		{"pinned container", "127.0.0.24", "", false, selfView{"host1", "demo-letschat-1", "letschat", "demo"}},
		{"xff ignored without trust", "127.0.0.21", "127.0.0.22", false, selfView{host: "host3"}},
		{"xff trusted", "127.0.0.21", "127.0.0.22", true, selfView{"host2", "demo-mongo-2", "mongo", "demo"}},
		{"xff list is not split", "127.0.0.21", "127.0.0.22, 10.0.0.1", true, selfView{host: "host3"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := metadatatest.StartT(t, metadatatest.Options{Tree: tree, TrustXFF: tc.trustXFF})
			srv.SetSelf("127.0.0.23", metadatatest.Self{HostUUID: "host-uuid-1"})
			srv.SetSelf("127.0.0.24", metadatatest.Self{ContainerUUID: tree.Container("demo-letschat-1").UUID})
			c := newClient(t, tc.src)
			var header []string
			if tc.xff != "" {
				header = []string{"X-Forwarded-For", tc.xff}
			}
			got := readSelf(t, get(t, c, srv.BaseURL()+"/self", jsonAccept, header...).body)
			if got != tc.want {
				t.Errorf("self = %+v, want %+v", got, tc.want)
			}
			// The same view through the whole tree and through sub-paths.
			var root struct{ Self json.RawMessage }
			if err := json.Unmarshal([]byte(get(t, c, srv.BaseURL()+"/", jsonAccept, header...).body), &root); err != nil {
				t.Fatal(err)
			}
			if fromRoot := readSelf(t, string(root.Self)); fromRoot != tc.want {
				t.Errorf("root self = %+v, want %+v", fromRoot, tc.want)
			}
			sc := get(t, c, srv.BaseURL()+"/self/container/name", "", header...)
			if tc.want.container == "" && sc.status != 404 {
				t.Errorf("self/container for a host-only client = %d %q, want 404", sc.status, sc.body)
			}
			if tc.want.container != "" && sc.body != tc.want.container {
				t.Errorf("self/container/name = %q, want %q", sc.body, tc.want.container)
			}
		})
	}
}

func TestClearSelf(t *testing.T) {
	srv := metadatatest.StartT(t, metadatatest.Options{Tree: demoTree()})
	c := newClient(t, "127.0.0.31")
	srv.SetSelf("127.0.0.31", metadatatest.Self{HostUUID: "host-uuid-2"})
	if got := get(t, c, srv.BaseURL()+"/self/host/name", ""); got.body != "host2" {
		t.Fatalf("pinned self/host = %q, want host2", got.body)
	}
	srv.ClearSelf("127.0.0.31")
	if got := get(t, c, srv.BaseURL()+"/self/host/name", ""); got.body != "host1" {
		t.Errorf("self/host after ClearSelf = %q, want the default host1", got.body)
	}
}
