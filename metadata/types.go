package metadata

// Host is the part of a metadata host entry this project reads. Missing fields stay zero.
type Host struct {
	Name     string            `json:"name"`
	Hostname string            `json:"hostname"`
	UUID     string            `json:"uuid"`
	AgentIP  string            `json:"agent_ip"`
	State    string            `json:"state"`
	Labels   map[string]string `json:"labels"`
}

// Container is the part of a metadata container entry this project reads. Missing fields stay
// zero.
type Container struct {
	Name        string   `json:"name"`
	UUID        string   `json:"uuid"`
	PrimaryIP   string   `json:"primary_ip"`
	IPs         []string `json:"ips"`
	HostUUID    string   `json:"host_uuid"`
	ServiceName string   `json:"service_name"`
	ServiceUUID string   `json:"service_uuid"`
	StackName   string   `json:"stack_name"`
	StackUUID   string   `json:"stack_uuid"`
	// ServiceIndex is the container's number in its service; Rancher sends it as a string and
	// gives a re-created container the same one.
	ServiceIndex string `json:"service_index"`
	// CreateIndex grows with every container created in the service and is never reused, so it
	// orders containers by age.
	CreateIndex int               `json:"create_index"`
	StartCount  int               `json:"start_count"`
	State       string            `json:"state"`
	HealthState string            `json:"health_state"`
	Labels      map[string]string `json:"labels"`
}

// Service is the part of a metadata service entry this project reads, with its containers.
type Service struct {
	Name      string `json:"name"`
	UUID      string `json:"uuid"`
	Kind      string `json:"kind"`
	StackName string `json:"stack_name"`
	StackUUID string `json:"stack_uuid"`
	// Scale is the number of containers Rancher wants; zero for global services.
	Scale       int               `json:"scale"`
	State       string            `json:"state"`
	CreateIndex int               `json:"create_index"`
	Labels      map[string]string `json:"labels"`
	// Metadata is the service's rancher-compose metadata: block.
	Metadata map[string]any `json:"metadata"`
	// Sidekicks names the service's secondary launch configs (the same list on the primary's
	// entry and on each sidekick's).
	Sidekicks  []string    `json:"sidekicks"`
	Containers []Container `json:"containers"`
}

// Stack is the part of a metadata stack entry this project reads; its services are in
// Snapshot.Services.
type Stack struct {
	Name            string `json:"name"`
	UUID            string `json:"uuid"`
	EnvironmentName string `json:"environment_name"`
	System          bool   `json:"system"`
}

// Self is who the metadata service thinks the caller is. Host is set for every caller (for one the
// server does not know it is the metadata server's host); Container is nil unless the server
// knows the caller's container. A Watcher with Scope.Self replaces a sidekick container by the
// service container it shares the network of (see Snapshot.Locate).
type Self struct {
	Host      *Host
	Container *Container
}

// Snapshot is one consistent view of the metadata tree, decoded from a single answer and kept to
// a Scope. Its lists are in identity order (see Decode). Its slices and maps are shared with
// every copy and with the Members built from it: treat them as read-only.
type Snapshot struct {
	// Version is the opaque version the tree was served with; compare it only for equality.
	Version string
	// Hosts are every host, or with a Scope those the kept containers and self run on.
	Hosts []Host
	// Services are every service, or with a Scope the kept ones.
	Services []Service
	// Containers are every container of the answer, or with a Scope the kept services'.
	Containers []Container
	// Stacks are every stack, or with a Scope those of the kept services; their services are in
	// Services.
	Stacks []Stack
	Self   Self
}
