package metadatatest_test

import "github.com/replset-agent/replset-agent/metadata/metadatatest"

// demoTree is the reference example: three db hosts, a mongo service with one container per host
// and a letschat service on host1.
func demoTree() *metadatatest.Tree {
	tree := metadatatest.NewTree()
	hosts := tree.AddHosts(3)
	hosts[0].Label("role", "db")
	hosts[1].Label("role", "db")
	tree.AddService("demo", "mongo").On(hosts...)
	tree.AddService("demo", "letschat").On(hosts[0])
	return tree
}
