package lcconfig

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Source names where Let's Chat took its database.uri from.
type Source string

// The places database.uri can come from, lowest precedence first.
const (
	SourceDefault        Source = "defaults.yml"
	SourceSettings       Source = "settings.yml"
	SourceConfigSettings Source = "config/settings.yml"
	SourceLCB            Source = "LCB_DATABASE_URI"
	SourceMongoHQ        Source = "MONGOHQ_URL"
	SourceMongoLab       Source = "MONGOLAB_URI"
	SourceMongoDB        Source = "MONGODB_URI"
	SourceOpenShift      Source = "OPENSHIFT_APP_NAME"
)

// DefaultDatabaseURI is database.uri in Let's Chat's defaults.yml.
const DefaultDatabaseURI = "mongodb://localhost/letschat"

// Resolution is the database.uri Let's Chat would connect with, and where it came from.
type Resolution struct {
	URI    string `json:"uri"`
	Source Source `json:"source"`
}

// ErrUnmodelled is returned for settings files that Let's Chat would choke on or treat in ways the
// model does not cover (a database key that is not a mapping).
var ErrUnmodelled = errors.New("settings outside the model")

// hostingVariables are applied after the LCB_ step, each overwriting the one before.
var hostingVariables = []Source{SourceMongoHQ, SourceMongoLab, SourceMongoDB}

// ResolveDatabaseURI returns the database.uri Let's Chat 0.4.8 would use, given its environment
// (a missing key is unset; an empty value is set but empty) and the settings files in its working
// directory (keyed "config/settings.yml" and "settings.yml"; a missing key is an absent file). It
// follows app/config.js: config/settings.yml if present, else settings.yml, over the defaults;
// then a non-empty LCB_DATABASE_URI (trimmed and coerced like every LCB_ value); then
// MONGOHQ_URL, MONGOLAB_URI, MONGODB_URI, each non-empty one overwriting; then OpenShift, which
// concatenates OPENSHIFT_MONGODB_DB_URL and OPENSHIFT_APP_NAME as JavaScript strings. Invalid
// YAML is an error, as it is a crash for Let's Chat.
func ResolveDatabaseURI(env map[string]string, files map[string][]byte) (Resolution, error) {
	res := Resolution{URI: DefaultDatabaseURI, Source: SourceDefault}
	for _, name := range []Source{SourceConfigSettings, SourceSettings} {
		content, ok := files[string(name)]
		if !ok {
			continue
		}
		uri, found, err := fileDatabaseURI(content)
		if err != nil {
			return Resolution{}, fmt.Errorf("%s: %w", name, err)
		}
		if found {
			res = Resolution{URI: uri, Source: name}
		}
		break // Only one file is read, never both.
	}
	if v := env[string(SourceLCB)]; v != "" {
		res = Resolution{URI: coerceEnvValue(v), Source: SourceLCB}
	}
	for _, name := range hostingVariables {
		if v := env[string(name)]; v != "" {
			res = Resolution{URI: v, Source: name}
		}
	}
	if env["OPENSHIFT_APP_NAME"] != "" {
		res = Resolution{URI: jsString(env, "OPENSHIFT_MONGODB_DB_URL") + env["OPENSHIFT_APP_NAME"], Source: SourceOpenShift}
	}
	return res, nil
}

// fileDatabaseURI reads database.uri from one settings file; found is false when the file does
// not set it, so the default stands.
func fileDatabaseURI(content []byte) (uri string, found bool, err error) {
	var doc struct {
		Database any `yaml:"database"`
	}
	if err := yaml.Unmarshal(content, &doc); err != nil {
		return "", false, fmt.Errorf("parse: %w", err)
	}
	switch db := doc.Database.(type) {
	case nil:
		return "", false, nil
	case map[string]any:
		v, ok := db["uri"]
		if !ok {
			return "", false, nil
		}
		if v == nil {
			return "", true, nil
		}
		return fmt.Sprint(v), true, nil
	default:
		return "", false, fmt.Errorf("%w: database is not a mapping", ErrUnmodelled)
	}
}

var (
	envTrue   = regexp.MustCompile(`(?i)^(y|yes|true|on)$`)
	envFalse  = regexp.MustCompile(`(?i)^(n|no|false|off)$`)
	envNumber = regexp.MustCompile(`^[+-]?\d+.?\d*$`)
	leadInt   = regexp.MustCompile(`^[+-]?\d+`)
)

// coerceEnvValue mirrors Let's Chat's parseEnvValue for a scalar and returns the result as
// JavaScript would print it: booleans for yes/no words, an integer for anything the unescaped-dot
// number pattern matches ("1234x" is 1234), otherwise the trimmed string.
func coerceEnvValue(raw string) string {
	v := strings.TrimSpace(raw)
	switch {
	case envTrue.MatchString(v):
		return "true"
	case envFalse.MatchString(v):
		return "false"
	case envNumber.MatchString(v):
		n, err := strconv.ParseInt(leadInt.FindString(v), 10, 64)
		if err == nil {
			return strconv.FormatInt(n, 10)
		}
	}
	return v
}

// jsString is process.env[key] in a string concatenation: "undefined" when unset.
func jsString(env map[string]string, key string) string {
	if v, ok := env[key]; ok {
		return v
	}
	return "undefined"
}
