package mongotest

import "github.com/replset-agent/replset-agent/mongosim"

// Emulator is the emulator-backed Cluster; it also implements Observer.
type Emulator struct {
	*mongosim.Cluster
}

var (
	_ Cluster  = (*Emulator)(nil)
	_ Observer = (*Emulator)(nil)
)

func newEmulator(opts Options) *Emulator {
	o := opts.Emulator
	o.SetName = opts.SetName
	o.ElectionTimeout = opts.ElectionTimeout
	o.HeartbeatInterval = opts.HeartbeatInterval
	o.Logger = opts.Logger
	o.Seed = opts.Seed
	o.Version = opts.Version
	o.Auth = mongosim.AuthOptions{Enabled: opts.Auth, LocalClient: opts.LocalClient}
	o.TestCommands = o.TestCommands || opts.TestCommands
	return &Emulator{Cluster: mongosim.New(o)}
}

// Kind returns "emulator".
func (e *Emulator) Kind() string { return KindEmulator }

// Sim returns the underlying emulator for tests that need its full control API.
func (e *Emulator) Sim() *mongosim.Cluster { return e.Cluster }

// Observer is what the emulator can tell a test beyond what a client sees. Real mongod clusters
// do not implement it; tests type-assert and skip safety checks when it is absent.
type Observer interface {
	// Primary returns the current primary, if any.
	Primary() (string, bool)
	// Events returns the log of elections, step-downs, config installs, rollbacks and faults.
	Events() []mongosim.Event
	// ConfigChanges returns every config ever installed on any node.
	ConfigChanges() []mongosim.ConfigChange
	// ForceReconfigApplied reports whether any force reconfig was ever installed.
	ForceReconfigApplied() bool
	// LostWrites returns majority-acknowledged writes that were later rolled back.
	LostWrites() []mongosim.Entry
	// SafetyViolations lists every broken safety property; empty means safe.
	SafetyViolations() []string
	// Status returns one node's state, term and config.
	Status(addr string) (mongosim.NodeStatus, error)
	// Seed returns the seed of the emulator's random draws, to replay a run (MONGOSIM_SEED).
	Seed() uint64
}
