package bootstrap_test

import (
	"io"

	"github.com/sirupsen/logrus"
)

func newTestLogger(w io.Writer) *logrus.Logger {
	l := logrus.New()
	l.SetOutput(w)
	l.SetLevel(logrus.DebugLevel)
	return l
}
