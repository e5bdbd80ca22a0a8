package mongosim

import (
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// mongod's failCommand fail point, which tests set with configureFailPoint on a mongod started
// with --setParameter enableTestCommands=1 (Options.TestCommands): the next matching commands
// fail with a chosen error, or have their connection closed, as a crash or a network cut would
// do at that precise moment. Only failCommand is emulated; it lives in the node's process, so a
// restart clears it.

// CodeFailPointSetFailed is mongod's answer for a fail point it does not have.
const CodeFailPointSetFailed int32 = 266

// codeFailCommandClosed is what mongod logs for a connection closed by the fail point; the
// client sees the connection end without a reply.
const codeFailCommandClosed int32 = 50985

func init() {
	codeNames[CodeFailPointSetFailed] = "FailPointSetFailed"
}

// failCommandMsg is the errmsg of every command failed by the fail point.
const failCommandMsg = "Failing command via 'failCommand' failpoint"

// failPoint is one node's failCommand setting.
type failPoint struct {
	mode     string // "alwaysOn", "times", "skip"
	n        int64  // remaining activations (times) or passes to let through (skip)
	commands map[string]bool
	code     int32
	hasCode  bool
	close    bool
	entered  int64 // times the fail point fired since the node started
}

// configureFailPoint sets or clears failCommand on this node, as mongod's test command does:
// {configureFailPoint: "failCommand", mode: "off"|"alwaysOn"|{times: n}|{skip: n}, data: {...}}.
// It answers count, the times the fail point fired before this call.
func (cc *cmdCtx) configureFailPoint() (bson.D, error) {
	if cc.dbName() != "admin" {
		return nil, cmdErr(CodeUnauthorized, "configureFailPoint may only be run against the admin database.")
	}
	name, ok := firstValue(cc.body).StringValueOK()
	if !ok || name != "failCommand" {
		return nil, cmdErr(CodeFailPointSetFailed, "%s not found (mongosim emulates failCommand only)", name)
	}
	c, n := cc.c, cc.n
	prev := c.failPoints[n.addr]
	var entered int64
	if prev != nil {
		entered = prev.entered
	}
	fp, err := parseFailPoint(cc.body)
	if err != nil {
		return nil, err
	}
	if fp == nil {
		delete(c.failPoints, n.addr)
		if prev != nil {
			c.failPoints[n.addr] = &failPoint{mode: "off", entered: entered}
		}
	} else {
		fp.entered = entered
		c.failPoints[n.addr] = fp
	}
	c.logf(n).WithField("failPoint", name).Info("fail point configured")
	return bson.D{{Key: "count", Value: entered}}, nil
}

// parseFailPoint reads mode and data; nil means off.
func parseFailPoint(body bson.Raw) (*failPoint, error) {
	fp := &failPoint{commands: map[string]bool{}}
	mode := body.Lookup("mode")
	switch mode.Type {
	case bson.TypeString:
		switch mode.StringValue() {
		case "off":
			return nil, nil
		case "alwaysOn":
			fp.mode = "alwaysOn"
		default:
			return nil, cmdErr(CodeBadValue, "unknown mode %q", mode.StringValue())
		}
	case bson.TypeEmbeddedDocument:
		doc := mode.Document()
		for _, key := range []string{"times", "skip"} {
			v, err := doc.LookupErr(key)
			if err != nil {
				continue
			}
			k, ok := asInt(v)
			if !ok || k < 0 {
				return nil, cmdErr(CodeBadValue, "'%s' option to 'mode' must be a non-negative integer", key)
			}
			fp.mode, fp.n = key, k
		}
		if fp.mode == "" {
			return nil, cmdErr(CodeBadValue, "mode must be 'off', 'alwaysOn', {times: n} or {skip: n} (activationProbability is not emulated)")
		}
		if fp.mode == "times" && fp.n == 0 {
			return nil, nil
		}
	default:
		return nil, cmdErr(CodeTypeMismatch, "'mode' must be a string or an object")
	}
	data, _ := body.Lookup("data").DocumentOK()
	cmds, _ := data.Lookup("failCommands").ArrayOK()
	vals, _ := cmds.Values()
	for _, v := range vals {
		if s, ok := v.StringValueOK(); ok {
			fp.commands[s] = true
		}
	}
	if v, err := data.LookupErr("errorCode"); err == nil {
		code, ok := asInt(v)
		if !ok {
			return nil, cmdErr(CodeTypeMismatch, "errorCode must be an integer")
		}
		fp.code, fp.hasCode = int32(code), true
	}
	if v, err := data.LookupErr("closeConnection"); err == nil {
		fp.close, _ = asBool(v)
	}
	for _, key := range []string{"appName", "blockConnection", "namespace", "failAllCommands", "errorExtraInfo", "errorLabels"} {
		if _, err := data.LookupErr(key); err == nil {
			return nil, cmdErr(CodeBadValue, "failCommand's %s is not emulated by mongosim", key)
		}
	}
	return fp, nil
}

// failCommandLocked applies the node's failCommand to the command about to run: a non-nil error
// to answer instead, or closed true when the connection must end without a reply. mongod checks
// it after authorization, for client commands only (the emulator has no internal clients).
func (cc *cmdCtx) failCommandLocked() (err *CommandError, closed bool) {
	fp := cc.c.failPoints[cc.n.addr]
	if fp == nil || fp.mode == "off" || cc.name == "configureFailPoint" || !fp.commands[cc.name] || (!fp.close && !fp.hasCode) {
		return nil, false
	}
	switch fp.mode {
	case "skip":
		if fp.n > 0 {
			fp.n--
			return nil, false
		}
	case "times":
		fp.n--
		if fp.n <= 0 {
			fp.mode = "off"
		}
	}
	fp.entered++
	if fp.close {
		cc.c.logf(cc.n).WithField("command", cc.name).Info(fmt.Sprintf("failing %s via the failCommand fail point: closing the connection", cc.name))
		return &CommandError{Code: codeFailCommandClosed, Message: failCommandMsg}, true
	}
	cc.c.logf(cc.n).WithFields(map[string]any{"command": cc.name, "code": fp.code}).Info("failing a command via the failCommand fail point")
	return &CommandError{Code: fp.code, Message: failCommandMsg}, false
}
