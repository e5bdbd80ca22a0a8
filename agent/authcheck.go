package agent

import (
	"context"
	"time"

	"github.com/replset-agent/replset-agent/mongors"
)

// Access control as a mongod applies it, seen by a client without credentials.
const (
	accessOn      = "on"
	accessOff     = "off"
	accessUnknown = "unknown"
)

// mongod's Unauthorized.
const codeUnauthorized = 13

// probeAccessControl asks the mongod at addr, without credentials, for its replica-set config.
// mongod checks authorization before anything else, and the localhost exception does not grant
// replSetGetConfig: Unauthorized means access control is on; any other answer from the server
// means it is off (no --auth or --keyFile, or --transitionToAuth while switching to
// authentication); no answer leaves it unknown.
func probeAccessControl(ctx context.Context, c *commonConfig, addr string, timeout time.Duration) string {
	anon := *c
	anon.Username, anon.Password = "", ""
	client, err := mongors.NewDriverClient(connConfig(&anon, addr, timeout, 0))
	if err != nil {
		return accessUnknown
	}
	defer client.Close(context.Background())
	_, _, err = client.GetConfig(ctx, addr, false)
	switch code := mongors.ErrorCode(err); {
	case err == nil:
		return accessOff
	case code == codeUnauthorized:
		return accessOn
	case code != 0:
		return accessOff
	}
	return accessUnknown
}

// accessControlLine explains the probe's answer in the status table.
func accessControlLine(state string) string {
	switch state {
	case accessOn:
		return "on: mongod refuses clients without credentials"
	case accessOff:
		return "off: mongod answers clients without credentials (no --keyFile/--auth, or --transitionToAuth)"
	}
	return "unknown: mongod did not answer"
}
