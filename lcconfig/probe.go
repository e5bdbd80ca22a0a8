package lcconfig

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// DefaultHTTPPort is http.port in Let's Chat's defaults.yml.
const DefaultHTTPPort = 5000

// HTTPProbe returns a readiness probe that GETs url and counts any answer below 500 as ready:
// Let's Chat only listens once its database connection is up, and then answers /login with 200.
// Redirects are not followed, and every probe opens a connection of its own: one kept alive
// would outlive the child it was made to.
func HTTPProbe(url string) func(context.Context) error {
	client := &http.Client{
		Transport: &http.Transport{
			Proxy:              nil, // the child is local: never through a proxy from the environment
			DisableKeepAlives:  true,
			DisableCompression: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
		_ = resp.Body.Close()
		if resp.StatusCode >= 500 {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	}
}

// ResolveHTTPAddress returns the host:port Let's Chat 0.4.8 listens on, following app/config.js
// like ResolveDatabaseURI does: http.host and http.port from defaults.yml ("" and 5000), then the
// settings file (config/settings.yml if present, else settings.yml), then non-empty LCB_HTTP_HOST
// and LCB_HTTP_PORT, then PORT. A wildcard or empty host becomes 127.0.0.1, where a local probe
// reaches it. An unreadable file is an error, as it is a crash for Let's Chat.
func ResolveHTTPAddress(env map[string]string, files map[string][]byte) (string, error) {
	host, port := "", strconv.Itoa(DefaultHTTPPort)
	for _, name := range []Source{SourceConfigSettings, SourceSettings} {
		content, ok := files[string(name)]
		if !ok {
			continue
		}
		doc, err := parseSingleDocument(content)
		if err != nil {
			return "", fmt.Errorf("%s: %w", name, err)
		}
		if root := doc.Content[0]; root.Kind == yaml.MappingNode {
			if h := lookup(root, "http"); h != nil && h.Kind == yaml.MappingNode {
				if v := lookup(h, "host"); v != nil && v.Kind == yaml.ScalarNode && v.Tag != "!!null" {
					host = v.Value
				}
				if v := lookup(h, "port"); v != nil && v.Kind == yaml.ScalarNode && v.Tag != "!!null" {
					port = v.Value
				}
			}
		}
		break // Only one file is read, never both.
	}
	if v := env["LCB_HTTP_HOST"]; v != "" {
		host = coerceEnvValue(v)
	}
	if v := env["LCB_HTTP_PORT"]; v != "" {
		port = coerceEnvValue(v)
	}
	if v := env["PORT"]; v != "" {
		port = v
	}
	switch strings.Trim(host, "[]") {
	case "", "0.0.0.0", "::":
		host = "127.0.0.1"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("Let's Chat's http.port %q is not a TCP port", port)
	}
	return net.JoinHostPort(strings.Trim(host, "[]"), port), nil
}
