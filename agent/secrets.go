package agent

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode"

	"github.com/sirupsen/logrus"

	"github.com/replset-agent/replset-agent/lcconfig"
)

// Limits on secret files: a password, user name or cookie secret is one short line; a keyFile is
// at most 1024 characters for mongod.
const (
	maxSecretFileBytes  = 4 << 10
	maxKeyFileFileBytes = 1 << 10
)

// secretOption is one secret's two channels: the value (flag --<name> or its variable) and a file
// (flag --<name>-file or its variable, a Rancher secret under /run/secrets).
type secretOption struct {
	name, env         string // value flag and variable
	fileName, fileEnv string // file flag and variable
	limit             int64  // bytes a file may hold
}

// resolveSecret picks a secret. The file wins: when both are set the value is ignored and a
// warning says so (without either secret). Between a flag and its variable, the flag wins, as for
// every option.
func resolveSecret(o secretOption, value, file string) (secret, warning string, err error) {
	if file == "" {
		return value, "", nil
	}
	s, err := readSecretFile(o, file)
	if err != nil {
		return "", "", err
	}
	if value != "" {
		warning = fmt.Sprintf("--%s (env %s) is set and ignored: --%s (env %s) wins", o.name, o.env, o.fileName, o.fileEnv)
	}
	return s, warning, nil
}

// readSecretFile reads at most o.limit bytes of a one-line secret; the line break at its end is
// dropped. The path may appear in errors, the content never does.
func readSecretFile(o secretOption, path string) (string, error) {
	b, err := readBounded(path, o.limit)
	if err != nil {
		return "", usagef("--%s (env %s): %v", o.fileName, o.fileEnv, err)
	}
	s := strings.TrimRight(string(b), "\r\n")
	switch {
	case s == "":
		return "", usagef("--%s (env %s): %s is empty", o.fileName, o.fileEnv, path)
	case strings.ContainsAny(s, "\r\n"):
		return "", usagef("--%s (env %s): %s holds more than one line; a secret file holds one", o.fileName, o.fileEnv, path)
	case strings.ContainsRune(s, 0):
		return "", usagef("--%s (env %s): %s holds a NUL byte", o.fileName, o.fileEnv, path)
	}
	return s, nil
}

// readBounded reads a whole file of at most limit bytes, refusing larger ones before reading them
// into memory.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, unwrapPathError(err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, unwrapPathError(err))
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return b, nil
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// checkUserName refuses a user name that cannot be one: empty, or with control characters.
func checkUserName(flagName, env, v string) error {
	if v == "" {
		return usagef("--%s (env %s) must not be empty", flagName, env)
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return usagef("--%s (env %s): %q holds a control character", flagName, env, v)
		}
	}
	return nil
}

// The common MongoDB credentials.
var (
	usernameSecret = secretOption{name: "username", env: "MONGO_USERNAME", fileName: "username-file", fileEnv: "MONGO_USERNAME_FILE", limit: maxSecretFileBytes}
	passwordSecret = secretOption{name: "password", env: "MONGO_PASSWORD", fileName: "password-file", fileEnv: "MONGO_PASSWORD_FILE", limit: maxSecretFileBytes}
)

// appUserFlags are the application user's credentials: the mongo role creates that user (see
// package bootstrap); the letschat role puts it in Let's Chat's URI.
type appUserFlags struct {
	AppUsername     string
	AppPassword     string
	AppPasswordFile string
}

var appPasswordSecret = secretOption{name: "app-password", env: "LETSCHAT_DB_PASSWORD",
	fileName: "app-password-file", fileEnv: "LETSCHAT_DB_PASSWORD_FILE", limit: maxSecretFileBytes}

func (a *appUserFlags) register(s *optionSet) {
	s.String(&a.AppUsername, "app-username", "LETSCHAT_DB_USERNAME", "letschat", "MongoDB user of Let's Chat, given readWrite on its database only")
	s.Secret(&a.AppPassword, "app-password", "LETSCHAT_DB_PASSWORD", "password of the Let's Chat MongoDB user (visible in ps when given as a flag; prefer the file)")
	s.String(&a.AppPasswordFile, "app-password-file", "LETSCHAT_DB_PASSWORD_FILE", "", "file holding the Let's Chat user's password (a Rancher secret; wins over --app-password)")
}

// validate resolves the password file; it returns a warning when a file overrode a value.
func (a *appUserFlags) validate() (string, error) {
	if err := checkUserName("app-username", "LETSCHAT_DB_USERNAME", a.AppUsername); err != nil {
		return "", err
	}
	pw, warning, err := resolveSecret(appPasswordSecret, a.AppPassword, a.AppPasswordFile)
	if err != nil {
		return "", err
	}
	a.AppPassword = pw
	return warning, nil
}

// validateSecrets resolves the mongo role's own secrets: the keyFile and the application user.
func (c *mongoConfig) validateSecrets() error {
	for _, v := range []func() (string, error){c.keyFileFlags.validate, c.appUserFlags.validate} {
		warning, err := v()
		if err != nil {
			return err
		}
		if warning != "" {
			c.warnings = append(c.warnings, warning)
		}
	}
	if c.Username != "" && c.Username == c.AppUsername {
		return usagef("--app-username (env LETSCHAT_DB_USERNAME) is the same user as --username (env MONGO_USERNAME): Let's Chat gets a user of its own, with readWrite on its database only")
	}
	// With the admin's credentials the agent runs the bootstrap of the set's first users, which
	// needs both users' passwords.
	switch {
	case c.Username != "" && c.Password == "":
		return usagef("--username (env MONGO_USERNAME) is set without its password: give --password-file (env MONGO_PASSWORD_FILE) or --password (env MONGO_PASSWORD)")
	case c.Username != "" && c.AppPassword == "":
		return usagef("--username (env MONGO_USERNAME) is set without Let's Chat's password: give --app-password-file (env LETSCHAT_DB_PASSWORD_FILE) or --app-password (env LETSCHAT_DB_PASSWORD); the agent creates Let's Chat's user with it")
	case c.Username == "" && c.AppPassword != "":
		c.warnings = append(c.warnings, "--app-password (env LETSCHAT_DB_PASSWORD) is set without the admin's --username (env MONGO_USERNAME): the agent runs without authentication and creates no user")
	}
	return nil
}

// checkDatabaseName refuses a --database Let's Chat's URI could not carry (lcconfig's rule).
func checkDatabaseName(db string) error {
	if db == "" {
		return usagef("--database (env LETSCHAT_DATABASE) must not be empty")
	}
	var oe *lcconfig.OptionError
	if err := (lcconfig.URIOptions{Database: db}).Check(); errors.As(err, &oe) && oe.Field == "database" {
		return usagef("--database (env LETSCHAT_DATABASE): %s", oe.Reason)
	}
	return nil
}

// secrets are the values the log redaction hook removes from every line.
func (c *mongoConfig) secrets() []string {
	out := []string{c.Password, c.AppPassword}
	// A keyFile being rotated holds several keys, one per "- key" line: each is a secret.
	for _, line := range strings.Split(c.KeyFile, "\n") {
		out = append(out, strings.TrimPrefix(line, "- "))
	}
	return out
}

func logWarnings(log logrus.FieldLogger, warnings []string) {
	for _, w := range warnings {
		log.Warn(w)
	}
}
