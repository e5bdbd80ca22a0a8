package mongors_test

import (
	"context"
	"testing"

	"github.com/replset-agent/replset-agent/mongors"
	"github.com/replset-agent/replset-agent/mongors/fake"
)

// TestObserve_joiningNodeAsksFewNodes: an agent whose node has no config asks the members listed
// first for a primary and, when one leads to the set's config, no other node: 47 agents joining
// a set at once would otherwise open a connection to each of 49 nodes each. When the first ones
// lead nowhere every candidate is asked, and before any set exists every candidate is asked
// (initiation needs each proven empty).
func TestObserve_joiningNodeAsksFewNodes(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		n         int
		setOf     []int // indexes of the set's members, the first the primary; none: no set
		local     int
		wantAsked int // candidates asked
		wantSet   bool
	}{
		{name: "the set is among the first listed", n: 50, setOf: []int{0, 1, 2}, local: 20, wantAsked: 3, wantSet: true},
		{name: "the first listed are new, the set is further down", n: 10, setOf: []int{5, 6, 7}, local: 9, wantAsked: 9, wantSet: true},
		{name: "no set yet: every candidate", n: 6, local: 0, wantAsked: 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addrs := fakeAddrs(tc.n)
			set := fake.New("letschat", addrs...)
			if len(tc.setOf) > 0 {
				cfg := mongors.Config{Name: "letschat", Version: 1, Term: 1}
				for i, m := range tc.setOf {
					cfg.Members = append(cfg.Members, mongors.ConfigMember{ID: i, Host: addrs[m], Votes: 1, Priority: 1})
				}
				set.SetConfig(cfg, addrs[tc.setOf[0]])
			}
			cc := &countingClient{Client: set.Client(addrs[tc.local]), n: map[string]int{}}
			o := mongors.Observe(ctx, cc, desiredOf(addrs[tc.local], addrs...))
			if got := len(o.Candidates); got != tc.wantAsked {
				t.Errorf("%d candidates asked, want %d", got, tc.wantAsked)
			}
			if hellos := cc.get("hello"); hellos != tc.wantAsked+1 {
				t.Errorf("%d hellos sent, want %d (the local node and the candidates asked)", hellos, tc.wantAsked+1)
			}
			if (o.Config != nil) != tc.wantSet {
				t.Fatalf("config %v, want one: %t", o.Config, tc.wantSet)
			}
			if tc.wantSet && (o.Primary != addrs[tc.setOf[0]] || o.Source != o.Primary) {
				t.Errorf("config read from %q (primary %q), want the primary %s", o.Source, o.Primary, addrs[tc.setOf[0]])
			}
			if !tc.wantSet {
				for _, c := range o.Candidates {
					if !c.ProvenEmpty() {
						t.Errorf("candidate %+v not proven empty", c)
					}
				}
			}
		})
	}
}
