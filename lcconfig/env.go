package lcconfig

import "strings"

// childEnv returns base with LCB_DATABASE_URI set for the delivery: the URI itself for
// DeliverEnv, empty for DeliverSettings (empty counts as unset, so the file wins over a value
// baked into the image). Without a URI (started without members) base is returned untouched.
func childEnv(base []string, mode Delivery, uri string) []string {
	if uri == "" {
		return base
	}
	value := uri
	if mode == DeliverSettings {
		value = ""
	}
	env := make([]string, 0, len(base)+1)
	for _, kv := range base {
		if !strings.HasPrefix(kv, string(SourceLCB)+"=") {
			env = append(env, kv)
		}
	}
	return append(env, string(SourceLCB)+"="+value)
}

// envMap turns KEY=VALUE pairs into a map; later pairs win, as they do for exec.
func envMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}
