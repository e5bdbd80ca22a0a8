package mongosim

import (
	"maps"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// legacyQuery applies the rules for a command that came as OP_QUERY, the only way drivers from
// before 2017 (Let's Chat's Node driver 2.2) send commands. done is true when the reply is
// already decided.
//
// Up to 5.0 mongod runs any command sent to db.$cmd this way. From 5.1 it runs only the handshake
// and authentication commands and answers every other with 352 UnsupportedOpQueryCommand; a
// query on a collection (legacy find) gets an OP_REPLY with QueryFailure and $err.
func (cc *cmdCtx) legacyQuery() (bson.D, bool) {
	c := cc.c
	v := c.ver()
	if !strings.HasSuffix(cc.req.fullCollectionName, ".$cmd") {
		if !v.opQueryCommands {
			cc.replyFlags = flagQueryFailure
			return c.countedLocked(cc, bson.D{
				{Key: "$err", Value: "OP_QUERY is no longer supported" + legacyOpcodeHelp},
				{Key: "code", Value: codeOpQueryFind},
				{Key: "ok", Value: 0.0},
			}), true
		}
		// A legacy find on a collection: no driver the emulator serves sends one.
		cc.name = "(legacy query)"
		return c.countedLocked(cc, cmdErr(CodeCommandNotFound, "legacy OP_QUERY on a collection is not emulated by mongosim").reply()), true
	}
	cc.secondaryOk = cc.req.flags&flagSecondaryOk != 0
	// A command may come wrapped as {$query: cmd, $readPreference: …} (drivers talking to mongos).
	if cc.name == "$query" || cc.name == "query" {
		if inner, err := cc.body.LookupErr(cc.name); err == nil && inner.Type == bson.TypeEmbeddedDocument {
			if mode, err := cc.body.LookupErr("$readPreference", "mode"); err == nil && mode.Type == bson.TypeString && mode.StringValue() != "primary" {
				cc.secondaryOk = true
			}
			cc.body = bson.Raw(inner.Value)
			if e, err := cc.body.IndexErr(0); err == nil {
				cc.name = e.Key()
			}
		}
	}
	if !v.opQueryCommands && !opQueryAllowed[cc.name] {
		return c.countedLocked(cc, unsupportedOpQuery(cc.name).reply()), true
	}
	return nil, false
}

// CommandCount counts the commands a cluster answered, by name, opcode and result.
type CommandCount struct {
	// Command is the command's name as sent ("find", "findandmodify", …).
	Command string
	// OpQuery is true when the command came as legacy OP_QUERY, false for OP_MSG.
	OpQuery bool
	// Code is the error code of the answer, 0 when it succeeded.
	Code int32
	// Count is how many times.
	Count int
}

type commandKey struct {
	name    string
	opQuery bool
	code    int32
}

// countedLocked records the outcome of one command and returns its reply.
func (c *Cluster) countedLocked(cc *cmdCtx, reply bson.D) bson.D {
	if c.commands == nil {
		c.commands = map[commandKey]int{}
	}
	var code int32
	for _, e := range reply {
		if e.Key == "code" {
			code, _ = e.Value.(int32)
		}
	}
	c.commands[commandKey{name: cc.name, opQuery: cc.req.opCode == opQuery, code: code}]++
	return reply
}

// Commands returns what every node has answered so far, sorted by command, opcode and code: the
// record of what a client actually sent, and which commands the emulator refused.
func (c *Cluster) Commands() []CommandCount {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := slices.SortedFunc(maps.Keys(c.commands), func(a, b commandKey) int {
		switch {
		case a.name != b.name:
			return strings.Compare(a.name, b.name)
		case a.opQuery != b.opQuery:
			if a.opQuery {
				return 1
			}
			return -1
		}
		return int(a.code) - int(b.code)
	})
	out := make([]CommandCount, 0, len(keys))
	for _, k := range keys {
		out = append(out, CommandCount{Command: k.name, OpQuery: k.opQuery, Code: k.code, Count: c.commands[k]})
	}
	return out
}
