package mongotest

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/replset-agent/replset-agent/mongotest/mongodproc"
)

// mongodCluster adapts mongodproc to the Cluster contract, keeping data in the test's temporary
// directory.
type mongodCluster struct{ *mongodproc.Cluster }

var _ Cluster = mongodCluster{}

func newMongod(t testing.TB, bin string, opts Options) Cluster {
	c := mongodproc.New(bin, opts.SetName, t.TempDir())
	if opts.Auth {
		// mongod refuses a keyFile that others may read.
		key := filepath.Join(t.TempDir(), "keyfile")
		if err := os.WriteFile(key, []byte(rand.Text()+rand.Text()), 0o400); err != nil {
			t.Fatalf("mongotest: write keyFile: %v", err)
		}
		c.UseKeyFile(key)
	}
	if opts.TestCommands {
		c.EnableTestCommands()
	}
	return mongodCluster{c}
}

// Partition reports ErrUnsupported, the contract's sentinel.
func (m mongodCluster) Partition(...[]string) error { return ErrUnsupported }

// Heal reports ErrUnsupported, the contract's sentinel.
func (m mongodCluster) Heal() error { return ErrUnsupported }
