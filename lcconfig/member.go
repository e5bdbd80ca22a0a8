package lcconfig

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// DefaultPort is the port assumed for a member given without one.
const DefaultPort = 27017

// Health is the replica set's last word on a member, when the caller has one.
type Health int

const (
	// HealthUnknown means the caller does not know; it is the zero value.
	HealthUnknown Health = iota
	// Healthy means the set reports the member up (health 1, a PRIMARY or SECONDARY).
	Healthy
	// Unhealthy means the set reports the member down or unusable.
	Unhealthy
)

// String returns the lower-case name used in logs and status.
func (h Health) String() string {
	switch h {
	case Healthy:
		return "healthy"
	case Unhealthy:
		return "unhealthy"
	default:
		return "unknown"
	}
}

// Member is one replica-set member as the caller sees it.
type Member struct {
	// Addr is "host:port", or "host" for DefaultPort. The host is an IPv4 address or a DNS name;
	// IPv6 literals and URIs are rejected because Let's Chat's driver cannot parse them.
	Addr string
	// Health is the set's view of the member; HealthUnknown when not known.
	Health Health
}

// MembersOf turns plain "host:port" strings into Members of unknown health.
func MembersOf(addrs ...string) []Member {
	members := make([]Member, len(addrs))
	for i, a := range addrs {
		members[i] = Member{Addr: a}
	}
	return members
}

// ErrNoHosts is returned when a member list is empty: a URI without seeds cannot work, so callers
// keep the last good URI.
var ErrNoHosts = errors.New("no replica-set members")

// ErrInvalidHost is matched (errors.Is) by every *HostError.
var ErrInvalidHost = errors.New("invalid member address")

// HostError says why one member address was refused.
type HostError struct {
	// Addr is the address as given, or empty when echoing it could leak credentials.
	Addr string
	// Reason is a short explanation with the fix.
	Reason string
}

// Error returns the address (when safe) and the reason.
func (e *HostError) Error() string {
	if e.Addr == "" {
		return "invalid member address: " + e.Reason
	}
	return fmt.Sprintf("invalid member address %q: %s", e.Addr, e.Reason)
}

// Is reports whether target is ErrInvalidHost.
func (e *HostError) Is(target error) bool { return target == ErrInvalidHost }

// seed is one normalized member address.
type seed struct {
	host   string     // lower-case name or canonical IPv4
	ip     netip.Addr // valid when host is an IPv4 literal
	port   int
	health Health
}

func (s seed) addr() string { return s.host + ":" + strconv.Itoa(s.port) }

// normalizeMembers validates, deduplicates and orders members. The order is deterministic:
// healthy members first, then those of unknown health, then unhealthy ones; within a tier IPv4
// addresses in numeric order before names in lexical order, then by port. Every member is kept,
// whatever its health: health is a snapshot and the driver finds the rest of the set by itself, so
// leading with healthy members is a preference, and the set of hosts (which decides restarts) never
// changes with health alone.
func normalizeMembers(members []Member) ([]seed, error) {
	if len(members) == 0 {
		return nil, ErrNoHosts
	}
	seeds, dropped := usableSeeds(members)
	if len(dropped) > 0 {
		return nil, dropped[0]
	}
	return seeds, nil
}

// usableSeeds is normalizeMembers for a caller that delivers what it can: members Let's Chat's
// driver cannot use are left out and returned with the reason, the rest normalized and ordered.
func usableSeeds(members []Member) (seeds []seed, dropped []*HostError) {
	byAddr := make(map[string]seed, len(members))
	for _, m := range members {
		s, err := parseSeed(m.Addr)
		if err != nil {
			var he *HostError
			if !errors.As(err, &he) {
				he = &HostError{Reason: err.Error()}
			}
			dropped = append(dropped, he)
			continue
		}
		s.health = m.Health
		// A member listed twice keeps its better health claim.
		if prev, ok := byAddr[s.addr()]; ok && healthRank(prev.health) < healthRank(s.health) {
			s.health = prev.health
		}
		byAddr[s.addr()] = s
	}
	seeds = make([]seed, 0, len(byAddr))
	for _, s := range byAddr {
		seeds = append(seeds, s)
	}
	slices.SortFunc(seeds, compareSeeds)
	return seeds, dropped
}

// healthRank orders health for the seed list: lower comes first.
func healthRank(h Health) int {
	switch h {
	case Healthy:
		return 0
	case Unhealthy:
		return 2
	default:
		return 1
	}
}

func compareSeeds(a, b seed) int {
	if c := healthRank(a.health) - healthRank(b.health); c != 0 {
		return c
	}
	switch {
	case a.ip.IsValid() && !b.ip.IsValid():
		return -1
	case !a.ip.IsValid() && b.ip.IsValid():
		return 1
	case a.ip.IsValid():
		if c := a.ip.Compare(b.ip); c != 0 {
			return c
		}
	default:
		if c := strings.Compare(a.host, b.host); c != 0 {
			return c
		}
	}
	return a.port - b.port
}

// parseSeed accepts exactly what mongoose 4's URI parser accepts as a seed: an IPv4 address or a
// DNS name, with an optional decimal port.
func parseSeed(raw string) (seed, error) {
	addr := strings.TrimSpace(raw)
	switch {
	case addr == "":
		return seed{}, &HostError{Reason: "empty address; give host:port"}
	case strings.Contains(addr, "@"):
		// Never echo it: whatever precedes the @ is probably a password.
		return seed{}, &HostError{Reason: "an address must not carry credentials; set them in the URI options"}
	case strings.HasPrefix(strings.ToLower(addr), "mongodb+srv:"):
		return seed{}, &HostError{Addr: addr, Reason: "mongodb+srv is not supported by Let's Chat's mongoose 4; give host:port seeds"}
	case strings.Contains(addr, "://"):
		return seed{}, &HostError{Addr: addr, Reason: "give host:port, not a URI"}
	case strings.HasPrefix(addr, "[") || strings.Count(addr, ":") > 1:
		return seed{}, &HostError{Addr: addr, Reason: "IPv6 literals break Let's Chat's URI parser; use an IPv4 address or a host name"}
	}
	host, portText, hasPort := strings.Cut(addr, ":")
	port := DefaultPort
	if hasPort {
		p, err := strconv.Atoi(portText)
		if err != nil || p < 1 || p > 65535 || portText[0] == '+' {
			return seed{}, &HostError{Addr: addr, Reason: "port must be a number from 1 to 65535"}
		}
		port = p
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.Is4() {
		return seed{host: ip.String(), ip: ip, port: port}, nil
	}
	if looksNumeric(host) {
		return seed{}, &HostError{Addr: addr, Reason: "not a valid IPv4 address"}
	}
	if reason := checkHostName(host); reason != "" {
		return seed{}, &HostError{Addr: addr, Reason: reason}
	}
	return seed{host: strings.ToLower(host), port: port}, nil
}

// looksNumeric catches malformed dotted quads ("10.0.0.256", "010.1.1.1") before they are
// mistaken for host names.
func looksNumeric(host string) bool {
	return host != "" && strings.Trim(host, "0123456789.") == ""
}

func checkHostName(host string) string {
	if host == "" {
		return "empty host; give host:port"
	}
	if len(host) > 253 {
		return "host name longer than 253 characters"
	}
	for label := range strings.SplitSeq(host, ".") {
		if label == "" || len(label) > 63 {
			return "host name labels must be 1 to 63 characters"
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return "host name labels must not start or end with '-'"
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return "host names may only hold letters, digits, '-', '_' and '.'"
			}
		}
	}
	return ""
}
