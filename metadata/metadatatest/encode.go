package metadatatest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// wireStack is a stack as served: with the objects of its services.
type wireStack struct {
	*Stack
	Services []*Service `json:"services"`
}

type wireTree struct {
	Containers   []*Container     `json:"containers"`
	Environments []map[string]any `json:"environments"`
	Hosts        []*Host          `json:"hosts"`
	Networks     []any            `json:"networks"`
	Services     []*Service       `json:"services"`
	Stacks       []wireStack      `json:"stacks"`
}

// encodeTree turns t into the generic JSON value the handlers walk, without version and self:
// the server adds those per answer.
func encodeTree(t *Tree) (map[string]any, error) {
	services := servedServices(t)
	var containers []*Container
	for _, s := range services {
		containers = append(containers, s.Containers...)
	}
	w := wireTree{
		Containers:   nonNil(append(containers, t.Standalone...)),
		Environments: []map[string]any{{"name": t.environmentName(), "uuid": "env-1"}},
		Hosts:        nonNil(t.Hosts),
		Networks:     []any{},
		Services:     nonNil(services),
		Stacks:       []wireStack{},
	}
	for _, st := range t.Stacks {
		ws := wireStack{Stack: st, Services: []*Service{}}
		for _, s := range services {
			if s.StackName == st.Name {
				ws.Services = append(ws.Services, s)
			}
		}
		w.Stacks = append(w.Stacks, ws)
	}
	b, err := json.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("encode tree: %w", err)
	}
	return decodeObject(b)
}

// servedServices lists the services as the server does: each primary service with
// primary_service_name set to its own name (as Cattle writes it), followed by an entry for each of
// its sidekick launch configs.
func servedServices(t *Tree) []*Service {
	out := make([]*Service, 0, len(t.Services))
	for _, s := range t.Services {
		p := s
		if s.PrimaryServiceName == "" {
			c := *s
			c.PrimaryServiceName = s.Name
			p = &c
		}
		out = append(out, p)
		for _, name := range s.Sidekicks {
			out = append(out, sidekickService(p, name))
		}
	}
	return out
}

// errNotObject is returned by SetRaw for a body that is valid JSON but not an object.
var errNotObject = errors.New("tree is not a JSON object")

// decodeObject parses a JSON object keeping numbers as json.Number, so that integers are served
// back exactly as given.
func decodeObject(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("decode tree: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("decode tree: trailing data")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errNotObject
	}
	return m, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
