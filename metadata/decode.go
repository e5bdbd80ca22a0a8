package metadata

import (
	"encoding/json"
	"fmt"
	"reflect"
)

type rootAnswer struct {
	Version json.RawMessage `json:"version"`
	// The lists are pointers set before decoding, which tells the three cases apart without a
	// second parse: JSON null sets the pointer to nil (present, empty), a list fills the slice
	// (present), and a missing key leaves a nil slice behind a non-nil pointer.
	Hosts      *[]Host      `json:"hosts"`
	Services   *[]Service   `json:"services"`
	Containers *[]Container `json:"containers"`
	Stacks     []Stack      `json:"stacks"`
	Self       struct {
		Host      *Host      `json:"host"`
		Container *Container `json:"container"`
	} `json:"self"`
}

// DecodeSnapshot decodes the JSON answer to GET <base>/ into a Snapshot. It fails with
// ErrMalformed for anything that is not a tree of the expected types or whose version is not a
// non-empty JSON string, and with ErrIncomplete when version, hosts, services or containers is
// missing. When self names a container but no host, Self.Host is looked up from the container's
// host_uuid.
func DecodeSnapshot(body []byte) (Snapshot, error) {
	root := rootAnswer{Hosts: new([]Host), Services: new([]Service), Containers: new([]Container)}
	if err := json.Unmarshal(body, &root); err != nil {
		return Snapshot{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if root.Version == nil {
		return Snapshot{}, fmt.Errorf("%w: no version", ErrIncomplete)
	}
	version, err := decodeVersion(root.Version)
	if err != nil {
		return Snapshot{}, err
	}
	hosts, hostsOK := present(root.Hosts)
	services, servicesOK := present(root.Services)
	containers, containersOK := present(root.Containers)
	for _, key := range []struct {
		name string
		ok   bool
	}{{"hosts", hostsOK}, {"services", servicesOK}, {"containers", containersOK}} {
		if !key.ok {
			return Snapshot{}, fmt.Errorf("%w: no %s", ErrIncomplete, key.name)
		}
	}
	s := Snapshot{
		Version:    version,
		Hosts:      hosts,
		Services:   services,
		Containers: containers,
		Stacks:     root.Stacks,
		Self:       Self{Host: root.Self.Host, Container: root.Self.Container},
	}
	if s.Self.Host == nil && s.Self.Container != nil {
		s.Self.Host = s.host(s.Self.Container.HostUUID)
	}
	return s, nil
}

// present reads a list decoded through a pre-set pointer (see rootAnswer): it returns the list
// and whether the key was in the answer.
func present[T any](p *[]T) ([]T, bool) {
	switch {
	case p == nil:
		return nil, true
	case *p == nil:
		return nil, false
	}
	return *p, true
}

// decodeVersion reads a version answer: a non-empty JSON string.
func decodeVersion(body []byte) (string, error) {
	var raw any
	if err := json.Unmarshal(body, &raw); err != nil {
		return "", fmt.Errorf("%w: version: %v", ErrMalformed, err)
	}
	v, ok := raw.(string)
	if !ok {
		return "", fmt.Errorf("%w: version is a JSON %s, not a string", ErrMalformed, jsonKind(raw))
	}
	if v == "" {
		return "", fmt.Errorf("%w: empty version", ErrMalformed)
	}
	return v, nil
}

// host returns a copy of the host with that UUID, or nil.
func (s Snapshot) host(uuid string) *Host {
	if uuid == "" {
		return nil
	}
	for i := range s.Hosts {
		if s.Hosts[i].UUID == uuid {
			h := s.Hosts[i]
			return &h
		}
	}
	return nil
}

// EqualData reports whether s and o hold the same data, ignoring Version: a v0.10.1+ server
// changes the version on every reload even when nothing else changed.
func (s Snapshot) EqualData(o Snapshot) bool {
	s.Version, o.Version = "", ""
	return reflect.DeepEqual(s, o)
}

// SelfHostUUID returns the UUID of the caller's host, from self/host or else from
// self/container's host_uuid; empty when the server does not know the caller.
func (s Snapshot) SelfHostUUID() string {
	switch {
	case s.Self.Host != nil && s.Self.Host.UUID != "":
		return s.Self.Host.UUID
	case s.Self.Container != nil:
		return s.Self.Container.HostUUID
	}
	return ""
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "value"
}
