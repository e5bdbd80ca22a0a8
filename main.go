// Command replset-agent keeps a MongoDB replica set and the Let's Chat instances that use it in step
// with Rancher v1's metadata service. All behaviour lives in package agent; main only hands over the
// process arguments and standard streams and exits with the code it gets back.
package main

import (
	"os"

	"github.com/replset-agent/replset-agent/agent"
)

func main() {
	os.Exit(agent.Main(os.Args[1:], os.Stdout, os.Stderr))
}
