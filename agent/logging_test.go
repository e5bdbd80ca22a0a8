package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestRedactionHook(t *testing.T) {
	const secret = "p@ss word/1"
	var out bytes.Buffer
	log := newLogger(&out, "info", "json", secret, "ab")
	log.WithField("uri", "mongodb://u:p%40ss+word%2F1@h:27017/x").
		WithField("path", "mongodb://u:p@ss%20word%2F1@h/x").
		WithError(errors.New("auth failed for p@ss word/1")).
		Info("connecting with p@ss word/1 and ab")
	got := out.String()
	for _, form := range []string{secret, "p%40ss+word%2F1", "p@ss%20word%2F1"} {
		if strings.Contains(got, form) {
			t.Errorf("log line holds %q:\n%s", form, got)
		}
	}
	if !strings.Contains(got, "and ab") {
		t.Error("a secret shorter than 3 characters must not redact ordinary text")
	}
	if strings.Count(got, "xxxxx") != 4 {
		t.Errorf("want 4 redactions:\n%s", got)
	}
}

func TestLogTimestampsHaveMilliseconds(t *testing.T) {
	stamp := regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d)`)
	for _, format := range []string{"text", "json"} {
		var out bytes.Buffer
		newLogger(&out, "info", format).Info("hello")
		line := out.String()
		var ts string
		if format == "json" {
			var entry map[string]any
			if err := json.Unmarshal(out.Bytes(), &entry); err != nil {
				t.Fatalf("json line %q: %v", line, err)
			}
			ts, _ = entry["time"].(string)
		} else if m := regexp.MustCompile(`time="([^"]+)"`).FindStringSubmatch(line); m != nil {
			ts = m[1]
		}
		if !stamp.MatchString(ts) || stamp.FindString(ts) != ts {
			t.Errorf("%s time %q in %q lacks milliseconds", format, ts, line)
		}
		if _, err := time.Parse(logTimeFormat, ts); err != nil {
			t.Errorf("%s time %q does not parse: %v", format, ts, err)
		}
	}
}
