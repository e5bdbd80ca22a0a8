package lcconfig

import (
	"os"
	"path/filepath"
)

// warnOverrides logs, once at start, everything that would make Let's Chat ignore what we deliver.
func (s *Supervisor) warnOverrides() {
	check := DeliveryCheck{Mode: s.cfg.Delivery, Env: envMap(childEnv(s.cfg.Env, s.cfg.Delivery, "probe"))}
	if s.cfg.Delivery == DeliverSettings {
		check.SettingsPath = relativeTo(s.cfg.Dir, s.cfg.Settings.Path())
		for _, name := range []Source{SourceConfigSettings, SourceSettings} {
			if _, err := os.Stat(filepath.Join(s.cfg.Dir, string(name))); err == nil {
				check.Present = append(check.Present, string(name))
			}
		}
		if envMap(s.cfg.Env)[string(SourceLCB)] != "" {
			s.log.Info("LCB_DATABASE_URI from the environment is blanked for Let's Chat so that it reads the settings file")
		}
	}
	for _, o := range CheckDelivery(check) {
		s.log.WithField("source", o.Source).Warn(o.Message)
	}
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
