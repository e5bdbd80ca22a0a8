package metadatatest_test

import (
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// (*client).OnChange of the pinned go-rancher-metadata client loops forever by design;
		// TestRancherClientOnChange documents the one it leaves behind.
		goleak.IgnoreAnyFunction("github.com/rancher/go-rancher-metadata/metadata.(*client).OnChange"),
	)
}

// answer is one HTTP response, read whole.
type answer struct {
	status      int
	body        string
	contentType string
}

// newClient returns an HTTP client whose connections come from source IP src ("" for any) and
// whose idle connections are closed when the test ends.
func newClient(t *testing.T, src string) *http.Client {
	t.Helper()
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	if src != "" {
		dialer.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	tr := &http.Transport{DialContext: dialer.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

func get(t *testing.T, c *http.Client, url, accept string, header ...string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return answer{status: resp.StatusCode, body: string(b), contentType: resp.Header.Get("Content-Type")}
}

const jsonAccept = "application/json"
