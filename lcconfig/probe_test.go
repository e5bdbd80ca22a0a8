package lcconfig

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestHTTPProbe(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/login" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	probe := HTTPProbe(srv.URL + "/login")
	for _, tc := range []struct {
		status int
		ready  bool
	}{{200, true}, {302, true}, {404, true}, {500, false}, {503, false}} {
		status = tc.status
		if err := probe(ctx); (err == nil) != tc.ready {
			t.Errorf("status %d: probe = %v, want ready %v", tc.status, err, tc.ready)
		}
	}
	srv.Close()
	if err := HTTPProbe(srv.URL + "/login")(ctx); err == nil {
		t.Error("probe of a closed port passed")
	}
}

func TestResolveHTTPAddress(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		files map[string]string
		want  string
	}{
		{"defaults", nil, nil, "127.0.0.1:5000"},
		{"config/settings.yml", nil, map[string]string{"config/settings.yml": "http:\n  port: 7000\n"}, "127.0.0.1:7000"},
		{"only config/ is read", nil, map[string]string{"config/settings.yml": "env: x\n", "settings.yml": "http:\n  port: 7000\n"}, "127.0.0.1:5000"},
		{"the image's baked LCB_HTTP_PORT beats the file", map[string]string{"LCB_HTTP_PORT": "8080", "LCB_HTTP_HOST": "0.0.0.0"},
			map[string]string{"config/settings.yml": "http:\n  port: 7000\n"}, "127.0.0.1:8080"},
		{"empty LCB_HTTP_PORT does not", map[string]string{"LCB_HTTP_PORT": ""}, map[string]string{"settings.yml": "http:\n  port: 7000\n"}, "127.0.0.1:7000"},
		{"PORT beats all", map[string]string{"LCB_HTTP_PORT": "8080", "PORT": "9000"}, nil, "127.0.0.1:9000"},
		{"a specific host", map[string]string{"LCB_HTTP_HOST": "10.1.2.3"}, nil, "10.1.2.3:5000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string][]byte{}
			for k, v := range tc.files {
				files[k] = []byte(v)
			}
			got, err := ResolveHTTPAddress(tc.env, files)
			if err != nil || got != tc.want {
				t.Fatalf("ResolveHTTPAddress = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	if _, err := ResolveHTTPAddress(map[string]string{"PORT": "http"}, nil); err == nil {
		t.Error("a port that is no number was accepted")
	}
}
