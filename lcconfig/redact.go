package lcconfig

import "strings"

// redactedMark replaces secrets in redacted URIs.
const redactedMark = "xxxxx"

// secretOptions are query options whose values can hold secrets; compared case-insensitively.
var secretOptions = []string{"authmechanismproperties", "password", "sslpass", "tlscertificatekeyfilepassword"}

// Redact returns uri with the password in its user information, and the values of options that
// can hold secrets, replaced by "xxxxx". It works on any string, including ones that are not valid
// URIs, so it is safe to apply to whatever is about to be logged.
func Redact(uri string) string {
	prefix, rest := "", uri
	if i := strings.Index(uri, "://"); i >= 0 {
		prefix, rest = uri[:i+3], uri[i+3:]
	}
	// The last @ ends the user information even when an unescaped password holds '/', '?' or
	// '@'; should an @ appear later in the URI, more is hidden than needed, which is the safe side.
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		if user, _, hasPassword := strings.Cut(rest[:at], ":"); hasPassword {
			return prefix + user + ":" + redactedMark + "@" + redactQuery(rest[at+1:])
		}
	}
	return prefix + redactQuery(rest)
}

func redactQuery(tail string) string {
	path, query, ok := strings.Cut(tail, "?")
	if !ok {
		return tail
	}
	params := strings.Split(query, "&")
	for i, p := range params {
		key, _, hasValue := strings.Cut(p, "=")
		for _, secret := range secretOptions {
			if hasValue && strings.EqualFold(key, secret) {
				params[i] = key + "=" + redactedMark
			}
		}
	}
	return path + "?" + strings.Join(params, "&")
}
