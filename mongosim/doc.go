// Package mongosim is an in-process MongoDB replica-set emulator speaking the real wire
// protocol, so that code proven through go.mongodb.org/mongo-driver/v2 against it is right
// against real mongod. It presents one server series (Options.Version: 4.4, 5.0, 6.0, 7.0 or 8.0,
// default 8.0; "4.2" presents only its handshake), with that series' wire version, build info, field names and legacy-opcode
// rules. It owns the simulated nodes (one TCP listener each, at any "host:port"), their configs,
// oplogs, elections and replication, and a control and observation API for tests and the demo
// (its readings follow the commands': Cluster.Commitment is replSetGetConfig's commitmentStatus,
// computed the same way, without a connection).
// The documents themselves are package docstore's job: each node's store is derived from its
// oplog. It must not depend on package testing, and it does not decide membership.
//
// # Design
//
// One Cluster owns every node under one mutex. A ticker goroutine advances the simulation every
// HeartbeatInterval in logical steps: heartbeats (terms and configs spread between reachable
// members), primary liveness, replication (initial sync, copy, rollback), commitment, the end of
// a new primary's drain, elections, and the primary's newlyAdded follow-up. Within each phase
// the nodes act in an order drawn from the seeded generator (Options.Seed, logged), never in
// start order. Per-connection goroutines answer commands against that state; commands that must
// wait (write concern, reconfig phases, stepdown catch-up) release the mutex and wake on every
// change. Reachability between nodes is a partition matrix; client connections are never cut by
// a partition, only node-to-node heartbeats.
//
// # Latency model
//
// Commands answer at once. A heartbeat exchange outside the steps takes HeartbeatRoundTrip
// (default 1 ms): a quorum check (initiate, reconfig) waits one, then asks the cluster whether
// each proposed member runs, is reachable through the matrix, and what config and data it holds;
// every config install (initiate, reconfig, step-up, newlyAdded, learned by heartbeat) and every
// node start makes that node heartbeat its members one round trip later, as mongod restarts its
// heartbeats. So a reconfig reaches the members one round trip after it is installed and is
// committed after two, without waiting for a step. A member that stopped refuses at once; one
// that runs behind a partition stays silent: a quorum check that needs it waits for the
// heartbeat timeout (Options.HeartbeatTimeout, by default the election timeout; both are 10 s in
// mongod), and the others keep reporting what it last said until then. Everything else moves
// only at steps: oplog copying and the commit point, liveness, elections and takeovers, the end
// of initial sync, rollback and drain.
// A concurrent initiate or reconfig gets 109 while a quorum check runs, as in mongod.
//
// # Conformance
//
//	Behaviour                                       Emulated
//	OP_QUERY on db.$cmd -> OP_REPLY                  yes: every command up to 5.0 (secondaryOk
//	                                                   flag and $query wrapping honoured); from
//	                                                   5.1 only hello/isMaster/buildinfo/sasl*/
//	                                                   authenticate/_isSelf, others -> 352
//	                                                   UnsupportedOpQueryCommand, mongod's text
//	OP_QUERY on a collection (legacy find)           5.1+: QueryFailure + $err 5739101 as mongod;
//	                                                   up to 5.0 not emulated (-> 59)
//	OP_INSERT/OP_UPDATE/OP_DELETE/OP_GET_MORE        no (connection closed)
//	OP_MSG kind 0 + kind 1 sections, checksum flag   yes (checksum verified); moreToCome -> no reply
//	OP_COMPRESSED, exhaust replies                   no (connection closed / flag ignored)
//	hello/isMaster/ismaster: primary, secondary,     yes, field order and BSON types per mongod;
//	  ghost (no config)                                helloOk echoed
//	hello on a REMOVED node                          the no-config reply (no setName, no lists):
//	                                                   mongod builds it without a valid config
//	                                                   (replication_coordinator_impl.cpp)
//	topologyVersion / streaming hello                no: omitted, so drivers poll at their
//	                                                   heartbeat interval (driver default 10 s)
//	ping, endSessions, buildInfo                     yes; version 4.4.29 / 5.0.31 / 6.0.20 /
//	                                                   7.0.16 / 8.0.4, maxWireVersion 9 / 13 /
//	                                                   17 / 21 / 25, minWireVersion 0; "4.2"
//	                                                   answers 4.2.25 / wire 8 so that clients
//	                                                   refuse it, and is 4.4 otherwise
//	member delay field                               slaveDelay on 4.4, secondaryDelaySecs from
//	                                                   5.0 (config, hello, reconfig input, errors)
//	replSetGetStatus (members, health, optimes)      yes; pingMs always 0; the null optime is
//	                                                   {ts: Timestamp(0, 0), t: -1}; a stopped
//	                                                   member is down at once, a partitioned one
//	                                                   shows its last heartbeat until the
//	                                                   heartbeat timeout (member data)
//	replSetGetStatus REMOVED -> 93 / uninitiated 94  yes; 93 carries state, stateStr, uptime,
//	                                                   optime (topology_coordinator.cpp); on an
//	                                                   uninitiated node every repl command but
//	                                                   initiate answers 94, replSetStepDown too
//	replSetGetConfig, commitmentStatus, 10107        yes; $_internalIncludeNewlyAdded -> 72; a
//	                                                   REMOVED node returns its config
//	config commitment (commitmentStatus, reconfig    recomputed on every call from the config
//	  phase 1, newlyAdded follow-up)                   each voter last reported in a heartbeat
//	                                                   (kept while it is down, as mongod's member
//	                                                   data) and the oplog condition: the commit
//	                                                   point reached the previous config's last
//	                                                   committed optime and the first entry of
//	                                                   the primary's term; never latched
//	replSetInitiate: default config (info2), 23,     yes; every validation failure 93;
//	  quorum 74 / 103 / 110                            quorum failures unwrapped; a REMOVED
//	                                                   member passes the quorum check (it answers
//	                                                   InvalidReplicaSetConfig, no data flag) and
//	                                                   never joins the new set
//	replSetReconfig: 94, 109, 10107, 308 (both       yes, in mongod's order; phase-2 timeout 50
//	  messages), 93 parse, 103 validate, 74, 104,      leaves the config installed; without
//	  quorum 74, force (version jump, term -1)         maxTimeMS the phases wait indefinitely
//	reconfig quorum check                            every member of the new config is asked: a
//	                                                   member of another set (name, replicaSetId)
//	                                                   or with a config as new vetoes (103), also
//	                                                   as a non-voter; a REMOVED member answers
//	one voting change per non-force reconfig         yes (newlyAdded members not counted)
//	newlyAdded + primary's version+1 follow-up       yes, once the member is SECONDARY and the
//	                                                   current config is committed
//	50 members / 7 voters / priority-votes-hidden-   yes
//	  delay-buildIndexes-arbiter rules, localhost
//	  mixing (whole 127/8 counts as localhost)
//	implicit default write concern guard, PSA guard  yes (setDefaultRWConcern is not emulated)
//	replSetStepDown: 2, 10107, 117, 262, handoff     yes (isSafeToStepDown): writes refused and
//	                                                   isWritablePrimary:false while it waits up
//	                                                   to secondaryCatchUpPeriodSecs for a write
//	                                                   majority holding its last entry and a
//	                                                   caught-up electable secondary; else 262
//	                                                   (force: steps down after the period);
//	                                                   frozen for the period; handoff to the
//	                                                   highest-priority caught-up secondary
//	elections: timeout + 15% jitter, dry run,        yes; catch-up takeover and the catch-up
//	  voting majority, freshest oplog, term,           phase of a new primary are not emulated
//	  electionId
//	drain mode of a new primary                      yes (signalDrainComplete): PRIMARY, but
//	                                                   isWritablePrimary:false, secondary:true,
//	                                                   writes/commitmentStatus/reconfig 10107 for
//	                                                   DrainTime; then the config term moves to
//	                                                   the new term and it writes its first entry
//	priority takeover                                after (rank+1) x electionTimeout + jitter,
//	                                                   rank = members of higher priority; fires
//	                                                   only within 2 s of the newest known entry
//	primary steps down without a voting majority     yes, after one election timeout
//	config propagation by heartbeat, REMOVED state   yes; see the latency model; a REMOVED node
//	                                                   never hands its config on
//	initial sync                                     STARTUP2 for InitialSyncBase + InitialSync-
//	                                                   PerEntry x source entries (reports the null
//	                                                   optime, not counted for majorities), then
//	                                                   RECOVERING, then SECONDARY; a lost source
//	                                                   restarts it; a restart with data passes
//	                                                   through RECOVERING
//	too stale (oplog window)                         a member whose last entry no reachable
//	                                                   source keeps (OplogWindow newest entries)
//	                                                   goes RECOVERING until one does
//	ROLLBACK state                                   for RollbackTime before the divergent
//	                                                   entries go, then RECOVERING
//	write concern on every write (w:0/1/n/majority,  yes; implicit default majority from 5.0
//	  wtimeout -> 64, maxTimeMS -> 50)                 (unless arbiters prevent it), w:1 on 4.4;
//	                                                   stepdown while waiting -> 11602
//	insert, update (operators, replacement, upsert,  yes, per docstore's table (matcher, update
//	  multi), delete, findAndModify/findandmodify,     operators, sort/skip/limit/projection,
//	  count, aggregate                                 stages); writeErrors with index, code,
//	                                                   keyPattern/keyValue for 11000; ordered
//	find, getMore, killCursors                       real cursors per node: first batch 101 or
//	                                                   batchSize, then getMore; <= 16 MiB a
//	                                                   batch; singleBatch and negative limit;
//	                                                   cursors die with the node (43); no idle
//	                                                   cursor timeout
//	createIndexes, listIndexes, listCollections,     yes; createIndexes waits for every voting
//	  create, drop, dropDatabase                       data-bearing member of the current config
//	                                                   (commitQuorum votingMembers, 4.4+;
//	                                                   maxTimeMS -> 50); listIndexes of a
//	                                                   missing collection -> 26; drop of one
//	                                                   -> 26 before 7.0, ok from 7.0; insert
//	                                                   into db.system.indexes -> 73
//	unique and sparse indexes                        enforced (E11000 with mongod's message);
//	                                                   text and TTL indexes stored, not used
//	$text, $where, $expr, pipeline updates,          no: refused with 2 BadValue "not emulated
//	  arrayFilters, positional $, collations           by mongosim"
//	replication of writes                            every write is an oplog entry (insert,
//	                                                   update as the whole new document, delete,
//	                                                   command); a node's data is its oplog
//	                                                   replayed, rebuilt after a rollback
//	secondary reads need a non-primary read pref     yes (13435); ghost/other states 13436
//	rollback of entries the new primary lacks        yes, recorded per node and as lost writes
//	Commands(): what every node answered             by name, opcode and error code
//	replication progress of a down member            not kept: write majorities and step-down
//	                                                   count reachable members only (mongod keeps
//	                                                   the last position a member reported), so
//	                                                   the emulator is stricter there
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
//	configureFailPoint (enableTestCommands=1:        failCommand only (others 266), admin only,
//	  Options.TestCommands)                            no login needed; mode off, alwaysOn,
//	                                                   {times}, {skip}; data failCommands,
//	                                                   errorCode ("Failing command via
//	                                                   'failCommand' failpoint"), closeConnection;
//	                                                   after authorization; reply count; cleared
//	                                                   by a restart; without the option 59
//	internal (keyFile) authentication of members     no: members trust each other
//	TLS, compression, sessions, transactions         no (fields ignored)
//	any other command                                59 CommandNotFound
//
// Error messages follow mongod's wording where known; codes and codeNames are exact.
package mongosim
