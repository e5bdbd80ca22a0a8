package mongors

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/replset-agent/replset-agent/mongotest"
)

// A pool left idle to a node that is gone is closed off the caller's path. Closing it ends the
// node's sessions, and a host that went away without closing its connections (powered off, cut
// off) answers nothing: the close then waits out its context (ConnectTimeout, here a minute). The
// next command to a live node must return while that close is still under way.
func TestDriverClient_closesIdlePoolsInTheBackground(t *testing.T) {
	addrs := startedNodes(t, 2)
	gone := newBlackhole(t, addrs[1])
	dc, err := NewDriverClient(ConnConfig{Address: addrs[0], IdleClose: time.Millisecond, ConnectTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := dc.Hello(ctx, addrs[0]); err != nil {
		t.Fatal(err)
	}
	// A command with a session on the node that is about to go: its pool then has a session to end.
	if _, err := dc.GetStatus(ctx, gone.addr); !errors.Is(err, ErrNotInitialized) {
		t.Fatalf("status of an empty node: %v", err)
	}
	gone.cut()
	time.Sleep(10 * time.Millisecond) // longer than IdleClose
	if _, err := dc.Hello(ctx, addrs[0]); err != nil {
		t.Fatal(err)
	}
	if n := dc.pending.Load(); n != 1 {
		t.Fatalf("%d idle pools closing after the command returned, want the gone node's 1", n)
	}
	dc.mu.Lock()
	_, kept := dc.clients[poolKey{addr: gone.addr}]
	dc.mu.Unlock()
	if kept {
		t.Fatal("the idle pool is still listed")
	}
	// Close waits for it while its context lasts, and returns when that ends.
	cctx, ccancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer ccancel()
	_ = dc.Close(cctx)
	if cctx.Err() == nil && dc.pending.Load() != 0 {
		t.Fatal("Close returned before its context ended with a close still under way")
	}
}

// blackhole forwards TCP connections to a node until cut, and from then on swallows everything
// in both directions without closing a connection: a host gone without a word.
type blackhole struct {
	addr string
	dead atomic.Bool
}

func newBlackhole(t *testing.T, target string) *blackhole {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &blackhole{addr: ln.Addr().String()}
	var conns sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range open {
			_ = c.Close()
		}
		mu.Unlock()
		conns.Wait()
	})
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				_ = in.Close()
				continue
			}
			mu.Lock()
			open = append(open, in, out)
			mu.Unlock()
			conns.Go(func() { b.pipe(out, in) })
			conns.Go(func() { b.pipe(in, out) })
		}
	}()
	return b
}

func (b *blackhole) cut() { b.dead.Store(true) }

func (b *blackhole) pipe(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !b.dead.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Retain lets go of the pools to nodes the reconciler no longer needs, at once and in the
// background, and keeps the local node's and those named.
func TestDriverClient_retain(t *testing.T) {
	addrs := startedNodes(t, 3)
	dc, err := NewDriverClient(ConnConfig{Address: addrs[0]})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	defer func() { _ = dc.Close(ctx) }()
	for _, a := range addrs {
		if _, err := dc.Hello(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	pooled := func() []string {
		dc.mu.Lock()
		defer dc.mu.Unlock()
		var out []string
		for k := range dc.clients {
			out = append(out, k.addr)
		}
		slices.Sort(out)
		return out
	}
	if got := pooled(); len(got) != 3 {
		t.Fatalf("pools before: %v", got)
	}
	dc.Retain([]string{addrs[1]})
	want := []string{addrs[0], addrs[1]}
	slices.Sort(want)
	if got := pooled(); !slices.Equal(got, want) {
		t.Fatalf("pools after Retain(%s): %v, want %v", addrs[1], got, want)
	}
	dc.Retain(nil)
	if got := pooled(); !slices.Equal(got, []string{addrs[0]}) {
		t.Fatalf("the local node's pool must stay: %v", got)
	}
	if _, err := dc.Hello(ctx, addrs[2]); err != nil { // a node let go of is dialled again when asked
		t.Fatal(err)
	}
}

// startedNodes starts n uninitiated nodes (emulated, or real mongod with MONGOD_BIN) and returns
// their addresses.
func startedNodes(t *testing.T, n int) []string {
	t.Helper()
	cluster := mongotest.New(t, mongotest.Options{SetName: "letschat"})
	addrs := mongotest.Addrs(t, n)
	for _, a := range addrs {
		if err := cluster.StartNode(a); err != nil {
			t.Fatal(err)
		}
	}
	return addrs
}
