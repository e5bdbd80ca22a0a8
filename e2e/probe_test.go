package e2e

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// probe reads the replica set the way an operator would, through the driver with a direct
// connection to each node. It is independent of the agents' own observation code, and works the
// same against the emulator and real mongod. With access control it logs in as the admin, except
// for hello, which needs no login and is all a node without users answers.
type probe struct {
	cred    *options.Credential
	mu      sync.Mutex
	clients map[probeKey]*mongo.Client
}

type probeKey struct {
	addr string
	anon bool
}

func newProbe(cred *options.Credential) *probe {
	return &probe{cred: cred, clients: map[probeKey]*mongo.Client{}}
}

func (p *probe) client(addr string, anon bool) (*mongo.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := probeKey{addr, anon || p.cred == nil}
	if c, ok := p.clients[k]; ok {
		return c, nil
	}
	o := options.Client().SetHosts([]string{addr}).SetDirect(true).
		SetHeartbeatInterval(500 * time.Millisecond).SetServerSelectionTimeout(time.Second).
		SetConnectTimeout(time.Second)
	if !k.anon {
		o.SetAuth(*p.cred)
	}
	c, err := mongo.Connect(o)
	if err != nil {
		return nil, err
	}
	p.clients[k] = c
	return c, nil
}

// drop closes the client of addr, a node that is gone for good.
func (p *probe) drop(addr string) {
	p.mu.Lock()
	var gone []*mongo.Client
	for _, anon := range []bool{false, true} {
		k := probeKey{addr, anon}
		if c := p.clients[k]; c != nil {
			gone = append(gone, c)
		}
		delete(p.clients, k)
	}
	p.mu.Unlock()
	for _, c := range gone {
		_ = c.Disconnect(context.Background())
	}
}

func (p *probe) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.clients {
		_ = c.Disconnect(context.Background())
	}
	p.clients = map[probeKey]*mongo.Client{}
}

func (p *probe) run(ctx context.Context, addr string, cmd bson.D) (bson.Raw, error) {
	c, err := p.client(addr, cmd[0].Key == "hello")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return c.Database("admin").RunCommand(ctx, cmd).Raw()
}

// setView is the set as its primary reports it.
type setView struct {
	Primary   string
	Version   int
	Committed bool
	Members   map[string]memberView
	Primaries int // nodes claiming to be primary (more than one only briefly, around a partition)
}

type memberView struct {
	Votes    int
	Priority float64
	State    string // from replSetGetStatus; "" when the member is missing there
}

func (v setView) voters() int {
	n := 0
	for _, m := range v.Members {
		n += m.Votes
	}
	return n
}

func (v setView) hosts() []string {
	out := make([]string, 0, len(v.Members))
	for h := range v.Members {
		out = append(out, h)
	}
	sort.Strings(out)
	return out
}

func (v setView) String() string {
	if v.Primary == "" {
		return "no primary"
	}
	parts := []string{fmt.Sprintf("v%d committed=%t primary=%s", v.Version, v.Committed, v.Primary)}
	for _, h := range v.hosts() {
		m := v.Members[h]
		parts = append(parts, fmt.Sprintf("%s=%s/%dv", h, m.State, m.Votes))
	}
	return strings.Join(parts, " ")
}

// nodeHello is one node's hello as the probe reads it.
type nodeHello struct {
	Primary    bool
	SetVersion int
	SetName    string
}

func (p *probe) hello(ctx context.Context, addr string) (nodeHello, error) {
	raw, err := p.run(ctx, addr, bson.D{{Key: "hello", Value: 1}})
	if err != nil {
		return nodeHello{}, err
	}
	var h struct {
		IsWritablePrimary bool   `bson:"isWritablePrimary"`
		SetVersion        int    `bson:"setVersion"`
		SetName           string `bson:"setName"`
	}
	if err := bson.Unmarshal(raw, &h); err != nil {
		return nodeHello{}, err
	}
	return nodeHello{Primary: h.IsWritablePrimary, SetVersion: h.SetVersion, SetName: h.SetName}, nil
}

// view finds the primary among addrs and reads its config, commitment and member states. A
// zero view (no Primary) means no node claims to be primary, or more than one does.
func (p *probe) view(ctx context.Context, addrs []string) setView {
	type res struct {
		addr string
		h    nodeHello
		err  error
	}
	results := make([]res, len(addrs))
	var wg sync.WaitGroup
	for i, a := range addrs {
		wg.Go(func() {
			h, err := p.hello(ctx, a)
			results[i] = res{a, h, err}
		})
	}
	wg.Wait()
	var v setView
	for _, r := range results {
		if r.err == nil && r.h.Primary {
			v.Primaries++
			v.Primary = r.addr
		}
	}
	if v.Primaries != 1 {
		return setView{Primaries: v.Primaries}
	}
	raw, err := p.run(ctx, v.Primary, bson.D{{Key: "replSetGetConfig", Value: 1}, {Key: "commitmentStatus", Value: true}})
	if err != nil {
		return setView{}
	}
	var cfg struct {
		Config struct {
			Version int `bson:"version"`
			Members []struct {
				Host     string  `bson:"host"`
				Votes    int     `bson:"votes"`
				Priority float64 `bson:"priority"`
			} `bson:"members"`
		} `bson:"config"`
		CommitmentStatus bool `bson:"commitmentStatus"`
	}
	if err := bson.Unmarshal(raw, &cfg); err != nil {
		return setView{}
	}
	v.Version, v.Committed = cfg.Config.Version, cfg.CommitmentStatus
	v.Members = map[string]memberView{}
	for _, m := range cfg.Config.Members {
		v.Members[m.Host] = memberView{Votes: m.Votes, Priority: m.Priority}
	}
	raw, err = p.run(ctx, v.Primary, bson.D{{Key: "replSetGetStatus", Value: 1}})
	if err != nil {
		return setView{}
	}
	var st struct {
		Members []struct {
			Name     string `bson:"name"`
			StateStr string `bson:"stateStr"`
		} `bson:"members"`
	}
	if err := bson.Unmarshal(raw, &st); err != nil {
		return setView{}
	}
	for _, m := range st.Members {
		if mv, ok := v.Members[m.Name]; ok {
			mv.State = m.StateStr
			v.Members[m.Name] = mv
		}
	}
	return v
}

// wantVoters is the voter count of a settled set of n members: all of them up to 7, one fewer
// when that count would be even.
func wantVoters(n int) int {
	v := min(n, 7)
	if v%2 == 0 {
		v--
	}
	return v
}

// settledOn reports whether v is the settled set of exactly want: a primary, a committed config
// holding exactly want, every member PRIMARY or SECONDARY, and as many voters as the planner's
// rule allows.
func settledOn(v setView, want []string) (bool, string) {
	if v.Primary == "" {
		return false, "no primary"
	}
	if !v.Committed {
		return false, "config not committed: " + v.String()
	}
	w := slices.Sorted(slices.Values(want))
	if !slices.Equal(v.hosts(), w) {
		return false, fmt.Sprintf("members %v, want %v", v.hosts(), w)
	}
	for h, m := range v.Members {
		if m.State != "PRIMARY" && m.State != "SECONDARY" {
			return false, fmt.Sprintf("%s is %q: %s", h, m.State, v)
		}
	}
	if got, want := v.voters(), wantVoters(len(want)); got != want {
		return false, fmt.Sprintf("%d voters, want %d: %s", got, want, v)
	}
	return true, v.String()
}
