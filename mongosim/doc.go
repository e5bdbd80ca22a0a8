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
//	OP_QUERY isMaster handshake -> OP_REPLY          yes; OP_QUERY for any other command -> 59
//	OP_MSG kind 0 + kind 1 sections, checksum flag   yes (checksum verified); moreToCome -> no reply
//	OP_COMPRESSED, exhaust replies                   no (connection closed / flag ignored)
//	hello/isMaster/ismaster: primary, secondary,     yes, field order and BSON types per mongod;
//	  ghost (no config)                                helloOk echoed
//	hello on a REMOVED node                          the no-config reply (no setName, no lists):
//	                                                   mongod builds it without a valid config
//	                                                   (replication_coordinator_impl.cpp)
//	topologyVersion / streaming hello                no: omitted, so drivers poll at their
//	                                                   heartbeat interval (driver default 10 s)
//	ping, endSessions, buildInfo (8.0.4, wire 0-25)  yes
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
//	insert (w:0/1/n/majority, wtimeout -> 64,        yes; default write concern is the implicit
//	  maxTimeMS -> 50, duplicate _id -> 11000)         default; stepdown while waiting -> 11602
//	find / count with top-level equality filters     yes; operators -> 2; sort/skip/projection
//	                                                   ignored; one batch, cursor id 0
//	secondary reads need a non-primary read pref     yes (13435); ghost/other states 13436
//	rollback of entries the new primary lacks        yes, recorded per node and as lost writes
//	replication progress of a down member            not kept: write majorities and step-down
//	                                                   count reachable members only (mongod keeps
//	                                                   the last position a member reported), so
//	                                                   the emulator is stricter there
//	retryable-write deduplication (txnNumber)        no; RetryableWriteError label on 10107
//	auth, TLS, compression, sessions, transactions   no (fields ignored)
//	any other command                                59 CommandNotFound
//
// Error messages follow mongod's wording where known; codes and codeNames are exact.
package mongosim
