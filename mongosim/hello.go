package mongosim

import (
	"maps"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Limits advertised in hello, as mongod 4.4 to 8.0 send them; maxWireVersion and the version
// string depend on the series (version.go).
const (
	maxBSONObjectSize = 16777216
	maxWriteBatchSize = 100000
)

// hello answers hello/isMaster/ismaster. topologyVersion is deliberately left out, so the driver
// polls at its heartbeat interval instead of streaming.
func (cc *cmdCtx) hello() (bson.D, error) {
	n := cc.n
	writable := "isWritablePrimary"
	if cc.name != "hello" {
		writable = "ismaster"
	}
	var d bson.D
	self, member := n.self()
	if n.config == nil || !member {
		// mongod builds a REMOVED node's reply as if it had no config: no setName, no lists.
		d = bson.D{
			bson.E{Key: writable, Value: false},
			bson.E{Key: "secondary", Value: false},
			bson.E{Key: "info", Value: "Does not have a valid replica set config"},
			bson.E{Key: "isreplicaset", Value: true},
		}
	} else {
		d = cc.c.memberHelloLocked(n, self, writable)
	}
	if v, err := cc.body.LookupErr("helloOk"); err == nil {
		if b, ok := asBool(v); ok && b {
			d = append(d, bson.E{Key: "helloOk", Value: true})
		}
	}
	return append(d,
		bson.E{Key: "maxBsonObjectSize", Value: int32(maxBSONObjectSize)},
		bson.E{Key: "maxMessageSizeBytes", Value: int32(maxMessageSize)},
		bson.E{Key: "maxWriteBatchSize", Value: int32(maxWriteBatchSize)},
		bson.E{Key: "localTime", Value: bson.NewDateTimeFromTime(time.Now())},
		bson.E{Key: "logicalSessionTimeoutMinutes", Value: int32(30)},
		bson.E{Key: "connectionId", Value: cc.connID},
		bson.E{Key: "minWireVersion", Value: int32(0)},
		bson.E{Key: "maxWireVersion", Value: cc.c.ver().maxWire},
		bson.E{Key: "readOnly", Value: false},
	), nil
}

func (c *Cluster) memberHelloLocked(n *node, self Member, writable string) bson.D {
	hosts, passives, arbiters := bson.A{}, bson.A{}, bson.A{}
	for _, m := range n.config.Members {
		switch {
		case m.Hidden || m.SecondaryDelaySecs > 0:
		case m.ArbiterOnly:
			arbiters = append(arbiters, m.Host)
		case m.Priority > 0 && !m.NewlyAdded:
			hosts = append(hosts, m.Host)
		default:
			passives = append(passives, m.Host)
		}
	}
	d := bson.D{{Key: "hosts", Value: hosts}}
	if len(passives) > 0 {
		d = append(d, bson.E{Key: "passives", Value: passives})
	}
	if len(arbiters) > 0 {
		d = append(d, bson.E{Key: "arbiters", Value: arbiters})
	}
	d = append(d,
		bson.E{Key: "setName", Value: n.config.ID},
		bson.E{Key: "setVersion", Value: int32(n.config.Version)},
		// A draining primary reports itself secondary until it accepts writes; one attempting a
		// step-down reports neither.
		bson.E{Key: writable, Value: n.writablePrimary()},
		bson.E{Key: "secondary", Value: n.state == StateSecondary || n.state == StatePrimary && n.draining && !n.steppingDown},
	)
	if p := c.primaryOfLocked(n); p != nil {
		d = append(d, bson.E{Key: "primary", Value: p.addr})
	}
	if self.ArbiterOnly {
		d = append(d, bson.E{Key: "arbiterOnly", Value: true})
	}
	if !self.ArbiterOnly && (self.Priority == 0 || self.NewlyAdded) {
		d = append(d, bson.E{Key: "passive", Value: true})
	}
	if self.Hidden {
		d = append(d, bson.E{Key: "hidden", Value: true})
	}
	if len(self.Tags) > 0 {
		tags := bson.D{}
		for _, k := range slices.Sorted(maps.Keys(self.Tags)) {
			tags = append(tags, bson.E{Key: k, Value: self.Tags[k]})
		}
		d = append(d, bson.E{Key: "tags", Value: tags})
	}
	if self.SecondaryDelaySecs > 0 {
		d = append(d, bson.E{Key: "secondaryDelaySecs", Value: self.SecondaryDelaySecs})
	}
	d = append(d, bson.E{Key: "me", Value: n.addr})
	if n.state == StatePrimary {
		d = append(d, bson.E{Key: "electionId", Value: electionID(n.term)})
	}
	last := n.lastOp()
	majWall := time.Unix(0, 0)
	if i := indexOf(n.oplog, n.commitPoint); i >= 0 {
		majWall = n.oplog[i].Wall
	}
	return append(d, bson.E{Key: "lastWrite", Value: bson.D{
		{Key: "opTime", Value: last.doc()},
		{Key: "lastWriteDate", Value: bson.NewDateTimeFromTime(lastWall(n.oplog))},
		{Key: "majorityOpTime", Value: n.commitPoint.doc()},
		{Key: "majorityWriteDate", Value: bson.NewDateTimeFromTime(majWall)},
	}})
}

func (cc *cmdCtx) ping() (bson.D, error) { return bson.D{}, nil }

func (cc *cmdCtx) buildInfo() (bson.D, error) {
	v := cc.c.ver()
	return bson.D{
		{Key: "version", Value: v.full},
		{Key: "gitVersion", Value: "mongosim"},
		{Key: "modules", Value: bson.A{}},
		{Key: "allocator", Value: "tcmalloc-google"},
		{Key: "javascriptEngine", Value: "mozjs"},
		{Key: "sysInfo", Value: "deprecated"},
		{Key: "versionArray", Value: bson.A{v.array[0], v.array[1], v.array[2], v.array[3]}},
		{Key: "bits", Value: int32(64)},
		{Key: "debug", Value: false},
		{Key: "maxBsonObjectSize", Value: int32(maxBSONObjectSize)},
		{Key: "storageEngines", Value: bson.A{"devnull", "wiredTiger"}},
	}, nil
}
