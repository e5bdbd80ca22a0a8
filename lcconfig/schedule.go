package lcconfig

import "time"

// restartDelay is how long to wait before a policy restart: the rest of the minimum interval since
// the last start, plus this instance's stagger slot (rank × stagger), so instances of the service
// restart one after another and the load balancer always has live backends.
func restartDelay(now, lastStart time.Time, rank int, stagger, minInterval time.Duration) time.Duration {
	var d time.Duration
	if !lastStart.IsZero() {
		d = max(lastStart.Add(minInterval).Sub(now), 0)
	}
	return d + time.Duration(max(rank, 0))*stagger
}

// backoffDelay is the wait before retry number attempt (0-based): initial doubled per attempt,
// capped at limit.
func backoffDelay(attempt int, initial, limit time.Duration) time.Duration {
	d := initial
	for range attempt {
		if d >= limit/2 {
			return limit
		}
		d *= 2
	}
	return min(d, limit)
}

// alarm is a stoppable one-shot timer whose channel is nil while disarmed, so it can sit in a
// select unconditionally.
type alarm struct {
	t *time.Timer
}

func (a *alarm) arm(d time.Duration) {
	a.stop()
	a.t = time.NewTimer(d)
}

func (a *alarm) stop() {
	if a.t != nil {
		a.t.Stop()
		a.t = nil
	}
}

func (a *alarm) armed() bool { return a.t != nil }

// fired returns the timer's channel, or nil when disarmed; after a receive call stop.
func (a *alarm) fired() <-chan time.Time {
	if a.t == nil {
		return nil
	}
	return a.t.C
}
