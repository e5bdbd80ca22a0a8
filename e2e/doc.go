// Package e2e proves the replset-agent binary end to end: the compiled binary runs as separate
// processes — one `mongo` agent per simulated host and `letschat` agents supervising a stand-in
// child — against the fake Rancher metadata service (package metadatatest) and a replica set of
// mongosim nodes, or real mongod when MONGOD_BIN is set (package mongotest).
//
// Every scenario of the chaos suite checks what the product promises, across process boundaries:
// the set is initiated once with an explicit config and only with enough hosts, it grows and
// shrinks with the mongo service (at most 7 voters), a lost host is removed only after the grace,
// a lost primary is never answered with a forced reconfig, a partitioned minority changes nothing,
// metadata outages, restarts, bursts and garbage cause no action, a SIGTERM mid-change leaves the
// set safe and the next run converges, and Let's Chat's URI follows membership under each restart
// policy with staggered restarts. After every scenario it checks that no unsafe config was ever
// installed, that no forced reconfig happened, and that no majority-acknowledged write of a client
// writing through the driver during the scenario was lost.
//
// The package also holds the convergence benchmark (event-driven against 5 s polling, metadata
// request counts, agent CPU and memory, a 50-member set). It does not run with the tests:
//
//	go test -run '^$' -bench . -benchtime 1x -timeout 30m ./e2e/
//
// The results table is printed and written to e2e/testdata/bench-results.md.
package e2e
