package lcconfig

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// DefaultDatabase is the database name used when URIOptions.Database is empty.
const DefaultDatabase = "letschat"

// DefaultReplicaSet is the replica-set name used when URIOptions.ReplicaSet is empty.
const DefaultReplicaSet = "letschat"

// ErrInvalidOption is returned when a URI option, database or set name, or credential would make
// a URI that Let's Chat's driver cannot parse or would read differently.
var ErrInvalidOption = errors.New("invalid URI option")

// OptionError says which part of URIOptions is unusable; it matches ErrInvalidOption.
type OptionError struct {
	// Field is "database", "replicaSet", "authSource", "username" or "options".
	Field string
	// Reason says what is wrong, without the value when it may be secret.
	Reason string
}

func (e *OptionError) Error() string { return ErrInvalidOption.Error() + ": " + e.Reason }

// Is reports whether target is ErrInvalidOption.
func (e *OptionError) Is(target error) bool { return target == ErrInvalidOption }

// Check reports the first unusable part of o as an *OptionError, or nil.
func (o URIOptions) Check() error {
	_, err := formatURI([]seed{{host: "probe", port: DefaultPort}}, o)
	return err
}

// URIOptions is everything in Let's Chat's database URI except the seed list. Let's Chat passes
// nothing but the URI to its driver, so every connection setting belongs here.
type URIOptions struct {
	// Database is the database name; empty means DefaultDatabase.
	Database string
	// ReplicaSet must equal the set's _id; empty means DefaultReplicaSet.
	ReplicaSet string
	// Username enables authentication; empty means no credentials in the URI.
	Username string
	// Password goes with Username (percent-escaped in the URI); empty means none. It never appears
	// in logs, errors or status.
	Password string
	// AuthSource is the authentication database; empty leaves the driver's default.
	AuthSource string
	// Options are further query options (readPreference, w, ...), written sorted by key; nil means
	// none. Keys are letters and digits; values letters, digits and . _ : , - (the old driver's
	// decoding of anything else is uncertain, so it is refused rather than escaped).
	Options map[string]string
}

// BuildURI returns Let's Chat's database URI, mongodb://h1:p,h2:p/db?replicaSet=name[&...].
// Members are deduplicated and put in a deterministic order: healthy first, then unknown, then
// unhealthy (all are kept: health only decides who leads the seed list); within each group IPv4
// addresses numerically, then names, then ports. It returns ErrNoHosts for an empty list, a
// *HostError for an address Let's Chat's driver cannot parse, and ErrInvalidOption for bad options.
func BuildURI(members []Member, opts URIOptions) (string, error) {
	seeds, err := normalizeMembers(members)
	if err != nil {
		return "", err
	}
	return formatURI(seeds, opts)
}

func formatURI(seeds []seed, opts URIOptions) (string, error) {
	db := cmpOr(opts.Database, DefaultDatabase)
	if !allOf(db, isNameChar) || len(db) > 63 {
		return "", &OptionError{"database", fmt.Sprintf("database name %q: use up to 63 letters, digits, '_' and '-'", db)}
	}
	set := cmpOr(opts.ReplicaSet, DefaultReplicaSet)
	if !allOf(set, isSetNameChar) {
		return "", &OptionError{"replicaSet", fmt.Sprintf("replica-set name %q: use letters, digits, '.', '_' and '-'", set)}
	}
	if opts.Password != "" && opts.Username == "" {
		return "", &OptionError{"username", "a password needs a username"}
	}
	if opts.AuthSource != "" && !allOf(opts.AuthSource, isNameChar) {
		return "", &OptionError{"authSource", fmt.Sprintf("authSource %q: use letters, digits, '_' and '-'", opts.AuthSource)}
	}
	query, err := formatQuery(set, opts)
	if err != nil {
		return "", err
	}

	var b strings.Builder
	b.WriteString("mongodb://")
	if opts.Username != "" {
		b.WriteString(escapeUserinfo(opts.Username))
		if opts.Password != "" {
			b.WriteByte(':')
			b.WriteString(escapeUserinfo(opts.Password))
		}
		b.WriteByte('@')
	}
	for i, s := range seeds {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s.addr())
	}
	b.WriteByte('/')
	b.WriteString(db)
	b.WriteByte('?')
	b.WriteString(query)
	return b.String(), nil
}

// formatQuery writes replicaSet first, then authSource, then the extra options sorted by key, so
// equal inputs always give byte-equal URIs (and settings files).
func formatQuery(set string, opts URIOptions) (string, error) {
	parts := []string{"replicaSet=" + set}
	if opts.AuthSource != "" {
		parts = append(parts, "authSource="+opts.AuthSource)
	}
	keys := make([]string, 0, len(opts.Options))
	for k := range opts.Options {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := opts.Options[k]
		switch {
		case k == "" || !isLetter(rune(k[0])) || !allOf(k, isAlnum):
			return "", &OptionError{"options", fmt.Sprintf("option name %q: use letters and digits", k)}
		case strings.EqualFold(k, "replicaSet") || strings.EqualFold(k, "authSource"):
			return "", &OptionError{"options", fmt.Sprintf("option %q has its own setting", k)}
		case v == "" || !allOf(v, isOptionValueChar):
			// The value is not echoed: some options (authMechanismProperties) carry secrets.
			return "", &OptionError{"options", fmt.Sprintf("option %q: value must be non-empty letters, digits, '.', '_', ':', ',' or '-'", k)}
		}
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, "&"), nil
}

// escapeUserinfo percent-escapes everything but RFC 3986's unreserved characters, which the
// driver's decodeURIComponent turns back into the original bytes.
func escapeUserinfo(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlnum(rune(c)) || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

func cmpOr(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

func allOf(s string, ok func(rune) bool) bool {
	for _, r := range s {
		if !ok(r) {
			return false
		}
	}
	return true
}

func isLetter(r rune) bool { return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' }
func isAlnum(r rune) bool  { return isLetter(r) || r >= '0' && r <= '9' }

func isNameChar(r rune) bool        { return isAlnum(r) || r == '_' || r == '-' }
func isSetNameChar(r rune) bool     { return isNameChar(r) || r == '.' }
func isOptionValueChar(r rune) bool { return isSetNameChar(r) || r == ':' || r == ',' }
