package mongors_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/replset-agent/replset-agent/bootstrap"
	"github.com/replset-agent/replset-agent/mongors"
	"github.com/replset-agent/replset-agent/mongosim"
	"github.com/replset-agent/replset-agent/mongotest"
)

// authClient is an agent's client under access control: the admin credential, the fallback for
// nodes without users, and connections from the node's own address (one host per address).
func authClient(t *testing.T, addr string) *mongors.DriverClient {
	t.Helper()
	ip, _, _ := net.SplitHostPort(addr)
	c, err := mongors.NewDriverClient(mongors.ConnConfig{
		Address: addr, Username: "admin", Password: "admin-pw-0", AuthSource: "admin",
		LoginFallback: true, LoginRetry: 200 * time.Millisecond, SourceIP: ip,
		ConnectTimeout: 2 * time.Second, CommandTimeout: 10 * time.Second, HeartbeatInterval: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// TestAccessControl_initiateBootstrapGrow walks a set with access control from empty nodes to a
// fourth member, through the agent's client: before any user exists the local node is read
// through the localhost exception and the other nodes, which refuse the admin login, count as
// empty (StandingNoUsers), so the planner initiates; once the bootstrap has created the admin the
// client logs in everywhere; a new empty node refuses the login and is added as empty.
func TestAccessControl_initiateBootstrapGrow(t *testing.T) {
	c := mongotest.New(t, mongotest.Options{SetName: "letschat", Auth: true, LocalClient: mongosim.SameHostClient, ElectionTimeout: 500 * time.Millisecond})
	addrs := mongotest.Addrs(t, 4)
	for _, a := range addrs[:3] {
		if err := c.StartNode(a); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := mongors.Settings{SetName: "letschat", InitiateSettle: time.Millisecond}.WithDefaults()
	desired := func(self string, n int) mongors.Desired {
		d := mongors.Desired{Self: self}
		for i, a := range addrs[:n] {
			d.Members = append(d.Members, mongors.Member{Host: a, Order: i + 1})
		}
		return d
	}
	c1 := authClient(t, addrs[0])

	// No user anywhere: the local node answers through the localhost exception (94), the others
	// refuse the admin login and name no set.
	d := desired(addrs[0], 3)
	o := mongors.Observe(ctx, c1, d)
	if o.Local.Standing != mongors.StandingEmpty {
		t.Fatalf("local standing %q (%s), want empty through the localhost exception", o.Local.Standing, o.Local.StandingReason)
	}
	for _, n := range o.Candidates {
		if n.Standing != mongors.StandingNoUsers {
			t.Fatalf("candidate %s standing %q (%s), want no-users", n.Addr, n.Standing, n.StandingReason)
		}
	}
	o.Memory = mongors.Memory{}.Update(d, o, time.Now().Add(-time.Hour))
	a := mongors.Plan(d, o, time.Now(), s)
	if a.Kind != mongors.KindInitiate {
		t.Fatalf("want an initiate over nodes without users, got %s", a)
	}
	if err := mongors.Execute(ctx, c1, a, time.Second); err != nil {
		t.Fatalf("initiate through the localhost exception: %v", err)
	}
	primary := waitPrimary(t, ctx, c1, addrs[:3])

	// The exception does not grant replSetGetConfig: until the admin exists the config is out of
	// reach, and the client says what mongod said (13), never that the login was refused.
	if _, _, err := c1.GetConfig(ctx, addrs[0], false); mongors.ErrorCode(err) != 13 || errors.Is(err, mongors.ErrLoginRefused) {
		t.Fatalf("config before any user: %v, want 13 Unauthorized from mongod", err)
	}

	// The agent beside the primary creates the users through its own host's exception.
	cp := authClient(t, primary)
	b, err := bootstrap.New(bootstrap.Config{Address: primary, Admin: bootstrap.Credential{Username: "admin", Password: "admin-pw-0"},
		App: bootstrap.Credential{Username: "letschat", Password: "app-pw-0"}, AppDatabase: "letschat",
		ClientOptions: cp.ApplyTransport, Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bootstrap done", func() (bool, string) {
		res, err := b.Step(ctx)
		if err != nil {
			return false, err.Error()
		}
		return res.Done, res.Waiting
	})

	// From now on every node accepts the login: the config is read with it.
	waitFor(t, "config read as the admin on every node", func() (bool, string) {
		for _, x := range addrs[:3] {
			if _, _, err := c1.GetConfig(ctx, x, false); err != nil {
				return false, err.Error()
			}
		}
		return len(c1.LoginRefused()) == 0, "refused: " + sliceString(c1.LoginRefused())
	})

	// A fourth, empty node: the primary's agent probes it, it refuses the login and names no set,
	// so it is added like an empty node.
	if err := c.StartNode(addrs[3]); err != nil {
		t.Fatal(err)
	}
	d4 := desired(primary, 4)
	waitFor(t, "the new node added", func() (bool, string) {
		o := mongors.Observe(ctx, cp, d4)
		if cfg := o.Config; cfg != nil {
			if _, ok := cfg.Member(addrs[3]); ok {
				return true, ""
			}
		}
		if p, ok := o.Probed[addrs[3]]; ok && p.Standing != mongors.StandingNoUsers {
			t.Fatalf("probe of the new node: %q (%s), want no-users", p.Standing, p.Reason)
		}
		a := mongors.Plan(d4, o, time.Now(), s)
		if a.Kind == mongors.KindReconfig {
			if err := mongors.Execute(ctx, cp, a, time.Second); err != nil {
				return false, err.Error()
			}
		}
		return false, a.String()
	})
}

func waitPrimary(t *testing.T, ctx context.Context, c mongors.Client, addrs []string) string {
	t.Helper()
	var p string
	waitFor(t, "a primary", func() (bool, string) {
		for _, a := range addrs {
			if h, err := c.Hello(ctx, a); err == nil && h.IsWritablePrimary {
				p = a
				return true, ""
			}
		}
		return false, "no node is primary"
	})
	return p
}

func sliceString(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	out := s[0]
	for _, x := range s[1:] {
		out += "," + x
	}
	return out
}

// waitFor polls cond until it holds, failing the test with cond's last word after a minute (a
// bound for a hang only; the machine may be loaded).
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	last := ""
	for time.Now().Before(deadline) {
		ok, why := cond()
		if ok {
			return
		}
		last = why
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not within a minute; last: %s", what, last)
}
