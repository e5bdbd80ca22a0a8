package metadata

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Scope says which part of the environment a snapshot keeps. The metadata tree lists every host,
// container, service and stack of the environment, three times over (containers/, services/*/
// containers/ and stacks/*/services/*/containers/); an agent needs a few services of it. Keeping
// only those bounds the memory a snapshot takes, and makes a change elsewhere in the
// environment compare equal: no new snapshot, no work for the consumer.
type Scope struct {
	// Services names the services kept, in every stack, compared ignoring case: their entries,
	// their containers, the stacks they belong to and the hosts their containers run on. A
	// same-named service in another stack is kept too, since telling it apart is the consumer's
	// business (two stacks' replica sets must not mix). Empty keeps the whole tree.
	Services []string
	// Self names the service whose container the caller is, or shares the network of as a
	// sidekick. When set, Snapshot.Self.Container is that service's container whenever the
	// answer's self/container is it or its sidekick (see Snapshot.Locate), so that a server
	// naming the sidekick on one reload and the main container on the next does not look like a
	// change. Empty keeps self as served.
	Self string
	// Stack limits the Self lookup to one stack; empty means any.
	Stack string
}

// DecodeSnapshot decodes the JSON answer to GET <base>/ into a Snapshot of the whole tree. It is
// Decode with no scope and no size limit.
func DecodeSnapshot(body []byte) (Snapshot, error) {
	return Decode(bytes.NewReader(body), Scope{})
}

// Decode reads the JSON answer to GET <base>/ from r element by element and keeps what scope
// asks for. Nothing but the element being read is held beyond the kept data: the decoder's
// buffer grows to the largest single container, host or service header, never to the body.
//
// It fails with ErrMalformed for anything that is not a tree of the expected types, is nested
// deeper than the tree can be, has data after it, or whose version is not a non-empty JSON
// string; with ErrIncomplete when version, hosts, services or containers is missing; and with
// the reader's error otherwise (ErrTooLarge from the Watcher's size limit). When self names a
// container but no host, Self.Host is looked up from the container's host_uuid.
//
// Lists come back sorted by identity (hosts, containers and stacks by UUID, services by UUID and
// name, each service's containers by UUID), so two answers with the same data in another order,
// as v0.10.x serves them after every reload, give equal snapshots.
func Decode(r io.Reader, scope Scope) (Snapshot, error) {
	d := &treeDecoder{dec: json.NewDecoder(r), scope: scope}
	s, err := d.tree()
	if err != nil {
		return Snapshot{}, err
	}
	return s, nil
}

// maxDepth bounds how deep a value this decoder walks itself may nest. The tree is seven levels
// deep (stacks/services/containers/labels); a service's metadata block may add a few more. Values
// decoded whole are bounded by encoding/json's own limit.
const maxDepth = 64

type treeDecoder struct {
	dec   *json.Decoder
	scope Scope

	// raw holds the containers of the service being read, as JSON, until its name says whether
	// it is kept (the real server sorts keys, so "containers" comes before "name"); rawEnds marks
	// where each ends. Only kept containers are decoded into structs.
	raw     []byte
	rawEnds []int
}

// rawAppender takes one JSON value and appends it to the decoder's raw buffer.
type rawAppender struct{ d *treeDecoder }

func (a *rawAppender) UnmarshalJSON(b []byte) error {
	a.d.raw = append(a.d.raw, b...)
	a.d.rawEnds = append(a.d.rawEnds, len(a.d.raw))
	return nil
}

// malformed wraps a JSON problem at path as ErrMalformed. Errors of the reader (the size limit, a
// broken connection) are returned as they are, so that errors.Is finds them.
func (d *treeDecoder) malformed(path string, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn), errors.As(err, &typ):
		return fmt.Errorf("%w: %s: %v", ErrMalformed, path, err)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: %s: the answer ends early", ErrMalformed, path)
	}
	return err
}

func (d *treeDecoder) tree() (Snapshot, error) {
	if err := d.open('{', "the answer"); err != nil {
		return Snapshot{}, err
	}
	var (
		s                                                Snapshot
		rawVersion                                       json.RawMessage
		hasVersion, hasHosts, hasServices, hasContainers bool
		stacks                                           []Stack
		selfHost                                         *Host
		selfContainer                                    *Container
	)
	for d.dec.More() {
		key, err := d.key("the answer")
		if err != nil {
			return Snapshot{}, err
		}
		switch key {
		case "version":
			hasVersion = true
			if err := d.dec.Decode(&rawVersion); err != nil {
				return Snapshot{}, d.malformed("version", err)
			}
		case "hosts":
			hasHosts = true
			err = d.list("hosts", func(path string) error {
				var h Host
				if err := d.dec.Decode(&h); err != nil {
					return d.malformed(path, err)
				}
				s.Hosts = append(s.Hosts, h)
				return nil
			})
		case "containers":
			hasContainers = true
			err = d.list("containers", func(path string) error {
				if len(d.scope.Services) > 0 {
					// The kept services list their containers again; see below.
					return d.discard(path)
				}
				var c Container
				if err := d.dec.Decode(&c); err != nil {
					return d.malformed(path, err)
				}
				s.Containers = append(s.Containers, c)
				return nil
			})
		case "services":
			hasServices = true
			err = d.list("services", func(path string) error {
				svc, err := d.service(path, true)
				if err == nil && d.keepName(svc.Name) {
					s.Services = append(s.Services, svc)
				}
				return err
			})
		case "stacks":
			err = d.list("stacks", func(path string) error {
				st, err := d.stack(path)
				stacks = append(stacks, st)
				return err
			})
		case "self":
			selfHost, selfContainer, err = d.self()
		default:
			err = d.skip(key, 1)
		}
		if err != nil {
			return Snapshot{}, err
		}
	}
	if err := d.close("the answer"); err != nil {
		return Snapshot{}, err
	}
	if _, err := d.dec.Token(); err != io.EOF {
		if err == nil {
			return Snapshot{}, fmt.Errorf("%w: data after the tree", ErrMalformed)
		}
		return Snapshot{}, d.malformed("after the tree", err)
	}
	if !hasVersion {
		return Snapshot{}, fmt.Errorf("%w: no version", ErrIncomplete)
	}
	version, err := decodeVersion(rawVersion)
	if err != nil {
		return Snapshot{}, err
	}
	for _, key := range []struct {
		name string
		ok   bool
	}{{"hosts", hasHosts}, {"services", hasServices}, {"containers", hasContainers}} {
		if !key.ok {
			return Snapshot{}, fmt.Errorf("%w: no %s", ErrIncomplete, key.name)
		}
	}
	s.Version = version
	s.Stacks = stacks
	if len(d.scope.Services) > 0 {
		// The same container objects as under containers/, read once where the service is known.
		for _, svc := range s.Services {
			s.Containers = append(s.Containers, svc.Containers...)
		}
	}
	s.Self = Self{Host: selfHost, Container: selfContainer}
	if s.Self.Host == nil && s.Self.Container != nil {
		s.Self.Host = s.host(s.Self.Container.HostUUID)
	}
	d.trim(&s)
	s.normalise()
	if d.scope.Self != "" {
		if p := s.Locate(d.scope.Self, d.scope.Stack); p.State == SelfLocated {
			c := *p.Container
			s.Self.Container = &c
			if p.Host != nil {
				h := *p.Host
				s.Self.Host = &h
			}
		}
	}
	return s, nil
}

// keepName reports whether containers and services of a service named name are kept.
func (d *treeDecoder) keepName(name string) bool {
	if len(d.scope.Services) == 0 {
		return true
	}
	for _, n := range d.scope.Services {
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}

// trim drops, in a scoped decode, the stacks and hosts no kept service refers to.
func (d *treeDecoder) trim(s *Snapshot) {
	if len(d.scope.Services) == 0 {
		return
	}
	stacks := map[string]bool{}
	hosts := map[string]bool{}
	for _, svc := range s.Services {
		stacks[svc.StackUUID] = true
		stacks["name:"+strings.ToLower(svc.StackName)] = true
		for _, c := range svc.Containers {
			hosts[c.HostUUID] = true
		}
	}
	for _, c := range s.Containers {
		hosts[c.HostUUID] = true
	}
	if s.Self.Host != nil {
		hosts[s.Self.Host.UUID] = true
	}
	if s.Self.Container != nil {
		hosts[s.Self.Container.HostUUID] = true
	}
	keptStacks := s.Stacks[:0]
	for _, st := range s.Stacks {
		if (st.UUID != "" && stacks[st.UUID]) || stacks["name:"+strings.ToLower(st.Name)] {
			keptStacks = append(keptStacks, st)
		}
	}
	s.Stacks = keptStacks
	keptHosts := s.Hosts[:0]
	for _, h := range s.Hosts {
		if hosts[h.UUID] {
			keptHosts = append(keptHosts, h)
		}
	}
	s.Hosts = keptHosts
}

// open reads the delimiter that starts an object or array.
func (d *treeDecoder) open(want json.Delim, path string) error {
	tok, err := d.dec.Token()
	if err != nil {
		return d.malformed(path, err)
	}
	if delim, ok := tok.(json.Delim); !ok || delim != want {
		return fmt.Errorf("%w: %s is %s, not %s", ErrMalformed, path, tokenKind(tok), kindOf(want))
	}
	return nil
}

func (d *treeDecoder) close(path string) error {
	if _, err := d.dec.Token(); err != nil {
		return d.malformed(path, err)
	}
	return nil
}

// key reads an object key.
func (d *treeDecoder) key(path string) (string, error) {
	tok, err := d.dec.Token()
	if err != nil {
		return "", d.malformed(path, err)
	}
	k, ok := tok.(string)
	if !ok {
		return "", fmt.Errorf("%w: %s: a key is %s", ErrMalformed, path, tokenKind(tok))
	}
	return k, nil
}

// list walks a JSON array, calling each for every element with the element's path; null is an
// empty list.
func (d *treeDecoder) list(path string, each func(path string) error) error {
	tok, err := d.dec.Token()
	if err != nil {
		return d.malformed(path, err)
	}
	if tok == nil {
		return nil
	}
	if delim, ok := tok.(json.Delim); !ok || delim != '[' {
		return fmt.Errorf("%w: %s is %s, not an array", ErrMalformed, path, tokenKind(tok))
	}
	for i := 0; d.dec.More(); i++ {
		if err := each(path + "[" + strconv.Itoa(i) + "]"); err != nil {
			return err
		}
	}
	return d.close(path)
}

// object walks the JSON object at path; null counts as an empty object. A key for which member
// returns true has been read by it; every other member is gathered and decoded into out as one
// small object, so out's struct tags say what is kept.
func (d *treeDecoder) object(path string, out any, member func(key string) (bool, error)) error {
	tok, err := d.dec.Token()
	if err != nil {
		return d.malformed(path, err)
	}
	if tok == nil {
		return nil
	}
	if delim, ok := tok.(json.Delim); !ok || delim != '{' {
		return fmt.Errorf("%w: %s is %s, not an object", ErrMalformed, path, tokenKind(tok))
	}
	rest := []byte{'{'}
	for d.dec.More() {
		key, err := d.key(path)
		if err != nil {
			return err
		}
		done, err := member(key)
		if err != nil {
			return err
		}
		if done {
			continue
		}
		var raw json.RawMessage
		if err := d.dec.Decode(&raw); err != nil {
			return d.malformed(path+"."+key, err)
		}
		if len(rest) > 1 {
			rest = append(rest, ',')
		}
		k, _ := json.Marshal(key) // a string always marshals
		rest = append(append(append(rest, k...), ':'), raw...)
	}
	if err := d.close(path); err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(append(rest, '}'), out); err != nil {
		return d.malformed(path, err)
	}
	return nil
}

// service reads one service object. Its containers are held as JSON until the service's name
// says whether it is kept, and only then decoded; with withContainers false they are dropped as
// they come.
func (d *treeDecoder) service(path string, withContainers bool) (Service, error) {
	var svc Service
	d.raw, d.rawEnds = d.raw[:0], d.rawEnds[:0]
	err := d.object(path, &svc, func(key string) (bool, error) {
		if !strings.EqualFold(key, "containers") {
			return false, nil
		}
		return true, d.list(path+".containers", func(cpath string) error {
			if !withContainers {
				return d.discard(cpath)
			}
			if err := d.dec.Decode(&rawAppender{d}); err != nil {
				return d.malformed(cpath, err)
			}
			return nil
		})
	})
	if err != nil {
		return Service{}, err
	}
	if withContainers && d.keepName(svc.Name) && len(d.rawEnds) > 0 {
		svc.Containers = make([]Container, len(d.rawEnds))
		start := 0
		for i, end := range d.rawEnds {
			if err := json.Unmarshal(d.raw[start:end], &svc.Containers[i]); err != nil {
				return Service{}, d.malformed(path+".containers["+strconv.Itoa(i)+"]", err)
			}
			start = end
		}
	}
	return svc, nil
}

// stack reads one stack object, skipping the services it lists: they are the services/ entries
// over again.
func (d *treeDecoder) stack(path string) (Stack, error) {
	var st Stack
	err := d.object(path, &st, func(key string) (bool, error) {
		if !strings.EqualFold(key, "services") {
			return false, nil
		}
		return true, d.list(path+".services", func(spath string) error {
			_, err := d.service(spath, false)
			return err
		})
	})
	return st, err
}

// self reads the self object: its host and container; its service and stack repeat entries of
// the tree and are skipped.
func (d *treeDecoder) self() (*Host, *Container, error) {
	var host *Host
	var container *Container
	err := d.object("self", nil, func(key string) (bool, error) {
		var err error
		switch key {
		case "host":
			if err = d.dec.Decode(&host); err != nil {
				err = d.malformed("self.host", err)
			}
		case "container":
			if err = d.dec.Decode(&container); err != nil {
				err = d.malformed("self.container", err)
			}
		case "service":
			_, err = d.service("self.service", false)
		case "stack":
			_, err = d.stack("self.stack")
		default:
			err = d.skip("self."+key, 2)
		}
		return true, err
	})
	return host, container, err
}

// skip walks past a value the snapshot does not keep, one level of tokens at a time, so that a
// large unknown list costs no more memory than its largest element.
func (d *treeDecoder) skip(path string, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("%w: %s: nested deeper than %d levels", ErrMalformed, path, maxDepth)
	}
	tok, err := d.dec.Token()
	if err != nil {
		return d.malformed(path, err)
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return nil // a scalar, already read
	}
	for i := 0; d.dec.More(); i++ {
		child := path + "[" + strconv.Itoa(i) + "]"
		if delim == '{' {
			k, err := d.key(path)
			if err != nil {
				return err
			}
			child = path + "." + k
		}
		if err := d.skip(child, depth+1); err != nil {
			return err
		}
	}
	return d.close(path)
}

// discard reads past one value, checking that it is JSON, without keeping it.
func (d *treeDecoder) discard(path string) error {
	if err := d.dec.Decode(&discarded{}); err != nil {
		return d.malformed(path, err)
	}
	return nil
}

// discarded takes any JSON value and keeps nothing.
type discarded struct{}

func (*discarded) UnmarshalJSON([]byte) error { return nil }

func tokenKind(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		return kindOf(t)
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case float64, json.Number:
		return "a number"
	case string:
		return "a string"
	}
	return "a value"
}

func kindOf(d json.Delim) string {
	if d == '[' || d == ']' {
		return "an array"
	}
	return "an object"
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
