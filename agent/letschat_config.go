package agent

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/replset-agent/replset-agent/lcconfig"
	"github.com/replset-agent/replset-agent/restartlease"
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
	HealthyRun       time.Duration
	ReadyURL         string
	ReadyTimeout     time.Duration
	StartWithoutMems bool
	Instances        string
	HandoverDelay    time.Duration
	HandoverTimeout  time.Duration
	LeaseTTL         time.Duration
	GateRetry        time.Duration
	RestartGate      string

	CookieSecret     string
	CookieSecretFile string
	AppUsername      string
	AppPassword      string
	AppPasswordFile  string

	Command []string // after "--"

	// Filled by validate.
	uriOpts  lcconfig.URIOptions
	settings *lcconfig.SettingsFile // with --delivery settings
	notes    []string               // things to log once the logger exists
}

// readyURLNone turns the readiness probe off: a running child counts as ready.
const readyURLNone = "none"

// --restart-gate values.
const (
	restartGateLease = "lease"
	restartGateNone  = "none"
)

func (c *letschatConfig) options() *optionSet {
	s := newOptionSet("letschat", "Runs Let's Chat as a child process with LCB_DATABASE_URI (or settings.yml) kept current from\nRancher metadata, and restarts it, one instance at a time (through a lease in the replica set)\nand staggered across instances, when its seeds are gone; with --instances active-standby only\none instance serves, and it hands over to a warm standby before its own restart.")
	c.commonConfig.register(s, false)
	c.listenFlag.register(s)
	s.String(&c.LetschatService, "letschat-service", "LETSCHAT_SERVICE_NAME", "letschat", "name of the Let's Chat service in the stack (for the restart stagger rank)")
	s.String(&c.Database, "database", "LETSCHAT_DATABASE", "letschat", "database name in the URI")
	s.String(&c.URIOptions, "uri-options", "LETSCHAT_URI_OPTIONS", "", "extra URI options, e.g. readPreference=primaryPreferred; w=majority unless w is given")
	s.Enum(&c.Delivery, "delivery", "LETSCHAT_DELIVERY", "env", []string{"env", "settings"}, "how Let's Chat gets the URI: LCB_DATABASE_URI, or a settings file")
	s.String(&c.SettingsFile, "settings-file", "LETSCHAT_SETTINGS_FILE", "config/settings.yml", "settings file written with --delivery settings (relative to --dir)")
	s.String(&c.BaseSettings, "base-settings", "LETSCHAT_BASE_SETTINGS", "", "user settings merged into the written file, every key kept, read once at start (empty: none)")
	s.String(&c.Dir, "dir", "LETSCHAT_DIR", lcconfig.DefaultDir, "Let's Chat's working directory")
	s.Enum(&c.RestartPolicy, "restart-policy", "RESTART_POLICY", string(lcconfig.RestartSeedsLost), []string{"seeds-lost", "always", "never"}, "which membership changes restart Let's Chat")
	s.Duration(&c.Stagger, "stagger", "RESTART_STAGGER", lcconfig.DefaultStaggerInterval, "restart slot per rank among Let's Chat instances")
	s.Duration(&c.KillTimeout, "kill-timeout", "KILL_TIMEOUT", lcconfig.DefaultKillTimeout, "how long Let's Chat's process group may take to exit after SIGTERM before SIGKILL")
	s.Duration(&c.MinRestart, "min-restart-interval", "MIN_RESTART_INTERVAL", lcconfig.DefaultMinRestartInterval, "least time from a start of Let's Chat to a policy restart")
	s.Duration(&c.Settle, "settle-delay", "SETTLE_DELAY", lcconfig.DefaultSettleDelay, "how long a burst of membership changes is collected before acting (0: act on each change at once)")
	s.Duration(&c.HealthyRun, "healthy-run", "LETSCHAT_HEALTHY_RUN", lcconfig.DefaultHealthyRun, "how long Let's Chat must have been ready for its crash count to reset")
	s.String(&c.ReadyURL, "ready-url", "LETSCHAT_READY_URL", "", "Let's Chat URL whose answer means ready (empty: /login on its http.port; none: running is ready)")
	s.Duration(&c.ReadyTimeout, "ready-timeout", "LETSCHAT_READY_TIMEOUT", lcconfig.DefaultReadyTimeout, "longest a restart waits for Let's Chat to be ready before another instance may restart")
	s.Bool(&c.StartWithoutMems, "start-without-members", "START_WITHOUT_MEMBERS", false, "start Let's Chat before any member is known")
	s.Enum(&c.Instances, "instances", "LETSCHAT_INSTANCES", string(lcconfig.AllActive), []string{string(lcconfig.ActiveStandby), string(lcconfig.AllActive)}, "which instances serve: one (the others warm, /readyz failing) or every ready one")
	s.Duration(&c.HandoverDelay, "handover-delay", "LETSCHAT_HANDOVER_DELAY", lcconfig.DefaultHandoverDelay, "how long the load balancer takes to see an instance start or stop passing /readyz (health-check interval × thresholds + timeout)")
	s.Duration(&c.HandoverTimeout, "handover-timeout", "LETSCHAT_HANDOVER_TIMEOUT", lcconfig.DefaultHandoverTimeout, "longest a handover waits for a standby to take over and be seen serving before it is called off")
	s.Duration(&c.LeaseTTL, "lease-ttl", "LETSCHAT_LEASE_TTL", restartlease.DefaultTTL, "the restart lease's TTL in the replica set: a dead holder's lease is taken over this long after it stops changing")
	s.Duration(&c.GateRetry, "gate-retry", "LETSCHAT_GATE_RETRY", lcconfig.DefaultGateRetry, "wait before asking a busy or unavailable restart lease again")
	s.Enum(&c.RestartGate, "restart-gate", "LETSCHAT_RESTART_GATE", restartGateLease, []string{restartGateLease, restartGateNone}, "how policy restarts are coordinated: the lease in the replica set, or none (rank × --stagger only; no guarantee, all-active only)")
	s.String(&c.CookieSecretFile, "cookie-secret-file", "LETSCHAT_COOKIE_SECRET_FILE", "", "file holding Let's Chat's secrets.cookie, the same on every instance (a Rancher secret; preferred)")
	s.Secret(&c.CookieSecret, "cookie-secret", "LETSCHAT_COOKIE_SECRET", "Let's Chat's secrets.cookie, the same on every instance")
	s.String(&c.AppUsername, "app-username", "LETSCHAT_DB_USERNAME", "letschat", "MongoDB user Let's Chat connects as (with --app-password)")
	s.Secret(&c.AppPassword, "app-password", "LETSCHAT_DB_PASSWORD", "password of --app-username (empty: no credentials in the URI)")
	s.String(&c.AppPasswordFile, "app-password-file", "LETSCHAT_DB_PASSWORD_FILE", "", "file holding --app-password (a Rancher secret; preferred)")
	return s
}

// validate checks every letschat value and exits 2 (a usage error) naming the flag and its
// variable. What only the machine that runs Let's Chat can tell (its working directory, a cookie
// secret given at all) is checked by checkStart.
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
		{"healthy-run", "LETSCHAT_HEALTHY_RUN", c.HealthyRun},
		{"ready-timeout", "LETSCHAT_READY_TIMEOUT", c.ReadyTimeout},
		{"handover-delay", "LETSCHAT_HANDOVER_DELAY", c.HandoverDelay},
		{"handover-timeout", "LETSCHAT_HANDOVER_TIMEOUT", c.HandoverTimeout},
		{"lease-ttl", "LETSCHAT_LEASE_TTL", c.LeaseTTL},
		{"gate-retry", "LETSCHAT_GATE_RETRY", c.GateRetry},
	} {
		if d.v <= 0 {
			return usagef("--%s (env %s) must be positive", d.flag, d.env)
		}
	}
	if err := c.checkReadyURL(); err != nil {
		return err
	}
	if c.RestartGate == restartGateNone && c.Instances == string(lcconfig.ActiveStandby) {
		return usagef("--restart-gate none (env LETSCHAT_RESTART_GATE) cannot go with --instances active-standby (env LETSCHAT_INSTANCES): the handover runs through the lease")
	}
	if err := c.readSecrets(); err != nil {
		return err
	}
	if err := c.buildURIOptions(); err != nil {
		return err
	}
	if c.Delivery == "settings" {
		if err := c.loadSettings(); err != nil {
			return err
		}
	}
	return nil
}

func (c *letschatConfig) checkReadyURL() error {
	if c.ReadyURL == "" || c.ReadyURL == readyURLNone {
		return nil
	}
	u, err := url.Parse(c.ReadyURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usagef("--ready-url (env LETSCHAT_READY_URL): %q is not an http:// URL (or none)", c.ReadyURL)
	}
	return nil
}

// readSecrets resolves the cookie secret and the application password, files first.
func (c *letschatConfig) readSecrets() error {
	cookie, note, err := secretFromFileOrValue(c.CookieSecretFile, c.CookieSecret,
		"cookie-secret-file", "LETSCHAT_COOKIE_SECRET_FILE", "cookie-secret")
	if err != nil {
		return err
	}
	c.CookieSecret = cookie
	c.addNote(note)
	if cookie != "" {
		if err := lcconfig.CheckCookieSecret(cookie); err != nil {
			return usagef("%s: %v", c.cookieSource(), err)
		}
	}
	pw, note, err := secretFromFileOrValue(c.AppPasswordFile, c.AppPassword,
		"app-password-file", "LETSCHAT_DB_PASSWORD_FILE", "app-password")
	if err != nil {
		return err
	}
	c.AppPassword = pw
	c.addNote(note)
	if pw != "" && c.AppUsername == "" {
		return usagef("--app-username (env LETSCHAT_DB_USERNAME) must not be empty when --app-password is set")
	}
	if c.Username != "" || c.Password != "" {
		c.addNote("--username/--password (MONGO_USERNAME/MONGO_PASSWORD) are the agent's admin credentials and never go into Let's Chat's URI; Let's Chat connects as --app-username with --app-password")
	}
	return nil
}

func (c *letschatConfig) cookieSource() string {
	if c.CookieSecretFile != "" {
		return "--cookie-secret-file (env LETSCHAT_COOKIE_SECRET_FILE)"
	}
	return "--cookie-secret (env LETSCHAT_COOKIE_SECRET)"
}

func (c *letschatConfig) addNote(n string) {
	if n != "" {
		c.notes = append(c.notes, n)
	}
}

// buildURIOptions assembles everything in the URI but the hosts, w=majority by default, and
// names the flag of any part Let's Chat's driver could not use.
func (c *letschatConfig) buildURIOptions() error {
	opts, err := parseURIOptions(c.URIOptions)
	if err != nil {
		return err
	}
	if _, ok := lookupFold(opts, "w"); !ok {
		if opts == nil {
			opts = map[string]string{}
		}
		// Writes the chat acknowledges must survive a failover; 4.4's implicit default is w:1.
		opts["w"] = "majority"
	}
	o := lcconfig.URIOptions{Database: c.Database, ReplicaSet: c.ReplSet, Options: opts}
	if c.AppPassword != "" {
		o.Username, o.Password, o.AuthSource = c.AppUsername, c.AppPassword, c.AuthSource
	}
	var oe *lcconfig.OptionError
	if err := o.Check(); errors.As(err, &oe) {
		flag := map[string]string{
			"database":   "--database (env LETSCHAT_DATABASE)",
			"replicaSet": "--replset (env REPLSET_NAME)",
			"authSource": "--auth-source (env MONGO_AUTH_SOURCE)",
			"username":   "--app-username (env LETSCHAT_DB_USERNAME)",
			"options":    "--uri-options (env LETSCHAT_URI_OPTIONS)",
		}[oe.Field]
		return usagef("%s: %s", flag, oe.Reason)
	} else if err != nil {
		return usagef("%v", err)
	}
	c.uriOpts = o
	return nil
}

// loadSettings reads and checks --base-settings: a file Let's Chat's own parser would refuse is
// refused now, naming the file and line.
func (c *letschatConfig) loadSettings() error {
	if c.SettingsFile == "" {
		return usagef("--delivery settings needs --settings-file (env LETSCHAT_SETTINGS_FILE)")
	}
	target := c.SettingsFile
	if !filepath.IsAbs(target) {
		target = filepath.Join(c.Dir, target)
	}
	sf, err := lcconfig.LoadSettings(c.BaseSettings, target)
	if err != nil {
		return usagef("--base-settings (env LETSCHAT_BASE_SETTINGS): %v", err)
	}
	c.settings = sf
	return nil
}

// checkStart refuses to start Let's Chat without its working directory, or without a usable
// secrets.cookie: it would sign sessions with its public default. With settings delivery the base
// file's own value may serve.
func (c *letschatConfig) checkStart() error {
	if st, err := os.Stat(c.Dir); err != nil || !st.IsDir() {
		return usagef("--dir (env LETSCHAT_DIR): %s is not a directory (Let's Chat's working directory)", c.Dir)
	}
	if c.CookieSecret != "" {
		return nil
	}
	if c.settings != nil && c.settings.HasCookieSecret() {
		return nil
	}
	return usagef("Let's Chat needs a cookie secret, the same on every instance: set --cookie-secret-file (env LETSCHAT_COOKIE_SECRET_FILE) or --cookie-secret (env LETSCHAT_COOKIE_SECRET); without one it signs sessions with its public default %q, and anyone could forge them", lcconfig.DefaultCookieSecret)
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

// lookupFold finds key in m regardless of case (the driver reads option names that way).
func lookupFold(m map[string]string, key string) (string, bool) {
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return "", false
}

func (c *letschatConfig) uriOptions() lcconfig.URIOptions { return c.uriOpts }

func (c *letschatConfig) String() string {
	return fmt.Sprintf("%s letschat=%s policy=%s delivery=%s instances=%s", c.commonConfig.String(), c.LetschatService, c.RestartPolicy, c.Delivery, c.Instances)
}
