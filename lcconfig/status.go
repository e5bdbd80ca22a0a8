package lcconfig

import "time"

// State is the supervisor's phase, as shown in Status.
type State string

// The supervisor's phases.
const (
	StateWaiting    State = "waiting"    // no usable members yet; Let's Chat not started
	StateRunning    State = "running"    // the child is running
	StateRestarting State = "restarting" // stopping the child's group to restart it
	StateBackoff    State = "backoff"    // the child exited on its own; waiting to start it again
	StateStopping   State = "stopping"   // shutting down
	StateStopped    State = "stopped"    // Run has returned
)

// Status is a snapshot of the supervisor for /status and the demo. It holds no secret: URIs are
// redacted.
type Status struct {
	// State is the supervisor's phase.
	State State `json:"state"`
	// Policy is the restart policy in force.
	Policy RestartPolicy `json:"policy"`
	// Delivery is "env" or "settings".
	Delivery string `json:"delivery"`
	// URI is the current URI (redacted); empty until members are known.
	URI string `json:"uri,omitempty"`
	// Hosts are the current URI's hosts, sorted.
	Hosts []string `json:"hosts,omitempty"`
	// Rank is this instance's rank from the last update; it sets the restart slot. RankUnknown
	// (-1) while the instance is not listed.
	Rank int `json:"rank"`
	// Ready is true while the running child passes its readiness probe (or runs, without one).
	Ready bool `json:"ready"`
	// Mode is all-active or active-standby.
	Mode InstancesMode `json:"mode"`
	// Serving is true while this instance takes traffic: it is Ready and, in active–standby, the
	// instance chosen to serve. This is what /readyz reports to the load balancer.
	Serving bool `json:"serving"`
	// Role is, in active–standby, "active" (chosen to serve), "standby", or "handing-over" while
	// a handover or the restart after it runs; empty in all-active.
	Role string `json:"role,omitempty"`
	// Handover describes the handover this instance is in, if any (its phase and successor).
	Handover string `json:"handover,omitempty"`
	// ChildURI is the URI the running child was started with (redacted); empty when none or
	// when it was started without members.
	ChildURI string `json:"child_uri,omitempty"`
	// PID is the running child's process id; 0 when none.
	PID int `json:"pid,omitempty"`
	// PendingRestart is the reason of a planned policy restart; empty when none is planned.
	PendingRestart RestartReason `json:"pending_restart,omitempty"`
	// RestartDue is when the planned restart's slot comes; nil when none, or while the rank is
	// unknown.
	RestartDue *time.Time `json:"restart_due,omitempty"`
	// GateHeld is true while this instance holds the restart gate for a restart in progress.
	GateHeld bool `json:"gate_held"`
	// Dropped says which members of the last update were left out of the URI, and why.
	Dropped []string `json:"dropped,omitempty"`
	// Restarts counts restarts by reason since the supervisor started.
	Restarts map[RestartReason]int `json:"restarts"`
	// LastExitCode is the last child's exit status (128+signal when killed); nil before any exit.
	LastExitCode *int `json:"last_exit_code,omitempty"`
	// LastError is the last error the supervisor logged, if any.
	LastError string `json:"last_error,omitempty"`
}

// EventKind names what an Event reports.
type EventKind string

// The events a supervisor reports through SupervisorConfig.OnEvent.
const (
	EventURIChanged   EventKind = "uri-changed"   // a new set of hosts was adopted
	EventStarted      EventKind = "started"       // a child was started
	EventRestart      EventKind = "restart"       // a child was started to replace another (Reason says why)
	EventExited       EventKind = "exited"        // a child's group is gone (ExitCode), on its own or when stopped
	EventReady        EventKind = "ready"         // the running child passed its readiness probe
	EventStopping     EventKind = "stopping"      // the child is being stopped for a policy restart (Reason)
	EventRestartDone  EventKind = "restart-done"  // the replacement is ready (Downtime: from the stop)
	EventGateDeferred EventKind = "gate-deferred" // a policy restart waits: the gate was not available
	EventServing      EventKind = "serving"       // this instance started (Serving) or stopped taking traffic
	EventHandover     EventKind = "handover"      // a handover's successor claimed it (Peer: the other instance)
	EventHandoverOff  EventKind = "handover-off"  // a handover was called off (Detail says why)
)

// Event is one thing the supervisor did, for metrics and for the demo's output.
type Event struct {
	// Kind says what happened.
	Kind EventKind `json:"kind"`
	// Time is when the supervisor reported it.
	Time time.Time `json:"time"`
	// URI is the redacted URI involved, if any.
	URI string `json:"uri,omitempty"`
	// PID is the child's process id, if any.
	PID int `json:"pid,omitempty"`
	// Reason is set on EventRestart.
	Reason RestartReason `json:"reason,omitempty"`
	// ExitCode is set on EventExited.
	ExitCode int `json:"exit_code,omitempty"`
	// Downtime is set on EventRestartDone: from the stop signal to the replacement being ready.
	Downtime time.Duration `json:"downtime,omitempty"`
	// Serving is set on EventServing: whether this instance now takes traffic.
	Serving bool `json:"serving,omitempty"`
	// Peer is the other instance of a handover: the successor (on the instance that hands over)
	// or the instance taken over from (on the successor, where Took is set).
	Peer string `json:"peer,omitempty"`
	Took bool   `json:"took,omitempty"`
	// Detail says why, on EventServing and EventHandoverOff.
	Detail string `json:"detail,omitempty"`
}
