package mongotest

import (
	"testing"

	"github.com/replset-agent/replset-agent/mongotest/mongodproc"
)

// mongodCluster adapts mongodproc to the Cluster contract, keeping data in the test's temporary
// directory.
type mongodCluster struct{ *mongodproc.Cluster }

var _ Cluster = mongodCluster{}

func newMongod(t testing.TB, bin string, opts Options) Cluster {
	return mongodCluster{mongodproc.New(bin, opts.SetName, t.TempDir())}
}

// Partition reports ErrUnsupported, the contract's sentinel.
func (m mongodCluster) Partition(...[]string) error { return ErrUnsupported }

// Heal reports ErrUnsupported, the contract's sentinel.
func (m mongodCluster) Heal() error { return ErrUnsupported }
