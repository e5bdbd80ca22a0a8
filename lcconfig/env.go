package lcconfig

import "strings"

// cookieVariable is the LCB_ variable of secrets.cookie.
const cookieVariable = "LCB_SECRETS_COOKIE"

// childEnv returns base with the variables we deliver set. With DeliverEnv: LCB_DATABASE_URI is
// the URI and LCB_SECRETS_COOKIE the cookie secret. With DeliverSettings both are set empty
// (empty counts as unset, so the file wins over a value baked into the image), and the values
// live only in the 0600 settings file. Without a URI (started without members) LCB_DATABASE_URI
// is left as it is; an empty cookie secret (settings delivery, taken from the base file) leaves
// LCB_SECRETS_COOKIE alone with DeliverEnv.
func childEnv(base []string, mode Delivery, uri, cookie string) []string {
	set := map[string]string{}
	if uri != "" {
		set[string(SourceLCB)] = uri
	}
	if cookie != "" || mode == DeliverSettings {
		set[cookieVariable] = cookie
	}
	if mode == DeliverSettings {
		for k := range set {
			set[k] = ""
		}
	}
	if len(set) == 0 {
		return base
	}
	env := make([]string, 0, len(base)+len(set))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if _, ours := set[k]; !ours {
			env = append(env, kv)
		}
	}
	for _, k := range []string{string(SourceLCB), cookieVariable} {
		if v, ok := set[k]; ok {
			env = append(env, k+"="+v)
		}
	}
	return env
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
