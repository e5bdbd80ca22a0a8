package metadata

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// AddressSource says which IP a member is reached at.
type AddressSource string

// Address sources.
const (
	// AddressHostIP uses the host's agent_ip: it survives re-creation of the container.
	AddressHostIP AddressSource = "host"
	// AddressContainerIP uses the container's primary_ip on the managed network.
	AddressContainerIP AddressSource = "container"
)

// DefaultPort is the member port when TopologyOptions.Port is zero.
const DefaultPort = 27017

// TopologyOptions select a service and say which of its containers are members.
type TopologyOptions struct {
	// Stack and Service name the service; both are required and compared ignoring case, since the
	// 2016-07-29 API lower-cases names.
	Stack, Service string
	// AddressSource picks the member IP; empty means AddressHostIP.
	AddressSource AddressSource
	// Port is the member port, 1–65535; zero means 27017.
	Port int
	// UsableStates are the container states that count; nil means only "running".
	UsableStates []string
	// HealthyStates are the health states that count; nil means "healthy" or "" (no health check).
	HealthyStates []string
}

// Member is one usable container of the service, joined with its host.
type Member struct {
	// Address is "IP:port" ("[IPv6]:port" for IPv6), the form a replica-set member is named by.
	Address string
	IP      string
	Port    int

	HostUUID      string
	HostName      string
	ContainerName string
	ContainerUUID string
	CreateIndex   int
	ServiceIndex  string
	State         string
	HealthState   string
	// Labels and HostLabels are shared with the snapshot: read-only.
	Labels     map[string]string
	HostLabels map[string]string
}

// SkipCause is why a container is not a member.
type SkipCause string

// Skip causes, in the order they are checked.
const (
	SkipState            SkipCause = "state"             // state not in UsableStates
	SkipHealth           SkipCause = "health"            // health state not in HealthyStates
	SkipNoHost           SkipCause = "no-host"           // host_uuid empty or not among the hosts
	SkipBadAddress       SkipCause = "bad-address"       // the chosen IP is missing or not an IP
	SkipSameHost         SkipCause = "same-host"         // an older container on the host is the member
	SkipDuplicateAddress SkipCause = "duplicate-address" // another member has the same address
)

// Skipped is a container that is not a member, and why.
type Skipped struct {
	Name, UUID string
	Cause      SkipCause
	// Reason says why in words, naming the container that won for SkipSameHost and
	// SkipDuplicateAddress.
	Reason string
}

// Topology is the membership of a service in one snapshot: at most one member per host, ordered
// by create_index, and every other container with the reason it was left out.
type Topology struct {
	Members []Member
	Skipped []Skipped
}

// ContainerStatus is one container of a service with the member it would be and whether it is
// one; the status command shows them all.
type ContainerStatus struct {
	// Member is filled as far as the metadata allows: Address and IP are empty when the IP is not
	// usable, host fields when the host is missing.
	Member
	Usable bool
	Cause  SkipCause // empty when Usable
	Reason string    // empty when Usable
}

// Topology returns the members of the service named in opts. It fails with ErrServiceNotFound if
// the snapshot has no such service, never with an empty topology in its place, and with
// ErrTopologyOptions for bad options.
func (s Snapshot) Topology(opts TopologyOptions) (Topology, error) {
	all, err := s.ServiceContainers(opts)
	if err != nil {
		return Topology{}, err
	}
	t := Topology{Members: make([]Member, 0, len(all))}
	for _, c := range all {
		if c.Usable {
			t.Members = append(t.Members, c.Member)
			continue
		}
		t.Skipped = append(t.Skipped, Skipped{Name: c.ContainerName, UUID: c.ContainerUUID, Cause: c.Cause, Reason: c.Reason})
	}
	return t, nil
}

// ServiceContainers returns every container of the service named in opts, ordered by
// create_index, each with its usability as a member.
func (s Snapshot) ServiceContainers(opts TopologyOptions) ([]ContainerStatus, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	svc, err := s.service(o.Stack, o.Service)
	if err != nil {
		return nil, err
	}
	hosts := make(map[string]*Host, len(s.Hosts))
	for i := range s.Hosts {
		hosts[s.Hosts[i].UUID] = &s.Hosts[i]
	}
	ordered := sortedContainers(svc.Containers)
	out := make([]ContainerStatus, len(ordered))
	hostTaken := make(map[string]*Container, len(ordered))
	addrTaken := make(map[netip.AddrPort]*Container, len(ordered))
	for i, c := range ordered {
		host := hosts[c.HostUUID]
		st := ContainerStatus{Member: Member{
			Port: o.Port, HostUUID: c.HostUUID, ContainerName: c.Name, ContainerUUID: c.UUID,
			CreateIndex: c.CreateIndex, ServiceIndex: c.ServiceIndex, State: c.State,
			HealthState: c.HealthState, Labels: c.Labels,
		}}
		if host != nil {
			st.HostName, st.HostLabels = host.Name, host.Labels
		}
		rawIP := c.PrimaryIP
		if o.AddressSource == AddressHostIP && host != nil {
			rawIP = host.AgentIP
		}
		ip, ipErr := parseMemberIP(rawIP)
		addr := netip.AddrPortFrom(ip, uint16(o.Port))
		if ipErr == nil {
			st.IP, st.Address = ip.String(), addr.String()
		}
		switch {
		case !slices.Contains(o.UsableStates, c.State):
			st.Cause, st.Reason = SkipState, fmt.Sprintf("state %q is not usable", c.State)
		case !slices.Contains(o.HealthyStates, c.HealthState):
			st.Cause, st.Reason = SkipHealth, fmt.Sprintf("health %q is not healthy", c.HealthState)
		case c.HostUUID == "":
			st.Cause, st.Reason = SkipNoHost, "no host_uuid"
		case host == nil:
			st.Cause, st.Reason = SkipNoHost, fmt.Sprintf("host %q is not in metadata", c.HostUUID)
		case ipErr != nil:
			st.Cause, st.Reason = SkipBadAddress, ipErr.Error()
		case hostTaken[c.HostUUID] != nil:
			kept := hostTaken[c.HostUUID]
			// Concatenation, not Sprintf: this is the common skip on big services.
			st.Cause, st.Reason = SkipSameHost, "host "+host.Name+" already has "+kept.Name+
				" (create_index "+strconv.Itoa(kept.CreateIndex)+")"
		case addrTaken[addr] != nil:
			st.Cause, st.Reason = SkipDuplicateAddress, fmt.Sprintf("address %s is already %s", addr, addrTaken[addr].Name)
		default:
			st.Usable = true
			hostTaken[c.HostUUID] = c
			addrTaken[addr] = c
		}
		out[i] = st
	}
	return out, nil
}

// ContainerRank returns the position (0 for the oldest) of the container whose UUID or name is
// key among all containers of the service in opts, by create_index, and how many there are.
// Let's Chat instances use it to stagger restarts. Usability does not matter here, so that a
// container's rank does not jump while its state lags.
func (s Snapshot) ContainerRank(opts TopologyOptions, key string) (rank, count int, err error) {
	o, err := opts.withDefaults()
	if err != nil {
		return 0, 0, err
	}
	svc, err := s.service(o.Stack, o.Service)
	if err != nil {
		return 0, 0, err
	}
	for i, c := range sortedContainers(svc.Containers) {
		if c.UUID == key || c.Name == key {
			return i, len(svc.Containers), nil
		}
	}
	return 0, 0, fmt.Errorf("%w: %q in %s/%s", ErrContainerNotFound, key, o.Stack, o.Service)
}

func (o TopologyOptions) withDefaults() (TopologyOptions, error) {
	if o.Stack == "" || o.Service == "" {
		return o, fmt.Errorf("%w: stack and service are required", ErrTopologyOptions)
	}
	if o.AddressSource == "" {
		o.AddressSource = AddressHostIP
	}
	if o.AddressSource != AddressHostIP && o.AddressSource != AddressContainerIP {
		return o, fmt.Errorf("%w: address source %q, want %q or %q", ErrTopologyOptions, o.AddressSource, AddressHostIP, AddressContainerIP)
	}
	if o.Port == 0 {
		o.Port = DefaultPort
	}
	if o.Port < 1 || o.Port > 65535 {
		return o, fmt.Errorf("%w: port %d", ErrTopologyOptions, o.Port)
	}
	if o.UsableStates == nil {
		o.UsableStates = []string{"running"}
	}
	if o.HealthyStates == nil {
		o.HealthyStates = []string{"healthy", ""}
	}
	return o, nil
}

func (s Snapshot) service(stack, name string) (*Service, error) {
	for i := range s.Services {
		svc := &s.Services[i]
		if strings.EqualFold(svc.StackName, stack) && strings.EqualFold(svc.Name, name) {
			return svc, nil
		}
	}
	return nil, fmt.Errorf("%w: %s/%s", ErrServiceNotFound, stack, name)
}

// sortedContainers orders by create_index, then name and UUID so that equal indexes (which
// Rancher never produces, but bad input may) still give one order.
func sortedContainers(cs []Container) []*Container {
	out := make([]*Container, len(cs))
	for i := range cs {
		out[i] = &cs[i]
	}
	slices.SortStableFunc(out, func(a, b *Container) int {
		if c := cmp.Compare(a.CreateIndex, b.CreateIndex); c != 0 {
			return c
		}
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.UUID, b.UUID)
	})
	return out
}

// parseMemberIP accepts a plain IPv4 or IPv6 address that a member can be reached at.
func parseMemberIP(raw string) (netip.Addr, error) {
	if raw == "" {
		return netip.Addr{}, errors.New("no IP")
	}
	ip, err := netip.ParseAddr(raw)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("address %q is not an IP", raw)
	}
	ip = ip.Unmap()
	if ip.Zone() != "" || ip.IsUnspecified() || ip.IsMulticast() {
		return netip.Addr{}, fmt.Errorf("address %q cannot name a member", raw)
	}
	return ip, nil
}
