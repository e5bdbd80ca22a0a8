package metadata_test

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/replset-agent/replset-agent/metadata"
	"github.com/replset-agent/replset-agent/metadata/metadatatest"
)

// bigTree is 1,000 hosts and 10,000 containers: either all in the mongo service (ten per host,
// the worst case for the one-per-host rule) or spread over ten services of one per host.
func bigTree(oneService bool) *metadatatest.Tree {
	tree := metadatatest.NewTree()
	hosts := tree.AddHosts(1000)
	for i := range 10 {
		name := "mongo"
		if !oneService && i > 0 {
			name = "svc" + strconv.Itoa(i)
		}
		tree.AddService("big", name).On(hosts...)
	}
	return tree
}

// fetchBig serves tree from a fake server and reads it back the way the Watcher does.
func fetchBig(b *testing.B, tree *metadatatest.Tree) metadata.Snapshot {
	b.Helper()
	srv := metadatatest.StartT(b, metadatatest.Options{Tree: tree})
	w, err := metadata.NewWatcher(metadata.WatcherConfig{BaseURL: srv.BaseURL()})
	if err != nil {
		b.Fatal(err)
	}
	s, err := w.Fetch(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func BenchmarkTopology(b *testing.B) {
	for _, bc := range []struct {
		name        string
		oneService  bool
		wantMembers int
	}{
		{"1000hosts-10000containers-one-service", true, 1000},
		{"1000hosts-10000containers-ten-services", false, 1000},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := fetchBig(b, bigTree(bc.oneService))
			opts := metadata.TopologyOptions{Stack: "big", Service: "mongo"}
			b.ReportAllocs()
			for b.Loop() {
				topo, err := s.Topology(opts)
				if err != nil || len(topo.Members) != bc.wantMembers {
					b.Fatalf("%d members, %v", len(topo.Members), err)
				}
			}
		})
	}
}

// BenchmarkDecodeSnapshot decodes a 13 MB tree (1,000 hosts, 10,000 containers in ten
// services): streamed whole, streamed scoped to one service as the mongo role reads it, and, as
// the reference the streaming decoder replaced, buffered and unmarshalled in one piece.
func BenchmarkDecodeSnapshot(b *testing.B) {
	srv := metadatatest.StartT(b, metadatatest.Options{Tree: bigTree(false)})
	body := httpGetJSON(b, srv.BaseURL()+"/")
	for _, bc := range []struct {
		name   string
		decode func() error
	}{
		{"stream-whole", func() error { _, err := metadata.DecodeSnapshot(body); return err }},
		{"stream-scoped", func() error {
			_, err := metadata.Decode(bytes.NewReader(body), metadata.Scope{Services: []string{"mongo"}, Self: "mongo"})
			return err
		}},
		{"buffered-unmarshal", func() error {
			var whole struct {
				Version    string               `json:"version"`
				Hosts      []metadata.Host      `json:"hosts"`
				Services   []metadata.Service   `json:"services"`
				Containers []metadata.Container `json:"containers"`
				Stacks     []metadata.Stack     `json:"stacks"`
			}
			return json.Unmarshal(bytes.Clone(body), &whole)
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if err := bc.decode(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkWatcherChange measures one change end to end (server change → snapshot received) and
// reports the requests each change costs, for long-poll and for polling every 50 ms.
func BenchmarkWatcherChange(b *testing.B) {
	for _, mode := range []metadata.Mode{metadata.ModeLongPoll, metadata.ModePoll} {
		b.Run(string(mode), func(b *testing.B) {
			tree := demoTree()
			srv := metadatatest.StartT(b, metadatatest.Options{Tree: tree})
			w, err := metadata.NewWatcher(metadata.WatcherConfig{
				BaseURL: srv.BaseURL(), Mode: mode, MaxWait: 30 * time.Second,
				PollInterval: 50 * time.Millisecond, MinInterval: -1,
			})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			out := make(chan metadata.Snapshot)
			done := make(chan error, 1)
			go func() { done <- w.Run(ctx, out) }()
			defer func() { cancel(); <-done }()
			<-out
			srv.ResetRequests()
			n := 0
			for b.Loop() {
				n++
				tree.Container("demo-mongo-1").StartCount = n + 1
				v := srv.SetTree(tree)
				if s := <-out; s.Version != v {
					b.Fatalf("got %q, want %q", s.Version, v)
				}
			}
			c := srv.Requests()
			b.ReportMetric(float64(c.Total)/float64(n), "requests/change")
			b.ReportMetric(float64(c.Tree)/float64(n), "tree-reads/change")
		})
	}
}

// BenchmarkOutageRecovery measures, at the product's defaults (backoff 500 ms doubling to 30 s),
// how long after a 20 s metadata outage ends the watcher has the new snapshot, and how many
// requests per minute it sent during the outage: with probes every second (the default) and
// without them (ProbeInterval < 0, the backoff alone).
func BenchmarkOutageRecovery(b *testing.B) {
	const outage = 20 * time.Second
	for _, bc := range []struct {
		name  string
		probe time.Duration
	}{{"probe-1s", 0}, {"no-probes", -1}} {
		b.Run(bc.name, func(b *testing.B) {
			tree := demoTree()
			srv := metadatatest.StartT(b, metadatatest.Options{Tree: tree})
			w, err := metadata.NewWatcher(metadata.WatcherConfig{BaseURL: srv.BaseURL(), ProbeInterval: bc.probe})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			out := make(chan metadata.Snapshot)
			done := make(chan error, 1)
			go func() { done <- w.Run(ctx, out) }()
			defer func() { cancel(); <-done }()
			<-out
			var recovery, perMinute []float64
			n := 0
			for b.Loop() {
				n++
				srv.SetOutage(true)
				srv.ResetRequests()
				tree.Container("demo-mongo-1").StartCount = n + 1
				v := srv.SetTree(tree) // the waiting long-poll answers; the tree read meets the outage
				time.Sleep(outage)
				perMinute = append(perMinute, float64(srv.Requests().Total)/outage.Minutes())
				srv.SetOutage(false)
				start := time.Now()
				if s := <-out; s.Version != v {
					b.Fatalf("got %q, want %q", s.Version, v)
				}
				recovery = append(recovery, float64(time.Since(start).Milliseconds()))
			}
			b.ReportMetric(median(recovery), "recovery-ms")
			b.ReportMetric(median(perMinute), "requests/min")
		})
	}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
