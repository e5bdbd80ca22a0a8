package metadatatest

// Clone returns a deep copy of the tree that can be changed without touching t.
func (t *Tree) Clone() *Tree {
	n := *t
	n.Hosts = make([]*Host, len(t.Hosts))
	for i, h := range t.Hosts {
		hc := *h
		hc.Labels = cloneMap(h.Labels)
		n.Hosts[i] = &hc
	}
	n.Stacks = make([]*Stack, len(t.Stacks))
	for i, s := range t.Stacks {
		sc := *s
		n.Stacks[i] = &sc
	}
	n.Services = make([]*Service, len(t.Services))
	for i, s := range t.Services {
		sc := *s
		sc.tree = &n
		sc.Sidekicks = append([]string(nil), s.Sidekicks...)
		sc.Labels = cloneMap(s.Labels)
		sc.Links = cloneMap(s.Links)
		sc.Metadata = cloneAny(s.Metadata)
		sc.Containers = cloneContainers(s.Containers)
		n.Services[i] = &sc
	}
	n.Standalone = cloneContainers(t.Standalone)
	return &n
}

func cloneContainers(cs []*Container) []*Container {
	if cs == nil {
		return nil
	}
	out := make([]*Container, len(cs))
	for i, c := range cs {
		cc := *c
		cc.IPs = append([]string(nil), c.IPs...)
		cc.Ports = append([]string(nil), c.Ports...)
		cc.Labels = cloneMap(c.Labels)
		cc.Links = cloneMap(c.Links)
		out[i] = &cc
	}
	return out
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// cloneAny deep-copies the JSON-like values a service's metadata block holds.
func cloneAny(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = cloneValue(v)
	}
	return out
}

func cloneValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return cloneAny(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = cloneValue(e)
		}
		return out
	default:
		return v
	}
}
