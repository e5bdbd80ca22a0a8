package agent

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/replset-agent/replset-agent/metadata"
	"github.com/replset-agent/replset-agent/mongors"
)

// Labels that set a member's role, on the mongo container or on its host (the container wins).
const (
	LabelPriority  = "replset-agent.priority"   // election priority, above 0 up to 1000 (default 1)
	LabelNonVoting = "replset-agent.non-voting" // "true" keeps the member at votes 0 for good
	LabelHidden    = "replset-agent.hidden"     // "true": hidden from clients, priority 0
	labelPrefix    = "replset-agent."           // every label above starts with it
	labelUnknown   = "unknown role label"       // reason word in warnings
	labelBad       = "role label has bad value" // reason word in warnings
)

// roleFromLabels reads a member's role. A label it cannot read is reported and ignored, so a typo
// never turns into a vote change.
func roleFromLabels(host, container map[string]string) (mongors.Role, []string) {
	var r mongors.Role
	var problems []string
	get := func(k string) (string, bool) {
		if v, ok := container[k]; ok {
			return v, true
		}
		v, ok := host[k]
		return v, ok
	}
	if v, ok := get(LabelPriority); ok {
		p, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		switch {
		case err != nil || p < 0 || p > 1000:
			problems = append(problems, fmt.Sprintf("%s: %s=%q (want above 0, up to 1000)", labelBad, LabelPriority, v))
		case p == 0:
			// A voting member at priority 0 is not something the planner can express: say so
			// rather than run it at the default 1.
			problems = append(problems, fmt.Sprintf("%s: %s=0; use %s=true or %s=true for a member that must never be primary", labelBad, LabelPriority, LabelNonVoting, LabelHidden))
		default:
			r.Priority = p
		}
	}
	if v, ok := get(LabelNonVoting); ok {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %s=%q (want true or false)", labelBad, LabelNonVoting, v))
		} else {
			r.NonVoting = b
		}
	}
	if v, ok := get(LabelHidden); ok {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %s=%q (want true or false)", labelBad, LabelHidden, v))
		} else {
			r.Hidden = b
		}
	}
	for _, labels := range []map[string]string{container, host} {
		for k := range labels {
			if strings.HasPrefix(k, labelPrefix) && k != LabelPriority && k != LabelNonVoting && k != LabelHidden {
				problems = append(problems, fmt.Sprintf("%s %q", labelUnknown, k))
			}
		}
	}
	sort.Strings(problems) // map order must not make the same warnings look new
	return r, problems
}

// desiredFromTopology turns the metadata topology into the member list mongors wants. Foreign
// addresses are the members of same-named services in other stacks: finding one of them in our
// set's config means two stacks' sets got mixed, and the planner stops. Peers are our service's
// containers that are not usable members (starting, stopped, unhealthy), with their create_index:
// never added, but one that may hold the set's config, or one created before the initiator,
// blocks initiation, so neither a replaced host nor a lagging metadata copy can start a second
// set. A member's order is the lowest create_index at its address, so that every host's copy
// names the same first container whatever state it shows the containers in. Containers in a
// transitional state are listed as starting: the view has not settled while any is.
func desiredFromTopology(s metadata.Snapshot, c *commonConfig, stack, self string) (membership, error) {
	all, err := s.ServiceContainers(topologyOptions(c, stack))
	if err != nil {
		return membership{}, err
	}
	ms := membership{Desired: mongors.Desired{SetName: c.ReplSet, Self: self}, Containers: all}
	d := &ms.Desired
	firstAt := map[string]int{} // lowest create_index of any container at an address
	for _, cs := range all {
		if cs.Address == "" {
			continue
		}
		if o, ok := firstAt[cs.Address]; !ok || cs.CreateIndex < o {
			firstAt[cs.Address] = cs.CreateIndex
		}
		if transitional(cs) {
			d.Starting = append(d.Starting, cs.ContainerName)
		}
	}
	members := map[string]bool{}
	for _, cs := range all {
		if !cs.Usable {
			ms.Warnings = append(ms.Warnings, fmt.Sprintf("%s not a member: %s", cs.ContainerName, cs.Reason))
			continue
		}
		role, problems := roleFromLabels(cs.HostLabels, cs.Labels)
		for _, p := range problems {
			ms.Warnings = append(ms.Warnings, fmt.Sprintf("%s: %s", cs.ContainerName, p))
		}
		d.Members = append(d.Members, mongors.Member{Host: cs.Address, Order: firstAt[cs.Address], HostID: cs.HostUUID, Role: role})
		members[cs.Address] = true
	}
	for _, svc := range s.Services {
		if !strings.EqualFold(svc.Name, c.MongoService) || strings.EqualFold(svc.StackName, stack) {
			continue
		}
		other, err := s.Topology(topologyOptions(c, svc.StackName))
		if err != nil {
			continue
		}
		for _, m := range other.Members {
			d.Foreign = append(d.Foreign, m.Address)
		}
	}
	for _, cs := range all {
		if cs.Usable || members[cs.Address] || (cs.Address != "" && slices.Contains(d.Foreign, cs.Address)) {
			continue
		}
		state := cs.State
		if cs.HealthState != "" {
			state += "/" + cs.HealthState
		}
		d.Peers = append(d.Peers, mongors.Peer{Host: cs.Address, Order: cs.CreateIndex, Name: cs.ContainerName, State: state})
	}
	return ms, nil
}

// transitional reports whether metadata shows the container on its way to running: the view of
// the service is not settled while it does.
func transitional(cs metadata.ContainerStatus) bool {
	switch cs.State {
	case "requested", "creating", "created", "starting", "restarting":
		return true
	}
	return cs.HealthState == "initializing" || cs.HealthState == "reinitializing"
}

// membership is what one snapshot says of the mongo service.
type membership struct {
	mongors.Desired
	// Containers are all of the service's containers, usable or not, for status output.
	Containers []metadata.ContainerStatus
	// Warnings name containers that are not members and labels that were ignored.
	Warnings []string
}
