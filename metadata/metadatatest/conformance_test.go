package metadatatest_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/replset-agent/replset-agent/metadata/metadatatest"
)

const notFoundJSON = `{"code":404,"message":"Not found","type":"error"}`

func TestPaths(t *testing.T) {
	srv := metadatatest.StartT(t, metadatatest.Options{Tree: demoTree()})
	c := newClient(t, "")
	tests := []struct {
		name   string
		path   string
		accept string
		status int
		body   string
	}{
		{"index text", "/", "", 200, "2015-12-19\n2016-07-29\nlatest\n"},
		{"unversioned version", "/version", jsonAccept, 404, `{"code":404,"message":"Invalid version","type":"error"}`},
		{"unversioned version text", "/version", "", 404, "Invalid version"},
		{"version segment is case-sensitive", "/LATEST/version", jsonAccept, 404, `{"code":404,"message":"Invalid version","type":"error"}`},
		{"version as json keeps quotes", "/2016-07-29/version", jsonAccept, 200, `"1"`},
		{"version as text is raw", "/2016-07-29/version", "", 200, "1"},
		{"star accept is text", "/latest/version", "*/*", 200, "1"},
		{"older api version", "/2015-12-19/hosts/0/name", "", 200, "host1"},
		{"element by name", "/latest/services/mongo/containers/demo-mongo-2/host_uuid", "", 200, "host-uuid-2"},
		{"element by index", "/latest/hosts/2/agent_ip", "", 200, "10.0.0.13"},
		{"element by uuid", "/latest/hosts/host-uuid-1/name", "", 200, "host1"},
		{"lower-case fallback", "/latest/Services/MONGO/scale", "", 200, "3"},
		{"int as json", "/latest/services/mongo/containers/0/create_index", jsonAccept, 200, "1"},
		{"service_index is a string", "/latest/services/mongo/containers/0/service_index", jsonAccept, 200, `"1"`},
		{"array of named objects", "/latest/hosts", "", 200, "0=host1\n1=host2\n2=host3\n"},
		{"array of scalars", "/latest/containers/demo-mongo-1/ips", "", 200, "0\n"},
		{"map with nested keys", "/latest/hosts/host1", "", 200,
			"agent_ip\nhost_id\nhostname\nlabels/\nmemory\nmilli_cpu\nname\nstate\nuuid\n"},
		{"labels map values", "/latest/hosts/host1/labels/role", "", 200, "db"},
		{"missing path json", "/latest/hosts/host9", jsonAccept, 404, notFoundJSON},
		{"missing path text", "/latest/nothing", "", 404, "Not found"},
		{"index out of range", "/latest/hosts/7", jsonAccept, 404, notFoundJSON},
		{"path below a scalar", "/latest/version/x", jsonAccept, 404, notFoundJSON},
		{"top-level keys", "/latest", "", 200,
			"containers/\nenvironments/\nhosts/\nnetworks/\nself/\nservices/\nstacks/\nversion\n"},
		{"stack lists its services", "/latest/stacks/demo/services", "", 200, "0=mongo\n1=letschat\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := get(t, c, srv.URL()+tc.path, tc.accept)
			if got.status != tc.status || got.body != tc.body {
				t.Errorf("GET %s = %d %q, want %d %q", tc.path, got.status, got.body, tc.status, tc.body)
			}
			if got.contentType != "text/plain; charset=utf-8" {
				t.Errorf("Content-Type = %q, want text/plain even for JSON", got.contentType)
			}
		})
	}
}

func TestIndexJSONListsVersionURLs(t *testing.T) {
	srv := metadatatest.StartT(t, metadatatest.Options{})
	got := get(t, newClient(t, ""), srv.URL()+"/", jsonAccept)
	var urls map[string]string
	if err := json.Unmarshal([]byte(got.body), &urls); err != nil {
		t.Fatalf("index is not a JSON map: %v (%q)", err, got.body)
	}
	for _, v := range metadatatest.APIVersions {
		if urls[v] != srv.URL()+"/"+v {
			t.Errorf("index[%s] = %q, want %q", v, urls[v], srv.URL()+"/"+v)
		}
	}
}

func TestTreeJSONRoundTrip(t *testing.T) {
	srv := metadatatest.StartT(t, metadatatest.Options{Tree: demoTree()})
	for _, path := range []string{"/2016-07-29", "/2016-07-29/"} {
		got := get(t, newClient(t, ""), srv.URL()+path, jsonAccept)
		var root struct {
			Version  string `json:"version"`
			Hosts    []metadatatest.Host
			Services []metadatatest.Service
			Self     map[string]json.RawMessage
		}
		if err := json.Unmarshal([]byte(got.body), &root); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		if root.Version != "1" || len(root.Hosts) != 3 || len(root.Services) != 2 || len(root.Services[0].Containers) != 3 {
			t.Errorf("GET %s: version %q, %d hosts, %d services", path, root.Version, len(root.Hosts), len(root.Services))
		}
		if _, ok := root.Self["host"]; !ok || len(root.Self) != 1 {
			t.Errorf("GET %s: self keys %v, want only host for an unknown client", path, keys(root.Self))
		}
	}
}

func keys(m map[string]json.RawMessage) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestSetRaw(t *testing.T) {
	srv := metadatatest.StartT(t, metadatatest.Options{Tree: demoTree()})
	c := newClient(t, "")
	if err := srv.SetRaw([]byte(`{"version": 5, "hosts": []}`)); err != nil {
		t.Fatalf("SetRaw: %v", err)
	}
	if got := get(t, c, srv.BaseURL()+"/version", jsonAccept); got.body != "5" {
		t.Errorf("raw numeric version = %q, want 5", got.body)
	}
	for _, bad := range []string{`[1,2]`, `not json`, `{"a":1} trailing`} {
		if err := srv.SetRaw([]byte(bad)); err == nil {
			t.Errorf("SetRaw(%q) accepted", bad)
		}
	}
	if got := get(t, c, srv.BaseURL()+"/version", jsonAccept); got.body != "5" {
		t.Errorf("version after rejected SetRaw = %q, want the old 5", got.body)
	}
	if err := srv.SetRaw([]byte(`{"hosts": []}`)); err != nil {
		t.Fatalf("SetRaw: %v", err)
	}
	if got := get(t, c, srv.BaseURL()+"/version", jsonAccept); got.status != 404 || got.body != notFoundJSON {
		t.Errorf("missing version = %d %q, want 404", got.status, got.body)
	}
}

func TestVersionBumps(t *testing.T) {
	srv := metadatatest.StartT(t, metadatatest.Options{Tree: demoTree()})
	c := newClient(t, "")
	v1 := srv.Version()
	v2 := srv.SetTree(demoTree())
	v3 := srv.Reload()
	if v1 == v2 || v2 == v3 || v1 == v3 {
		t.Fatalf("versions %q %q %q are not all different", v1, v2, v3)
	}
	if got := get(t, c, srv.BaseURL()+"/version", ""); got.body != v3 {
		t.Errorf("served version %q, want %q", got.body, v3)
	}
	srv.SetRandomVersions(true)
	seen := map[string]bool{}
	for range 5 {
		v := srv.Reload()
		if len(v) != 36 || v[14] != '4' || strings.Count(v, "-") != 4 || seen[v] {
			t.Errorf("random version %q is not a fresh UUIDv4", v)
		}
		seen[v] = true
	}
}
