package agent

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/replset-agent/replset-agent/metadata"
)

// commonConfig is what every long-running role and `status` need: where metadata is, which service
// holds the replica set, and how to talk to mongod.
type commonConfig struct {
	MetadataURL      string
	MetadataMode     string
	MetadataMaxWait  time.Duration
	MetadataInterval time.Duration
	MetadataBackoff  time.Duration
	MetadataSpacing  time.Duration
	MetadataMaxBytes int64
	SourceIP         string

	Stack         string
	MongoService  string
	AddressSource string
	Port          int

	ReplSet      string
	MinMembers   int
	RemovalGrace time.Duration

	Username     string
	UsernameFile string
	Password     string
	PasswordFile string
	AuthSource   string
	TLSCAFile    string
	TLSCertFile  string
	TLSKeyFile   string
	TLSInsecure  bool
	TLS          bool
	// MongoSourceIP is the local address of the connections to mongod (mongo, status).
	MongoSourceIP string

	LogLevel  string
	LogFormat string

	// talksToMongod is set for the roles that connect to mongod and plan (mongo, status); the
	// letschat role only builds a URI and has no use for set-management or TLS flags.
	talksToMongod bool
	// warnings are logged once the logger exists: options that were set and ignored.
	warnings []string
}

func (c *commonConfig) register(s *optionSet, talksToMongod bool) {
	c.talksToMongod = talksToMongod
	s.String(&c.MetadataURL, "metadata-url", "METADATA_URL", "http://rancher-metadata/2016-07-29", "Rancher metadata base URL, ending in an API version")
	s.Enum(&c.MetadataMode, "metadata-mode", "METADATA_MODE", "long-poll", []string{"long-poll", "poll"}, "how changes are noticed")
	s.Duration(&c.MetadataMaxWait, "metadata-max-wait", "METADATA_MAX_WAIT", 30*time.Second, "long-poll maxWait (the server may answer up to 5s later)")
	s.Duration(&c.MetadataInterval, "metadata-poll-interval", "METADATA_POLL_INTERVAL", 5*time.Second, "interval in poll mode")
	s.String(&c.SourceIP, "metadata-source-ip", "METADATA_SOURCE_IP", "", "local address metadata requests come from (selects this container's self entry on hosts with several addresses)")
	s.Duration(&c.MetadataSpacing, "metadata-min-interval", "METADATA_MIN_INTERVAL", time.Second, "least time between two version requests, so reload storms cannot make the agent spin")
	s.Duration(&c.MetadataBackoff, "metadata-backoff-cap", "METADATA_BACKOFF_CAP", 30*time.Second, "longest wait between retries after metadata errors")
	s.Bytes(&c.MetadataMaxBytes, "metadata-max-bytes", "METADATA_MAX_BYTES", metadata.DefaultMaxBodyBytes, "largest metadata tree read; a larger answer is an error and the last good snapshot stays")
	s.String(&c.Stack, "stack", "STACK_NAME", "", "stack of the mongo service; empty means this container's own stack")
	s.String(&c.MongoService, "service", "MONGO_SERVICE_NAME", "mongo", "name of the mongo service in the stack")
	s.Enum(&c.AddressSource, "address-source", "ADDRESS_SOURCE", "host", []string{"host", "container"}, "member address: the host's agent_ip, or the container's primary_ip")
	s.Int(&c.Port, "port", "MONGO_PORT", 27017, "mongod port on every member")
	s.String(&c.ReplSet, "replset", "REPLSET_NAME", "letschat", "replica set name (mongod --replSet)")
	if talksToMongod {
		s.Int(&c.MinMembers, "min-members", "MIN_MEMBERS", 3, "members needed before the set is initiated")
		s.Duration(&c.RemovalGrace, "removal-grace", "REMOVAL_GRACE", 60*time.Second, "how long a member must be gone from metadata and unreachable before it is removed")
	}
	s.String(&c.Username, "username", "MONGO_USERNAME", "", "MongoDB user (empty: no authentication)")
	s.String(&c.UsernameFile, "username-file", "MONGO_USERNAME_FILE", "", "file holding the MongoDB user (a Rancher secret; wins over --username)")
	s.Secret(&c.Password, "password", "MONGO_PASSWORD", "MongoDB password (visible in ps when given as a flag; prefer the file)")
	s.String(&c.PasswordFile, "password-file", "MONGO_PASSWORD_FILE", "", "file holding the MongoDB password (a Rancher secret; wins over --password)")
	s.String(&c.AuthSource, "auth-source", "MONGO_AUTH_SOURCE", "admin", "authentication database")
	if talksToMongod {
		s.Bool(&c.TLS, "tls", "MONGO_TLS", false, "connect to mongod with TLS, verified against the system CAs unless --tls-ca-file is set")
		s.String(&c.TLSCAFile, "tls-ca-file", "MONGO_TLS_CA_FILE", "", "CA bundle for TLS to mongod (enables TLS)")
		s.String(&c.TLSCertFile, "tls-cert-file", "MONGO_TLS_CERT_FILE", "", "client certificate for TLS")
		s.String(&c.TLSKeyFile, "tls-key-file", "MONGO_TLS_KEY_FILE", "", "client key for TLS")
		s.Bool(&c.TLSInsecure, "tls-insecure", "MONGO_TLS_INSECURE", false, "skip TLS certificate verification (explicit opt-in, for testing only)")
		s.String(&c.MongoSourceIP, "mongo-source-ip", "MONGO_SOURCE_IP", "", "local address the connections to mongod come from (empty: the system's choice; mongod's localhost exception needs them to come from its own host)")
	}
	s.Enum(&c.LogLevel, "log-level", "LOG_LEVEL", "info", []string{"debug", "info", "warn", "error"}, "log level")
	s.Enum(&c.LogFormat, "log-format", "LOG_FORMAT", "text", []string{"text", "json"}, "log format")
}

// validate checks values that a flag type alone cannot, and resolves the password file.
func (c *commonConfig) validate() error {
	if _, err := metadata.ParseBaseURL(c.MetadataURL); err != nil {
		// The error names the problem without repeating the URL, which may hold credentials.
		return usagef("--metadata-url (env METADATA_URL): %v", err)
	}
	if c.SourceIP != "" && net.ParseIP(c.SourceIP) == nil {
		return usagef("--metadata-source-ip (env METADATA_SOURCE_IP): %q is not an IP address", c.SourceIP)
	}
	if c.MongoSourceIP != "" && net.ParseIP(c.MongoSourceIP) == nil {
		return usagef("--mongo-source-ip (env MONGO_SOURCE_IP): %q is not an IP address", c.MongoSourceIP)
	}
	for _, d := range []struct {
		flag, env string
		v         time.Duration
		skip      bool
	}{
		{"metadata-min-interval", "METADATA_MIN_INTERVAL", c.MetadataSpacing, false},
		{"removal-grace", "REMOVAL_GRACE", c.RemovalGrace, !c.talksToMongod},
	} {
		if !d.skip && d.v <= 0 {
			return usagef("--%s (env %s) must be positive", d.flag, d.env)
		}
	}
	if c.MongoService == "" {
		return usagef("--service (env MONGO_SERVICE_NAME) must not be empty")
	}
	if c.Port < 1 || c.Port > 65535 {
		return usagef("--port (env MONGO_PORT): %d is not a TCP port", c.Port)
	}
	if err := checkReplSetName(c.ReplSet); err != nil {
		return err
	}
	if c.talksToMongod && (c.MinMembers < 1 || c.MinMembers > 7) {
		return usagef("--min-members (env MIN_MEMBERS): %d is outside 1..7", c.MinMembers)
	}
	if c.MetadataMaxWait < time.Second || c.MetadataMaxWait > 120*time.Second {
		return usagef("--metadata-max-wait (env METADATA_MAX_WAIT): %s is outside 1s..2m", c.MetadataMaxWait)
	}
	if c.MetadataBackoff < 500*time.Millisecond {
		return usagef("--metadata-backoff-cap (env METADATA_BACKOFF_CAP): %s is below the first retry delay of 500ms", c.MetadataBackoff)
	}
	if c.MetadataInterval <= 0 {
		return usagef("--metadata-poll-interval (env METADATA_POLL_INTERVAL) must be positive")
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return usagef("--tls-cert-file and --tls-key-file go together")
	}
	for _, sec := range []struct {
		opt         secretOption
		value, file *string
	}{
		{usernameSecret, &c.Username, &c.UsernameFile},
		{passwordSecret, &c.Password, &c.PasswordFile},
	} {
		v, warning, err := resolveSecret(sec.opt, *sec.value, *sec.file)
		if err != nil {
			return err
		}
		*sec.value = v
		if warning != "" {
			c.warnings = append(c.warnings, warning)
		}
	}
	if c.Username != "" {
		if err := checkUserName("username", "MONGO_USERNAME", c.Username); err != nil {
			return err
		}
	}
	if c.Password != "" && c.Username == "" {
		return usagef("--password is set without --username (env MONGO_USERNAME)")
	}
	return nil
}

// checkHostPort validates a "host:port" flag value: an IP address or host name, and a TCP port.
func checkHostPort(flagName, env, v string) error {
	return checkAddr(flagName, env, v, false)
}

// checkAddr validates "host:port"; anyHost allows an empty host (every interface, for --listen).
func checkAddr(flagName, env, v string, anyHost bool) error {
	host, port, err := net.SplitHostPort(v)
	if err != nil || (host == "" && !anyHost) || port == "" {
		return usagef("--%s (env %s): %q is not host:port", flagName, env, v)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return usagef("--%s (env %s): %q has no TCP port (1-65535)", flagName, env, v)
	}
	if host != "" && net.ParseIP(host) == nil && !validHostName(host) {
		return usagef("--%s (env %s): %q is neither an IP address nor a host name", flagName, env, host)
	}
	return nil
}

// validHostName follows RFC 1123 loosely: dot-separated labels of letters, digits and hyphens,
// not all-numeric (that would be a malformed IPv4 address).
func validHostName(h string) bool {
	if len(h) > 253 {
		return false
	}
	numeric := true
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			switch {
			case r >= '0' && r <= '9':
			case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '-', r == '_':
				numeric = false
			default:
				return false
			}
		}
	}
	return !numeric
}

// checkReplSetName refuses what cannot be a --replSet name: mongod reads "name/host,host" seed
// lists from that flag, and the name travels in every client's URI.
func checkReplSetName(v string) error {
	bad := func(why string) error {
		return usagef("--replset (env REPLSET_NAME): %q is not a usable replica set name: %s", v, why)
	}
	switch {
	case v == "":
		return bad("it is empty")
	case len(v) > 128:
		return bad("it is longer than 128 bytes")
	case !utf8.ValidString(v):
		return bad("it is not UTF-8")
	case strings.ContainsAny(v, "/,"):
		return bad(`it holds "/" or ","`)
	}
	for _, r := range v {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return bad("it holds white space or a control character")
		}
	}
	return nil
}

// listenFlag is the optional HTTP endpoint of a long-running role.
type listenFlag struct{ Addr string }

func (l *listenFlag) register(s *optionSet) {
	s.String(&l.Addr, "listen", "LISTEN_ADDRESS", "", "HTTP address for /healthz, /readyz, /metrics, /status (empty: off)")
}

func (l *listenFlag) validate() error {
	if l.Addr == "" {
		return nil
	}
	return checkAddr("listen", "LISTEN_ADDRESS", l.Addr, true)
}

func (c *commonConfig) String() string {
	return fmt.Sprintf("replset=%s service=%s/%s port=%d", c.ReplSet, c.Stack, c.MongoService, c.Port)
}
