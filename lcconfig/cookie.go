package lcconfig

import (
	"errors"
	"fmt"
	"strings"
)

// DefaultCookieSecret is secrets.cookie in Let's Chat's defaults.yml: public, so anyone can forge
// the session cookies of an installation that keeps it.
const DefaultCookieSecret = "secretsauce"

// MinCookieSecretLength is the length below which a cookie secret is accepted with a warning.
const MinCookieSecretLength = 16

// ErrCookieSecret is matched by every error of CheckCookieSecret.
var ErrCookieSecret = errors.New("unusable cookie secret")

// CheckCookieSecret says why s cannot sign Let's Chat's sessions: it is missing or Let's Chat's
// public default, or Let's Chat would not read it back as the same string (LCB_ variables are
// trimmed, and turned into numbers or booleans when they look like one: "1234x" becomes 1234).
// The error never contains s.
func CheckCookieSecret(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: none given, so Let's Chat would sign sessions with its public default %q", ErrCookieSecret, DefaultCookieSecret)
	case s == DefaultCookieSecret:
		return fmt.Errorf("%w: %q is Let's Chat's public default; anyone could forge session cookies", ErrCookieSecret, DefaultCookieSecret)
	case strings.TrimSpace(s) != s:
		return fmt.Errorf("%w: it starts or ends with white space, which Let's Chat trims from LCB_SECRETS_COOKIE", ErrCookieSecret)
	case strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return fmt.Errorf("%w: it holds control characters (a line break?)", ErrCookieSecret)
	}
	switch {
	case envTrue.MatchString(s) || envFalse.MatchString(s):
		return fmt.Errorf("%w: it reads as a yes/no word, which Let's Chat turns into a boolean", ErrCookieSecret)
	case envNumber.MatchString(s):
		return fmt.Errorf("%w: it looks like a number, which Let's Chat turns into an integer (\"9999z\" becomes 9999)", ErrCookieSecret)
	}
	return nil
}

// WeakCookieSecret reports whether s is shorter than MinCookieSecretLength.
func WeakCookieSecret(s string) bool { return len(s) < MinCookieSecretLength }
