package metadatatest

import (
	"fmt"
	"strconv"
)

// NewTree returns an empty tree ready for AddHost and AddService.
func NewTree() *Tree { return &Tree{} }

// AddHost adds a host in state "active" with the given name and agent IP, a generated UUID
// ("host-uuid-N") and no labels, and returns it for further changes.
func (t *Tree) AddHost(name, agentIP string) *Host {
	t.hostSeq++
	h := &Host{
		Name:     name,
		Hostname: name,
		UUID:     "host-uuid-" + strconv.Itoa(t.hostSeq),
		AgentIP:  agentIP,
		State:    "active",
		Labels:   map[string]string{},
		HostID:   t.hostSeq,
	}
	t.Hosts = append(t.Hosts, h)
	return h
}

// AddHosts adds n hosts named hostK with agent IPs 10.0.x.y, numbered after the hosts already
// added (the first host of a new tree is host1 at 10.0.0.11), and returns them.
func (t *Tree) AddHosts(n int) []*Host {
	hosts := make([]*Host, 0, n)
	for range n {
		seq := t.hostSeq + 1
		ipSeq := seq + 10
		hosts = append(hosts, t.AddHost("host"+strconv.Itoa(seq), fmt.Sprintf("10.0.%d.%d", ipSeq/256, ipSeq%256)))
	}
	return hosts
}

// Label sets a host label and returns the host, for chaining.
func (h *Host) Label(key, value string) *Host {
	if h.Labels == nil {
		h.Labels = map[string]string{}
	}
	h.Labels[key] = value
	return h
}

// AddService adds an active service to the stack (creating the stack if needed) and returns it.
// A service that already exists is returned unchanged.
func (t *Tree) AddService(stack, name string) *Service {
	if s := t.Service(stack, name); s != nil {
		return s
	}
	st := t.Stack(stack)
	if st == nil {
		st = &Stack{Name: stack, UUID: "stack-" + stack, EnvironmentName: t.environmentName(), EnvironmentUUID: "env-1"}
		t.Stacks = append(t.Stacks, st)
	}
	s := &Service{
		Name:        name,
		UUID:        "svc-" + stack + "-" + name,
		Kind:        "service",
		StackName:   stack,
		StackUUID:   st.UUID,
		State:       "active",
		CreateIndex: len(t.Services) + 1,
		Fqdn:        name + "." + stack + ".rancher.internal",
		Sidekicks:   []string{},
		Labels:      map[string]string{},
		Links:       map[string]string{},
		Metadata:    map[string]any{},
		Containers:  []*Container{},
		tree:        t,
	}
	t.Services = append(t.Services, s)
	return s
}

// On adds one container of the service on each of the given hosts and returns the service, for
// chaining: tree.AddService("demo", "mongo").On(hosts...).
func (s *Service) On(hosts ...*Host) *Service {
	used := s.usedServiceIndexes()
	next := 1
	for _, h := range hosts {
		for used[strconv.Itoa(next)] {
			next++
		}
		used[strconv.Itoa(next)] = true
		s.addContainer(h, strconv.Itoa(next))
	}
	return s
}

// AddContainer adds a running, healthy container of the service on host h (nil leaves
// host_uuid empty). It gets the next create_index, the lowest free service_index, the name
// "<stack>-<service>-<service_index>", a unique UUID and a unique 10.42.x.y primary IP.
func (s *Service) AddContainer(h *Host) *Container {
	return s.addContainer(h, s.freeServiceIndex())
}

// Replace removes c from the service and adds its replacement on the same host, as Rancher does
// when it re-creates a container: same name and service_index, a new UUID, create_index and
// primary IP. It returns the replacement, or nil when c is not in the service.
func (s *Service) Replace(c *Container) *Container {
	i := s.indexOf(c)
	if i < 0 {
		return nil
	}
	s.Containers = append(s.Containers[:i], s.Containers[i+1:]...)
	var host *Host
	if s.tree != nil {
		host = s.tree.Host(c.HostUUID)
	}
	n := s.addContainer(host, c.ServiceIndex)
	if host == nil {
		n.HostUUID = c.HostUUID
	}
	return n
}

func (s *Service) addContainer(h *Host, serviceIndex string) *Container {
	s.lastCreateIndex++
	seq := s.nextContainerSeq()
	c := &Container{
		Name:         s.StackName + "-" + s.Name + "-" + serviceIndex,
		UUID:         fmt.Sprintf("c-%s-%s-%d", s.StackName, s.Name, s.lastCreateIndex),
		PrimaryIP:    fmt.Sprintf("10.42.%d.%d", seq/256, seq%256),
		Ports:        []string{},
		ServiceName:  s.Name,
		ServiceUUID:  s.UUID,
		StackName:    s.StackName,
		StackUUID:    s.StackUUID,
		ServiceIndex: serviceIndex,
		CreateIndex:  s.lastCreateIndex,
		StartCount:   1,
		State:        "running",
		HealthState:  "healthy",
		Labels:       map[string]string{"io.rancher.stack_service.name": s.StackName + "/" + s.Name},
		Links:        map[string]string{},
	}
	c.IPs = []string{c.PrimaryIP}
	if h != nil {
		c.HostUUID = h.UUID
	}
	s.Containers = append(s.Containers, c)
	s.Scale = len(s.Containers)
	return c
}

func (s *Service) nextContainerSeq() int {
	if s.tree == nil {
		return s.lastCreateIndex
	}
	s.tree.containerSeq++
	return s.tree.containerSeq
}

func (s *Service) freeServiceIndex() string {
	used := s.usedServiceIndexes()
	for i := 1; ; i++ {
		if !used[strconv.Itoa(i)] {
			return strconv.Itoa(i)
		}
	}
}

func (s *Service) usedServiceIndexes() map[string]bool {
	used := make(map[string]bool, len(s.Containers))
	for _, c := range s.Containers {
		used[c.ServiceIndex] = true
	}
	return used
}

func (s *Service) indexOf(c *Container) int {
	for i, x := range s.Containers {
		if x == c {
			return i
		}
	}
	return -1
}

// Label sets a container label and returns the container, for chaining.
func (c *Container) Label(key, value string) *Container {
	if c.Labels == nil {
		c.Labels = map[string]string{}
	}
	c.Labels[key] = value
	return c
}
