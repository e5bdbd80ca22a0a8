package mongors_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/replset-agent/replset-agent/mongors"
	"github.com/replset-agent/replset-agent/mongors/fake"
)

// replacedHosts is the host-replacement scenario on the fake: old holds an initiated set, fresh are
// three new nodes without a config that metadata now lists as the members, with old as peers.
func replacedHosts(t *testing.T) (set *fake.Cluster, old, fresh []string) {
	t.Helper()
	addrs := fakeAddrs(6)
	old, fresh = addrs[:3], addrs[3:]
	set = fake.New("letschat", addrs...)
	cfg := mongors.Config{Name: "letschat", Version: 4, Term: 2}
	for i, a := range old {
		cfg.Members = append(cfg.Members, mongors.ConfigMember{ID: i, Host: a, Votes: 1, Priority: 1})
	}
	set.SetConfig(cfg, old[0])
	return set, old, fresh
}

// withPeerList lists peers as containers created before the members (the old hosts' ones).
func withPeerList(d mongors.Desired, peers []string) mongors.Desired {
	d.Peers = nil
	for i, p := range peers {
		d.Peers = append(d.Peers, mongors.Peer{Host: p, Order: -len(peers) + i, State: "stopped"})
	}
	return d
}

func TestObserve_peers(t *testing.T) {
	ctx := context.Background()
	s := mongors.Settings{SetName: "letschat"}
	set, old, fresh := replacedHosts(t)
	d := withPeerList(desiredOf(fresh[0], fresh...), old)

	// A peer reports the primary: the fresh node reads that set's config and only observes.
	o := mongors.Observe(ctx, set.Client(fresh[0]), d)
	if len(o.Candidates) != 2 || len(o.Peers) != 3 {
		t.Fatalf("candidates %+v peers %+v", o.Candidates, o.Peers)
	}
	for _, p := range o.Peers {
		if !p.Reachable() || !p.Hello.HasConfig() {
			t.Errorf("peer %+v should answer with its config", p)
		}
	}
	if o.Config == nil || o.Primary != old[0] || o.Source != old[0] {
		t.Fatalf("want the config read from the peers' primary %s, got primary %q source %q config %v", old[0], o.Primary, o.Source, o.Config)
	}
	if a := mongors.Plan(d, o, time.Now(), s); a.Kind != mongors.KindNone {
		t.Fatalf("want the fresh node to observe only, got %s", a)
	}

	// No primary (two of the old members down): the peer that still answers holds a config, the
	// others do not answer; either way no initiate.
	set.SetUp(old[0], false)
	set.SetUp(old[1], false)
	o = mongors.Observe(ctx, set.Client(fresh[0]), d)
	if o.Config != nil {
		t.Fatalf("config read without a primary: %+v", o.Config)
	}
	a := mongors.Plan(d, o, time.Now(), s)
	if a.Kind != mongors.KindWait || !strings.Contains(a.Reason, "peer ") {
		t.Fatalf("want a wait naming a peer, got %s", a)
	}
}

// TestReconciler_peersPreventSecondSet runs agents beside three fresh nodes after a host
// replacement: the old members still hold the set, one of them is down. Listed as peers they keep
// the fresh agents from initiating; without them the lowest fresh node would try (the bug).
func TestReconciler_peersPreventSecondSet(t *testing.T) {
	for _, tc := range []struct {
		name      string
		peers     bool
		initiates bool
	}{
		{"old nodes listed as peers", true, false},
		{"old nodes not listed", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set, old, fresh := replacedHosts(t)
			set.SetUp(old[0], false) // the replaced host
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			defer func() { cancel(); wg.Wait() }()
			for _, a := range fresh {
				c := fastLoop
				c.Settings.SetName = "letschat"
				c.Client = set.Client(a)
				r, err := mongors.NewReconciler(c)
				if err != nil {
					t.Fatal(err)
				}
				d := desiredOf(a, fresh...)
				if tc.peers {
					d = withPeerList(d, old)
				}
				r.SetDesired(d)
				wg.Go(func() { _ = r.Run(ctx) })
			}
			initiated := func() bool {
				for _, c := range set.Calls() {
					if c.Op == "replSetInitiate" {
						return true
					}
				}
				return false
			}
			if tc.initiates {
				eventually(t, 5*time.Second, "an initiate attempt", initiated)
				return
			}
			time.Sleep(15 * fastLoop.Recheck) // many passes
			if initiated() {
				t.Fatal("a fresh node tried to initiate a second set while the old members hold it")
			}
		})
	}
}
