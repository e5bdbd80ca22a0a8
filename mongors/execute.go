package mongors

import (
	"context"
	"fmt"
	"time"
)

// Execute runs a on the local mongod; None and Wait do nothing. It never retries: the loop decides
// what a failure means (see Retryable and Rejected).
func Execute(ctx context.Context, c Client, a Action, stepDownPeriod time.Duration) error {
	switch a.Kind {
	case KindInitiate:
		if err := c.Initiate(ctx, c.Local(), *a.Config); err != nil {
			return fmt.Errorf("initiate: %w", err)
		}
	case KindReconfig:
		if err := c.Reconfig(ctx, c.Local(), *a.Config); err != nil {
			return fmt.Errorf("reconfig to version %d: %w", a.Config.Version, err)
		}
	case KindStepDown:
		if err := c.StepDown(ctx, c.Local(), stepDownPeriod); err != nil {
			return fmt.Errorf("step down: %w", err)
		}
	}
	return nil
}
