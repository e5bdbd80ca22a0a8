// Package mongotest hands tests a replica-set cluster of mongod nodes on distinct loopback
// addresses: the in-process emulator (package mongosim) by default, or real mongod processes when
// MONGOD_BIN is set (or mongod is on PATH), so that every suite runs unchanged against MongoDB.
//
// It owns node lifecycle and fault injection for tests. It does not decide anything about
// membership: that is mongors' job.
package mongotest

import "errors"

// ErrUnsupported is returned by a Cluster operation that the backing implementation cannot do
// (for example network partitions with real mongod processes). Tests skip on it.
var ErrUnsupported = errors.New("mongotest: not supported by this cluster kind")

// Cluster is a set of mongod nodes started with the same --replSet name. Nodes are named by their
// "host:port" address; a node that was never started does not exist.
type Cluster interface {
	// Kind is "emulator" or "mongod".
	Kind() string
	// SetName is the --replSet name every node was started with.
	SetName() string
	// StartNode starts the node at addr, or restarts it with the data it kept.
	StartNode(addr string) error
	// StopNode shuts the node down cleanly; its data is kept.
	StopNode(addr string) error
	// CrashNode kills the node without any shutdown step; its data is kept.
	CrashNode(addr string) error
	// WipeNode stops the node if it runs and deletes its data: it restarts empty and uninitiated.
	WipeNode(addr string) error
	// Partition cuts the network so that only nodes in the same group reach each other.
	Partition(groups ...[]string) error
	// Heal restores full connectivity.
	Heal() error
	// Close stops every node and frees every resource; safe to call twice.
	Close()
}
