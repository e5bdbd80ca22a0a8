package lcconfig

import (
	"errors"
	"fmt"
	"slices"
)

// RestartPolicy says which membership changes restart a running Let's Chat. Each restart drops its
// users' live connections, and a running driver follows the replica set by itself, so the default
// restarts only when the running child's seeds are all gone.
type RestartPolicy string

const (
	// RestartSeedsLost restarts only when no host of the running child's URI is still a member,
	// so its next reconnect could not work. The default.
	RestartSeedsLost RestartPolicy = "seeds-lost"
	// RestartAlways restarts on every change of the set of hosts; a reordering is not a change.
	RestartAlways RestartPolicy = "always"
	// RestartNever keeps the child running; a new URI only serves its next start.
	RestartNever RestartPolicy = "never"
)

// ErrInvalidPolicy is returned by ParseRestartPolicy for an unknown name.
var ErrInvalidPolicy = errors.New("invalid restart policy")

// ParseRestartPolicy returns the policy named s; empty means RestartSeedsLost.
func ParseRestartPolicy(s string) (RestartPolicy, error) {
	switch p := RestartPolicy(s); p {
	case "":
		return RestartSeedsLost, nil
	case RestartSeedsLost, RestartAlways, RestartNever:
		return p, nil
	default:
		return "", fmt.Errorf("%w %q: want seeds-lost, always or never", ErrInvalidPolicy, s)
	}
}

// RestartReason says why the supervisor restarted Let's Chat; it labels the restart metric.
type RestartReason string

const (
	// ReasonSeedsLost means no host of the child's URI was still a member.
	ReasonSeedsLost RestartReason = "seeds-lost"
	// ReasonChanged means the set of hosts changed under RestartAlways.
	ReasonChanged RestartReason = "changed"
	// ReasonCrashed means the child exited on its own.
	ReasonCrashed RestartReason = "crashed"
)

// restartNeeded decides whether a child started with running (sorted addresses; nil when started
// without members) must restart now that the members are desired (sorted addresses), and why.
func restartNeeded(policy RestartPolicy, running, desired []string) (RestartReason, bool) {
	switch policy {
	case RestartNever:
		return "", false
	case RestartAlways:
		if slices.Equal(running, desired) {
			return "", false
		}
		return ReasonChanged, true
	default:
		for _, h := range running {
			if _, found := slices.BinarySearch(desired, h); found {
				return "", false
			}
		}
		return ReasonSeedsLost, true
	}
}

// hostSet returns the sorted addresses of seeds: the identity of a URI for restart decisions,
// blind to order and health.
func hostSet(seeds []seed) []string {
	addrs := make([]string, len(seeds))
	for i, s := range seeds {
		addrs[i] = s.addr()
	}
	slices.Sort(addrs)
	return addrs
}
