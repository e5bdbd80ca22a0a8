// Package metadata turns the Rancher v1 metadata service into consistent snapshots and into the
// member lists of a stack's service. It knows nothing of MongoDB: members are host or container
// IPs with a port, nothing more.
//
// A Watcher long-polls <base>/version?wait=true&value=<v>&maxWait=<n> (or polls <base>/version at
// a fixed interval) and, for each change, reads the whole tree with one GET <base>/ sent with
// Accept: application/json. That single answer carries the data, its own version and the
// caller's self entry, so it is consistent by construction and no second read of the version is
// needed. A change therefore costs 2 requests: the long-poll that reports it and the tree read
// (polling mode: the version read plus the tree read). Bursts cost less: changes that land while
// a tree is read or while the consumer is busy fold into one further snapshot, and at most the
// consumer's snapshot and one more are held.
//
// The tree is decoded as it streams in (Decode), element by element, into typed structs, keeping
// only a Scope: the services an agent reads, their stacks, the hosts their containers run on, and
// self. Memory then follows the watched services, not the environment, and the answer is bounded
// (MaxBodyBytes for the tree, 4 KiB for a version). Lists are kept in identity order and self is
// located in the scope's service (Snapshot.Locate), so the same data served in another order, or
// with self naming a network-sharing sidekick instead of its main container (rancher-metadata
// v0.10.x does both on every reload), gives an equal snapshot.
//
// The Watcher never emits a snapshot built from a failed, partial, undecodable or over-large
// answer: it keeps the last good one, logs and counts the error, backs off exponentially with
// jitter, and retries; while it backs off it probes /version about once a second, so the end of
// an outage is seen promptly. It skips snapshots whose data equals the last one emitted, since
// v0.10.1+ servers change the version on every reload. Versions are opaque and compared only for
// equality.
//
// Snapshot.Topology maps one service's containers to members (one per host, address from the
// host's agent_ip by default), and says why every other container was skipped.
//
// This package must not import MongoDB code, must not act on what it reads, and must not use the
// go-rancher-metadata client, whose fixed 10 s HTTP timeout breaks long-polls of 10 s or more.
package metadata
