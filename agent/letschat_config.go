package agent

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/replset-agent/replset-agent/lcconfig"
)

// letschatConfig is the letschat role's configuration.
type letschatConfig struct {
	commonConfig
	listenFlag

	LetschatService  string
	Database         string
	URIOptions       string
	Delivery         string
	SettingsFile     string
	BaseSettings     string
	Dir              string
	RestartPolicy    string
	Stagger          time.Duration
	KillTimeout      time.Duration
	MinRestart       time.Duration
	Settle           time.Duration
	StartWithoutMems bool

	Command []string // after "--"
}

func (c *letschatConfig) options() *optionSet {
	s := newOptionSet("letschat", "Runs Let's Chat as a child process with LCB_DATABASE_URI (or settings.yml) kept current from\nRancher metadata, and restarts it, staggered across instances, when its seeds are gone.")
	c.commonConfig.register(s, false)
	c.listenFlag.register(s)
	s.String(&c.LetschatService, "letschat-service", "LETSCHAT_SERVICE_NAME", "letschat", "name of the Let's Chat service in the stack (for the restart stagger rank)")
	s.String(&c.Database, "database", "LETSCHAT_DATABASE", "letschat", "database name in the URI")
	s.String(&c.URIOptions, "uri-options", "LETSCHAT_URI_OPTIONS", "", "extra URI options, e.g. readPreference=primaryPreferred&w=majority")
	s.Enum(&c.Delivery, "delivery", "LETSCHAT_DELIVERY", "env", []string{"env", "settings"}, "how Let's Chat gets the URI: LCB_DATABASE_URI, or a settings file")
	s.String(&c.SettingsFile, "settings-file", "LETSCHAT_SETTINGS_FILE", "config/settings.yml", "settings file written with --delivery settings (relative to --dir)")
	s.String(&c.BaseSettings, "base-settings", "LETSCHAT_BASE_SETTINGS", "", "user settings merged into the written file, every key kept (empty: none)")
	s.String(&c.Dir, "dir", "LETSCHAT_DIR", lcconfig.DefaultDir, "Let's Chat's working directory")
	s.Enum(&c.RestartPolicy, "restart-policy", "RESTART_POLICY", string(lcconfig.RestartSeedsLost), []string{"seeds-lost", "always", "never"}, "which membership changes restart Let's Chat")
	s.Duration(&c.Stagger, "stagger", "RESTART_STAGGER", lcconfig.DefaultStaggerInterval, "restart delay per rank among Let's Chat instances")
	s.Duration(&c.KillTimeout, "kill-timeout", "KILL_TIMEOUT", lcconfig.DefaultKillTimeout, "how long Let's Chat may take to stop after SIGTERM before SIGKILL")
	s.Duration(&c.MinRestart, "min-restart-interval", "MIN_RESTART_INTERVAL", lcconfig.DefaultMinRestartInterval, "least time between two policy restarts")
	s.Duration(&c.Settle, "settle-delay", "SETTLE_DELAY", lcconfig.DefaultSettleDelay, "how long a burst of membership changes is collected before acting")
	s.Bool(&c.StartWithoutMems, "start-without-members", "START_WITHOUT_MEMBERS", false, "start Let's Chat before any member is known")
	return s
}

func (c *letschatConfig) validate() error {
	if err := c.commonConfig.validate(); err != nil {
		return err
	}
	if err := c.listenFlag.validate(); err != nil {
		return err
	}
	if c.LetschatService == "" {
		return usagef("--letschat-service (env LETSCHAT_SERVICE_NAME) must not be empty")
	}
	for _, d := range []struct {
		flag, env string
		v         time.Duration
	}{
		{"stagger", "RESTART_STAGGER", c.Stagger},
		{"kill-timeout", "KILL_TIMEOUT", c.KillTimeout},
		{"min-restart-interval", "MIN_RESTART_INTERVAL", c.MinRestart},
		{"settle-delay", "SETTLE_DELAY", c.Settle},
	} {
		if d.v <= 0 {
			return usagef("--%s (env %s) must be positive", d.flag, d.env)
		}
	}
	if _, err := parseURIOptions(c.URIOptions); err != nil {
		return err
	}
	if c.Delivery == "settings" && c.SettingsFile == "" {
		return usagef("--delivery settings needs --settings-file (env LETSCHAT_SETTINGS_FILE)")
	}
	return nil
}

// parseURIOptions reads "k=v&k2=v2" into a map; replicaSet and authSource have flags of their own.
func parseURIOptions(s string) (map[string]string, error) {
	if s == "" {
		return nil, nil
	}
	q, err := url.ParseQuery(s)
	if err != nil {
		return nil, usagef("--uri-options (env LETSCHAT_URI_OPTIONS): %v", err)
	}
	out := map[string]string{}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch strings.ToLower(k) {
		case "replicaset", "authsource":
			return nil, usagef("--uri-options (env LETSCHAT_URI_OPTIONS): set %s with its own flag", k)
		}
		if len(q[k]) != 1 {
			return nil, usagef("--uri-options (env LETSCHAT_URI_OPTIONS): %s given %d times", k, len(q[k]))
		}
		out[k] = q[k][0]
	}
	return out, nil
}

func (c *letschatConfig) uriOptions() lcconfig.URIOptions {
	opts, _ := parseURIOptions(c.URIOptions) // validated already
	o := lcconfig.URIOptions{
		Database:   c.Database,
		ReplicaSet: c.ReplSet,
		Username:   c.Username,
		Password:   c.Password,
		Options:    opts,
	}
	if c.Username != "" {
		o.AuthSource = c.AuthSource
	}
	return o
}

func (c *letschatConfig) String() string {
	return fmt.Sprintf("%s letschat=%s policy=%s delivery=%s", c.commonConfig.String(), c.LetschatService, c.RestartPolicy, c.Delivery)
}
