package mongors

import (
	"context"
	"time"
)

// Client runs the few commands the reconciler needs against any node, addressed by "host:port".
// DriverClient implements it with the MongoDB Go driver; package fake implements it in memory.
// No method has a way to force a reconfig (rule 7).
type Client interface {
	// Local is the address of the mongod beside this agent.
	Local() string
	// Hello returns the node's hello reply.
	Hello(ctx context.Context, addr string) (Hello, error)
	// GetConfig returns the node's config and, when commitment is true (primary only), whether it
	// is majority-committed.
	GetConfig(ctx context.Context, addr string, commitment bool) (cfg Config, committed bool, err error)
	// GetStatus returns the node's replSetGetStatus.
	GetStatus(ctx context.Context, addr string) (ReplStatus, error)
	// Initiate runs replSetInitiate with cfg on the node.
	Initiate(ctx context.Context, addr string, cfg Config) error
	// Reconfig runs a non-force replSetReconfig with cfg on the node.
	Reconfig(ctx context.Context, addr string, cfg Config) error
	// StepDown asks the primary to step down and stay ineligible for period.
	StepDown(ctx context.Context, addr string, period time.Duration) error
}
