package lcconfig

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"
)

// InstancesMode says which instances of the service take traffic.
type InstancesMode string

const (
	// AllActive: every ready instance serves (the load balancer spreads users over them); policy
	// restarts go one instance at a time through the gate.
	AllActive InstancesMode = "all-active"
	// ActiveStandby: one instance serves and the others run warm. Let's Chat shares messages only
	// within one process (upstream #563), so with one serving instance every user sees every
	// message live. The serving instance hands over to a standby before a policy restart.
	ActiveStandby InstancesMode = "active-standby"
)

// ErrInvalidMode is returned by ParseInstancesMode for an unknown name.
var ErrInvalidMode = errors.New("invalid instances mode")

// ParseInstancesMode returns the mode named s; empty means AllActive.
func ParseInstancesMode(s string) (InstancesMode, error) {
	switch m := InstancesMode(s); m {
	case "":
		return AllActive, nil
	case AllActive, ActiveStandby:
		return m, nil
	default:
		return "", fmt.Errorf("%w %q: want active-standby or all-active", ErrInvalidMode, s)
	}
}

// Instance is one instance (container) of the Let's Chat service as the caller sees it.
type Instance struct {
	// ID names the instance; the same on every instance's view and in the restart gate.
	ID string
	// Order ranks instances by age, lower first (Rancher's create_index); it breaks ties between
	// instances that serve at once.
	Order int
	// Running is false for an instance that is listed but not running.
	Running bool
	// Health is the load balancer's verdict on the instance's readiness check: Healthy when it
	// passes (the instance serves), Unhealthy when it fails, HealthUnknown before a verdict or
	// without a check.
	Health Health
}

// Instances is the service as this instance sees it, for active–standby.
type Instances struct {
	// Self is this instance's ID; empty (or missing from All) while it is not listed.
	Self string
	// All are the service's instances, in any order.
	All []Instance
}

// find returns the instance with id.
func (v Instances) find(id string) (Instance, bool) {
	for _, in := range v.All {
		if in.ID == id {
			return in, true
		}
	}
	return Instance{}, false
}

// others returns the running instances other than this one, oldest first.
func (v Instances) others() []Instance {
	var out []Instance
	for _, in := range v.All {
		if in.ID != v.Self && in.Running {
			out = append(out, in)
		}
	}
	slices.SortFunc(out, compareInstances)
	return out
}

func compareInstances(a, b Instance) int {
	if c := cmp.Compare(a.Order, b.Order); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

// choice is what an active–standby instance decided about serving, and what it remembers for
// the next decision. The decision leaves the child's own readiness out: an instance serves when
// it is chosen and its child is ready.
type choice struct {
	chosen bool
	// suspects are instances that served when this one took their place in a handover: metadata
	// may still show them healthy after they stopped, so their health is not believed until
	// this instance has seen them otherwise, or until the time noted (by then a handover that
	// went ahead has shown them failing; one still shown serving was called off, and serves).
	suspects map[string]time.Time
	// why says why, for the log.
	why string
}

// choose is the active–standby rule, the same on every instance, from the caller's view alone:
//
//   - An instance that is not listed does not serve: it cannot know who does.
//   - An instance that does not serve starts serving when no other running instance is healthy
//     (no one passes the load balancer's check: at start, or after the serving instance failed
//     or left). Several may start at once; the next rule leaves one.
//   - An instance that serves keeps serving until another running instance that is healthy (and
//     not a suspect) is older: health is the load balancer's own verdict, so stepping down for
//     an instance that has it never leaves no one serving.
//
// Views that disagree or lag only make more instances serve for a while, never fewer: an
// instance steps down only for one the load balancer has seen serving.
//
// presumed, when not empty, is the successor of a handover in progress between two other
// instances, as the restart gate says: an instance that does not serve leaves it the place as if
// it were healthy already (metadata shows the instance that drains failing before it shows the
// successor passing).
func choose(v Instances, prev choice, now time.Time, presumed string) choice {
	self, listed := v.find(v.Self)
	if v.Self == "" || !listed {
		return choice{why: "this instance is not listed"}
	}
	others := v.others()
	if !prev.chosen {
		for _, o := range others {
			if o.Health == Healthy {
				return choice{why: "instance " + o.ID + " serves"}
			}
			if o.ID == presumed {
				return choice{why: "instance " + o.ID + " takes over in a handover"}
			}
		}
		return choice{chosen: true, why: "no other instance serves"}
	}
	suspects := map[string]time.Time{}
	for id, until := range prev.suspects {
		if o, ok := v.find(id); ok && o.Running && o.Health == Healthy && now.Before(until) {
			suspects[id] = until // still shown serving: keep doubting it
		}
	}
	for _, o := range others {
		if _, doubted := suspects[o.ID]; o.Health == Healthy && !doubted && compareInstances(o, self) < 0 {
			return choice{why: "the older instance " + o.ID + " serves"}
		}
	}
	if len(suspects) == 0 {
		suspects = nil
	}
	return choice{chosen: true, suspects: suspects, why: "this instance serves"}
}

// claimChoice is the choice of an instance that takes over from a serving one in a handover: it
// serves, and doubts every instance metadata shows serving right now (the one it replaces among
// them) until it has seen it otherwise, or until until.
func claimChoice(v Instances, until time.Time) choice {
	suspects := map[string]time.Time{}
	for _, o := range v.others() {
		if o.Health == Healthy {
			suspects[o.ID] = until
		}
	}
	return choice{chosen: true, suspects: suspects, why: "it took over in a handover"}
}
