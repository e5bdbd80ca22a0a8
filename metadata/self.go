package metadata

import (
	"fmt"
	"strings"
)

// SelfState says how far one snapshot tells who the caller is.
type SelfState string

// Self states, from knowing nothing to knowing the caller's container.
const (
	// SelfUnknown: the answer has no self entry at all.
	SelfUnknown SelfState = "unknown"
	// SelfHostOnly: self names a host but no container. The server answers so for callers it
	// does not know, with the host of the metadata server, which need not be the caller's: a
	// container not listed yet, or one that left metadata, gets it. Never act on it.
	SelfHostOnly SelfState = "host-only"
	// SelfOther: self names a container that is neither one of the service's nor its sidekick's.
	SelfOther SelfState = "other-container"
	// SelfLocated: the caller is a container of the service, or a sidekick sharing its network.
	SelfLocated SelfState = "located"
)

// Placement is where the caller runs, as far as one snapshot tells.
type Placement struct {
	State SelfState
	// Container is the service's container the caller is, or whose network its sidekick shares;
	// nil unless State is SelfLocated. It is a copy.
	Container *Container
	// Host is the host of Container when located (nil if the tree lacks it); otherwise self/host
	// as served, which must not be taken for the caller's own.
	Host *Host
	// Sidekick is the service name of the sidekick container metadata named the caller by, ""
	// when it named the service's container itself.
	Sidekick string
	// Reason says in words why the caller is not located; empty when it is.
	Reason string
}

// Locate finds the caller's container in the service named service (in stack, or in any stack
// when stack is empty; names compared ignoring case). The caller is located when self/container
// is a container of that service, or of a sidekick of it: a container of the same stack whose
// service_uuid is the service's (Rancher gives a sidekick's entries the primary's UUID) or whose
// service_name is among the service's sidekicks. A sidekick is placed on the service's container
// of its host that shares its primary_ip (network_mode: container:<service>), else the oldest
// one of its host.
//
// On rancher-metadata v0.10.x a container and its network-sharing sidekick have one primary_ip,
// and which of the two self/container names can change with every reload: Locate gives the same
// Placement.Container for both.
func (s Snapshot) Locate(service, stack string) Placement {
	self := s.Self.Container
	want := service
	if stack != "" {
		want = stack + "/" + service
	}
	if self == nil {
		if s.Self.Host == nil {
			return Placement{State: SelfUnknown, Reason: "metadata has no self entry for this caller"}
		}
		h := *s.Self.Host
		return Placement{State: SelfHostOnly, Host: &h, Reason: fmt.Sprintf(
			"metadata lists no container for this caller, only host %s (what it answers for callers it does not know: the metadata server's host)",
			hostLabel(&h))}
	}
	var candidates []*Service
	for i := range s.Services {
		svc := &s.Services[i]
		if strings.EqualFold(svc.Name, service) && (stack == "" || strings.EqualFold(svc.StackName, stack)) {
			candidates = append(candidates, svc)
		}
	}
	for _, svc := range candidates {
		for i := range svc.Containers {
			if c := &svc.Containers[i]; c.UUID == self.UUID {
				return s.placed(c, "")
			}
		}
	}
	for _, svc := range candidates {
		if !sidekickOf(self, svc) {
			continue
		}
		var main *Container
		for i := range svc.Containers {
			c := &svc.Containers[i]
			if c.HostUUID != self.HostUUID || c.HostUUID == "" {
				continue
			}
			sameNet := self.PrimaryIP != "" && c.PrimaryIP == self.PrimaryIP
			mainNet := main != nil && self.PrimaryIP != "" && main.PrimaryIP == self.PrimaryIP
			if main == nil || (sameNet && !mainNet) || (sameNet == mainNet && c.CreateIndex < main.CreateIndex) {
				main = c
			}
		}
		if main != nil {
			return s.placed(main, self.ServiceName)
		}
		return Placement{State: SelfOther, Reason: fmt.Sprintf(
			"metadata names sidekick container %s of %s/%s, but lists no %s container on its host %q",
			self.Name, svc.StackName, svc.Name, svc.Name, self.HostUUID)}
	}
	return Placement{State: SelfOther, Reason: fmt.Sprintf(
		"metadata names container %s of service %s/%s for this caller, which is not a container of %s or of its sidekicks",
		self.Name, self.StackName, self.ServiceName, want)}
}

func (s Snapshot) placed(c *Container, sidekick string) Placement {
	cc := *c
	p := Placement{State: SelfLocated, Container: &cc, Sidekick: sidekick, Host: s.host(c.HostUUID)}
	if p.Host == nil && s.Self.Host != nil && s.Self.Host.UUID == c.HostUUID {
		h := *s.Self.Host
		p.Host = &h
	}
	return p
}

// sidekickOf reports whether c is a container of a sidekick of svc.
func sidekickOf(c *Container, svc *Service) bool {
	if !strings.EqualFold(c.StackName, svc.StackName) || strings.EqualFold(c.ServiceName, svc.Name) {
		return false
	}
	if svc.UUID != "" && c.ServiceUUID == svc.UUID {
		return true
	}
	for _, sk := range svc.Sidekicks {
		if strings.EqualFold(sk, c.ServiceName) {
			return true
		}
	}
	return false
}

func hostLabel(h *Host) string {
	if h.Name != "" {
		return h.Name
	}
	return h.UUID
}
