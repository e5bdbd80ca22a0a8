package metadatatest

// Host is a Rancher host as the metadata service lists it under hosts/.
type Host struct {
	Name     string            `json:"name"`
	Hostname string            `json:"hostname"`
	UUID     string            `json:"uuid"`
	AgentIP  string            `json:"agent_ip"`
	State    string            `json:"state"`
	Labels   map[string]string `json:"labels"`
	// HostID is the numeric id Cattle gives the host; zero is a valid id.
	HostID int `json:"host_id"`
	// Memory is the host's memory in bytes; zero means unknown.
	Memory int64 `json:"memory"`
	// MilliCPU is the host's CPU capacity in thousandths of a core; zero means unknown.
	MilliCPU int64 `json:"milli_cpu"`
}

// Container is one container as the metadata service lists it under containers/ and under its
// service's containers/.
type Container struct {
	Name        string   `json:"name"`
	UUID        string   `json:"uuid"`
	PrimaryIP   string   `json:"primary_ip"`
	IPs         []string `json:"ips"`
	Ports       []string `json:"ports"`
	HostUUID    string   `json:"host_uuid"`
	ServiceName string   `json:"service_name"`
	ServiceUUID string   `json:"service_uuid"`
	StackName   string   `json:"stack_name"`
	StackUUID   string   `json:"stack_uuid"`
	// ServiceIndex is the container's number within its service; Rancher sends it as a string.
	ServiceIndex string `json:"service_index"`
	// CreateIndex grows with every container Rancher creates in the service and is never reused.
	CreateIndex int               `json:"create_index"`
	StartCount  int               `json:"start_count"`
	State       string            `json:"state"`
	HealthState string            `json:"health_state"`
	Labels      map[string]string `json:"labels"`
	Links       map[string]string `json:"links"`
	ExternalID  string            `json:"external_id"`
	System      bool              `json:"system"`
}

// Service is a Rancher service with its containers.
type Service struct {
	Name        string   `json:"name"`
	UUID        string   `json:"uuid"`
	Kind        string   `json:"kind"`
	StackName   string   `json:"stack_name"`
	StackUUID   string   `json:"stack_uuid"`
	Scale       int      `json:"scale"`
	State       string   `json:"state"`
	CreateIndex int      `json:"create_index"`
	Fqdn        string   `json:"fqdn"`
	Sidekicks   []string `json:"sidekicks"`
	// PrimaryServiceName names the primary service of a sidekick entry; empty means the service's
	// own name, which is what Rancher serves for a primary service.
	PrimaryServiceName string            `json:"primary_service_name"`
	Labels             map[string]string `json:"labels"`
	Links              map[string]string `json:"links"`
	// Metadata is the rancher-compose metadata: block, served under self/service/metadata.
	Metadata   map[string]any `json:"metadata"`
	Containers []*Container   `json:"containers"`

	tree            *Tree
	lastCreateIndex int
}

// Stack is a Rancher stack; its services are derived from Tree.Services when the tree is served.
type Stack struct {
	Name            string `json:"name"`
	UUID            string `json:"uuid"`
	EnvironmentName string `json:"environment_name"`
	EnvironmentUUID string `json:"environment_uuid"`
	System          bool   `json:"system"`
}

// Tree is the data a Server answers with. Build one with NewTree and its Add methods, or fill the
// fields directly. Server.SetTree serialises it at once, so later changes to a Tree are not seen
// until it is set again.
type Tree struct {
	Hosts    []*Host
	Stacks   []*Stack
	Services []*Service
	// Standalone holds containers that belong to no service; they appear only under containers/.
	Standalone []*Container
	// MetadataHost is the UUID of the host that runs this metadata instance: the default self
	// entry (unknown client IPs) answers only self/host with it. Empty means the first host.
	MetadataHost string
	// EnvironmentName names the single environment listed under environments/; empty means
	// "Default".
	EnvironmentName string

	// Counters that keep generated names, UUIDs and IPs unique; Clone copies them.
	hostSeq, containerSeq int
}
