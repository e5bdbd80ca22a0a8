package metadatatest

// Host returns the host whose name or UUID is key, or nil.
func (t *Tree) Host(key string) *Host {
	for _, h := range t.Hosts {
		if h.UUID == key || h.Name == key {
			return h
		}
	}
	return nil
}

// Stack returns the stack named name, or nil.
func (t *Tree) Stack(name string) *Stack {
	for _, s := range t.Stacks {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Service returns the service of the stack, or nil.
func (t *Tree) Service(stack, name string) *Service {
	for _, s := range t.Services {
		if s.StackName == stack && s.Name == name {
			return s
		}
	}
	return nil
}

// Container returns the container (of any service, or standalone) whose name or UUID is key, or
// nil.
func (t *Tree) Container(key string) *Container {
	for _, c := range t.allContainers() {
		if c.UUID == key || c.Name == key {
			return c
		}
	}
	return nil
}

// RemoveContainer deletes the container whose name or UUID is key and reports whether it existed.
func (t *Tree) RemoveContainer(key string) bool {
	for _, s := range t.Services {
		for i, c := range s.Containers {
			if c.UUID == key || c.Name == key {
				s.Containers = append(s.Containers[:i], s.Containers[i+1:]...)
				s.Scale = len(s.Containers)
				return true
			}
		}
	}
	for i, c := range t.Standalone {
		if c.UUID == key || c.Name == key {
			t.Standalone = append(t.Standalone[:i], t.Standalone[i+1:]...)
			return true
		}
	}
	return false
}

// RemoveHost deletes the host whose name or UUID is key and reports whether it existed. Its
// containers stay, pointing at a host that no longer exists, as happens while Rancher catches up.
func (t *Tree) RemoveHost(key string) bool {
	for i, h := range t.Hosts {
		if h.UUID == key || h.Name == key {
			t.Hosts = append(t.Hosts[:i], t.Hosts[i+1:]...)
			return true
		}
	}
	return false
}

func (t *Tree) allContainers() []*Container {
	var all []*Container
	for _, s := range t.Services {
		all = append(all, s.Containers...)
	}
	return append(all, t.Standalone...)
}

func (t *Tree) environmentName() string {
	if t.EnvironmentName == "" {
		return "Default"
	}
	return t.EnvironmentName
}

func (t *Tree) metadataHost() *Host {
	if t.MetadataHost != "" {
		return t.Host(t.MetadataHost)
	}
	if len(t.Hosts) > 0 {
		return t.Hosts[0]
	}
	return nil
}
