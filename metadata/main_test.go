package metadata_test

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"

	"github.com/replset-agent/replset-agent/metadata"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// loadSnapshot decodes a fixture from testdata.
func loadSnapshot(t testing.TB, name string) metadata.Snapshot {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	s, err := metadata.DecodeSnapshot(body)
	if err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
	return s
}

// httpGetJSON reads url with Accept: application/json, as the Watcher does.
func httpGetJSON(tb testing.TB, url string) []byte {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return body
}

// serviceNamed returns the service of s with that name.
func serviceNamed(t testing.TB, s metadata.Snapshot, name string) *metadata.Service {
	t.Helper()
	for i := range s.Services {
		if s.Services[i].Name == name {
			return &s.Services[i]
		}
	}
	t.Fatalf("no service %q in the snapshot", name)
	return nil
}
