package mongosim

import (
	"crypto/rand"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/replset-agent/replset-agent/mongosim/scram"
)

// registerAuthCommands adds the authentication and user-management commands to the dispatch
// table. They exist whether or not access control is on, as in mongod.
func registerAuthCommands(h map[string]handler) {
	h["saslStart"] = (*cmdCtx).saslStart
	h["saslContinue"] = (*cmdCtx).saslContinue
	h["connectionStatus"] = (*cmdCtx).connectionStatus
	h["createUser"] = (*cmdCtx).createUser
	h["updateUser"] = (*cmdCtx).updateUser
	h["dropUser"] = (*cmdCtx).dropUser
	h["dropAllUsersFromDatabase"] = (*cmdCtx).dropAllUsersFromDatabase
	h["grantRolesToUser"] = (*cmdCtx).grantRolesToUser
	h["revokeRolesFromUser"] = (*cmdCtx).revokeRolesFromUser
	h["usersInfo"] = (*cmdCtx).usersInfo
}

// parseRoles reads a roles array: each element a role name in db, or {role, db}.
func parseRoles(v bson.RawValue, db, field string) ([]roleName, *CommandError) {
	arr, ok := v.ArrayOK()
	if !ok {
		return nil, cmdErr(CodeTypeMismatch, "BSON field '%s' is the wrong type '%s', expected type 'array'", field, typeName(v.Type))
	}
	vals, _ := arr.Values()
	var out []roleName
	for _, e := range vals {
		switch e.Type {
		case bson.TypeString:
			out = append(out, roleName{e.StringValue(), db})
		case bson.TypeEmbeddedDocument:
			d := e.Document()
			r, ok1 := d.Lookup("role").StringValueOK()
			rdb, ok2 := d.Lookup("db").StringValueOK()
			if !ok1 {
				return nil, cmdErr(CodeBadValue, "Missing expected field \"role\"")
			}
			if !ok2 {
				return nil, cmdErr(CodeBadValue, "Missing expected field \"db\"")
			}
			out = append(out, roleName{r, rdb})
		default:
			return nil, cmdErr(CodeBadValue, "Role names must be either strings or objects")
		}
	}
	return out, nil
}

func checkRolesExist(roles []roleName) *CommandError {
	for _, r := range roles {
		if !roleExists(r.Role, r.DB) {
			return cmdErr(CodeRoleNotFound, "Could not find role: %s@%s", r.Role, r.DB)
		}
	}
	return nil
}

// userArg reads the user name a user-management command names in its first field.
func (cc *cmdCtx) userArg() (string, *CommandError) {
	v := firstValue(cc.body)
	name, ok := v.StringValueOK()
	if !ok {
		return "", cmdErr(CodeTypeMismatch, "BSON field '%s.%s' is the wrong type '%s', expected type 'string'", cc.name, cc.name, typeName(v.Type))
	}
	return name, nil
}

// credentialsFor derives the credentials of user@db for each mechanism, as createUser and
// updateUser do on the server ("passwordDigestor: server").
func credentialsFor(cmd, user, pwd string, mechs []string, digest bool) (map[string]scram.Credential, *CommandError) {
	out := map[string]scram.Credential{}
	for _, name := range mechs {
		m, _ := scram.ByName(name)
		if m == scram.SHA256 && !digest {
			return nil, cmdErr(CodeBadValue, "Use of SCRAM-SHA-256 requires undigested passwords")
		}
		if m == scram.SHA256 && pwd == "" {
			// What mongod's ICU-based SASLprep answers for an empty string.
			return nil, cmdErr(CodeEmptyPassword, "Error preflighting UTF-8 conversion: U_STRING_NOT_TERMINATED_WARNING")
		}
		var cred scram.Credential
		var err error
		if digest {
			cred, err = m.NewCredential(user, pwd, nil)
		} else {
			// The client digested the password itself: it is SCRAM-SHA-1's SCRAM password.
			salt := make([]byte, m.SaltLen())
			_, _ = rand.Read(salt)
			cred, err = m.FromSCRAMPassword(pwd, salt, m.DefaultIterations())
		}
		if err != nil {
			return nil, cmdErr(CodeBadValue, "%s: password cannot be used: %v", cmd, err)
		}
		out[name] = cred
	}
	return out, nil
}

// mechanismsArg reads "mechanisms"; nil means absent.
func (cc *cmdCtx) mechanismsArg() ([]string, *CommandError) {
	v, err := cc.body.LookupErr("mechanisms")
	if err != nil {
		return nil, nil
	}
	arr, ok := v.ArrayOK()
	if !ok {
		return nil, cmdErr(CodeTypeMismatch, "BSON field '%s.mechanisms' is the wrong type '%s', expected type 'array'", cc.name, typeName(v.Type))
	}
	vals, _ := arr.Values()
	if len(vals) == 0 {
		return nil, cmdErr(CodeBadValue, "mechanisms field must not be empty")
	}
	var out []string
	for _, e := range vals {
		s, _ := e.StringValueOK()
		if _, ok := scram.ByName(s); !ok {
			return nil, cmdErr(CodeBadValue, "Unknown auth mechanism '%s'", s)
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// passwordArg reads pwd and digestPassword; ok is false when pwd is absent.
func (cc *cmdCtx) passwordArg() (pwd string, digest, ok bool, cerr *CommandError) {
	v, err := cc.body.LookupErr("pwd")
	if err != nil {
		return "", true, false, nil
	}
	pwd, isStr := v.StringValueOK()
	if !isStr {
		return "", true, false, cmdErr(CodeTypeMismatch, "BSON field '%s.pwd' is the wrong type '%s', expected type 'string'", cc.name, typeName(v.Type))
	}
	digest = true
	if d, err := cc.body.LookupErr("digestPassword"); err == nil {
		digest, _ = asBool(d)
	}
	return pwd, digest, true, nil
}

func (cc *cmdCtx) customDataArg() (bson.Raw, bool, *CommandError) {
	v, err := cc.body.LookupErr("customData")
	if err != nil {
		return nil, false, nil
	}
	d, ok := v.DocumentOK()
	if !ok {
		return nil, false, cmdErr(CodeTypeMismatch, "BSON field '%s.customData' is the wrong type '%s', expected type 'object'", cc.name, typeName(v.Type))
	}
	return d, true, nil
}

// writableForUsers checks the node may write admin.system.users now.
func (cc *cmdCtx) writableForUsers() *CommandError {
	if !cc.n.writablePrimary() {
		return notPrimaryWrite(cc)
	}
	return nil
}

// finishUserWrite waits for the command's write concern on the writes just made (the implicit
// default when none is given) and returns the reply.
func (cc *cmdCtx) finishUserWrite(reply bson.D, wc writeConcern, deadline time.Time, written []OpTime) (bson.D, error) {
	if len(written) == 0 || (!wc.majority && wc.w <= 1) {
		return reply, nil
	}
	if wce := cc.c.awaitWriteConcernLocked(cc, wc, written, deadline); wce != nil {
		reply = append(reply, bson.E{Key: "writeConcernError", Value: wce})
	}
	return reply, nil
}

// prepareUserWrite checks the roles a command hands out, then parses what every user-management
// write needs before it changes anything.
func (cc *cmdCtx) prepareUserWrite(roles []roleName) (writeConcern, time.Time, *CommandError) {
	if cerr := checkRolesExist(roles); cerr != nil {
		return writeConcern{}, time.Time{}, cerr
	}
	return cc.userWritePrelude()
}

// userWritePrelude parses what every user-management write needs before it changes anything.
func (cc *cmdCtx) userWritePrelude() (writeConcern, time.Time, *CommandError) {
	if err := cc.writableForUsers(); err != nil {
		return writeConcern{}, time.Time{}, err
	}
	wc, err := cc.writeConcern()
	if err != nil {
		return wc, time.Time{}, err.(*CommandError)
	}
	deadline, err := cc.deadline()
	if err != nil {
		return wc, time.Time{}, err.(*CommandError)
	}
	return wc, deadline, nil
}

func (cc *cmdCtx) createUser() (bson.D, error) {
	db := cc.dbName()
	name, cerr := cc.userArg()
	if cerr != nil {
		return nil, cerr
	}
	if name == "" {
		return nil, cmdErr(CodeBadValue, "User name cannot be empty")
	}
	if db == "local" {
		return nil, cmdErr(CodeBadValue, "Cannot create users in the local database")
	}
	pwd, digest, hasPwd, cerr := cc.passwordArg()
	if cerr != nil {
		return nil, cerr
	}
	if !hasPwd && db != "$external" {
		return nil, cmdErr(CodeBadValue, "Must provide a 'pwd' field for all user documents, except those with '$external' as the user's source db")
	}
	if hasPwd && db == "$external" {
		return nil, cmdErr(CodeBadValue, "Cannot set the password for users defined on the '$external' database")
	}
	rv, err := cc.body.LookupErr("roles")
	if err != nil {
		return nil, cmdErr(CodeMissingRequiredField, "BSON field 'createUser.roles' is missing but a required field")
	}
	roles, cerr := parseRoles(rv, db, "createUser.roles")
	if cerr != nil {
		return nil, cerr
	}
	mechs, cerr := cc.mechanismsArg()
	if cerr != nil {
		return nil, cerr
	}
	if mechs == nil {
		mechs = []string{scram.SHA1.Name(), scram.SHA256.Name()}
	}
	custom, _, cerr := cc.customDataArg()
	if cerr != nil {
		return nil, cerr
	}
	wc, deadline, cerr := cc.prepareUserWrite(roles)
	if cerr != nil {
		return nil, cerr
	}
	if _, exists := cc.c.userLocked(cc.n, name, db); exists {
		return nil, cmdErr(CodeUserAlreadyExists, "User \"%s@%s\" already exists", name, db)
	}
	creds := map[string]scram.Credential{}
	if hasPwd {
		if creds, cerr = credentialsFor("createUser", name, pwd, mechs, digest); cerr != nil {
			return nil, cerr
		}
	}
	u := storedUser{ID: userKey(name, db), UserID: newUserID(), User: name, DB: db, Creds: creds, CustomData: custom, Roles: roles}
	op, werr := cc.c.writeUserLocked(cc.n, "i", u.doc())
	if werr != nil {
		return nil, werr
	}
	cc.c.logf(cc.n).WithField("user", u.User+"@"+u.DB).WithField("roles", len(roles)).Info("user created")
	return cc.finishUserWrite(bson.D{}, wc, deadline, []OpTime{op})
}

func (cc *cmdCtx) updateUser() (bson.D, error) {
	db := cc.dbName()
	name, cerr := cc.userArg()
	if cerr != nil {
		return nil, cerr
	}
	pwd, digest, hasPwd, cerr := cc.passwordArg()
	if cerr != nil {
		return nil, cerr
	}
	custom, hasCustom, cerr := cc.customDataArg()
	if cerr != nil {
		return nil, cerr
	}
	var roles []roleName
	rv, rolesErr := cc.body.LookupErr("roles")
	hasRoles := rolesErr == nil
	if hasRoles {
		if roles, cerr = parseRoles(rv, db, "updateUser.roles"); cerr != nil {
			return nil, cerr
		}
	}
	mechs, cerr := cc.mechanismsArg()
	if cerr != nil {
		return nil, cerr
	}
	if !hasPwd && !hasCustom && !hasRoles && mechs == nil {
		return nil, cmdErr(CodeBadValue, "Must specify at least one field to update in updateUser")
	}
	if hasPwd && db == "$external" {
		return nil, cmdErr(CodeBadValue, "Cannot set the password for users defined on the '$external' database")
	}
	wc, deadline, cerr := cc.prepareUserWrite(roles)
	if cerr != nil {
		return nil, cerr
	}
	u, ok := cc.c.userLocked(cc.n, name, db)
	if !ok {
		return nil, cmdErr(CodeUserNotFound, "User %s@%s not found", name, db)
	}
	current := u.mechanisms()
	if mechs != nil && !hasPwd {
		for _, m := range mechs {
			if !slices.Contains(current, m) {
				return nil, cmdErr(CodeBadValue, "mechanisms field must be a subset of previously set mechanisms")
			}
		}
		kept := map[string]scram.Credential{}
		for _, m := range mechs {
			kept[m] = u.Creds[m]
		}
		u.Creds = kept
	}
	if hasPwd {
		if mechs == nil {
			mechs = current
			if len(mechs) == 0 {
				mechs = []string{scram.SHA1.Name(), scram.SHA256.Name()}
			}
		}
		if u.Creds, cerr = credentialsFor("updateUser", name, pwd, mechs, digest); cerr != nil {
			return nil, cerr
		}
	}
	if hasCustom {
		u.CustomData = custom
	}
	if hasRoles {
		u.Roles = roles
	}
	op, werr := cc.c.writeUserLocked(cc.n, "u", u.doc())
	if werr != nil {
		return nil, werr
	}
	cc.c.logf(cc.n).WithField("user", u.User+"@"+u.DB).WithField("password", hasPwd).WithField("roles", hasRoles).Info("user updated")
	return cc.finishUserWrite(bson.D{}, wc, deadline, []OpTime{op})
}

func (cc *cmdCtx) dropUser() (bson.D, error) {
	db := cc.dbName()
	name, cerr := cc.userArg()
	if cerr != nil {
		return nil, cerr
	}
	wc, deadline, cerr := cc.userWritePrelude()
	if cerr != nil {
		return nil, cerr
	}
	if _, ok := cc.c.userLocked(cc.n, name, db); !ok {
		return nil, cmdErr(CodeUserNotFound, "User '%s@%s' not found", name, db)
	}
	op, werr := cc.c.writeUserLocked(cc.n, "d", bson.D{{Key: "_id", Value: userKey(name, db)}})
	if werr != nil {
		return nil, werr
	}
	cc.c.logf(cc.n).WithField("user", name+"@"+db).Info("user dropped")
	return cc.finishUserWrite(bson.D{}, wc, deadline, []OpTime{op})
}

func (cc *cmdCtx) dropAllUsersFromDatabase() (bson.D, error) {
	db := cc.dbName()
	wc, deadline, cerr := cc.userWritePrelude()
	if cerr != nil {
		return nil, cerr
	}
	var written []OpTime
	for _, u := range cc.c.usersLocked(cc.n) {
		if u.DB != db {
			continue
		}
		op, werr := cc.c.writeUserLocked(cc.n, "d", bson.D{{Key: "_id", Value: u.ID}})
		if werr != nil {
			return nil, werr
		}
		written = append(written, op)
	}
	return cc.finishUserWrite(bson.D{{Key: "n", Value: int32(len(written))}}, wc, deadline, written)
}

func (cc *cmdCtx) grantRolesToUser() (bson.D, error)    { return cc.changeRoles(true) }
func (cc *cmdCtx) revokeRolesFromUser() (bson.D, error) { return cc.changeRoles(false) }

func (cc *cmdCtx) changeRoles(grant bool) (bson.D, error) {
	db := cc.dbName()
	name, cerr := cc.userArg()
	if cerr != nil {
		return nil, cerr
	}
	rv, err := cc.body.LookupErr("roles")
	if err != nil {
		return nil, cmdErr(CodeMissingRequiredField, "BSON field '%s.roles' is missing but a required field", cc.name)
	}
	roles, cerr := parseRoles(rv, db, cc.name+".roles")
	if cerr != nil {
		return nil, cerr
	}
	if len(roles) == 0 {
		return nil, cmdErr(CodeBadValue, "%s command requires a non-empty \"roles\" array", cc.name)
	}
	wc, deadline, cerr := cc.prepareUserWrite(roles)
	if cerr != nil {
		return nil, cerr
	}
	u, ok := cc.c.userLocked(cc.n, name, db)
	if !ok {
		return nil, cmdErr(CodeUserNotFound, "Could not find user \"%s@%s\"", name, db)
	}
	for _, r := range roles {
		i := slices.Index(u.Roles, r)
		switch {
		case grant && i < 0:
			u.Roles = append(u.Roles, r)
		case !grant && i >= 0:
			u.Roles = slices.Delete(u.Roles, i, i+1)
		}
	}
	op, werr := cc.c.writeUserLocked(cc.n, "u", u.doc())
	if werr != nil {
		return nil, werr
	}
	return cc.finishUserWrite(bson.D{}, wc, deadline, []OpTime{op})
}

// usersInfoQuery is what usersInfo asks for: every user, every user of one database, or names.
type usersInfoQuery struct {
	allDBs  bool
	wholeDB string
	names   []userName
}

func parseUserNameValue(v bson.RawValue, db string) (userName, *CommandError) {
	switch v.Type {
	case bson.TypeString:
		return userName{v.StringValue(), db}, nil
	case bson.TypeEmbeddedDocument:
		d := v.Document()
		elems, _ := d.Elements()
		for _, e := range elems {
			if e.Key() != "user" && e.Key() != "db" {
				return userName{}, cmdErr(CodeBadValue, "UserName contains an unknown field named: '%s", e.Key())
			}
		}
		var u userName
		for _, f := range []string{"user", "db"} {
			fv, err := d.LookupErr(f)
			if err != nil {
				return userName{}, cmdErr(CodeBadValue, "UserName must contain a field named: %s", f)
			}
			s, ok := fv.StringValueOK()
			if !ok {
				return userName{}, cmdErr(CodeBadValue, "UserName must contain a string field named: %s. But, has type %s", f, typeName(fv.Type))
			}
			if f == "user" {
				u.User = s
			} else {
				u.DB = s
			}
		}
		return u, nil
	}
	return userName{}, cmdErr(CodeBadValue, "UserName must be either a string or an object")
}

func parseUsersInfoQuery(v bson.RawValue, db string) (usersInfoQuery, *CommandError) {
	if n, ok := asInt(v); ok && n == 1 {
		return usersInfoQuery{wholeDB: db}, nil
	}
	if d, ok := v.DocumentOK(); ok {
		if all, err := d.LookupErr("forAllDBs"); err == nil {
			if b, _ := asBool(all); b {
				return usersInfoQuery{allDBs: true}, nil
			}
		}
	}
	if arr, ok := v.ArrayOK(); ok {
		vals, _ := arr.Values()
		var q usersInfoQuery
		for _, e := range vals {
			u, err := parseUserNameValue(e, db)
			if err != nil {
				return q, err
			}
			q.names = append(q.names, u)
		}
		return q, nil
	}
	u, err := parseUserNameValue(v, db)
	if err != nil {
		return usersInfoQuery{}, err
	}
	return usersInfoQuery{names: []userName{u}}, nil
}

func (cc *cmdCtx) usersInfo() (bson.D, error) {
	db := cc.dbName()
	q, cerr := parseUsersInfoQuery(firstValue(cc.body), db)
	if cerr != nil {
		return nil, cerr
	}
	showCreds := false
	if v, err := cc.body.LookupErr("showCredentials"); err == nil {
		showCreds, _ = asBool(v)
	}
	out := bson.A{}
	for _, u := range cc.c.usersLocked(cc.n) {
		match := q.allDBs || (q.wholeDB != "" && u.DB == q.wholeDB) ||
			slices.Contains(q.names, userName{u.User, u.DB})
		if !match {
			continue
		}
		d := bson.D{
			{Key: "_id", Value: u.ID},
			{Key: "userId", Value: u.UserID},
			{Key: "user", Value: u.User},
			{Key: "db", Value: u.DB},
		}
		if u.CustomData != nil {
			d = append(d, bson.E{Key: "customData", Value: u.CustomData})
		}
		d = append(d, bson.E{Key: "roles", Value: rolesArray(u.Roles)})
		if showCreds {
			full := u.doc()
			for _, e := range full {
				if e.Key == "credentials" {
					d = append(d, e)
				}
			}
		}
		mechs := bson.A{}
		for _, m := range u.mechanisms() {
			mechs = append(mechs, m)
		}
		out = append(out, append(d, bson.E{Key: "mechanisms", Value: mechs}))
	}
	return bson.D{{Key: "users", Value: out}}, nil
}
