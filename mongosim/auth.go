package mongosim

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// MongoDB error codes of access control.
const (
	CodeUserNotFound         int32 = 11
	CodeUnauthorized         int32 = 13
	CodeProtocolError        int32 = 17
	CodeAuthenticationFailed int32 = 18
	CodeRoleNotFound         int32 = 31
	CodeMechanismUnavailable int32 = 334
	CodeUserAlreadyExists    int32 = 51003   // mongod reports it as Location51003
	CodeMissingRequiredField int32 = 40414   // Location40414, an IDL parser error
	CodeEmptyPassword        int32 = 50687   // Location50687, ICU refusing an empty string
	CodeAuthenticatedTwice   int32 = 5626701 // a second user on another database
	CodeAuthenticatedSameDB  int32 = 5626702 // a second user on the same database
)

func init() {
	codeNames[CodeUserNotFound] = "UserNotFound"
	codeNames[CodeUnauthorized] = "Unauthorized"
	codeNames[CodeProtocolError] = "ProtocolError"
	codeNames[CodeAuthenticationFailed] = "AuthenticationFailed"
	codeNames[CodeRoleNotFound] = "RoleNotFound"
	codeNames[CodeMechanismUnavailable] = "MechanismUnavailable"
	codeNames[CodeUserAlreadyExists] = "Location51003"
	codeNames[CodeMissingRequiredField] = "Location40414"
	codeNames[CodeEmptyPassword] = "Location50687"
	codeNames[CodeAuthenticatedTwice] = "Location5626701"
	codeNames[CodeAuthenticatedSameDB] = "Location5626702"
}

// AuthOptions configure access control. The zero value is mongod without --auth: nothing is
// checked, although users can be created and can authenticate, as with mongod.
type AuthOptions struct {
	// Enabled turns access control on for every node (mongod --auth, or --keyFile, which implies
	// it): commands need an authenticated user with the right roles, except the few mongod runs
	// for anyone and what the localhost exception allows before the first user exists. Members
	// trust each other without a keyFile: internal authentication is not emulated.
	Enabled bool
	// LocalClient decides whether a client connection comes from the node's own host, the
	// condition of the localhost exception. Nil means LoopbackClient, mongod's own rule, under
	// which every client of a loopback test cluster is local; a cluster whose nodes stand for
	// separate hosts uses SameHostClient.
	LocalClient func(node string, remote net.Addr) bool
}

// LoopbackClient is mongod's rule (HostAndPort::isLocalHost on the peer): a client is local when
// it connects from 127.0.0.0/8 or ::1 (or a Unix socket).
func LoopbackClient(_ string, remote net.Addr) bool {
	host := remote.String()
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.HasPrefix(host, "127.") || host == "::1" || remote.Network() == "unix"
}

// SameHostClient treats every loopback address as a host of its own: a client is local to a node
// only when it connects from the node's own IP address, as the agent sharing a mongod's network
// namespace does in production. A client that wants to be local binds that address (for the Go
// driver: a net.Dialer with LocalAddr set).
func SameHostClient(node string, remote net.Addr) bool {
	nh, _, err := net.SplitHostPort(node)
	if err != nil {
		return false
	}
	rh, _, err := net.SplitHostPort(remote.String())
	if err != nil {
		return false
	}
	a, b := net.ParseIP(nh), net.ParseIP(rh)
	return a != nil && b != nil && a.Equal(b)
}

// userName names an authenticated user.
type userName struct {
	User string
	DB   string
}

func (u userName) String() string { return u.User + "@" + u.DB }

// authSession is one client connection's authentication state (mongod's AuthorizationSession and
// AuthenticationSession): who is logged in, the SASL conversation in progress, and whether the
// localhost exception was found closed for this connection (it never reopens for it).
type authSession struct {
	remote          net.Addr
	localhostClosed bool
	user            *userName
	sasl            *saslState
}

func newAuthSession(remote net.Addr) *authSession { return &authSession{remote: remote} }

// need is one privilege a command requires.
type need struct {
	res resource
	act action
}

// authRule says what a command requires.
type authRule struct {
	// public commands run without authentication (mongod's requiresAuth() false).
	public bool
	// anyUser commands need authentication, or the localhost exception, and nothing else.
	anyUser bool
	// needs lists the privileges the command requires on db; nil means every action on the
	// database, which only root has (the rule for a command the table does not know).
	needs func(cc *cmdCtx, db string) []need
}

var authRules map[string]authRule

func init() {
	public := authRule{public: true}
	cluster := func(a action) authRule {
		return authRule{needs: func(*cmdCtx, string) []need { return []need{{clusterRes(), a}} }}
	}
	onDB := func(acts ...action) authRule {
		return authRule{needs: func(_ *cmdCtx, db string) []need {
			out := make([]need, len(acts))
			for i, a := range acts {
				out[i] = need{dbRes(db), a}
			}
			return out
		}}
	}
	onColl := func(acts ...action) authRule {
		return authRule{needs: func(cc *cmdCtx, db string) []need {
			r := cc.collectionResource(db)
			out := make([]need, len(acts))
			for i, a := range acts {
				out[i] = need{r, a}
			}
			return out
		}}
	}
	authRules = map[string]authRule{
		"hello": public, "isMaster": public, "ismaster": public, "ping": public,
		"buildInfo": public, "buildinfo": public, "saslStart": public, "saslContinue": public,
		"connectionStatus": public,
		// A test command: mongod runs it for anyone (it exists only with enableTestCommands).
		"configureFailPoint": public,

		"endSessions": {anyUser: true},

		"replSetGetStatus": cluster(actReplSetGetStatus),
		"replSetGetConfig": cluster(actReplSetGetConfig),
		"replSetInitiate":  cluster(actReplSetConfigure),
		"replSetReconfig":  cluster(actReplSetConfigure),
		"replSetStepDown":  cluster(actReplSetStateChange),
		"replSetFreeze":    cluster(actReplSetStateChange),
		"serverStatus":     cluster(actServerStatus),
		"listDatabases":    cluster(actListDatabases),

		"insert": onColl(actInsert), "find": onColl(actFind), "count": onColl(actFind),
		"distinct": onColl(actFind), "aggregate": onColl(actFind), "getMore": onColl(actFind),
		"killCursors": onColl(actKillCursors), "delete": onColl(actRemove),
		"createIndexes": onColl(actCreateIndex), "dropIndexes": onColl(actDropIndex),
		"listIndexes": onColl(actListIndexes), "create": onColl(actCreateCollection),
		"drop": onColl(actDropCollection), "collStats": onColl(actCollStats),
		"update":          {needs: writeNeeds(actUpdate)},
		"findAndModify":   {needs: findAndModifyNeeds},
		"findandmodify":   {needs: findAndModifyNeeds},
		"listCollections": onDB(actListCollections), "dbStats": onDB(actDBStats),
		"dropDatabase": onDB(actDropDatabase),

		"createUser":               {needs: createUserNeeds},
		"updateUser":               {needs: updateUserNeeds},
		"dropUser":                 onDB(actDropUser),
		"dropAllUsersFromDatabase": onDB(actDropUser),
		"grantRolesToUser":         {needs: roleChangeNeeds(actGrantRole)},
		"revokeRolesFromUser":      {needs: roleChangeNeeds(actRevokeRole)},
		"usersInfo":                {needs: usersInfoNeeds},
	}
}

// dbName is the database a command runs on: $db, or the namespace of a legacy OP_QUERY.
func (cc *cmdCtx) dbName() string {
	if v, err := cc.body.LookupErr("$db"); err == nil && v.Type == bson.TypeString {
		return v.StringValue()
	}
	if cc.req.opCode == opQuery {
		if db, _, ok := strings.Cut(cc.req.fullCollectionName, "."); ok {
			return db
		}
	}
	return "admin"
}

// collectionResource is the namespace a collection command names (its first value, or getMore's
// "collection"); the database when it names none (aggregate: 1).
func (cc *cmdCtx) collectionResource(db string) resource {
	v := firstValue(cc.body)
	if cc.name == "getMore" {
		v = cc.body.Lookup("collection")
	}
	if coll, ok := v.StringValueOK(); ok && coll != "" {
		return nsRes(db, coll)
	}
	return dbRes(db)
}

// writeNeeds is update's rule: the action, plus insert when any statement upserts.
func writeNeeds(a action) func(cc *cmdCtx, db string) []need {
	return func(cc *cmdCtx, db string) []need {
		r := cc.collectionResource(db)
		out := []need{{r, a}}
		stmts := cc.req.sequences["updates"]
		if arr, ok := cc.body.Lookup("updates").ArrayOK(); ok {
			vals, _ := arr.Values()
			for _, v := range vals {
				if d, ok := v.DocumentOK(); ok {
					stmts = append(stmts, d)
				}
			}
		}
		for _, s := range stmts {
			if up, ok := asBool(s.Lookup("upsert")); ok && up {
				return append(out, need{r, actInsert})
			}
		}
		return out
	}
}

func findAndModifyNeeds(cc *cmdCtx, db string) []need {
	r := cc.collectionResource(db)
	out := []need{{r, actFind}}
	if rm, ok := asBool(cc.body.Lookup("remove")); ok && rm {
		return append(out, need{r, actRemove})
	}
	out = append(out, need{r, actUpdate})
	if up, ok := asBool(cc.body.Lookup("upsert")); ok && up {
		out = append(out, need{r, actInsert})
	}
	return out
}

// grantNeeds asks for grantRole on the database of every role the command hands out.
func grantNeeds(cc *cmdCtx, db string, act action) []need {
	var out []need
	if v, err := cc.body.LookupErr("roles"); err == nil {
		roles, _ := parseRoles(v, db, "roles")
		for _, r := range roles {
			out = append(out, need{dbRes(r.DB), act})
		}
	}
	return out
}

func createUserNeeds(cc *cmdCtx, db string) []need {
	return append([]need{{dbRes(db), actCreateUser}}, grantNeeds(cc, db, actGrantRole)...)
}

func updateUserNeeds(cc *cmdCtx, db string) []need {
	var out []need
	if _, err := cc.body.LookupErr("pwd"); err == nil {
		out = append(out, need{dbRes(db), actChangePassword})
	}
	if _, err := cc.body.LookupErr("customData"); err == nil {
		out = append(out, need{dbRes(db), actChangeCustomData})
	}
	if _, err := cc.body.LookupErr("roles"); err == nil {
		out = append(out, need{dbRes(db), actRevokeRole})
		out = append(out, grantNeeds(cc, db, actGrantRole)...)
	}
	if len(out) == 0 {
		out = append(out, need{dbRes(db), actChangePassword})
	}
	return out
}

func roleChangeNeeds(act action) func(cc *cmdCtx, db string) []need {
	return func(cc *cmdCtx, db string) []need {
		out := grantNeeds(cc, db, act)
		if len(out) == 0 {
			out = append(out, need{dbRes(db), act})
		}
		return out
	}
}

// usersInfoNeeds asks for viewUser on every database whose users are listed; a user may always
// look at itself.
func usersInfoNeeds(cc *cmdCtx, db string) []need {
	q, err := parseUsersInfoQuery(firstValue(cc.body), db)
	if err != nil {
		return nil // the command reports the parse error; nothing is shown without viewUser
	}
	if q.allDBs {
		return []need{{resource{kind: resAnyNormal}, actViewUser}}
	}
	if q.wholeDB != "" {
		return []need{{dbRes(q.wholeDB), actViewUser}}
	}
	var out []need
	for _, u := range q.names {
		if cc.sess.user != nil && *cc.sess.user == u {
			continue
		}
		out = append(out, need{dbRes(u.DB), actViewUser})
	}
	return out
}

// authorizeLocked is mongod's authorization check before a command runs. It returns nil when the
// command may run.
func (cc *cmdCtx) authorizeLocked() *CommandError {
	c, n, sess := cc.c, cc.n, cc.sess
	if !c.opts.Auth.Enabled || sess == nil {
		return nil
	}
	rule, known := authRules[cc.name]
	if known && rule.public {
		return nil
	}
	user := c.sessionUserLocked(n, sess)
	bypass := c.localhostBypassLocked(n, sess)
	if !bypass && user == nil {
		return cmdErr(CodeUnauthorized, "command %s requires authentication", cc.name)
	}
	if rule.anyUser {
		return nil
	}
	db := cc.dbName()
	var privs []privilege
	if user != nil {
		for _, r := range user.Roles {
			privs = append(privs, rolePrivileges(r.Role, r.DB)...)
		}
	}
	if bypass {
		privs = append(privs, localhostPrivileges...)
	}
	var needs []need
	if known && rule.needs != nil {
		needs = rule.needs(cc, db)
	} else {
		for _, a := range allActions {
			needs = append(needs, need{dbRes(db), a})
		}
	}
	for _, nd := range needs {
		if !anyAllows(privs, nd) {
			return cmdErr(CodeUnauthorized, "not authorized on %s to execute command { %s: %s, $db: %q }",
				db, cc.name, shortValue(firstValue(cc.body)), db)
		}
	}
	return nil
}

func anyAllows(privs []privilege, nd need) bool {
	for _, p := range privs {
		if p.allows(nd.res, nd.act) {
			return true
		}
	}
	return false
}

// shortValue renders a command's first value for an error message, without anything long.
func shortValue(v bson.RawValue) string {
	switch v.Type {
	case bson.TypeString:
		return fmt.Sprintf("%q", v.StringValue())
	case bson.TypeInt32, bson.TypeInt64, bson.TypeDouble:
		if n, ok := asInt(v); ok {
			return strconv.FormatInt(n, 10)
		}
	case bson.TypeBoolean:
		return strconv.FormatBool(v.Boolean())
	}
	return "..."
}

// sessionUserLocked returns the session's user as n stores it now. A user dropped since it logged
// in is logged out, as mongod's user cache invalidation does; changed roles apply at once.
func (c *Cluster) sessionUserLocked(n *node, sess *authSession) *storedUser {
	if sess.user == nil {
		return nil
	}
	u, ok := c.userLocked(n, sess.user.User, sess.user.DB)
	if !ok {
		sess.user = nil
		return nil
	}
	return &u
}

// localhostBypassLocked is the localhost exception for this request: the client is local and no
// user exists on n (nor has since the node started). Once found closed on a connection, it stays
// closed for it.
func (c *Cluster) localhostBypassLocked(n *node, sess *authSession) bool {
	if sess.localhostClosed {
		return false
	}
	local := c.opts.Auth.LocalClient
	if local == nil {
		local = LoopbackClient
	}
	if sess.remote == nil || !local(n.addr, sess.remote) || c.hasPrivilegeDocsLocked(n) {
		sess.localhostClosed = true
		return false
	}
	return true
}

// connectionStatus reports who the connection is authenticated as.
func (cc *cmdCtx) connectionStatus() (bson.D, error) {
	users, roles := bson.A{}, bson.A{}
	if cc.sess != nil {
		if u := cc.c.sessionUserLocked(cc.n, cc.sess); u != nil {
			users = append(users, bson.D{{Key: "user", Value: u.User}, {Key: "db", Value: u.DB}})
			for _, r := range u.Roles {
				roles = append(roles, r.doc())
			}
		}
	}
	return bson.D{{Key: "authInfo", Value: bson.D{
		{Key: "authenticatedUsers", Value: users},
		{Key: "authenticatedUserRoles", Value: roles},
	}}}, nil
}
