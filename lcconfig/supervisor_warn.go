package lcconfig

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode"

	"github.com/sirupsen/logrus"
	"go.yaml.in/yaml/v3"
)

// warnOverrides logs, once at start, everything that would make Let's Chat ignore what we deliver
// or what the user's base settings say.
func (s *Supervisor) warnOverrides() {
	childVars := envMap(childEnv(s.cfg.Env, s.cfg.Delivery, "probe", s.cfg.CookieSecret))
	own := envMap(s.cfg.Env)
	check := DeliveryCheck{Mode: s.cfg.Delivery, Env: childVars}
	if s.cfg.Delivery == DeliverSettings {
		check.SettingsPath = relativeTo(s.cfg.Dir, s.cfg.Settings.Path())
		for _, name := range []Source{SourceConfigSettings, SourceSettings} {
			if _, err := os.Stat(filepath.Join(s.cfg.Dir, string(name))); err == nil {
				check.Present = append(check.Present, string(name))
			}
		}
		for _, v := range []string{string(SourceLCB), cookieVariable} {
			if own[v] != "" {
				s.log.WithField("variable", v).Warn(v + " from the environment is blanked for Let's Chat so that it reads the settings file (the official image bakes LCB_DATABASE_URI)")
			}
		}
		for _, o := range baseOverrides(s.cfg.Settings.base, childVars) {
			s.log.WithFields(logrus.Fields{"variable": o.variable, "key": o.key}).
				Warn(o.variable + " from the environment overrides " + o.key + " of the base settings (Let's Chat applies LCB_ variables after settings.yml); unset it, or set it empty")
		}
		if s.cfg.Settings.replacesBaseCookie() {
			s.log.Warn("secrets.cookie of the base settings is replaced by the agent's cookie secret; keep them equal, or drop it from the base")
		}
	} else if v := own[cookieVariable]; v != "" && v != s.cfg.CookieSecret && s.cfg.CookieSecret != "" {
		s.log.WithField("variable", cookieVariable).Warn(cookieVariable + " from the environment is replaced by the agent's cookie secret")
	}
	if s.cfg.CookieSecret != "" && WeakCookieSecret(s.cfg.CookieSecret) {
		s.log.WithField("min_length", MinCookieSecretLength).Warn("the cookie secret is short; a long random value resists guessing")
	}
	for _, o := range CheckDelivery(check) {
		s.log.WithField("source", o.Source).Warn(o.Message)
	}
}

// override is an LCB_ variable that beats a key of the base settings.
type override struct{ variable, key string }

// baseOverrides lists the leaves of the base settings (a mapping's scalar or sequence values)
// whose LCB_ variable is set, not empty, in env: Let's Chat applies those after the file.
func baseOverrides(base []byte, env map[string]string) []override {
	doc, err := parseSingleDocument(base)
	if err != nil {
		return nil
	}
	var out []override
	var walk func(n *yaml.Node, path []string)
	walk = func(n *yaml.Node, path []string) {
		if n.Kind != yaml.MappingNode {
			if len(path) > 0 {
				if v := lcbVariable(path); env[v] != "" {
					out = append(out, override{variable: v, key: strings.Join(path, ".")})
				}
			}
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; k.Kind == yaml.ScalarNode && k.Tag != "!!merge" {
				walk(n.Content[i+1], append(slices.Clone(path), k.Value))
			}
		}
	}
	walk(doc.Content[0], nil)
	return out
}

// lcbVariable is the variable Let's Chat reads for a key path: LCB_ and the path joined with '_',
// upper-cased, with a '_' before each run of capitals (auth.local.enableRegistration is
// LCB_AUTH_LOCAL_ENABLE_REGISTRATION).
func lcbVariable(path []string) string {
	var b strings.Builder
	b.WriteString("LCB")
	for _, seg := range path {
		b.WriteByte('_')
		prevUpper := false
		for i, r := range seg {
			upper := unicode.IsUpper(r)
			if upper && !prevUpper && i > 0 {
				b.WriteByte('_')
			}
			prevUpper = upper
			b.WriteRune(unicode.ToUpper(r))
		}
	}
	return b.String()
}

// relativeTo returns target relative to dir, both resolved from the current directory; target
// unchanged if that fails.
func relativeTo(dir, target string) string {
	absDir, err1 := filepath.Abs(dir)
	absTarget, err2 := filepath.Abs(target)
	if err1 != nil || err2 != nil {
		return target
	}
	rel, err := filepath.Rel(absDir, absTarget)
	if err != nil {
		return target
	}
	return filepath.ToSlash(rel)
}
