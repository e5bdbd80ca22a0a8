package scram_test

import (
	"testing"

	xdg "github.com/xdg-go/scram"

	"github.com/replset-agent/replset-agent/mongosim/scram"
)

// BenchmarkNewCredential is what createUser costs the server per mechanism, at mongod's default
// iteration counts: go test -run '^$' -bench . ./mongosim/scram/
func BenchmarkNewCredential(b *testing.B) {
	for _, m := range scram.Mechanisms() {
		b.Run(m.Name(), func(b *testing.B) {
			for b.Loop() {
				if _, err := m.NewCredential("user", "pencil", nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkConversation is the server's side of one login (the client's key derivation is cached,
// as the Go driver caches it).
func BenchmarkConversation(b *testing.B) {
	cred, err := scram.SHA256.NewCredential("user", "pencil", nil)
	if err != nil {
		b.Fatal(err)
	}
	client, _ := xdg.SHA256.NewClientUnprepped("user", "pencil", "")
	lookup := func(string) (scram.Credential, bool) { return cred, true }
	for b.Loop() {
		conv, _ := scram.NewConversation(scram.ServerConfig{Mechanism: scram.SHA256, Lookup: lookup, SkipEmptyExchange: true})
		cc := client.NewConversation()
		m1, _ := cc.Step("")
		s1, _, _ := conv.Step([]byte(m1))
		m2, _ := cc.Step(string(s1))
		if _, done, err := conv.Step([]byte(m2)); err != nil || !done {
			b.Fatal(err)
		}
	}
}
