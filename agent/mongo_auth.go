package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"

	"github.com/replset-agent/replset-agent/bootstrap"
	"github.com/replset-agent/replset-agent/mongors"
)

// Access control in the mongo role. With admin credentials (--username, --password) the
// reconciler logs in as the admin, falling back to the localhost exception on its own node and to
// hello elsewhere while a node has no users (mongors.ConnConfig.LoginFallback), and the
// bootstrap (package bootstrap) creates the set's first users. The bootstrap runs on its own
// ticker, every --recheck-interval, until both users exist and log in: it never waits for a
// reconcile pass, which cannot read the set's config before the admin exists.

// Alarm names of the bootstrap, for /status and the log.
const (
	alarmAdminRejected = "admin-rejected"
	alarmAppRejected   = "app-rejected"
)

// authStatus is the access-control part of the mongo role's /status and of the status command.
type authStatus struct {
	// Admin and App name the users ("user@db"), never their passwords.
	Admin    string `json:"admin"`
	App      string `json:"app"`
	Database string `json:"database"`
	// Done is true once both users exist and log in.
	Done bool `json:"done"`
	// Created lists the users this agent created.
	Created []string `json:"created,omitempty"`
	// Waiting says why nothing could be done yet.
	Waiting string `json:"waiting,omitempty"`
	// Alarm is admin-rejected or app-rejected while a human must act; AlarmText says what.
	Alarm     string `json:"alarm,omitempty"`
	AlarmText string `json:"alarm_text,omitempty"`
	// LastError is the last transient failure, retried on the next tick.
	LastError string   `json:"last_error,omitempty"`
	Warnings  []string `json:"warnings,omitempty"`
	// Steps counts the bootstrap steps taken.
	Steps int `json:"steps,omitempty"`
	// LoginRefused lists the nodes that refused the admin login and are used without it (the
	// local one through the localhost exception, the others for hello only).
	LoginRefused []string `json:"login_refused,omitempty"`
}

// problems are what makes the set unhealthy in a status report: an alarm.
func (a *authStatus) problems() []string {
	if a == nil || a.Alarm == "" {
		return nil
	}
	return []string{"AUTH BOOTSTRAP: " + a.AlarmText}
}

// alarmOf names the alarm behind a bootstrap error, "" for a transient one.
func alarmOf(err error) (name, text string) {
	switch {
	case errors.Is(err, bootstrap.ErrAdminRejected):
		return alarmAdminRejected, "mongod rejects the admin credentials and users exist that this agent does not own (or the agent is not on mongod's host): nothing is created. Give the agent the admin's password, or create the users by hand"
	case errors.Is(err, bootstrap.ErrAppRejected):
		return alarmAppRejected, "Let's Chat's user exists and rejects the configured --app-password: nothing is changed. Set its password as the admin (updateUser) or give the agent the one it has"
	}
	return "", ""
}

// newBootstrapper builds the bootstrap of the mongo role's first users; nil without admin
// credentials.
func newBootstrapper(cfg *mongoConfig, client *mongors.DriverClient, log logrus.FieldLogger) (*bootstrap.Bootstrapper, error) {
	if cfg.Username == "" {
		return nil, nil
	}
	return bootstrap.New(bootstrap.Config{
		Address:       cfg.MongodAddress,
		Admin:         bootstrap.Credential{Username: cfg.Username, Password: cfg.Password, Source: cfg.AuthSource},
		App:           bootstrap.Credential{Username: cfg.AppUsername, Password: cfg.AppPassword, Source: cfg.AuthSource},
		AppDatabase:   cfg.Database,
		ClientOptions: client.ApplyTransport,
		Timeout:       cfg.ActionTimeout,
		Log:           log,
	})
}

func credName(user, source string) string {
	if source == "" {
		source = "admin"
	}
	return user + "@" + source
}

// bootRunner steps the bootstrap every interval until it is done, and keeps its state for
// /status, the log and the metrics.
type bootRunner struct {
	b        *bootstrap.Bootstrapper
	client   *mongors.DriverClient
	every    time.Duration
	log      logrus.FieldLogger
	doneG    prometheus.Gauge
	alarmG   prometheus.Gauge
	mu       sync.Mutex
	st       authStatus
	lastWait string
}

// newBootGauges registers the bootstrap's gauges; they read 0 on an agent without admin
// credentials, which bootstraps nothing.
func newBootGauges(m *metrics) (done, alarm prometheus.Gauge) {
	c := prometheus.Labels{"role": "mongo"}
	done = prometheus.NewGauge(prometheus.GaugeOpts{Name: "replset_agent_auth_bootstrap_done",
		Help: "1 once the set's admin and Let's Chat users exist and log in (0 before, and on an agent without admin credentials).", ConstLabels: c})
	alarm = prometheus.NewGauge(prometheus.GaugeOpts{Name: "replset_agent_auth_bootstrap_alarm",
		Help: "1 while the bootstrap of the first users refuses to act: users this agent does not own exist, or Let's Chat's user rejects its password.", ConstLabels: c})
	m.registry.MustRegister(done, alarm)
	return done, alarm
}

func newBootRunner(cfg *mongoConfig, b *bootstrap.Bootstrapper, client *mongors.DriverClient, m *metrics, log logrus.FieldLogger) *bootRunner {
	done, alarm := newBootGauges(m)
	r := &bootRunner{b: b, client: client, every: cfg.Recheck, log: log.WithField("component", "bootstrap"), doneG: done, alarmG: alarm}
	r.st = authStatus{Admin: credName(cfg.Username, cfg.AuthSource), App: credName(cfg.AppUsername, cfg.AuthSource), Database: cfg.Database}
	return r
}

// run steps at once and then every interval until the bootstrap is done or ctx ends.
func (r *bootRunner) run(ctx context.Context) {
	tick := time.NewTicker(r.every)
	defer tick.Stop()
	for {
		if r.step(ctx) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// step runs one bootstrap step and reports whether the bootstrap is done. It logs one line per
// change: users created, waiting for something else, an alarm raised or cleared, a failure.
func (r *bootRunner) step(ctx context.Context) bool {
	res, err := r.b.Step(ctx)
	if ctx.Err() != nil {
		return true
	}
	alarm, text := alarmOf(err)
	r.mu.Lock()
	defer r.mu.Unlock()
	st := &r.st
	st.Steps++
	st.Created = append(st.Created, res.Created...)
	st.Warnings = res.Warnings
	if alarm != st.Alarm {
		if alarm != "" {
			r.log.WithField("alarm", alarm).Error("AUTH BOOTSTRAP ALARM: " + text)
			r.alarmG.Set(1)
		} else {
			r.log.WithField("alarm", st.Alarm).Info("auth bootstrap alarm cleared")
			r.alarmG.Set(0)
		}
		st.Alarm, st.AlarmText = alarm, text
	}
	switch {
	case err != nil && alarm == "":
		if msg := err.Error(); msg != st.LastError {
			r.log.WithError(err).WithField("retryIn", r.every.String()).Warn("auth bootstrap step failed; retrying")
			st.LastError = msg
		}
	case err == nil:
		st.LastError = ""
	}
	if res.Waiting != r.lastWait && res.Waiting != "" {
		r.log.WithField("reason", res.Waiting).Info("auth bootstrap waiting")
	}
	r.lastWait, st.Waiting = res.Waiting, res.Waiting
	for _, w := range res.Warnings {
		r.log.Warn(w)
	}
	if !res.Done {
		return false
	}
	st.Done = true
	r.doneG.Set(1)
	r.log.WithFields(logrus.Fields{"admin": st.Admin, "app": st.App, "database": st.Database, "created": fmt.Sprint(st.Created), "steps": st.Steps}).
		Info("auth bootstrap done: the admin and Let's Chat's user exist and log in")
	return true
}

func (r *bootRunner) status() *authStatus {
	r.mu.Lock()
	st := r.st
	r.mu.Unlock()
	st.Created = append([]string(nil), st.Created...)
	st.LoginRefused = r.client.LoginRefused()
	return &st
}
