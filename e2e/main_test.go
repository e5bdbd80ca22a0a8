package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// agentBin is the replset-agent binary under test, built once by TestMain.
var agentBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

// runMain builds the binary, runs the tests and removes the build directory; a function of its
// own so that the deferred removal runs before os.Exit.
func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "replset-agent-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	agentBin = filepath.Join(dir, "replset-agent")
	// The binary is built without -race even under `go test -race`: it is the product as shipped,
	// the benchmark measures it, and a race-instrumented build of every agent process would
	// multiply the suite's CPU cost on small machines. The agent's packages run their own tests
	// with -race.
	build := exec.Command("go", "build", "-o", agentBin, "github.com/replset-agent/replset-agent")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building the agent binary:", err)
		return 1
	}
	return m.Run()
}
