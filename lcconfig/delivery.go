package lcconfig

import (
	"fmt"
	"path"
)

// Delivery says how the URI reaches Let's Chat.
type Delivery int

const (
	// DeliverEnv sets LCB_DATABASE_URI in the child's environment; the zero value and the
	// reference's preferred way.
	DeliverEnv Delivery = iota
	// DeliverSettings writes database.uri into a settings file and blanks LCB_DATABASE_URI.
	DeliverSettings
)

// String returns "env" or "settings".
func (d Delivery) String() string {
	if d == DeliverSettings {
		return "settings"
	}
	return "env"
}

// DeliveryCheck describes a planned delivery for CheckDelivery.
type DeliveryCheck struct {
	// Mode is how the URI is delivered.
	Mode Delivery
	// Env is the environment Let's Chat will start with (as the supervisor builds it); a missing
	// key is unset.
	Env map[string]string
	// SettingsPath is where the settings are written, relative to Let's Chat's working directory
	// (normally "config/settings.yml"); only used with DeliverSettings.
	SettingsPath string
	// Present lists the settings files that exist in Let's Chat's working directory, relative to
	// it ("config/settings.yml", "settings.yml"); only used with DeliverSettings.
	Present []string
}

// Override is one thing that would make Let's Chat ignore the URI we deliver.
type Override struct {
	// Source is what Let's Chat would take database.uri from instead.
	Source Source `json:"source"`
	// Message says what happens and how to fix it; it never holds the overriding value.
	Message string `json:"message"`
}

// CheckDelivery lists, highest precedence first, everything in the environment or among the
// settings files that would win over the URI we deliver, each with the fix. An empty result
// means Let's Chat will connect with exactly what we deliver (ResolveDatabaseURI agrees).
func CheckDelivery(c DeliveryCheck) []Override {
	var out []Override
	if c.Env["OPENSHIFT_APP_NAME"] != "" {
		out = append(out, Override{SourceOpenShift, "OPENSHIFT_APP_NAME is set, so Let's Chat builds database.uri from OPENSHIFT_MONGODB_DB_URL; unset OPENSHIFT_APP_NAME"})
	}
	for i := len(hostingVariables) - 1; i >= 0; i-- {
		name := hostingVariables[i]
		if c.Env[string(name)] != "" {
			out = append(out, Override{name, fmt.Sprintf("%s is set and beats both LCB_DATABASE_URI and settings files; unset it (or set it empty)", name)})
		}
	}
	if c.Mode != DeliverSettings {
		return out
	}
	if c.Env[string(SourceLCB)] != "" {
		out = append(out, Override{SourceLCB, "LCB_DATABASE_URI is set (the official image bakes mongodb://mongo/letschat) and beats settings files; set LCB_DATABASE_URI= (empty) or deliver the URI by environment"})
	}
	target := path.Clean(c.SettingsPath)
	switch target {
	case string(SourceConfigSettings):
	case string(SourceSettings):
		for _, p := range c.Present {
			if path.Clean(p) == string(SourceConfigSettings) {
				out = append(out, Override{SourceConfigSettings, "config/settings.yml exists, so Let's Chat never reads settings.yml; write config/settings.yml instead, or remove it"})
			}
		}
	default:
		out = append(out, Override{SourceDefault, fmt.Sprintf("Let's Chat reads only config/settings.yml or settings.yml in its working directory, not %s; write config/settings.yml", target)})
	}
	return out
}
