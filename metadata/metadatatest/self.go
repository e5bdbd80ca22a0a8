package metadatatest

import (
	"net"
	"net/http"
	"slices"
	"strings"
)

// Self pins what one client IP sees under self/. With ContainerUUID set the client is that
// container (self/container, self/service, self/stack, and self/host of HostUUID or else of the
// container's host); with only HostUUID it is a host-network client that gets self/host alone.
type Self struct {
	HostUUID      string
	ContainerUUID string
}

// SetSelf makes clients from ip (or, with TrustXFF, sending exactly ip as X-Forwarded-For) see
// self. Without an entry, a client whose IP is some container's primary_ip is that container, and
// any other client gets the default entry: self/host of the metadata host only.
func (s *Server) SetSelf(ip string, self Self) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.selves[ip] = self
}

// ClearSelf removes the entry SetSelf made for ip.
func (s *Server) ClearSelf(ip string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.selves, ip)
}

// clientKey is the self lookup key of r: the raw X-Forwarded-For header when trusted and present
// (not split on commas, like the real server), otherwise the remote IP.
func (s *Server) clientKey(r *http.Request, trustXFF bool) string {
	if trustXFF {
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			return xff
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// resolveSelf builds the self subtree for key from root. Called with s.mu held.
func (s *Server) resolveSelfLocked(root map[string]any, key string) map[string]any {
	self := map[string]any{}
	entry, pinned := s.selves[key]
	var container map[string]any
	switch {
	case pinned && entry.ContainerUUID != "":
		container = findBy(root["containers"], "uuid", entry.ContainerUUID)
		if ip, _ := container["primary_ip"].(string); ip != "" && s.opts.Shuffle {
			container = s.takeTurnLocked(root, ip)
		}
	case !pinned && s.opts.Shuffle:
		container = s.takeTurnLocked(root, key)
	case !pinned:
		container = findBy(root["containers"], "primary_ip", key)
	}
	hostUUID := s.metaHostUUID
	if pinned && entry.HostUUID != "" {
		hostUUID = entry.HostUUID
	} else if container != nil {
		hostUUID, _ = container["host_uuid"].(string)
	}
	if host := findBy(root["hosts"], "uuid", hostUUID); host != nil {
		self["host"] = host
	}
	if container == nil {
		return self
	}
	self["container"] = container
	stackName, _ := container["stack_name"].(string)
	serviceName, _ := container["service_name"].(string)
	for _, e := range asList(root["services"]) {
		if svc, ok := e.(map[string]any); ok && svc["name"] == serviceName && svc["stack_name"] == stackName {
			self["service"] = svc
			break
		}
	}
	if stack := findBy(root["stacks"], "name", stackName); stack != nil {
		self["stack"] = stack
	}
	return self
}

// takeTurnLocked picks, among the containers whose primary_ip is ip (a container and the sidekicks
// sharing its network), the one whose turn it is at this version: v0.10.x keeps the last of them
// in map order, so which one a client is can change with every reload.
func (s *Server) takeTurnLocked(root map[string]any, ip string) map[string]any {
	var same []map[string]any
	for _, e := range asList(root["containers"]) {
		if c, ok := e.(map[string]any); ok && c["primary_ip"] == ip {
			same = append(same, c)
		}
	}
	if len(same) == 0 {
		return nil
	}
	slices.SortFunc(same, func(a, b map[string]any) int {
		au, _ := a["uuid"].(string)
		bu, _ := b["uuid"].(string)
		return strings.Compare(au, bu)
	})
	return same[s.versionSeq%len(same)]
}

func findBy(list any, key, want string) map[string]any {
	if want == "" {
		return nil
	}
	for _, e := range asList(list) {
		if obj, ok := e.(map[string]any); ok && obj[key] == want {
			return obj
		}
	}
	return nil
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}
