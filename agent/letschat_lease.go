package agent

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/replset-agent/replset-agent/lcconfig"
	"github.com/replset-agent/replset-agent/metadata"
	"github.com/replset-agent/replset-agent/restartlease"
)

// leaseGate is the letschat role's restart gate: the lease in the replica set (package
// restartlease), once metadata has named this agent's container (the lease's holder name) and the
// set's members (where to connect). Until then it is unavailable, so no policy restart happens
// before the agent can coordinate with the other instances.
type leaseGate struct {
	cfg *letschatConfig
	log logrus.FieldLogger

	mu     sync.Mutex
	lease  *restartlease.Lease
	client *mongo.Client
	seeds  []string       // the client's seed list: the members metadata named when it was made
	old    sync.WaitGroup // disconnections of replaced clients
}

var _ lcconfig.HandoverGate = (*leaseGate)(nil)

// ensure connects the lease on the first snapshot that names this container and some members,
// and moves it to a client seeded with the current members once none of its seeds is a member any
// more (see needsReseed).
func (g *leaseGate) ensure(hosts []string, own place) {
	if own.Container == nil || len(hosts) == 0 {
		return
	}
	seeds := slices.Sorted(slices.Values(hosts))
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.lease != nil && !needsReseed(g.seeds, seeds) {
		return
	}
	o := options.Client().SetHosts(seeds).SetReplicaSet(g.cfg.ReplSet).
		SetServerSelectionTimeout(5 * time.Second).SetAppName("replset-agent letschat")
	switch {
	case g.cfg.AppPassword != "":
		// The application's user: readWrite on the chat database, where the lease lives.
		o.SetAuth(options.Credential{Username: g.cfg.AppUsername, Password: g.cfg.AppPassword, AuthSource: g.cfg.AuthSource})
	case g.cfg.Username != "":
		o.SetAuth(options.Credential{Username: g.cfg.Username, Password: g.cfg.Password, AuthSource: g.cfg.AuthSource})
	}
	client, err := mongo.Connect(o)
	if err != nil {
		g.log.WithError(err).Warn("restart lease: cannot set up a client for the replica set; policy restarts wait")
		return
	}
	coll := client.Database(g.cfg.Database).Collection(restartlease.DefaultCollection)
	if g.lease != nil {
		old := g.client
		g.lease.SetCollection(coll)
		g.client, g.seeds = client, seeds
		g.old.Go(func() { // whatever still runs on the old client fails and is retried on the new one
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = old.Disconnect(ctx)
		})
		return
	}
	name := own.Stack + "/" + g.cfg.LetschatService
	lease, err := restartlease.New(restartlease.Config{
		Collection: coll,
		Name:       name,
		Holder:     own.Container.UUID,
		TTL:        g.cfg.LeaseTTL,
		Logger:     g.log,
	})
	if err != nil { // the config is checked above; kept for safety
		_ = client.Disconnect(context.Background())
		g.log.WithError(err).Error("restart lease not set up")
		return
	}
	g.lease, g.client, g.seeds = lease, client, seeds
	g.log.WithFields(logrus.Fields{"lease": name, "holder": own.Container.Name, "database": g.cfg.Database, "collection": restartlease.DefaultCollection, "ttl": g.cfg.LeaseTTL.String()}).
		Info("restart lease in the replica set: policy restarts of this service go one at a time through it")
}

// needsReseed reports whether a client seeded with seeds must be replaced for the members now
// listed. While one seed is still a member, the driver follows the set from it by itself (it
// learns every member from the set's config at its heartbeats); once none is, a set whose members
// were all replaced between two heartbeats would leave it with no node to ask. A new client costs a
// connection and a login to every member, on every Let's Chat agent at once, just when a
// membership change keeps the set busy, so it is made only then.
func needsReseed(seeds, members []string) bool {
	for _, s := range seeds {
		if slices.Contains(members, s) {
			return false
		}
	}
	return true
}

func (g *leaseGate) get() (*restartlease.Lease, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.lease == nil {
		return nil, fmt.Errorf("%w: not connected to the replica set yet (waiting for metadata to name this container and the members)", lcconfig.ErrGateUnavailable)
	}
	return g.lease, nil
}

func (g *leaseGate) Acquire(ctx context.Context, hold time.Duration) (func(), error) {
	l, err := g.get()
	if err != nil {
		return nil, err
	}
	return l.Acquire(ctx, hold)
}

func (g *leaseGate) AcquireHandover(ctx context.Context, hold time.Duration) (func(), error) {
	l, err := g.get()
	if err != nil {
		return nil, err
	}
	return l.AcquireHandover(ctx, hold)
}

func (g *leaseGate) Successor(ctx context.Context) (string, bool, error) {
	l, err := g.get()
	if err != nil {
		return "", false, err
	}
	return l.Successor(ctx)
}

func (g *leaseGate) Offered(ctx context.Context) (string, string, string, error) {
	l, err := g.get()
	if err != nil {
		return "", "", "", err
	}
	return l.Offered(ctx)
}

func (g *leaseGate) Claim(ctx context.Context, from, ref string) error {
	l, err := g.get()
	if err != nil {
		return err
	}
	return l.Claim(ctx, from, ref)
}

// close gives a hold still held back and disconnects.
func (g *leaseGate) close() {
	g.mu.Lock()
	lease, client := g.lease, g.client
	g.lease, g.client = nil, nil
	g.mu.Unlock()
	defer g.old.Wait()
	if lease == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	lease.Close(ctx)
	_ = client.Disconnect(ctx)
}

// instancesView is the Let's Chat service as metadata shows it, for active–standby: every
// container with its create_index, state and health (the load balancer's verdict on /readyz).
func instancesView(s metadata.Snapshot, own place, service string) (lcconfig.Instances, error) {
	v := lcconfig.Instances{}
	if own.Container != nil {
		v.Self = own.Container.UUID
	}
	all, err := s.ServiceContainers(metadata.TopologyOptions{Stack: own.Stack, Service: service})
	if err != nil {
		return v, err
	}
	for _, c := range all {
		v.All = append(v.All, lcconfig.Instance{
			ID:      c.ContainerUUID,
			Order:   c.CreateIndex,
			Running: c.State == "running",
			Health:  instanceHealth(c.HealthState),
		})
	}
	return v, nil
}

// instanceHealth reads Rancher's health_state of a Let's Chat container: its health check is the
// agent's /readyz, so healthy means it serves. No state ("": no health check), initializing and
// reinitializing say nothing yet.
func instanceHealth(state string) lcconfig.Health {
	switch state {
	case "healthy", "updating-healthy":
		return lcconfig.Healthy
	case "unhealthy", "updating-unhealthy":
		return lcconfig.Unhealthy
	}
	return lcconfig.HealthUnknown
}
