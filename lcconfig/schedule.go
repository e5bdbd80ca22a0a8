package lcconfig

import "time"

// restartSlot is when a policy restart needed since the change at since may begin: this
// instance's slot, rank × stagger after the change, but never sooner than minInterval after the
// child's last start. The slot is anchored to the change, so a rank that changes moves the restart
// to the new slot instead of adding to a delay already running, and the leftover of the minimum
// interval never adds to the stagger (it could push one rank into another's slot).
func restartSlot(since, lastStart time.Time, rank int, stagger, minInterval time.Duration) time.Time {
	due := since.Add(time.Duration(max(rank, 0)) * stagger)
	if earliest := lastStart.Add(minInterval); !lastStart.IsZero() && earliest.After(due) {
		due = earliest
	}
	return due
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
