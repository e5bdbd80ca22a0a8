package agent

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/sirupsen/logrus"
	"go.yaml.in/yaml/v3"
)

// The keyFile: members of an auth-enabled set prove to each other that they belong with a shared
// key. The mongo role, as the mongo container's entrypoint (`mongo -- <mongod ...>`), writes it
// where mongod's --keyFile points before it starts mongod, readable by mongod's user only.

// mongod's own limits on a keyFile's key (security_file.cpp, security_key.cpp).
const (
	minKeyLen = 6
	maxKeyLen = 1024
)

var keyFileSecret = secretOption{name: "keyfile", env: "MONGO_KEYFILE", fileName: "keyfile-file", fileEnv: "MONGO_KEYFILE_FILE", limit: maxKeyFileFileBytes}

// keyFileFlags say where the key comes from and where it goes.
type keyFileFlags struct {
	KeyFile     string // the key itself (fallback for the file)
	KeyFileFile string // a Rancher secret holding the key
	KeyFilePath string // where the agent writes it for mongod
	MongodUser  string // who owns it
}

func (k *keyFileFlags) register(s *optionSet) {
	s.String(&k.KeyFileFile, "keyfile-file", "MONGO_KEYFILE_FILE", "", "file holding the replica set's keyFile key (a Rancher secret; wins over --keyfile)")
	s.Secret(&k.KeyFile, "keyfile", "MONGO_KEYFILE", "the replica set's keyFile key, 6-1024 base64 characters (visible in ps when given as a flag; prefer the file)")
	s.String(&k.KeyFilePath, "keyfile-path", "MONGOD_KEYFILE_PATH", "", "where the agent writes the key, mode 0400, before it starts mongod (give mongod --keyFile with the same path; empty: none)")
	s.String(&k.MongodUser, "mongod-user", "MONGOD_USER", "mongodb", "user mongod runs as, owner of the written keyFile (looked up in /etc/passwd)")
}

// validate reads and checks the key. It returns a warning when the file overrode a value.
func (k *keyFileFlags) validate() (string, error) {
	var warning string
	if k.KeyFileFile != "" {
		b, err := readBounded(k.KeyFileFile, keyFileSecret.limit)
		if err != nil {
			return "", usagef("--keyfile-file (env MONGO_KEYFILE_FILE): %v", err)
		}
		if k.KeyFile != "" {
			warning = "--keyfile (env MONGO_KEYFILE) is set and ignored: --keyfile-file (env MONGO_KEYFILE_FILE) wins"
		}
		k.KeyFile = string(b)
	}
	if k.KeyFile != "" {
		key, err := normalizeKeyFile(k.KeyFile)
		if err != nil {
			src := "--keyfile (env MONGO_KEYFILE)"
			if k.KeyFileFile != "" {
				src = "--keyfile-file (env MONGO_KEYFILE_FILE): " + k.KeyFileFile
			}
			return "", usagef("%s: %v", src, err)
		}
		k.KeyFile = key
	}
	switch {
	case k.KeyFile != "" && k.KeyFilePath == "":
		return "", usagef("a keyFile key is given but --keyfile-path (env MONGOD_KEYFILE_PATH) is empty: say where mongod reads it")
	case k.KeyFile == "" && k.KeyFilePath != "":
		return "", usagef("--keyfile-path (env MONGOD_KEYFILE_PATH) is set but no key: give --keyfile-file (env MONGO_KEYFILE_FILE)")
	case k.KeyFilePath != "" && !filepath.IsAbs(k.KeyFilePath):
		return "", usagef("--keyfile-path (env MONGOD_KEYFILE_PATH): %q is not an absolute path", k.KeyFilePath)
	}
	if k.KeyFilePath != "" {
		k.KeyFilePath = filepath.Clean(k.KeyFilePath)
	}
	if err := checkUserName("mongod-user", "MONGOD_USER", k.MongodUser); err != nil {
		return "", err
	}
	if strings.ContainsAny(k.MongodUser, ":/") {
		return "", usagef("--mongod-user (env MONGOD_USER): %q is not a user name", k.MongodUser)
	}
	return warning, nil
}

// normalizeKeyFile checks a keyFile's content as mongod reads it: one key, or (mongod 4.2 and
// later) a YAML sequence of keys, which is how keys are rotated without downtime. It returns the
// content to write.
func normalizeKeyFile(raw string) (string, error) {
	var keys []string
	if err := yaml.Unmarshal([]byte(raw), &keys); err != nil || len(keys) == 0 {
		return normalizeKey(raw)
	}
	var b strings.Builder
	for i, k := range keys {
		key, err := normalizeKey(k)
		if err != nil {
			return "", fmt.Errorf("key %d of %d: %w", i+1, len(keys), err)
		}
		fmt.Fprintf(&b, "- %s\n", key)
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// normalizeKey checks a key as mongod reads a keyFile: whitespace is ignored, every other byte
// must be a base64 character, and 6 to 1024 remain. Errors never quote the key.
func normalizeKey(raw string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == ' ' || (c >= '\t' && c <= '\r'):
			continue
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/', c == '=':
			b.WriteByte(c)
		default:
			return "", fmt.Errorf("the key holds a character outside base64 at byte %d (mongod accepts A-Z a-z 0-9 + / = only)", i+1)
		}
	}
	if n := b.Len(); n < minKeyLen || n > maxKeyLen {
		return "", fmt.Errorf("the key has %d characters; mongod needs %d to %d", n, minKeyLen, maxKeyLen)
	}
	return b.String(), nil
}

// keyFileSystem is what writing the keyFile needs from the system; tests replace it.
type keyFileSystem struct {
	passwd string // the passwd database, normally /etc/passwd
	euid   func() int
	egid   func() int
}

func realKeyFileSystem() keyFileSystem {
	return keyFileSystem{passwd: "/etc/passwd", euid: os.Geteuid, egid: os.Getegid}
}

// keyFileResult says what was written, for the log line.
type keyFileResult struct {
	Path     string
	UID, GID int
	// AsSelf is true when the agent is not root and could not give the file to mongod's user.
	AsSelf bool
}

// writeKeyFile writes key to path atomically with mode 0400. As root it gives the file to user
// (looked up in the passwd database), as mongod requires that only its own user can read the
// key; otherwise the file stays the agent's own, and the caller says so.
func writeKeyFile(path, key, user string, sys keyFileSystem) (keyFileResult, error) {
	res := keyFileResult{Path: path, UID: sys.euid(), GID: sys.egid()}
	if res.UID == 0 {
		uid, gid, err := lookupUser(sys.passwd, user)
		if err != nil {
			return res, err
		}
		res.UID, res.GID = uid, gid
	} else {
		res.AsSelf = true
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, fmt.Errorf("keyFile directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".keyfile-*")
	if err != nil {
		return res, fmt.Errorf("keyFile: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	fail := func(what string, err error) (keyFileResult, error) {
		tmp.Close()
		return res, fmt.Errorf("keyFile %s: %w", what, err)
	}
	if err := tmp.Chmod(0o400); err != nil {
		return fail("chmod", err)
	}
	if !res.AsSelf {
		if err := tmp.Chown(res.UID, res.GID); err != nil {
			return fail("chown", err)
		}
	}
	if _, err := tmp.WriteString(key + "\n"); err != nil {
		return fail("write", err)
	}
	if err := tmp.Sync(); err != nil {
		return fail("sync", err)
	}
	if err := tmp.Close(); err != nil {
		return res, fmt.Errorf("keyFile: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return res, fmt.Errorf("keyFile: %w", err)
	}
	return res, nil
}

// lookupUser finds a user's uid and gid in a passwd file (name:password:uid:gid:...), read
// bounded; the agent's image has no libc to ask.
func lookupUser(passwd, name string) (uid, gid int, err error) {
	b, err := readBounded(passwd, 1<<20)
	if err != nil {
		return 0, 0, fmt.Errorf("--mongod-user (env MONGOD_USER): %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) < 4 || f[0] != name {
			continue
		}
		u, err1 := strconv.Atoi(f[2])
		g, err2 := strconv.Atoi(f[3])
		if err1 != nil || err2 != nil || u < 0 || g < 0 {
			return 0, 0, fmt.Errorf("--mongod-user (env MONGOD_USER): %s has a malformed entry for %q", passwd, name)
		}
		return u, g, nil
	}
	return 0, 0, fmt.Errorf("--mongod-user (env MONGOD_USER): no user %q in %s", name, passwd)
}

// commandHasKeyFile reports whether a mongod command line passes --keyFile path.
func commandHasKeyFile(argv []string, path string) bool {
	for i, a := range argv {
		if a == "--keyFile="+path || (a == "--keyFile" && i+1 < len(argv) && argv[i+1] == path) {
			return true
		}
	}
	return false
}

// isMongodCommand guesses whether argv starts mongod (directly or through the image's
// entrypoint script), so that a missing --keyFile is worth a warning.
func isMongodCommand(argv []string) bool {
	return slices.ContainsFunc(argv, func(a string) bool { return filepath.Base(a) == "mongod" })
}

// prepareMongod writes the keyFile before the agent starts mongod, and says what it did. It
// returns false when mongod must not start (the key could not be written).
func prepareMongod(cfg *mongoConfig, child []string, sys keyFileSystem, log logrus.FieldLogger) bool {
	if cfg.KeyFilePath == "" {
		return true
	}
	if len(child) == 0 {
		log.WithField("path", cfg.KeyFilePath).Warn("--keyfile-path is ignored: the agent writes the keyFile only when it starts mongod itself (mongo -- mongod ...)")
		return true
	}
	res, err := writeKeyFile(cfg.KeyFilePath, cfg.KeyFile, cfg.MongodUser, sys)
	if err != nil {
		log.WithError(err).WithField("path", cfg.KeyFilePath).Error("cannot write mongod's keyFile; mongod is not started")
		return false
	}
	fields := logrus.Fields{"path": res.Path, "uid": res.UID, "gid": res.GID, "mode": "0400"}
	if res.AsSelf {
		log.WithFields(fields).Warn("keyFile written as the agent's own user: the agent is not root, so it cannot hand the file to " +
			cfg.MongodUser + "; mongod must run as this same user to read it")
	} else {
		log.WithFields(fields).WithField("user", cfg.MongodUser).Info("keyFile written for mongod")
	}
	if isMongodCommand(child) && !commandHasKeyFile(child, cfg.KeyFilePath) {
		log.WithField("path", cfg.KeyFilePath).Warn("mongod's command line has no --keyFile " + cfg.KeyFilePath + ": it will run without the key")
	}
	return true
}
