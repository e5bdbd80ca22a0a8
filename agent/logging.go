package agent

import (
	"io"
	"net/url"
	"slices"
	"strings"

	"github.com/sirupsen/logrus"
)

// logTimeFormat is RFC 3339 with milliseconds: agents on several hosts react to one metadata
// change within milliseconds of each other, and whole seconds cannot order their lines.
const logTimeFormat = "2006-01-02T15:04:05.000Z07:00"

// newLogger builds the process logger. Secrets are kept out of log lines by construction (nothing
// logs them); the redaction hook is the second line of defence, so that a driver error quoting a URI
// or a future careless field cannot leak one.
func newLogger(w io.Writer, level, format string, secrets ...string) *logrus.Logger {
	l := logrus.New()
	l.SetOutput(w)
	if lv, err := logrus.ParseLevel(level); err == nil {
		l.SetLevel(lv)
	}
	if format == "json" {
		l.SetFormatter(&logrus.JSONFormatter{TimestampFormat: logTimeFormat})
	} else {
		l.SetFormatter(&logrus.TextFormatter{FullTimestamp: true, DisableColors: true, TimestampFormat: logTimeFormat})
	}
	var keep []string
	for _, s := range secrets {
		if len(s) < 3 { // shorter strings would redact ordinary words
			continue
		}
		// A secret also travels percent-escaped inside URIs.
		for _, form := range []string{s, url.QueryEscape(s), url.PathEscape(s)} {
			if !slices.Contains(keep, form) {
				keep = append(keep, form)
			}
		}
	}
	if len(keep) > 0 {
		l.AddHook(&redactHook{secrets: keep})
	}
	return l
}

// redactHook replaces every occurrence of a secret in a log entry's message and string fields.
type redactHook struct{ secrets []string }

func (h *redactHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h *redactHook) Fire(e *logrus.Entry) error {
	e.Message = h.redact(e.Message)
	for k, v := range e.Data {
		switch x := v.(type) {
		case string:
			e.Data[k] = h.redact(x)
		case error:
			if s := x.Error(); h.redact(s) != s {
				e.Data[k] = h.redact(s)
			}
		}
	}
	return nil
}

func (h *redactHook) redact(s string) string {
	for _, sec := range h.secrets {
		s = strings.ReplaceAll(s, sec, "xxxxx")
	}
	return s
}
