package mongosim

import (
	"crypto/rand"
	"encoding/base64"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/replset-agent/replset-agent/mongosim/scram"
)

// usersNS is where mongod keeps users; they replicate through the oplog like any other data.
const usersNS = "admin.system.users"

// roleName is a role granted to a user: {role, db}.
type roleName struct {
	Role string
	DB   string
}

func (r roleName) doc() bson.D { return bson.D{{Key: "role", Value: r.Role}, {Key: "db", Value: r.DB}} }

// storedUser is one admin.system.users document, parsed.
type storedUser struct {
	ID         string // "<db>.<user>"
	UserID     bson.Binary
	User       string
	DB         string
	Creds      map[string]scram.Credential // by mechanism name
	CustomData bson.Raw
	Roles      []roleName
}

func userKey(user, db string) string { return db + "." + user }

// mechanisms lists the user's mechanisms in mongod's order.
func (u *storedUser) mechanisms() []string {
	var out []string
	for _, m := range scram.Mechanisms() {
		if _, ok := u.Creds[m.Name()]; ok {
			out = append(out, m.Name())
		}
	}
	return out
}

// doc renders the user as mongod stores it.
func (u *storedUser) doc() bson.D {
	creds := bson.D{}
	for _, name := range u.mechanisms() {
		c := u.Creds[name]
		creds = append(creds, bson.E{Key: name, Value: bson.D{
			{Key: "iterationCount", Value: int32(c.Iterations)},
			{Key: "salt", Value: base64.StdEncoding.EncodeToString(c.Salt)},
			{Key: "storedKey", Value: base64.StdEncoding.EncodeToString(c.StoredKey)},
			{Key: "serverKey", Value: base64.StdEncoding.EncodeToString(c.ServerKey)},
		}})
	}
	d := bson.D{
		{Key: "_id", Value: u.ID},
		{Key: "userId", Value: u.UserID},
		{Key: "user", Value: u.User},
		{Key: "db", Value: u.DB},
		{Key: "credentials", Value: creds},
	}
	if u.CustomData != nil {
		d = append(d, bson.E{Key: "customData", Value: u.CustomData})
	}
	return append(d, bson.E{Key: "roles", Value: rolesArray(u.Roles)})
}

func rolesArray(roles []roleName) bson.A {
	a := bson.A{}
	for _, r := range roles {
		a = append(a, r.doc())
	}
	return a
}

// parseStoredUser reads a user document; ok is false for a document mongod would not accept as
// a user (it still counts as a privilege document).
func parseStoredUser(raw bson.Raw) (storedUser, bool) {
	var u storedUser
	id, ok1 := raw.Lookup("_id").StringValueOK()
	user, ok2 := raw.Lookup("user").StringValueOK()
	db, ok3 := raw.Lookup("db").StringValueOK()
	if !ok1 || !ok2 || !ok3 || id != userKey(user, db) {
		return u, false
	}
	u.ID, u.User, u.DB = id, user, db
	if st, data, ok := raw.Lookup("userId").BinaryOK(); ok {
		u.UserID = bson.Binary{Subtype: st, Data: data}
	}
	u.Creds = map[string]scram.Credential{}
	if creds, ok := raw.Lookup("credentials").DocumentOK(); ok {
		for _, m := range scram.Mechanisms() {
			c, ok := creds.Lookup(m.Name()).DocumentOK()
			if !ok {
				continue
			}
			it, _ := asInt(c.Lookup("iterationCount"))
			salt, e1 := base64.StdEncoding.DecodeString(c.Lookup("salt").StringValue())
			stored, e2 := base64.StdEncoding.DecodeString(c.Lookup("storedKey").StringValue())
			server, e3 := base64.StdEncoding.DecodeString(c.Lookup("serverKey").StringValue())
			if e1 != nil || e2 != nil || e3 != nil || it < 1 {
				continue
			}
			u.Creds[m.Name()] = scram.Credential{Iterations: int(it), Salt: salt, StoredKey: stored, ServerKey: server}
		}
	}
	if cd, ok := raw.Lookup("customData").DocumentOK(); ok {
		u.CustomData = cd
	}
	if roles, ok := raw.Lookup("roles").ArrayOK(); ok {
		vals, _ := roles.Values()
		for _, v := range vals {
			d, ok := v.DocumentOK()
			if !ok {
				continue
			}
			r, ok1 := d.Lookup("role").StringValueOK()
			rdb, ok2 := d.Lookup("db").StringValueOK()
			if ok1 && ok2 {
				u.Roles = append(u.Roles, roleName{r, rdb})
			}
		}
	}
	return u, true
}

// nodeAuth is the emulator's authorization state of one node: its users, folded from the oplog
// (disk state: it follows replication, rollback and wipes), and the process's latch that closes
// the localhost exception for good once any user was seen (AuthorizationManagerImpl's
// _privilegeDocsExist), reset when the node restarts.
type nodeAuth struct {
	down         chan struct{} // the incarnation the latch belongs to
	privDocsSeen bool

	users       map[string]bson.Raw // admin.system.users by _id
	applied     int                 // oplog entries folded into users
	appliedLast OpTime              // optime of the last folded entry, to notice truncation
}

// authOfLocked returns n's authorization state, brought up to date with its oplog.
func (c *Cluster) authOfLocked(n *node) *nodeAuth {
	if c.authz == nil {
		c.authz = map[*node]*nodeAuth{}
	}
	a := c.authz[n]
	if a == nil {
		a = &nodeAuth{users: map[string]bson.Raw{}}
		c.authz[n] = a
	}
	if a.down != n.down {
		a.down, a.privDocsSeen = n.down, false
	}
	if a.applied > len(n.oplog) || (a.applied > 0 && n.oplog[a.applied-1].OpTime != a.appliedLast) {
		// Rolled back, wiped or replaced: fold again from the start.
		a.users, a.applied = map[string]bson.Raw{}, 0
	}
	for _, e := range n.oplog[a.applied:] {
		if e.NS != usersNS {
			continue
		}
		id, ok := e.Doc.Lookup("_id").StringValueOK()
		if !ok {
			continue
		}
		switch e.Op {
		case "i", "u":
			a.users[id] = e.Doc
		case "d":
			delete(a.users, id)
		}
	}
	a.applied = len(n.oplog)
	if a.applied > 0 {
		a.appliedLast = n.oplog[a.applied-1].OpTime
	}
	return a
}

// userLocked returns user@db as stored on n.
func (c *Cluster) userLocked(n *node, user, db string) (storedUser, bool) {
	raw, ok := c.authOfLocked(n).users[userKey(user, db)]
	if !ok {
		return storedUser{}, false
	}
	return parseStoredUser(raw)
}

// usersLocked returns every parsable user on n, sorted as usersInfo sorts them (user, then db).
func (c *Cluster) usersLocked(n *node) []storedUser {
	var out []storedUser
	for _, raw := range c.authOfLocked(n).users {
		if u, ok := parseStoredUser(raw); ok {
			out = append(out, u)
		}
	}
	slices.SortFunc(out, func(a, b storedUser) int {
		if c := strings.Compare(a.User, b.User); c != 0 {
			return c
		}
		return strings.Compare(a.DB, b.DB)
	})
	return out
}

// hasPrivilegeDocsLocked is AuthorizationManager::hasAnyPrivilegeDocuments for n: true once any
// document is in admin.system.users (roles are not emulated), and true from then on for the rest
// of the process's life even if every user is dropped.
func (c *Cluster) hasPrivilegeDocsLocked(n *node) bool {
	a := c.authOfLocked(n)
	if !a.privDocsSeen && len(a.users) > 0 {
		a.privDocsSeen = true
	}
	return a.privDocsSeen
}

// writeUserLocked appends a write of admin.system.users to the primary's oplog: op "i" or "u"
// with the whole document, or "d" with {_id}.
func (c *Cluster) writeUserLocked(n *node, op string, doc bson.D) (OpTime, error) {
	raw, err := bson.Marshal(doc)
	if err != nil {
		return OpTime{}, cmdErr(CodeBadValue, "cannot encode user document")
	}
	now := time.Now()
	e := Entry{OpTime: OpTime{TS: c.nextTimestampLocked(now), Term: n.term}, Wall: now, Op: op, NS: usersNS, Doc: raw}
	n.oplog = append(n.oplog, e)
	return e.OpTime, nil
}

func newUserID() bson.Binary {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return bson.Binary{Subtype: bson.TypeBinaryUUID, Data: b}
}

// UserNames lists the users stored on the node at addr as "db.user", sorted: what its
// admin.system.users holds right now, for tests that must see users without credentials.
func (c *Cluster) UserNames(addr string) ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[addr]
	if n == nil {
		return nil, ErrUnknownNode
	}
	var out []string
	for id := range c.authOfLocked(n).users {
		out = append(out, id)
	}
	slices.Sort(out)
	return out, nil
}
