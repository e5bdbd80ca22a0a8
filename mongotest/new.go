package mongotest

import (
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

// Kinds reported by Cluster.Kind.
const (
	KindEmulator = "emulator"
	KindMongod   = "mongod"
)

// Options configure New.
type Options struct {
	// SetName is the --replSet name; empty means "rs0".
	SetName string
	// ElectionTimeout is the emulator's election timeout; zero means 300 ms. Real mongod takes
	// its timeout from the config the test initiates (settings.electionTimeoutMillis).
	ElectionTimeout time.Duration
	// HeartbeatInterval is the emulator's simulation step; zero means ElectionTimeout/8.
	HeartbeatInterval time.Duration
	// Logger receives the emulator's decision log; nil discards it.
	Logger logrus.FieldLogger
	// ForceEmulator ignores MONGOD_BIN and PATH.
	ForceEmulator bool
	// Auth turns access control on: the emulator's Auth.Enabled, or --keyFile (which implies
	// --auth) for real mongod, with a key written into the test's temporary directory.
	Auth bool
	// LocalClient is the emulator's localhost-exception rule (mongosim.AuthOptions.LocalClient;
	// nil: mongod's). Real mongod on loopback addresses counts every client as local.
	LocalClient func(node string, remote net.Addr) bool
}

// New returns a cluster with no nodes started, closed automatically when the test ends: real
// mongod when MONGOD_BIN is set or mongod is on PATH, the emulator otherwise. It logs which.
func New(t testing.TB, opts Options) Cluster {
	t.Helper()
	if opts.SetName == "" {
		opts.SetName = "rs0"
	}
	if opts.ElectionTimeout <= 0 {
		opts.ElectionTimeout = 300 * time.Millisecond
	}
	var c Cluster
	if bin := mongodBinary(); bin != "" && !opts.ForceEmulator {
		t.Logf("mongotest: using real mongod %s (set %s)", bin, opts.SetName)
		c = newMongod(t, bin, opts)
	} else {
		t.Logf("mongotest: using the mongosim emulator (set %s, election timeout %s)", opts.SetName, opts.ElectionTimeout)
		c = newEmulator(opts)
	}
	t.Cleanup(c.Close)
	return c
}

func mongodBinary() string {
	if bin := os.Getenv("MONGOD_BIN"); bin != "" {
		return bin
	}
	if p, err := exec.LookPath("mongod"); err == nil {
		return p
	}
	return ""
}
