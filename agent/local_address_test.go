package agent

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// In Rancher the agent reaches its mongod at 127.0.0.1:27017 while the set's config names the
// member by the host's IP. Here each agent dials its node through a forwarder on another address,
// so a planner that confused the two addresses would stall or misjudge who is primary.
func TestAgentDialsMongodByAnotherAddress(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	d, err := newDemo(ctx, demoConfig{Hosts: 4, Grace: 2 * time.Second, StepLimit: 30 * time.Second}, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); d.close() })
	for _, h := range d.hosts {
		h.local = forward(t, h.addr)
	}
	live := d.hosts[:3]
	for _, h := range live {
		if err := d.bringUp(h); err != nil {
			t.Fatal(err)
		}
	}
	d.uri = "mongodb://" + hostList(live) + "/letschat"
	if err := d.await("initiated", d.settled(live)); err != nil {
		t.Fatal(err)
	}
	if err := d.bringUp(d.hosts[3]); err != nil {
		t.Fatal(err)
	}
	d.uri = "mongodb://" + hostList(d.hosts) + "/letschat"
	if err := d.await("grown to 4", d.settled(d.hosts)); err != nil {
		t.Fatal(err)
	}
	for _, h := range d.hosts {
		if st := h.agent.rec.Status(); st.Self != h.addr {
			t.Errorf("agent self %q, want the canonical %q", st.Self, h.addr)
		}
	}
}

// forward listens on 127.0.0.1:0 and copies every connection to target.
func forward(t *testing.T, target string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, in, out)
			mu.Unlock()
			wg.Add(2)
			go func() { defer wg.Done(); io.Copy(out, in); out.Close() }()
			go func() { defer wg.Done(); io.Copy(in, out); in.Close() }()
		}
	}()
	return ln.Addr().String()
}
