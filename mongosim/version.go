package mongosim

import (
	"fmt"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// ServerVersion is a MongoDB release series the emulator presents: "4.4", "5.0", "6.0", "7.0"
// or "8.0" (and "4.2" for the handshake only, see Version42). It decides maxWireVersion, buildInfo, the name of the member delay field, the
// implicit default write concern, and whether commands may arrive as legacy OP_QUERY.
type ServerVersion string

// The series the emulator can present. Version42 presents only 4.2's handshake (wire version
// 8): clients that need 4.4 refuse it as they refuse a real 4.2, which is what it is for; past
// the handshake it behaves as 4.4.
const (
	Version42 ServerVersion = "4.2"
	Version44 ServerVersion = "4.4"
	Version50 ServerVersion = "5.0"
	Version60 ServerVersion = "6.0"
	Version70 ServerVersion = "7.0"
	Version80 ServerVersion = "8.0"
)

// DefaultVersion is what an empty Options.Version means: the newest series, against which the
// emulator's own conformance tests run.
const DefaultVersion = Version80

// versionInfo is what one series looks like from a client.
type versionInfo struct {
	// full is the buildInfo version string: the series' last release this emulator was checked against.
	full  string
	array [4]int32
	// maxWire is hello's maxWireVersion.
	maxWire int32
	// opQueryCommands: up to 5.0 every command may come as OP_QUERY on db.$cmd; from 5.1 only
	// the handshake and authentication commands may (others get 352).
	opQueryCommands bool
	// slaveDelay: before 5.0 the member delay field is named slaveDelay.
	slaveDelay bool
	// implicitMajority: from 5.0 the implicit default write concern is majority (when the set's
	// arbiters allow it); before, it is w:1.
	implicitMajority bool
	// dropMissingOK: from 7.0 dropping a collection that does not exist succeeds.
	dropMissingOK bool
}

var versions = map[ServerVersion]versionInfo{
	Version42: {full: "4.2.25", array: [4]int32{4, 2, 25, 0}, maxWire: 8, opQueryCommands: true, slaveDelay: true},
	Version44: {full: "4.4.29", array: [4]int32{4, 4, 29, 0}, maxWire: 9, opQueryCommands: true, slaveDelay: true},
	Version50: {full: "5.0.31", array: [4]int32{5, 0, 31, 0}, maxWire: 13, opQueryCommands: true, implicitMajority: true},
	Version60: {full: "6.0.20", array: [4]int32{6, 0, 20, 0}, maxWire: 17, implicitMajority: true},
	Version70: {full: "7.0.16", array: [4]int32{7, 0, 16, 0}, maxWire: 21, implicitMajority: true, dropMissingOK: true},
	Version80: {full: "8.0.4", array: [4]int32{8, 0, 4, 0}, maxWire: 25, implicitMajority: true, dropMissingOK: true},
}

// Versions lists the series the emulator can present, oldest first.
func Versions() []ServerVersion {
	out := make([]ServerVersion, 0, len(versions))
	for v := range versions {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

// ParseVersion checks a series name ("5.0"); the empty string means DefaultVersion.
func ParseVersion(s string) (ServerVersion, error) {
	if s == "" {
		return DefaultVersion, nil
	}
	v := ServerVersion(s)
	if _, ok := versions[v]; !ok {
		return "", fmt.Errorf("mongosim: unknown server version %q (known: %v)", s, Versions())
	}
	return v, nil
}

// mustVersion resolves Options.Version for New. An unknown series is a programming error in the
// caller's options, never input from the network.
func mustVersion(s ServerVersion) ServerVersion {
	v, err := ParseVersion(string(s))
	if err != nil {
		panic(err)
	}
	return v
}

// Version returns the series the cluster presents.
func (c *Cluster) Version() ServerVersion { return c.opts.Version }

// FullVersion returns the version string buildInfo reports, for example "5.0.31".
func (c *Cluster) FullVersion() string { return c.ver().full }

func (c *Cluster) ver() versionInfo { return versions[c.opts.Version] }

// opQueryAllowed lists the commands mongod 5.1 and later still accept as OP_QUERY
// (checkAllowedOpQueryCommand in the server).
var opQueryAllowed = map[string]bool{
	"_isSelf": true, "authenticate": true, "buildinfo": true, "buildInfo": true, "hello": true,
	"isMaster": true, "ismaster": true, "saslContinue": true, "saslStart": true,
}

// CodeUnsupportedOpQueryCommand is mongod's answer (5.1+) to a command sent as OP_QUERY.
const CodeUnsupportedOpQueryCommand int32 = 352

// codeOpQueryFind is the $err code mongod 5.1+ sends for an OP_QUERY on a collection (a legacy
// find).
const codeOpQueryFind int32 = 5739101

const legacyOpcodeHelp = ". The client driver may require an upgrade. For more details see https://dochub.mongodb.org/core/legacy-opcode-removal"

func init() { codeNames[CodeUnsupportedOpQueryCommand] = "UnsupportedOpQueryCommand" }

func unsupportedOpQuery(name string) *CommandError {
	return cmdErr(CodeUnsupportedOpQueryCommand, "Unsupported OP_QUERY command: %s%s", name, legacyOpcodeHelp)
}

// The member delay field is secondaryDelaySecs from 5.0 and slaveDelay before; the two mean the
// same. The emulator keeps one implementation and renames the field at the wire boundary of a
// 4.4 node, in both directions, error messages included.
const (
	delayField44 = "slaveDelay"
	delayField50 = "secondaryDelaySecs"
)

// swapDelayNames exchanges the two names in a string (error messages).
func swapDelayNames(s string) string {
	const tmp = "\x00delay\x00"
	s = strings.ReplaceAll(s, delayField44, tmp)
	s = strings.ReplaceAll(s, delayField50, delayField44)
	return strings.ReplaceAll(s, tmp, delayField50)
}

func swapDelayKey(k string) string {
	switch k {
	case delayField44:
		return delayField50
	case delayField50:
		return delayField44
	}
	return k
}

// translateConfigRequest renames the delay field in the members of a replSetInitiate or
// replSetReconfig sent to a 4.4 node.
func translateConfigRequest(body bson.Raw) (bson.Raw, error) {
	var d bson.D
	if err := bson.Unmarshal(body, &d); err != nil || len(d) == 0 {
		return body, nil
	}
	cfg, ok := d[0].Value.(bson.D)
	if !ok {
		return body, nil
	}
	d[0].Value = swapMemberDelay(cfg)
	return bson.Marshal(d)
}

// swapMemberDelay renames the delay field of every member of a config document.
func swapMemberDelay(cfg bson.D) bson.D {
	for i, e := range cfg {
		if e.Key != "members" {
			continue
		}
		members, ok := e.Value.(bson.A)
		if !ok {
			return cfg
		}
		out := make(bson.A, len(members))
		for k, m := range members {
			md, ok := m.(bson.D)
			if !ok {
				out[k] = m
				continue
			}
			nd := make(bson.D, len(md))
			for f, me := range md {
				nd[f] = bson.E{Key: swapDelayKey(me.Key), Value: me.Value}
			}
			out[k] = nd
		}
		cfg[i].Value = out
	}
	return cfg
}

// translateReply renames the delay field in what a 4.4 node answers: hello's own field, the
// config of replSetGetConfig, and error messages.
func translateReply(name string, reply bson.D) bson.D {
	for i, e := range reply {
		switch {
		case e.Key == delayField50 && (name == "hello" || name == "isMaster" || name == "ismaster"):
			reply[i].Key = delayField44
		case e.Key == "config" && name == "replSetGetConfig":
			if cfg, ok := e.Value.(bson.D); ok {
				reply[i].Value = swapMemberDelay(cfg)
			}
		case e.Key == "errmsg":
			if s, ok := e.Value.(string); ok {
				reply[i].Value = swapDelayNames(s)
			}
		}
	}
	return reply
}
