// Package mongosim is an in-process MongoDB 8.0 replica-set emulator speaking the real wire
// protocol, so that code proven through go.mongodb.org/mongo-driver/v2 against it is right
// against real mongod. It owns the simulated nodes (one TCP listener each, at any "host:port"),
// their configs, oplogs, elections and replication, and a control and observation API for tests
// and the demo. It must not depend on package testing, and it does not decide membership.
//
// # Design
//
// One Cluster owns every node under one mutex. A ticker goroutine advances the simulation every
// HeartbeatInterval in logical steps: heartbeats (terms and configs spread between reachable
// members), primary liveness, replication (copy and rollback), commitment, elections, and the
// primary's newlyAdded follow-up. Per-connection goroutines answer commands against that state;
// commands that must wait (write concern, reconfig phases, stepdown catch-up) release the mutex
// and wake on every step. Reachability between nodes is a partition matrix; client connections
// are never cut by a partition, only node-to-node heartbeats.
//
// Quorum checks (initiate, reconfig) are in-process: the command waits for one heartbeat round
// (one step), then asks the cluster whether each proposed member is a running node reachable
// through the matrix, and what config and data it holds. A concurrent initiate or reconfig gets
// 109 during that round, as it would during mongod's real quorum check.
//
// # Conformance
//
//	Behaviour                                       Emulated
//	OP_QUERY isMaster handshake -> OP_REPLY          yes; saslStart/saslContinue too (as mongod
//	                                                   up to 5.0, for Node driver 2.2); any other
//	                                                   command over OP_QUERY -> 59
//	OP_MSG kind 0 + kind 1 sections, checksum flag   yes (checksum verified); moreToCome -> no reply
//	OP_COMPRESSED, exhaust replies                   no (connection closed / flag ignored)
//	hello/isMaster/ismaster: primary, secondary,     yes, field order and BSON types per mongod;
//	  ghost (no config), REMOVED (keeps setName)       helloOk echoed
//	topologyVersion / streaming hello                no: omitted, so drivers poll at their
//	                                                   heartbeat interval (driver default 10 s)
//	ping, endSessions, buildInfo (8.0.4, wire 0-25)  yes
//	replSetGetStatus (members, health, optimes)      yes; pingMs always 0
//	replSetGetConfig, commitmentStatus, 10107        yes; $_internalIncludeNewlyAdded -> 72
//	replSetInitiate: default config (info2), 23,     yes; every validation failure 93;
//	  quorum 74 / 103 / 110                            quorum failures unwrapped
//	replSetReconfig: 94, 109, 10107, 308 (both       yes, in mongod's order; phase-2 timeout 50
//	  messages), 93 parse, 103 validate, 74, 104,      leaves the config installed; without
//	  quorum 74, force (version jump, term -1)         maxTimeMS the phases wait indefinitely
//	one voting change per non-force reconfig         yes (newlyAdded members not counted)
//	newlyAdded + primary's version+1 follow-up       yes, once the member is SECONDARY and the
//	                                                   current config is committed
//	50 members / 7 voters / priority-votes-hidden-   yes
//	  delay-buildIndexes-arbiter rules, localhost
//	  mixing (whole 127/8 counts as localhost)
//	implicit default write concern guard, PSA guard  yes (setDefaultRWConcern is not emulated)
//	replSetStepDown: 2, 10107, 262, handoff          yes; stepped-down node frozen for the period
//	elections: timeout + 15% jitter, dry run,        yes; catch-up takeover and the catch-up
//	  voting majority, freshest oplog, term,           phase of a new primary are not emulated
//	  electionId, priority takeover
//	primary steps down without a voting majority     yes, after one election timeout
//	config propagation by heartbeat, REMOVED state   yes
//	insert (w:0/1/n/majority, wtimeout -> 64,        yes; default write concern is the implicit
//	  maxTimeMS -> 50, duplicate _id -> 11000)         default; stepdown while waiting -> 11602
//	find / count with top-level equality filters     yes; operators -> 2; sort/skip/projection
//	                                                   ignored; one batch, cursor id 0
//	secondary reads need a non-primary read pref     yes (13435); ghost/other states 13436
//	rollback of entries the new primary lacks        yes, recorded per node and as lost writes
//	retryable-write deduplication (txnNumber)        no; RetryableWriteError label on 10107
//	access control off (Options.Auth zero value)     yes: nothing enforced; users and SCRAM
//	                                                   still work, as with mongod without --auth
//	access control on (Options.Auth.Enabled):        yes; the second message abbreviates the
//	  13 "command X requires authentication",          command to its first field and $db
//	  13 "not authorized on D to execute command {..}"
//	no authentication needed: hello, isMaster,       yes; endSessions needs any user
//	  ping, buildInfo, saslStart, saslContinue,
//	  connectionStatus
//	localhost exception before the first user:       yes (_getDefaultPrivileges): createUser and
//	  replSetInitiate/Reconfig, replSetGetStatus,      grantRole on admin only; replSetGetConfig,
//	  createUser of an admin user                      usersInfo and reads -> 13; closed from the
//	                                                   next command once any user exists, and
//	                                                   until restart even if all are dropped;
//	                                                   "local" = peer in 127/8 or ::1 (mongod's
//	                                                   rule) unless Auth.LocalClient decides
//	                                                   (SameHostClient: one host per address)
//	SCRAM-SHA-1 (MD5 "user:mongo:pw") and            yes (package scram): conversationId 1,
//	  SCRAM-SHA-256 (SASLprep), saslSupportedMechs,    skipEmptyExchange or the empty 3rd step,
//	  speculativeAuthenticate in hello                 BinData or base64-string payloads; every
//	                                                   failure 18 "Authentication failed."; 17
//	                                                   for out-of-order steps; a failed
//	                                                   speculative start is silently dropped
//	MONGODB-X509, PLAIN, authenticate, logout        no: 334 MechanismUnavailable / 59
//	createUser, updateUser, dropUser, usersInfo,     yes: 51003, 11, 31, 40414, 2, 14, 50687
//	  grantRolesToUser, revokeRolesFromUser,           (empty password), 10107 on a secondary;
//	  dropAllUsersFromDatabase                         write concern as for inserts
//	users in admin.system.users, replicated and      yes: oplog i/u/d entries; documents as
//	  rolled back through the oplog                    mongod stores them (userId UUID,
//	                                                   credentials with iterationCount
//	                                                   10000/15000, 16/28-byte salts)
//	built-in roles (read, readWrite, dbAdmin,        yes, for the actions the emulated commands
//	  dbOwner, userAdmin, *AnyDatabase, cluster*,      check; root holds every action; roles are
//	  hostManager, backup, restore, root)              re-read at every command; a dropped
//	                                                   user's connections lose their login;
//	                                                   user-defined roles no
//	internal (keyFile) authentication of members     no: members trust each other
//	TLS, compression, sessions, transactions         no (fields ignored)
//	any other command                                59 CommandNotFound
//
// Error messages follow mongod's wording where known; codes and codeNames are exact.
package mongosim
