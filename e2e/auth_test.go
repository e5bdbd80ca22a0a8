package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/replset-agent/replset-agent/mongotest"
)

// setUsers lists the set's users as "db.user" with their roles, read as the admin on addr.
func (e *env) setUsers(ctx context.Context, addr string) (map[string][]string, error) {
	raw, err := e.probe.run(ctx, addr, bson.D{{Key: "usersInfo", Value: bson.D{{Key: "forAllDBs", Value: true}}}})
	if err != nil {
		return nil, err
	}
	var reply struct {
		Users []struct {
			ID    string `bson:"_id"`
			Roles []struct {
				Role string `bson:"role"`
				DB   string `bson:"db"`
			} `bson:"roles"`
		} `bson:"users"`
	}
	if err := bson.Unmarshal(raw, &reply); err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, u := range reply.Users {
		for _, r := range u.Roles {
			out[u.ID] = append(out[u.ID], r.Role+"@"+r.DB)
		}
	}
	return out, nil
}

// checkUsers asserts that the set holds exactly the admin (root) and Let's Chat's user
// (readWrite on its database and nothing else).
func (e *env) checkUsers(t *testing.T, primary string) {
	t.Helper()
	users, err := e.setUsers(t.Context(), primary)
	if err != nil {
		t.Fatalf("usersInfo as the admin: %v", err)
	}
	want := map[string][]string{"admin." + adminUser: {"root@admin"}, "admin." + appUser: {"readWrite@letschat"}}
	if fmt.Sprint(users) != fmt.Sprint(want) {
		t.Errorf("users %v, want %v", users, want)
	}
}

// waitUsersDone waits until every running agent of hs reports the bootstrap done.
func (e *env) waitUsersDone(t *testing.T, hs []*host) {
	t.Helper()
	waitFor(t, "every agent sees the first users in place", settleTimeout, func() (bool, string) {
		for _, a := range agents(hs) {
			st, err := a.mongoStatus()
			if err != nil {
				return false, a.name + ": " + err.Error()
			}
			if st.Auth == nil || !st.Auth.Done {
				return false, fmt.Sprintf("%s: %+v", a.name, st.Auth)
			}
			if st.Auth.Alarm != "" {
				t.Fatalf("%s raised the bootstrap alarm %s", a.name, st.Auth.Alarm)
			}
		}
		return true, ""
	})
}

// failCreateUser sets mongod's failCommand fail point on addr (a test command that needs no
// login): createUser lets `skip` through, then fails with 50 until cleared; mode "off" clears it.
func failCreateUser(t *testing.T, addr string, mode any) {
	t.Helper()
	c, err := mongo.Connect(options.Client().SetHosts([]string{addr}).SetDirect(true).SetServerSelectionTimeout(10 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(context.Background())
	cmd := bson.D{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: mode},
		{Key: "data", Value: bson.D{{Key: "failCommands", Value: bson.A{"createUser"}}, {Key: "errorCode", Value: 50}}}}
	if err := c.Database("admin").RunCommand(t.Context(), cmd).Err(); err != nil {
		t.Fatalf("configureFailPoint on %s: %v", addr, err)
	}
}

// TestAuthBootstrapResumesAfterTheAgentCrashes: with access control on, the agent beside the
// primary creates the admin through the localhost exception, then fails to create Let's Chat's
// user (mongod's failCommand fail point lets the first createUser through and fails the next
// ones), and is killed right there. Restarted, it finds the admin in place and creates only the
// application user: each user is created once, nothing is duplicated or refused, and the set
// then grows and carries Let's Chat's traffic as its own user.
func TestAuthBootstrapResumesAfterTheAgentCrashes(t *testing.T) {
	e := newEnv(t, envOptions{hosts: 4, testCommands: true})
	h := e.hosts
	for _, x := range h[:3] {
		e.startNode(x.addr)
		failCreateUser(t, x.addr, bson.D{{Key: "skip", Value: 1}})
		e.list(x)
	}
	e.publish()
	for _, x := range h[:3] {
		e.startAgent(x)
	}

	// The admin exists (it logs in), the application user does not, and the agent beside the
	// primary says its last step failed.
	var p *host
	waitFor(t, "the admin created, the application user refused", settleTimeout, func() (bool, string) {
		for _, x := range h[:3] {
			hl, err := e.probe.hello(t.Context(), x.addr)
			if err == nil && hl.Primary {
				p = x
			}
		}
		if p == nil {
			return false, "no primary"
		}
		users, err := e.setUsers(t.Context(), p.addr)
		if err != nil {
			return false, "admin login: " + err.Error()
		}
		if _, ok := users["admin."+appUser]; ok {
			t.Fatalf("the application user was created through the fail point: %v", users)
		}
		st, err := p.agent.mongoStatus()
		if err != nil || st.Auth == nil || !strings.Contains(st.Auth.LastError, "failCommand") {
			return false, fmt.Sprintf("%s's bootstrap: %+v %v", p.name, st.Auth, err)
		}
		return true, ""
	})
	st, _ := p.agent.mongoStatus()
	if !slices.Equal(st.Auth.Created, []string{adminUser + "@admin"}) || st.Auth.Done {
		t.Fatalf("%s before the crash: %+v, want the admin created and the bootstrap not done", p.name, st.Auth)
	}

	// Crash the agent in the middle of the bootstrap, clear the fault, start it again.
	p.agent.kill()
	for _, x := range h[:3] {
		failCreateUser(t, x.addr, "off")
	}
	e.startAgent(p)
	e.waitUsersDone(t, h[:3])
	st, err := p.agent.mongoStatus()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(st.Auth.Created, []string{appUser + "@admin"}) {
		t.Errorf("the restarted agent created %v, want only %s@admin", st.Auth.Created, appUser)
	}
	for _, x := range h[:3] {
		if x == p {
			continue
		}
		if xs, _ := x.agent.mongoStatus(); xs.Auth == nil || len(xs.Auth.Created) > 0 {
			t.Errorf("%s, beside a secondary, created %+v", x.name, xs.Auth)
		}
	}
	v := e.waitSettled("3 hosts after the resumed bootstrap", h[:3])
	e.checkUsers(t, v.Primary)
	if e.obs != nil {
		em := e.cluster.(*mongotest.Emulator)
		ok, failed := 0, 0
		for _, cc := range em.Sim().Commands() {
			if cc.Command == "createUser" {
				if cc.Code == 0 {
					ok += cc.Count
				} else {
					failed += cc.Count
				}
			}
		}
		if ok != 2 || failed == 0 {
			t.Errorf("createUser: %d succeeded (want 2: each user once), %d failed (want the fail point's)", ok, failed)
		}
	}

	// The set goes on as before, with Let's Chat's traffic as its own user.
	e.startWriter(h[:3])
	lc := e.addLetschat("letschat", "seeds-lost", 1)[0]
	e.addHosts(h[3])
	e.waitSettled("4 hosts", h)
	waitFor(t, "Let's Chat started with its own user", settleTimeout, func() (bool, string) {
		starts := lc.startsOf()
		if len(starts) == 0 {
			return false, "not started"
		}
		return true, ""
	})
	uri := lastURI(t, lc)
	if !strings.HasPrefix(uri, "mongodb://"+appUser+":") || strings.Contains(uri, adminUser+":") || strings.Contains(uri, e.adminPW) {
		t.Errorf("Let's Chat's URI does not carry its own user alone: %s", redactURI(uri))
	}
	e.waitUsersDone(t, h)
}

// lastURI is the URI the stand-in Let's Chat was last started with, read from its starts file.
func lastURI(t *testing.T, lc *lcAgent) string {
	t.Helper()
	b, err := os.ReadFile(lc.starts)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	for _, line := range slices.Backward(lines) {
		f := strings.Fields(line)
		if len(f) > 2 && f[1] == lc.name {
			return f[2]
		}
	}
	return ""
}

func redactURI(uri string) string {
	at := strings.LastIndex(uri, "@")
	colon := strings.Index(uri, "://")
	if at < 0 || colon < 0 {
		return uri
	}
	user, _, _ := strings.Cut(uri[colon+3:at], ":")
	return uri[:colon+3] + user + ":xxxxx" + uri[at:]
}

// TestNoAuthSet: a set deployed without access control still works as before: no user is
// created, the agents log in as nobody, Let's Chat's URI carries no credentials.
func TestNoAuthSet(t *testing.T) {
	e := newEnv(t, envOptions{hosts: 3, noAuth: true})
	h := e.hosts
	e.addHosts(h...)
	lc := e.addLetschat("letschat", "seeds-lost", 1)[0]
	v := e.waitSettled("3 hosts without access control", h)
	e.startWriter(h)
	for _, a := range agents(h) {
		st, err := a.mongoStatus()
		if err != nil || st.Auth != nil {
			t.Errorf("%s: auth %+v (%v), want none without admin credentials", a.name, st.Auth, err)
		}
	}
	users, err := e.setUsers(t.Context(), v.Primary)
	if err != nil || len(users) != 0 {
		t.Errorf("users %v (%v), want none", users, err)
	}
	waitFor(t, "Let's Chat started", settleTimeout, func() (bool, string) { return len(lc.startsOf()) > 0, "not started" })
	if uri := lastURI(t, lc); strings.Contains(uri, "@") || !strings.HasPrefix(uri, "mongodb://") {
		t.Errorf("Let's Chat's URI %q carries credentials", uri)
	}
}
