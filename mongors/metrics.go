package mongors

import "time"

// Metrics receives the reconciler's numbers; the agent implements it with Prometheus. Calls come
// from the Run goroutine only.
type Metrics interface {
	// ActionRun counts an executed action by kind and step, with whether it failed.
	ActionRun(kind ActionKind, step Step, failed bool)
	// MongoError counts a failed command by server code; 0 means no answer (network, timeout).
	MongoError(code int32)
	// MemberStates reports how many members the primary sees in each state (by stateStr).
	MemberStates(counts map[string]int)
	// Converged reports the time from a change of the desired members to a committed config that
	// matches them.
	Converged(d time.Duration)
	// NoPrimaryAlarm reports whether the no-primary alarm is raised.
	NoPrimaryAlarm(raised bool)
	// ForeignSet reports how many mongods of the service were found in another replica set (0:
	// the alarm is cleared).
	ForeignSet(nodes int)
}

// NopMetrics is a Metrics that drops everything.
type NopMetrics struct{}

var _ Metrics = NopMetrics{}

// ActionRun does nothing.
func (NopMetrics) ActionRun(ActionKind, Step, bool) {}

// MongoError does nothing.
func (NopMetrics) MongoError(int32) {}

// MemberStates does nothing.
func (NopMetrics) MemberStates(map[string]int) {}

// Converged does nothing.
func (NopMetrics) Converged(time.Duration) {}

// NoPrimaryAlarm does nothing.
func (NopMetrics) NoPrimaryAlarm(bool) {}

// ForeignSet does nothing.
func (NopMetrics) ForeignSet(int) {}
