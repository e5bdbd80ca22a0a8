package metadata

import (
	"math/rand/v2"
	"time"
)

// backoffDelay is the wait before retry number failures (1 for the first): base doubled per
// failure, capped, with "equal jitter" (a random point in the upper half) so that agents on many
// hosts do not retry in lock-step after a shared outage, yet never retry at once.
func backoffDelay(base, limit time.Duration, failures int) time.Duration {
	d := limit
	if failures < 1 {
		failures = 1
	}
	if shift := failures - 1; shift < 32 && base<<shift > 0 && base<<shift < limit {
		d = base << shift
	}
	half := d / 2
	return half + rand.N(d-half+1)
}
