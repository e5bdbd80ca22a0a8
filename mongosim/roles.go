package mongosim

import "strings"

// action is one of mongod's ActionTypes, limited to those the emulated commands check.
type action string

const (
	actFind               action = "find"
	actInsert             action = "insert"
	actUpdate             action = "update"
	actRemove             action = "remove"
	actCreateCollection   action = "createCollection"
	actDropCollection     action = "dropCollection"
	actCreateIndex        action = "createIndex"
	actDropIndex          action = "dropIndex"
	actListCollections    action = "listCollections"
	actListIndexes        action = "listIndexes"
	actKillCursors        action = "killCursors"
	actCollStats          action = "collStats"
	actDBStats            action = "dbStats"
	actDropDatabase       action = "dropDatabase"
	actCreateUser         action = "createUser"
	actDropUser           action = "dropUser"
	actGrantRole          action = "grantRole"
	actRevokeRole         action = "revokeRole"
	actViewUser           action = "viewUser"
	actChangePassword     action = "changePassword"
	actChangeCustomData   action = "changeCustomData"
	actReplSetGetStatus   action = "replSetGetStatus"
	actReplSetGetConfig   action = "replSetGetConfig"
	actReplSetConfigure   action = "replSetConfigure"
	actReplSetStateChange action = "replSetStateChange"
	actServerStatus       action = "serverStatus"
	actListDatabases      action = "listDatabases"
	actAddShard           action = "addShard"
	actDirectShardOps     action = "issueDirectShardOperations"
	actShutdown           action = "shutdown"
)

// resourceKind is a ResourcePattern's match type.
type resourceKind int

const (
	resCluster     resourceKind = iota // the cluster resource
	resDatabase                        // every normal collection of one database, and the database
	resNamespace                       // one collection
	resAnyNormal                       // every normal collection of every database
	resAnyResource                     // everything, system collections and the cluster included
)

// resource is what a privilege applies to, or what a command touches.
type resource struct {
	kind resourceKind
	db   string
	coll string
}

func clusterRes() resource                { return resource{kind: resCluster} }
func dbRes(db string) resource            { return resource{kind: resDatabase, db: db} }
func nsRes(db, coll string) resource      { return resource{kind: resNamespace, db: db, coll: coll} }
func (r resource) systemCollection() bool { return strings.HasPrefix(r.coll, "system.") }

// covers reports whether a privilege on r applies to target, following mongod's resource-pattern
// search: a database or "any normal" pattern never covers system collections.
func (r resource) covers(target resource) bool {
	switch r.kind {
	case resAnyResource:
		return true
	case resCluster:
		return target.kind == resCluster
	case resAnyNormal:
		return target.kind == resDatabase || target.kind == resAnyNormal ||
			(target.kind == resNamespace && !target.systemCollection())
	case resDatabase:
		switch target.kind {
		case resDatabase:
			return target.db == r.db
		case resNamespace:
			return target.db == r.db && !target.systemCollection()
		}
	case resNamespace:
		return target.kind == resNamespace && target.db == r.db && target.coll == r.coll
	}
	return false
}

// privilege grants actions on a resource.
type privilege struct {
	res     resource
	actions []action
}

func (p privilege) allows(target resource, a action) bool {
	if !p.res.covers(target) {
		return false
	}
	for _, x := range p.actions {
		if x == a {
			return true
		}
	}
	return false
}

// The built-in roles' action sets, as mongod's role graph defines them (only the actions the
// emulator checks).
var (
	readActions      = []action{actFind, actListCollections, actListIndexes, actKillCursors, actCollStats, actDBStats}
	readWriteActions = append(append([]action(nil), readActions...),
		actInsert, actUpdate, actRemove, actCreateCollection, actDropCollection, actCreateIndex, actDropIndex)
	dbAdminActions = []action{actCollStats, actDBStats, actListCollections, actListIndexes, actCreateCollection,
		actDropCollection, actCreateIndex, actDropIndex, actDropDatabase}
	userAdminActions     = []action{actCreateUser, actDropUser, actGrantRole, actRevokeRole, actViewUser, actChangePassword, actChangeCustomData}
	clusterMonitorAction = []action{actReplSetGetStatus, actReplSetGetConfig, actServerStatus, actListDatabases}
	clusterManagerAction = []action{actReplSetConfigure, actReplSetStateChange, actAddShard, actListDatabases}
	hostManagerActions   = []action{actShutdown}
	allActions           = []action{actFind, actInsert, actUpdate, actRemove, actCreateCollection, actDropCollection,
		actCreateIndex, actDropIndex, actListCollections, actListIndexes, actKillCursors, actCollStats, actDBStats,
		actDropDatabase, actCreateUser, actDropUser, actGrantRole, actRevokeRole, actViewUser, actChangePassword,
		actChangeCustomData, actReplSetGetStatus, actReplSetGetConfig, actReplSetConfigure, actReplSetStateChange,
		actServerStatus, actListDatabases, actAddShard, actDirectShardOps, actShutdown}
)

// adminOnlyRoles exist only in the admin database.
var adminOnlyRoles = map[string]bool{
	"root": true, "readAnyDatabase": true, "readWriteAnyDatabase": true, "userAdminAnyDatabase": true,
	"dbAdminAnyDatabase": true, "clusterAdmin": true, "clusterManager": true, "clusterMonitor": true,
	"hostManager": true, "backup": true, "restore": true,
}

// anyDBRoles exist in every database.
var anyDBRoles = map[string]bool{"read": true, "readWrite": true, "dbAdmin": true, "dbOwner": true, "userAdmin": true}

// roleExists reports whether role@db is a built-in role (user-defined roles are not emulated).
func roleExists(role, db string) bool {
	if anyDBRoles[role] {
		return db != "" && db != "$external"
	}
	return adminOnlyRoles[role] && db == "admin"
}

// rolePrivileges expands a built-in role into its privileges.
func rolePrivileges(role, db string) []privilege {
	anyNormal := resource{kind: resAnyNormal}
	switch role {
	case "read":
		return []privilege{{dbRes(db), readActions}}
	case "readWrite":
		return []privilege{{dbRes(db), readWriteActions}}
	case "dbAdmin":
		return []privilege{{dbRes(db), dbAdminActions}}
	case "userAdmin":
		return []privilege{{dbRes(db), userAdminActions}}
	case "dbOwner":
		return []privilege{{dbRes(db), readWriteActions}, {dbRes(db), dbAdminActions}, {dbRes(db), userAdminActions}}
	case "readAnyDatabase":
		return []privilege{{anyNormal, readActions}, {clusterRes(), []action{actListDatabases}}}
	case "readWriteAnyDatabase":
		return []privilege{{anyNormal, readWriteActions}, {clusterRes(), []action{actListDatabases}}}
	case "dbAdminAnyDatabase":
		return []privilege{{anyNormal, dbAdminActions}, {clusterRes(), []action{actListDatabases}}}
	case "userAdminAnyDatabase":
		return []privilege{{anyNormal, userAdminActions}, {clusterRes(), []action{actListDatabases}},
			{nsRes("admin", "system.users"), readActions}}
	case "clusterMonitor":
		return []privilege{{clusterRes(), clusterMonitorAction}}
	case "clusterManager":
		return []privilege{{clusterRes(), clusterManagerAction}}
	case "hostManager":
		return []privilege{{clusterRes(), hostManagerActions}}
	case "clusterAdmin":
		return []privilege{{clusterRes(), clusterMonitorAction}, {clusterRes(), clusterManagerAction},
			{clusterRes(), hostManagerActions}, {anyNormal, []action{actDropDatabase}}}
	case "backup":
		return []privilege{{anyNormal, readActions}, {clusterRes(), []action{actListDatabases, actServerStatus}}}
	case "restore":
		return []privilege{{anyNormal, readWriteActions}}
	case "root":
		return []privilege{{resource{kind: resAnyResource}, allActions}}
	}
	return nil
}

// localhostPrivileges are what the localhost exception grants before the first user exists
// (AuthorizationSessionImpl::_getDefaultPrivileges): create the first user in admin (or
// $external), and set up the replica set or shard. replSetGetConfig is not among them.
var localhostPrivileges = []privilege{
	{dbRes("admin"), []action{actCreateUser, actGrantRole}},
	{dbRes("$external"), []action{actCreateUser}},
	{clusterRes(), []action{actAddShard, actReplSetConfigure, actReplSetGetStatus, actDirectShardOps}},
}
