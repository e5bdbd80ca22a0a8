package mongotest

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/replset-agent/replset-agent/mongosim"
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
	// Seed seeds the emulator's random draws (heartbeat and step order, election jitter). Zero
	// takes MONGOSIM_SEED from the environment, else a random seed; the seed in use is logged
	// so that a failing run can be replayed with MONGOSIM_SEED. Ignored with real mongod.
	Seed uint64
	// Emulator holds further emulator settings (initial sync time, oplog window, rollback and
	// drain time, heartbeat round trip and timeout). Its SetName, ElectionTimeout, HeartbeatInterval,
	// Logger and Seed are replaced by the fields above. Ignored with real mongod, which takes
	// its timing from the config the test initiates.
	Emulator mongosim.Options
	// Version is the MongoDB series the emulator presents (mongosim.Options.Version); empty means
	// the emulator's default. Real mongod is whatever MONGOD_BIN is.
	Version mongosim.ServerVersion
	// Auth turns access control on: the emulator's Auth.Enabled, or --keyFile (which implies
	// --auth) for real mongod, with a key written into the test's temporary directory.
	Auth bool
	// LocalClient is the emulator's localhost-exception rule (mongosim.AuthOptions.LocalClient;
	// nil: mongod's). Real mongod on loopback addresses counts every client as local.
	LocalClient func(node string, remote net.Addr) bool
	// TestCommands enables mongod's test commands (--setParameter enableTestCommands=1; the
	// emulator's Options.TestCommands): configureFailPoint with failCommand.
	TestCommands bool
}

// SeedEnv names the environment variable that replays an emulator run.
const SeedEnv = "MONGOSIM_SEED"

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
		if opts.Seed == 0 {
			if v := os.Getenv(SeedEnv); v != "" {
				seed, err := strconv.ParseUint(v, 10, 64)
				if err != nil {
					t.Fatalf("mongotest: %s=%q is not an unsigned integer", SeedEnv, v)
				}
				opts.Seed = seed
			}
		}
		e := newEmulator(opts)
		t.Logf("mongotest: using the mongosim emulator (set %s, election timeout %s, seed %d; replay with %s=%d)",
			opts.SetName, opts.ElectionTimeout, e.Seed(), SeedEnv, e.Seed())
		c = e
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
