package agent

import (
	"bytes"
	"errors"
	"strings"
	"testing"
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
