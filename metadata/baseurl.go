package metadata

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// DefaultBaseURL is the metadata API a container on the Rancher managed network reaches.
const DefaultBaseURL = "http://rancher-metadata/2016-07-29"

// apiVersionSegment matches the version a data path must start with: a date or "latest".
var apiVersionSegment = regexp.MustCompile(`^(latest|[0-9]{4}-[0-9]{2}-[0-9]{2})$`)

// ParseBaseURL checks that raw can address the metadata API and returns it without a trailing
// slash. The last path segment must be an API version ("2016-07-29", "latest"): the server has
// no unversioned paths, so "http://rancher-metadata" would answer every request with 404.
// 2015-07-25 is rejected because it lists a service's containers by name only.
func ParseBaseURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error quotes the whole URL, credentials included; report only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", fmt.Errorf("%w: %v", ErrBaseURL, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("%w: scheme %q, want http or https", ErrBaseURL, u.Scheme)
	case u.Host == "":
		return "", fmt.Errorf("%w: no host", ErrBaseURL)
	case u.User != nil:
		return "", fmt.Errorf("%w: credentials in the URL are not supported", ErrBaseURL)
	case u.RawQuery != "" || u.Fragment != "":
		return "", fmt.Errorf("%w: query or fragment not allowed", ErrBaseURL)
	}
	path := strings.TrimRight(u.Path, "/")
	version := path[strings.LastIndex(path, "/")+1:]
	switch {
	case version == "":
		return "", fmt.Errorf("%w: %s has no API version path segment (use %s/2016-07-29 or %s/latest)",
			ErrBaseURL, u.Host, u.Host, u.Host)
	case !apiVersionSegment.MatchString(version):
		return "", fmt.Errorf("%w: last path segment %q is not an API version such as 2016-07-29 or latest",
			ErrBaseURL, version)
	case version == "2015-07-25":
		return "", fmt.Errorf("%w: API 2015-07-25 lists containers by name only; use 2015-12-19 or later",
			ErrBaseURL)
	}
	u.Path = path
	u.RawPath = ""
	return u.String(), nil
}
