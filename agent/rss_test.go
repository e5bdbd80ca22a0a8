package agent

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/replset-agent/replset-agent/metadata/metadatatest"
)

// BenchmarkMongoAgentPeakRSS runs the mongo role in a child process (this test binary, in
// TestMongoAgentRSSChild) against a ~63 MB metadata tree, 1,000 hosts with 45 global services,
// makes it read three versions of the tree, and reports the child's peak RSS (VmHWM) and its RSS
// afterwards. The mongod it would manage does not exist: metadata is what is measured.
func BenchmarkMongoAgentPeakRSS(b *testing.B) {
	tree := metadatatest.NewTree()
	hosts := tree.AddHosts(1000)
	mongo := tree.AddService("demo", "mongo").On(hosts...).AddSidekick("mongo-agent")
	tree.AddService("demo", "letschat").On(hosts[:3]...)
	for i := range 43 {
		tree.AddService("stack"+strconv.Itoa(i%8), "global"+strconv.Itoa(i)).On(hosts...)
	}
	srv := metadatatest.StartT(b, metadatatest.Options{Tree: tree, RandomVersions: true})
	const ip = "127.0.0.91"
	srv.SetSelf(ip, metadatatest.Self{ContainerUUID: tree.SidekickContainer(mongo.Containers[0], "mongo-agent").UUID})
	var peak, after int
	for b.Loop() {
		listen := freeTCPAddr(b)
		cmd := exec.Command(os.Args[0], "-test.run=^TestMongoAgentRSSChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "RSS_CHILD_ARGS="+strings.Join([]string{
			"mongo", "--metadata-url", srv.BaseURL(), "--metadata-source-ip", ip, "--metadata-min-interval", "10ms",
			"--mongod-address", "127.0.0.1:1", "--listen", listen, "--log-level", "warn"}, " "))
		cmd.Stderr, cmd.Stdout = io.Discard, io.Discard
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		waitSnapshots := func(n int) {
			deadline := time.Now().Add(5 * time.Minute)
			for {
				var st struct {
					Metadata struct{ Snapshots int } `json:"metadata"`
				}
				if resp, err := http.Get("http://" + listen + "/status"); err == nil {
					_ = json.NewDecoder(resp.Body).Decode(&st)
					resp.Body.Close()
				}
				if st.Metadata.Snapshots >= n {
					return
				}
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					b.Fatalf("the agent read fewer than %d snapshots", n)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		waitSnapshots(1)
		for i := 2; i <= 3; i++ {
			tree.Container(mongo.Containers[1].UUID).StartCount = i
			srv.SetTree(tree)
			waitSnapshots(i)
		}
		hwm, rss := procMemKiB(b, cmd.Process.Pid)
		peak, after = max(peak, hwm), max(after, rss)
		cmd.Process.Kill()
		cmd.Wait()
	}
	b.ReportMetric(float64(peak)/1024, "peak-MiB")
	b.ReportMetric(float64(after)/1024, "rss-after-MiB")
}

// TestMongoAgentRSSChild is the agent process of BenchmarkMongoAgentPeakRSS.
func TestMongoAgentRSSChild(t *testing.T) {
	args := os.Getenv("RSS_CHILD_ARGS")
	if args == "" {
		t.Skip("run by BenchmarkMongoAgentPeakRSS")
	}
	os.Exit(run(strings.Fields(args), noEnv, io.Discard, os.Stderr))
}

func procMemKiB(b *testing.B, pid int) (hwm, rss int) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Skip("no /proc")
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		switch k {
		case "VmHWM":
			hwm = n
		case "VmRSS":
			rss = n
		}
	}
	return hwm, rss
}

func freeTCPAddr(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
