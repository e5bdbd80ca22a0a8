package mongors

import (
	"fmt"
	"time"
)

// ActionKind names what an Action asks the executor to do.
type ActionKind string

// The action kinds. There is deliberately no forced reconfig among them (rule 7).
const (
	KindNone     ActionKind = "none"
	KindWait     ActionKind = "wait"
	KindInitiate ActionKind = "initiate"
	KindReconfig ActionKind = "reconfig"
	KindStepDown ActionKind = "stepdown"
)

// Step names the planner step that produced an Action, for logs and metrics.
type Step string

// The planner steps, in the order they are tried on a configured set.
const (
	StepInitiate Step = "initiate"
	StepFix      Step = "fix-member"
	StepDemote   Step = "demote"
	StepRemove   Step = "remove"
	StepAdd      Step = "add"
	StepPromote  Step = "promote"
	StepStepDown Step = "step-down"
)

// Action is the planner's one next step.
type Action struct {
	// Kind is what to do.
	Kind ActionKind `json:"kind"`
	// Step is which planner step chose it; empty for None and Wait.
	Step Step `json:"step,omitempty"`
	// Member is the host the change is about; empty when it is about no single member.
	Member string `json:"member,omitempty"`
	// Reason says why, with the numbers behind the decision.
	Reason string `json:"reason"`
	// Alarm marks a Wait that needs a human (no primary for too long).
	Alarm bool `json:"alarm,omitempty"`
	// Converged is true on a None from the primary's agent whose config matches Desired.
	Converged bool `json:"converged,omitempty"`
	// Config is the complete config to initiate or reconfigure with; nil for other kinds.
	Config *Config `json:"config,omitempty"`
	// RecheckIn, when positive, is when something time-based falls due (a settle or grace period
	// ends): the loop plans again then rather than at its next re-check.
	RecheckIn time.Duration `json:"recheckIn,omitempty"`
	// Poll says the set is expected to change by itself soon (a config being committed, a member
	// syncing): the loop polls with a short, doubling delay instead of waiting for its re-check.
	Poll bool `json:"poll,omitempty"`
}

// Acts reports whether the action changes the set.
func (a Action) Acts() bool {
	return a.Kind == KindInitiate || a.Kind == KindReconfig || a.Kind == KindStepDown
}

// String renders the action on one line.
func (a Action) String() string {
	s := string(a.Kind)
	if a.Step != "" {
		s += "/" + string(a.Step)
	}
	if a.Member != "" {
		s += " " + a.Member
	}
	if a.Config != nil {
		s += fmt.Sprintf(" (config version %d)", a.Config.Version)
	}
	return s + ": " + a.Reason
}

func wait(format string, args ...any) Action {
	return Action{Kind: KindWait, Reason: fmt.Sprintf(format, args...)}
}

func none(format string, args ...any) Action {
	return Action{Kind: KindNone, Reason: fmt.Sprintf(format, args...)}
}
