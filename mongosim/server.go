package mongosim

import (
	"bufio"
	"errors"
	"io"
	"net"
	"syscall"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func (c *Cluster) acceptLoop(n *node, ln net.Listener, down chan struct{}) {
	defer c.wg.Done()
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		c.mu.Lock()
		if n.down != down || !n.running {
			c.mu.Unlock()
			_ = conn.Close()
			return
		}
		n.conns[conn] = struct{}{}
		n.connIDs++
		id := n.connIDs
		c.wg.Add(1)
		c.mu.Unlock()
		go c.serveConn(n, conn, down, id)
	}
}

// serveConn answers one client connection until it closes or the node stops. A malformed message
// closes the connection, as mongod does.
func (c *Cluster) serveConn(n *node, conn net.Conn, down chan struct{}, connID int32) {
	defer c.wg.Done()
	defer func() {
		_ = conn.Close()
		c.mu.Lock()
		if n.down == down && n.conns != nil {
			delete(n.conns, conn)
		}
		c.mu.Unlock()
	}()
	r := bufio.NewReader(conn)
	sess := newAuthSession(conn.RemoteAddr())
	var out []byte
	var respID int32
	for {
		req, err := readRequest(r)
		if err != nil {
			if !isClosedErr(err) {
				c.logf(n).WithError(err).Debug("closing connection on bad message")
			}
			return
		}
		cc := &cmdCtx{c: c, n: n, down: down, req: req, connID: connID, sess: sess}
		reply, ok := c.execute(cc)
		if !ok {
			return
		}
		if req.opCode == opMsg && req.flags&flagMoreToCome != 0 {
			continue
		}
		doc, err := bson.Marshal(reply)
		if err != nil {
			doc, _ = bson.Marshal(cmdErr(CodeBadValue, "cannot encode reply").reply())
		}
		respID++
		out = out[:0]
		if req.opCode == opQuery {
			out = appendOpReply(out, respID, req.requestID, cc.replyFlags, doc)
		} else {
			out = appendOpMsg(out, respID, req.requestID, 0, doc)
		}
		_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := conn.Write(out); err != nil {
			return
		}
	}
}

func isClosedErr(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET)
}

// cmdCtx is one command being executed on one node.
type cmdCtx struct {
	c      *Cluster
	n      *node
	down   chan struct{}
	req    *request
	connID int32
	name   string
	body   bson.Raw
	// secondaryOk is OP_QUERY's flag (or a wrapped $readPreference) allowing secondary reads.
	secondaryOk bool
	// replyFlags are OP_REPLY's responseFlags (QueryFailure for a refused legacy query).
	replyFlags uint32
	// sess is the connection's authentication state.
	sess *authSession
}

type handler func(cc *cmdCtx) (bson.D, error)

var handlers map[string]handler

func init() {
	handlers = map[string]handler{
		"hello":            (*cmdCtx).hello,
		"isMaster":         (*cmdCtx).hello,
		"ismaster":         (*cmdCtx).hello,
		"ping":             (*cmdCtx).ping,
		"buildInfo":        (*cmdCtx).buildInfo,
		"buildinfo":        (*cmdCtx).buildInfo,
		"endSessions":      (*cmdCtx).ping,
		"replSetGetStatus": (*cmdCtx).replSetGetStatus,
		"replSetGetConfig": (*cmdCtx).replSetGetConfig,
		"replSetInitiate":  (*cmdCtx).replSetInitiate,
		"replSetReconfig":  (*cmdCtx).replSetReconfig,
		"replSetStepDown":  (*cmdCtx).replSetStepDown,
		"insert":           (*cmdCtx).insert,
		"find":             (*cmdCtx).find,
		"count":            (*cmdCtx).count,
	}
	registerAuthCommands(handlers)
}

// execute runs one command under the cluster mutex. ok is false when the node incarnation the
// connection belongs to is gone, so the connection must close without a reply.
func (c *Cluster) execute(cc *cmdCtx) (bson.D, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cc.n.down != cc.down || !cc.n.running {
		return nil, false
	}
	elems, err := cc.req.body.Elements()
	if err != nil || len(elems) == 0 {
		return cmdErr(CodeFailedToParse, "empty command document").reply(), true
	}
	cc.name = elems[0].Key()
	cc.body = cc.req.body
	if cc.req.opCode == opQuery {
		if reply, done := cc.legacyQuery(); done {
			return reply, true
		}
	}
	h := handlers[cc.name]
	if h == nil {
		h = dataHandlers[cc.name]
	}
	if h == nil && cc.name == "configureFailPoint" && c.opts.TestCommands {
		h = (*cmdCtx).configureFailPoint
	}
	if h == nil {
		return cc.c.countedLocked(cc, cmdErr(CodeCommandNotFound, "no such command: '%s'", cc.name).reply()), true
	}
	slaveDelay := cc.c.ver().slaveDelay
	if slaveDelay && (cc.name == "replSetInitiate" || cc.name == "replSetReconfig") {
		if b, err := translateConfigRequest(cc.body); err == nil {
			cc.body = b
		}
	}
	if ae := cc.authorizeLocked(); ae != nil {
		return cc.c.countedLocked(cc, ae.reply()), true
	}
	if fe, closed := cc.failCommandLocked(); closed {
		cc.c.countedLocked(cc, fe.reply())
		return nil, false
	} else if fe != nil {
		return cc.c.countedLocked(cc, fe.reply()), true
	}
	reply, err := h(cc)
	if err == nil && isHello(cc.name) {
		reply = cc.helloAuthFields(reply)
	}
	if cc.n.down != cc.down || !cc.n.running {
		return nil, false
	}
	if err != nil {
		ce, ok := err.(*CommandError)
		if !ok {
			ce = cmdErr(CodeBadValue, "%s", err.Error())
		}
		reply = ce.reply()
	} else {
		reply = append(reply, bson.E{Key: "ok", Value: 1.0})
	}
	if slaveDelay {
		reply = translateReply(cc.name, reply)
	}
	return cc.c.countedLocked(cc, reply), true
}

// maxTimeMS reads the command's maxTimeMS as a deadline; zero time means none.
func (cc *cmdCtx) deadline() (time.Time, error) {
	v, err := cc.body.LookupErr("maxTimeMS")
	if err != nil {
		return time.Time{}, nil
	}
	ms, ok := asInt(v)
	if !ok || ms < 0 {
		return time.Time{}, cmdErr(CodeBadValue, "maxTimeMS must be a non-negative integer")
	}
	if ms == 0 {
		return time.Time{}, nil
	}
	return time.Now().Add(time.Duration(ms) * time.Millisecond), nil
}
