package agent

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/replset-agent/replset-agent/metadata/metadatatest"
)

// The letschat command end to end in this process: metadata from the fake server, the URI handed to
// a real child, the HTTP endpoints, and SIGTERM answered with the child's own exit status.
func TestLetschatCommand(t *testing.T) {
	d := settledEnv(t, 3)
	c := d.tree.Service("demo", "letschat").AddContainer(d.hosts[0].meta)
	lcIP := d.lcIP
	c.PrimaryIP, c.IPs = lcIP, []string{lcIP}
	d.meta.SetTree(d.tree)
	d.meta.SetSelf(lcIP, metadatatest.Self{ContainerUUID: c.UUID})

	dir := t.TempDir()
	seen := filepath.Join(dir, "uri")
	script := `echo "$LCB_DATABASE_URI" > ` + seen + `.tmp && mv ` + seen + `.tmp ` + seen + `; trap 'exit 5' TERM; while :; do sleep 0.05; done`
	listen := freeAddr(t)
	args := []string{"letschat", "--metadata-url", d.meta.BaseURL(), "--metadata-source-ip", lcIP,
		"--metadata-min-interval", "20ms", "--settle-delay", "50ms", "--dir", dir, "--listen", listen,
		"--username", "admin", "--password", "adm1n-pw", "--cookie-secret", testCookie, "--ready-url", "none",
		"--app-username", "chat", "--app-password", "s3cret/pw", "--", "sh", "-c", script}
	done := make(chan int, 1)
	var errb syncBuffer
	go func() { done <- run(args, noEnv, &bytes.Buffer{}, &errb) }()

	waitFile(t, seen)
	b, _ := os.ReadFile(seen)
	uri := strings.TrimSpace(string(b))
	// The application user, percent-encoded, with authSource and w=majority; never the admin.
	want := "mongodb://chat:s3cret%2Fpw@" + hostList(d.hosts) + "/letschat?replicaSet=letschat&authSource=admin&w=majority"
	if uri != want {
		t.Errorf("child saw LCB_DATABASE_URI=%q\nwant %q", uri, want)
	}
	status := get(t, "http://"+listen+"/status")
	metrics := get(t, "http://"+listen+"/metrics")
	if !strings.Contains(status, `"state": "running"`) || !strings.Contains(metrics, "replset_agent_letschat_uri_changes_total") {
		t.Errorf("endpoints do not show the running child:\n%s", status)
	}
	for _, m := range []string{`replset_agent_letschat_ready{role="letschat"} 1`, `replset_agent_letschat_gate_held{role="letschat"} 0`,
		"replset_agent_letschat_gate_deferrals_total", "replset_agent_letschat_restart_downtime_seconds", "replset_agent_letschat_dropped_members", "replset_agent_reaped_orphans_total"} {
		if !strings.Contains(metrics, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	if got := get(t, "http://"+listen+"/readyz"); strings.TrimSpace(got) != "ok" {
		t.Errorf("/readyz = %q with Let's Chat running", got)
	}
	for _, leak := range []string{"s3cret/pw", "s3cret%2Fpw", "adm1n-pw", testCookie} {
		if strings.Contains(status+metrics+errb.String(), leak) {
			t.Errorf("the password (%s) reached /status, /metrics or the logs", leak)
		}
	}

	if !strings.Contains(errb.String(), "never go into Let's Chat's URI") {
		t.Errorf("the admin credentials given to the letschat role were not pointed out:\n%s", errb.String())
	}

	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	select {
	case code := <-done:
		if code != 5 {
			t.Fatalf("exit %d, want the child's 5\n%s", code, errb.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("letschat did not stop on SIGTERM")
	}
}

// testCookie is a cookie secret the letschat command accepts.
const testCookie = "agent-test-cookie-secret-0123456789"

func init() { reapOrphans = false } // in-process runs share the test binary with other children

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
