package mongors

import "time"

// Status is the reconciler's state for the status command and /status: what it saw, what it
// decided and what last went wrong. It holds no credential.
type Status struct {
	// Self is this agent's canonical member address.
	Self string `json:"self"`
	// SetName is the set this agent manages.
	SetName string `json:"setName"`
	// Desired is the latest desired membership; nil before the first SetDesired.
	Desired *Desired `json:"desired,omitempty"`
	// Observed is the latest pass's view of the set; nil before the first pass.
	Observed *Observed `json:"observed,omitempty"`
	// LastDecision is the latest pass's plan; nil before the first pass.
	LastDecision *Decision `json:"lastDecision,omitempty"`
	// LastAction is the latest action sent, with its per-stage timings (Committed stamped once a
	// later pass sees its config committed); nil before the first.
	LastAction *Decision `json:"lastAction,omitempty"`
	// LastError is the latest failed action; nil if none failed since the last success.
	LastError *ErrorStatus `json:"lastError,omitempty"`
	// ForeignSet lists the mongods of the service found in another replica set, each with what a
	// human must do; the alarm is raised while it is not empty.
	ForeignSet []ForeignNode `json:"foreignSet,omitempty"`
	// NoPrimaryAlarm is true while the set has had no primary beyond Settings.NoPrimaryAlarm.
	NoPrimaryAlarm bool `json:"noPrimaryAlarm"`
	// Passes counts planning passes since start; LightPasses those that read only the local
	// node's hello.
	Passes      int64 `json:"passes"`
	LightPasses int64 `json:"lightPasses,omitempty"`
}

// Decision is one pass's plan: the Action chosen At the pass's clock time.
type Decision struct {
	Action Action    `json:"action"`
	At     time.Time `json:"at"`
	// Executed is true when the action was sent to mongod (successfully or not).
	Executed bool `json:"executed"`
	// Timing holds the stages of an executed action; nil for the others.
	Timing *Timing `json:"timing,omitempty"`
}

// ErrorStatus is a failed action: its redacted Message, server Code (0 when none) and time At.
type ErrorStatus struct {
	Message string    `json:"message"`
	Code    int32     `json:"code,omitempty"`
	At      time.Time `json:"at"`
	// Retrying is true when the loop will try again after a backoff; false when the server refused
	// the proposal and it will not be resent unchanged.
	Retrying bool `json:"retrying"`
}
