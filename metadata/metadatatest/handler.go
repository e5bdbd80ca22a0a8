package metadatatest

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
)

// contentType is what the real server sends whatever the format, JSON included.
const contentType = "text/plain; charset=utf-8"

// request is a parsed request path.
type request struct {
	kind Kind
	segs []string // path segments after the API version
}

func classify(r *http.Request) request {
	path := strings.Trim(r.URL.Path, "/")
	if path == "" {
		return request{kind: KindIndex}
	}
	segs := strings.Split(path, "/")
	if !slices.Contains(APIVersions, segs[0]) {
		return request{kind: KindInvalid}
	}
	rest := segs[1:]
	switch {
	case len(rest) == 0:
		return request{kind: KindTree}
	case len(rest) == 1 && rest[0] == "version":
		q := r.URL.Query()
		if q.Get("wait") == "true" && q.Has("value") {
			return request{kind: KindLongPoll, segs: rest}
		}
		return request{kind: KindVersion, segs: rest}
	default:
		return request{kind: KindPath, segs: rest}
	}
}

func (s *Server) handler(g *generation) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := classify(r)
		s.mu.Lock()
		if s.gen != g {
			s.mu.Unlock()
			http.Error(w, "stopped", http.StatusServiceUnavailable)
			return
		}
		g.handlers.Add(1)
		defer g.handlers.Done()
		s.counts.add(req.kind)
		latency := s.latency
		outage := s.outage
		fault := s.takeFaultLocked(req.kind)
		s.mu.Unlock()

		if outage {
			w.Header().Set("Content-Type", contentType)
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if !sleep(r, latency, g.stopped) {
			return
		}
		if fault != nil {
			serveFault(w, r, fault, g.stopped)
			return
		}
		s.serve(w, r, req, g.stopped)
	})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, req request, stopped <-chan struct{}) {
	asJSON := wantsJSON(r)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	switch req.kind {
	case KindIndex:
		s.serveIndex(w, r, asJSON)
	case KindInvalid:
		writeNotFound(w, asJSON, "Invalid version")
	case KindLongPoll:
		s.serveLongPoll(w, r, asJSON, stopped)
	default:
		v, ok := s.valueAt(r, req.segs)
		if !ok {
			writeNotFound(w, asJSON, "Not found")
			return
		}
		writeValue(w, asJSON, v)
	}
}

func (s *Server) serveIndex(w http.ResponseWriter, r *http.Request, asJSON bool) {
	if !asJSON {
		w.Header().Set("Content-Type", contentType)
		_, _ = w.Write([]byte(strings.Join(APIVersions, "\n") + "\n"))
		return
	}
	urls := make(map[string]any, len(APIVersions))
	for _, v := range APIVersions {
		urls[v] = "http://" + r.Host + "/" + v
	}
	writeValue(w, true, urls)
}

// valueAt resolves segs against the answer tree as this client sees it, retrying in lower case.
func (s *Server) valueAt(r *http.Request, segs []string) (any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	root := s.answerRootLocked(r, len(segs) == 0 || strings.EqualFold(segs[0], "self"))
	if v, ok := lookup(root, segs); ok {
		return v, true
	}
	lower := make([]string, len(segs))
	for i, seg := range segs {
		lower[i] = strings.ToLower(seg)
	}
	return lookup(root, lower)
}

// answerRootLocked is the stored tree plus version and, when needed, this client's self.
func (s *Server) answerRootLocked(r *http.Request, withSelf bool) map[string]any {
	root := make(map[string]any, len(s.root)+2)
	for k, v := range s.root {
		root[k] = v
	}
	if !s.raw || s.hasVersion {
		root["version"] = s.versionValue
	}
	if _, has := root["self"]; withSelf && !(s.raw && has) {
		root["self"] = s.resolveSelfLocked(root, s.clientKey(r, s.opts.TrustXFF))
	}
	return root
}

func wantsJSON(r *http.Request) bool {
	return strings.Contains(strings.ToLower(r.Header.Get("Accept")), "application/json")
}

func writeValue(w http.ResponseWriter, asJSON bool, v any) {
	w.Header().Set("Content-Type", contentType)
	if !asJSON {
		_, _ = w.Write([]byte(renderText(v)))
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode answer", http.StatusInternalServerError)
		return
	}
	_, _ = w.Write(b)
}

func writeNotFound(w http.ResponseWriter, asJSON bool, message string) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(http.StatusNotFound)
	if !asJSON {
		_, _ = w.Write([]byte(message))
		return
	}
	b, _ := json.Marshal(map[string]any{"code": http.StatusNotFound, "message": message, "type": "error"})
	_, _ = w.Write(b)
}
