package metadatatest

import "strings"

// AddSidekick gives the service a sidekick launch config named name that shares each container's
// network (network_mode: container:<service>), as the catalog's mongo-agent does, and returns the
// service for chaining. Like Rancher 1.6 (Cattle's metadata and rancher-metadata v0.10.4), the
// served tree then lists a second service entry named name with the primary's UUID and
// primary_service_name, and beside every container of the service a sidekick container on the
// same host with the same primary_ip, service_name name and the primary's service_uuid. The
// sidekick containers are derived when the tree is served, so Replace and RemoveContainer carry
// them along.
func (s *Service) AddSidekick(name string) *Service {
	for _, sk := range s.Sidekicks {
		if strings.EqualFold(sk, name) {
			return s
		}
	}
	s.Sidekicks = append(s.Sidekicks, name)
	return s
}

// SidekickContainer returns the container the sidekick launch config name runs beside c, as the
// tree serves it, or nil if the service of c has no such sidekick.
func (t *Tree) SidekickContainer(c *Container, name string) *Container {
	for _, s := range t.Services {
		if s.indexOf(c) >= 0 && s.hasSidekick(name) {
			return sidekickContainer(s, c, name)
		}
	}
	return nil
}

func (s *Service) hasSidekick(name string) bool {
	for _, sk := range s.Sidekicks {
		if sk == name {
			return true
		}
	}
	return false
}

// sidekickService is the entry Cattle writes for a secondary launch config: its own name, the
// primary's UUID, and the primary's name as primary_service_name.
func sidekickService(s *Service, name string) *Service {
	sk := *s
	sk.Name = name
	sk.PrimaryServiceName = s.Name
	sk.Fqdn = name + "." + s.StackName + ".rancher.internal"
	sk.Containers = make([]*Container, 0, len(s.Containers))
	for _, c := range s.Containers {
		sk.Containers = append(sk.Containers, sidekickContainer(s, c, name))
	}
	return &sk
}

// sidekickContainer is the container of launch config name in the deployment unit of c: same
// host, network namespace and create_index.
func sidekickContainer(s *Service, c *Container, name string) *Container {
	sc := *c
	sc.Name = s.StackName + "-" + s.Name + "-" + name + "-" + c.ServiceIndex
	sc.UUID = c.UUID + "-" + name
	sc.ServiceName = name
	sc.IPs = append([]string(nil), c.IPs...)
	sc.Ports = []string{}
	sc.Labels = map[string]string{
		"io.rancher.stack_service.name":    s.StackName + "/" + s.Name,
		"io.rancher.service.launch.config": name,
	}
	sc.Links = map[string]string{}
	return &sc
}
