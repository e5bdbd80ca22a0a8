package metadata_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/replset-agent/replset-agent/metadata"
	"github.com/replset-agent/replset-agent/metadata/metadatatest"
)

// The peak-memory measurement runs in a child process (this test binary, running
// TestPeakRSSHelper), so that its VmHWM holds the watcher's reads and nothing of the fake server
// or of other benchmarks.
const (
	rssURLEnv   = "METADATA_RSS_TREE_URL"
	rssScopeEnv = "METADATA_RSS_SCOPE"
	rssReads    = 3
)

// hugeTree is an environment of 1,000 hosts: the catalog's mongo service (with its mongo-agent
// sidekick) and letschat, beside 43 other global services in 8 stacks. Served, it is about 63 MB.
func hugeTree() *metadatatest.Tree {
	tree := metadatatest.NewTree()
	hosts := tree.AddHosts(1000)
	tree.AddService("demo", "mongo").On(hosts...).AddSidekick("mongo-agent")
	tree.AddService("demo", "letschat").On(hosts[:3]...)
	for i := range 43 {
		tree.AddService("stack"+strconv.Itoa(i%8), "global"+strconv.Itoa(i)).On(hosts...)
	}
	return tree
}

// TestPeakRSSHelper is the child of BenchmarkPeakRSS: it reads the tree rssReads times as the
// mongo role's watcher does (or whole, without a scope), keeping the newest snapshot as a
// consumer would, and prints its peak RSS.
func TestPeakRSSHelper(t *testing.T) {
	url := os.Getenv(rssURLEnv)
	if url == "" {
		t.Skip("run by BenchmarkPeakRSS")
	}
	cfg := metadata.WatcherConfig{BaseURL: url}
	if os.Getenv(rssScopeEnv) == "mongo" {
		cfg.Scope = metadata.Scope{Services: []string{"mongo"}, Self: "mongo"}
	}
	w, err := metadata.NewWatcher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var current metadata.Snapshot
	for range rssReads {
		s, err := w.Fetch(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		current = s
	}
	fmt.Printf("containers %d\nvmhwm-kib %d\n", len(current.Containers), vmHWM(t))
}

func vmHWM(t *testing.T) int {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return n
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// BenchmarkPeakRSS reports the peak RSS of a process that reads a ~63 MB tree (1,000 hosts, 45
// global services) three times, scoped as the mongo role reads it and whole.
func BenchmarkPeakRSS(b *testing.B) {
	srv := metadatatest.StartT(b, metadatatest.Options{Tree: hugeTree()})
	size := len(httpGetJSON(b, srv.BaseURL()+"/"))
	for _, scope := range []string{"mongo", "whole"} {
		b.Run(scope, func(b *testing.B) {
			peak := 0
			for b.Loop() {
				cmd := exec.Command(os.Args[0], "-test.run=^TestPeakRSSHelper$", "-test.count=1", "-test.v")
				cmd.Env = append(os.Environ(), rssURLEnv+"="+srv.BaseURL(), rssScopeEnv+"="+scope)
				out, err := cmd.CombinedOutput()
				if err != nil {
					b.Fatalf("helper: %v\n%s", err, out)
				}
				for line := range strings.Lines(string(out)) {
					if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "vmhwm-kib "); ok {
						n, _ := strconv.Atoi(rest)
						peak = max(peak, n)
					}
				}
			}
			if peak == 0 {
				b.Fatal("the helper printed no peak")
			}
			b.ReportMetric(float64(size)/1e6, "tree-MB")
			b.ReportMetric(float64(peak)/1024, "peak-MiB")
		})
	}
}
