package mongosim

import (
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

func failCommand(mode any, data bson.D) bson.D {
	return bson.D{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: mode}, {Key: "data", Value: data}}
}

// The failCommand fail point as mongod has it with enableTestCommands: {times: n} fails the next
// n matching commands, {skip: n} lets n through and fails the rest, off clears it, count says how
// often it fired; it needs no login and only exists as a test command; a restart clears it.
func TestFailCommand(t *testing.T) {
	c, addrs := newTestClusterWith(t, 1, Options{SetName: "rs0", ElectionTimeout: testElectionTimeout, HeartbeatInterval: 20 * time.Millisecond,
		TestCommands: true, Auth: AuthOptions{Enabled: true}})
	initiate(t, c, addrs)
	waitPrimary(t, c)
	cl := clientFor(t, addrs, true, nil, "")
	ping := bson.D{{Key: "ping", Value: 1}}

	// No login needed, admin only, failCommand only.
	if _, err := runOn(t, cl, "admin", failCommand(bson.D{{Key: "times", Value: 1}}, bson.D{{Key: "failCommands", Value: bson.A{"ping"}}, {Key: "errorCode", Value: 50}})); err != nil {
		t.Fatalf("configureFailPoint without a login: %v", err)
	}
	if _, err := runOn(t, cl, "test", failCommand("off", nil)); codeOf(err) != CodeUnauthorized {
		t.Errorf("configureFailPoint on another database: %v, want 13", err)
	}
	if _, err := runOn(t, cl, "admin", bson.D{{Key: "configureFailPoint", Value: "hangBeforeAnything"}, {Key: "mode", Value: "alwaysOn"}}); codeOf(err) != CodeFailPointSetFailed {
		t.Errorf("an unknown fail point: %v, want 266", err)
	}

	// times: 1 fails the next ping once, with mongod's message, then lets pings through.
	_, err := runOn(t, cl, "admin", ping)
	if codeOf(err) != CodeMaxTimeMSExpired || !strings.Contains(err.Error(), "Failing command via 'failCommand' failpoint") {
		t.Fatalf("first ping: %v, want 50 from the fail point", err)
	}
	if _, err := runOn(t, cl, "admin", ping); err != nil {
		t.Fatalf("second ping: %v", err)
	}

	// skip: 1 lets the first matching command through, then fails every one; other commands are
	// untouched; count is how often it fired before.
	raw, err := runOn(t, cl, "admin", failCommand(bson.D{{Key: "skip", Value: 1}}, bson.D{{Key: "failCommands", Value: bson.A{"createUser"}}, {Key: "errorCode", Value: 11602}}))
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := asInt(raw.Lookup("count")); n != 1 {
		t.Errorf("count %d, want 1 (the failed ping)", n)
	}
	if _, err := runOn(t, cl, "admin", createUserCmd("first", "pw-1", rootRole())); err != nil {
		t.Fatalf("the skipped createUser: %v", err)
	}
	root := clientFor(t, addrs, true, cred("first", "pw-1", ""), "")
	for range 2 {
		if _, err := runOn(t, root, "admin", createUserCmd("second", "pw-2", rootRole())); codeOf(err) != CodeInterruptedDueToReplStateChange {
			t.Fatalf("createUser after the skip: %v, want 11602", err)
		}
	}
	if _, err := runOn(t, root, "admin", ping); err != nil {
		t.Fatalf("ping with the fail point on createUser: %v", err)
	}
	if _, err := runOn(t, root, "admin", failCommand("off", nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := runOn(t, root, "admin", createUserCmd("second", "pw-2", rootRole())); err != nil {
		t.Fatalf("createUser with the fail point off: %v", err)
	}

	// closeConnection: the client's connection ends without a reply.
	if _, err := runOn(t, root, "admin", failCommand(bson.D{{Key: "times", Value: 1}}, bson.D{{Key: "failCommands", Value: bson.A{"ping"}}, {Key: "closeConnection", Value: true}})); err != nil {
		t.Fatal(err)
	}
	if _, err := runOn(t, root, "admin", ping); !mongo.IsNetworkError(err) {
		t.Fatalf("ping on a closed connection: %v, want a network error", err)
	}

	// A restart clears it.
	if _, err := runOn(t, root, "admin", failCommand("alwaysOn", bson.D{{Key: "failCommands", Value: bson.A{"ping"}}, {Key: "errorCode", Value: 50}})); err != nil {
		t.Fatal(err)
	}
	if err := c.CrashNode(addrs[0]); err != nil {
		t.Fatal(err)
	}
	if err := c.StartNode(addrs[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := runOn(t, clientFor(t, addrs, true, nil, ""), "admin", ping); err != nil {
		t.Fatalf("ping after a restart: %v", err)
	}
}

// Without enableTestCommands mongod does not know the command.
func TestFailCommandNeedsTestCommands(t *testing.T) {
	_, addrs := newTestClusterWith(t, 1, Options{SetName: "rs0", ElectionTimeout: testElectionTimeout})
	if _, err := runOn(t, clientFor(t, addrs, true, nil, ""), "admin", failCommand("off", nil)); codeOf(err) != CodeCommandNotFound {
		t.Fatalf("configureFailPoint: %v, want 59", err)
	}
}
