package lcconfig

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckCookieSecret(t *testing.T) {
	tests := []struct {
		secret string
		want   string // part of the error; empty: accepted
	}{
		{"", "none given"},
		{"secretsauce", "public default"},
		{"1234", "looks like a number"},
		{"1234x", "looks like a number"},
		{"1.5", "looks like a number"},
		{"-42", "looks like a number"},
		{"YES", "yes/no word"},
		{"Off", "yes/no word"},
		{" padded-secret-value ", "white space"},
		{"line\nbreak-secret-value", "control characters"},
		{"K7#q9!vW2-not-a-number", ""},
		{"1234abcd", ""}, // two characters after the digits: a string to Let's Chat
		{"short", ""},    // accepted; the supervisor warns
	}
	for _, tc := range tests {
		err := CheckCookieSecret(tc.secret)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("CheckCookieSecret(%q) = %v, want accepted", tc.secret, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrCookieSecret)):
			t.Errorf("CheckCookieSecret(%q) = %v, want an ErrCookieSecret about %q", tc.secret, err, tc.want)
		case err != nil && tc.secret != "" && strings.Contains(err.Error(), strings.TrimSpace(tc.secret)) && tc.secret != DefaultCookieSecret:
			t.Errorf("CheckCookieSecret(%q) echoes the secret: %v", tc.secret, err)
		}
	}
}

// Let's Chat never starts with the public default, or without a secret: NewSupervisor refuses.
func TestNewSupervisor_cookieSecret(t *testing.T) {
	base := filepath.Join(t.TempDir(), "base.yml")
	writeFile(t, base, "secrets:\n  cookie: secretsauce\n")
	weak, err := LoadSettings(base, filepath.Join(t.TempDir(), "settings.yml"))
	if err != nil {
		t.Fatal(err)
	}
	none, err := LoadSettings("", filepath.Join(t.TempDir(), "settings.yml"))
	if err != nil {
		t.Fatal(err)
	}
	good, err := LoadSettings(filepath.Join("testdata", "settings", "base.yml"), filepath.Join(t.TempDir(), "settings.yml"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  SupervisorConfig
		ok   bool
	}{
		{"env delivery without a secret", SupervisorConfig{}, false},
		{"env delivery with the default", SupervisorConfig{CookieSecret: "secretsauce"}, false},
		{"env delivery with a number", SupervisorConfig{CookieSecret: "98765"}, false},
		{"env delivery with a secret", SupervisorConfig{CookieSecret: testCookieSecret}, true},
		{"settings delivery, base has the default", SupervisorConfig{Delivery: DeliverSettings, Settings: weak}, false},
		{"settings delivery, base has none", SupervisorConfig{Delivery: DeliverSettings, Settings: none}, false},
		{"settings delivery, base has a good one", SupervisorConfig{Delivery: DeliverSettings, Settings: good}, true},
		{"settings delivery, the agent's replaces the base's default", SupervisorConfig{Delivery: DeliverSettings, Settings: weak, CookieSecret: testCookieSecret}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Dir = t.TempDir()
			_, err := NewSupervisor(tc.cfg)
			if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrCookieSecret)) {
				t.Fatalf("NewSupervisor = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// With env delivery the secret is LCB_SECRETS_COOKIE; with settings delivery it is only in the
// 0600 file, and the variable is blanked so that a baked one cannot win.
func TestSupervisor_deliversCookieSecret(t *testing.T) {
	t.Run("env", func(t *testing.T) {
		h := newHarness(t, nil, "LCB_SECRETS_COOKIE=baked-in-image")
		h.update(0, "10.0.0.1")
		h.run()
		s := h.waitStarts(1)[0]
		if !s.CookieSet || s.Cookie != testCookieSecret {
			t.Fatalf("child saw LCB_SECRETS_COOKIE set=%v %q", s.CookieSet, s.Cookie)
		}
		h.waitLogs("LCB_SECRETS_COOKIE from the environment is replaced", 1)
	})
	t.Run("settings", func(t *testing.T) {
		var target string
		h := newHarness(t, func(c *SupervisorConfig) {
			target = filepath.Join(c.Dir, "config", "settings.yml")
			f, err := LoadSettings(filepath.Join("testdata", "settings", "base.yml"), target)
			if err != nil {
				t.Fatal(err)
			}
			c.Delivery, c.Settings = DeliverSettings, f
			c.Env = append(c.Env, "FAKECHAT_SETTINGS="+target, "LCB_SECRETS_COOKIE=baked-in-image")
		})
		h.update(0, "10.0.0.1")
		h.run()
		s := h.waitStarts(1)[0]
		if !s.CookieSet || s.Cookie != "" || !s.URISet || s.URI != "" {
			t.Fatalf("child environment carries the secrets: cookie %v %q, uri %v %q", s.CookieSet, s.Cookie, s.URISet, s.URI)
		}
		if !strings.Contains(s.Settings, `cookie: "`+testCookieSecret+`"`) {
			t.Fatalf("settings file lacks the secret:\n%s", s.Settings)
		}
		if st, err := os.Stat(target); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("settings file %v %v", st, err)
		}
		h.waitLogs("secrets.cookie of the base settings is replaced", 1)
		h.waitLogs("LCB_SECRETS_COOKIE from the environment is blanked", 1)
		if strings.Contains(h.logs.text(), testCookieSecret) {
			t.Fatal("the cookie secret reached the logs")
		}
	})
}

func TestLCBVariable(t *testing.T) {
	for path, want := range map[string]string{
		"database.uri":                  "LCB_DATABASE_URI",
		"auth.local.enableRegistration": "LCB_AUTH_LOCAL_ENABLE_REGISTRATION",
		"giphy.apiKey":                  "LCB_GIPHY_API_KEY",
		"noRobots":                      "LCB_NO_ROBOTS",
		"auth.ldap.bindDn":              "LCB_AUTH_LDAP_BIND_DN",
		"http.port":                     "LCB_HTTP_PORT",
		"files.someURLPath":             "LCB_FILES_SOME_URLPATH",
	} {
		if got := lcbVariable(strings.Split(path, ".")); got != want {
			t.Errorf("lcbVariable(%s) = %s, want %s", path, got, want)
		}
	}
}

// The image bakes LCB_HTTP_PORT and LCB_XMPP_PORT; with settings delivery they silently beat the
// base's http.port and xmpp.port. The supervisor says so, as a warning.
func TestSupervisor_warnsAboutBakedVariablesOverBaseKeys(t *testing.T) {
	h := newHarness(t, func(c *SupervisorConfig) {
		f, err := LoadSettings(filepath.Join("testdata", "settings", "base.yml"), filepath.Join(c.Dir, "config", "settings.yml"))
		if err != nil {
			t.Fatal(err)
		}
		c.Delivery, c.Settings = DeliverSettings, f
	}, "LCB_HTTP_PORT=8080", "LCB_XMPP_PORT=5222", "LCB_HTTP_HOST=", "LCB_GIPHY_API_KEY=unrelated")
	h.run()
	h.waitLogs("waiting for replica-set members", 1)
	var got []string
	for _, e := range h.logs.entries("LCB_") {
		if strings.Contains(e["msg"].(string), "overrides") {
			if e["level"] != "warning" {
				t.Errorf("%q logged at %v", e["msg"], e["level"])
			}
			got = append(got, e["variable"].(string)+"→"+e["key"].(string))
		}
	}
	if strings.Join(got, " ") != "LCB_HTTP_PORT→http.port LCB_XMPP_PORT→xmpp.port" {
		t.Fatalf("override warnings %v", got)
	}
}
