package agent

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"

	"github.com/replset-agent/replset-agent/metadata"
	"github.com/replset-agent/replset-agent/mongors"
)

// The MongoDB version window. The Go driver this agent is built with talks to 4.4 and later.
// Let's Chat 0.4.8's driver (mongoose 4 / Node driver 2.2) sends every command as a legacy
// OP_QUERY, which MongoDB removed in 5.1: Let's Chat needs 5.0 or older.
const (
	oldestManaged     = "4.4"
	newestForLetschat = "5.0"
)

// versionRecheck is how often a known version is read again: an in-place upgrade restarts
// mongod without restarting its agent.
const versionRecheck = time.Minute

// letschatServiceFlag names the Let's Chat service whose presence in the stack makes a MongoDB
// newer than 5.0 an alarm.
type letschatServiceFlag struct{ LetschatService string }

func (f *letschatServiceFlag) register(s *optionSet) {
	s.String(&f.LetschatService, "letschat-service", "LETSCHAT_SERVICE_NAME", "letschat", "name of the Let's Chat service in the stack (its driver needs MongoDB 5.0 or older)")
}

// parseSeries reads major and minor from a version string such as "5.0.31" or "4.2".
func parseSeries(v string) (major, minor int, ok bool) {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(strings.TrimFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return major, minor, true
}

func seriesBefore(v, than string) bool {
	a1, b1, ok1 := parseSeries(v)
	a2, b2, _ := parseSeries(than)
	return ok1 && (a1 < a2 || a1 == a2 && b1 < b2)
}

// versionVerdict is what the agent concludes from a version.
type versionVerdict struct {
	// TooOld: below 4.4, which the agent's driver cannot manage.
	TooOld bool
	// Alarm says why Let's Chat cannot use this version; empty when it can (or is not there).
	Alarm string
}

// judgeVersion applies the version window: letschat says whether a Let's Chat service shares the
// set.
func judgeVersion(version string, letschat bool) versionVerdict {
	var v versionVerdict
	if seriesBefore(version, oldestManaged) {
		v.TooOld = true
	}
	if letschat && version != "" && !seriesBefore(version, "5.1") {
		v.Alarm = fmt.Sprintf("MongoDB %s rejects the legacy OP_QUERY commands of Let's Chat's driver (mongoose 4, Node driver 2.2): Let's Chat cannot read or write its database; run MongoDB %s or %s", version, oldestManaged, newestForLetschat)
	}
	return v
}

func tooOldMessage(version string) string {
	return fmt.Sprintf("MongoDB %s is older than %s, the oldest version this agent's driver can manage: replset-agent does not manage this set; run MongoDB %s or %s", version, oldestManaged, oldestManaged, newestForLetschat)
}

// wireVersionRe finds the wire version in the Go driver's refusal of a server too old for it
// ("server at h:p reports wire version 8, but this version of the Go driver requires at least 9").
var wireVersionRe = regexp.MustCompile(`reports wire version (\d+)`)

// seriesOfWire names the release series of a maxWireVersion below the driver's minimum.
func seriesOfWire(wire int) string {
	switch wire {
	case 8:
		return "4.2"
	case 7:
		return "4.0"
	case 6:
		return "3.6"
	case 5:
		return "3.4"
	case 4:
		return "3.2"
	case 3:
		return "3.0"
	case 2:
		return "2.6"
	}
	return "2.4 or older"
}

// versionFromRefusal recognises the driver's refusal of a too old server and names its series.
func versionFromRefusal(err error) (string, bool) {
	if err == nil {
		return "", false
	}
	m := wireVersionRe.FindStringSubmatch(err.Error())
	if m == nil {
		return "", false
	}
	wire, _ := strconv.Atoi(m[1])
	return seriesOfWire(wire), true
}

// readVersion reads addr's version with buildInfo; a server the driver refuses as too old is
// named from its wire version instead.
func readVersion(ctx context.Context, c *mongors.DriverClient, addr string) (string, error) {
	bi, err := c.BuildInfo(ctx, addr)
	if err == nil {
		return bi.Version, nil
	}
	if v, ok := versionFromRefusal(err); ok {
		return v, nil
	}
	return "", err
}

// letschatInStack reports whether the stack has a Let's Chat service.
func letschatInStack(s metadata.Snapshot, stack, service string) bool {
	for _, svc := range s.Services {
		if strings.EqualFold(svc.StackName, stack) && strings.EqualFold(svc.Name, service) {
			return true
		}
	}
	return false
}

// versionStatus is the version part of /status and of the status command's report.
type versionStatus struct {
	// Version is the server's release ("5.0.31"), or its series when the driver refused it.
	Version string `json:"version,omitempty"`
	// From is the mongod it was read from.
	From string `json:"from,omitempty"`
	// Refused is set when the mongo agent will not manage the set (below 4.4).
	Refused bool `json:"refused,omitempty"`
	// Problem says why the version is out of the agent's window.
	Problem string `json:"problem,omitempty"`
	// Alarm says why Let's Chat cannot use it.
	Alarm string `json:"alarm,omitempty"`
	// Error is why the version could not be read (last attempt).
	Error string `json:"error,omitempty"`
}

// versionWatch keeps a role's knowledge of the MongoDB version, its metrics and its log lines.
type versionWatch struct {
	log   logrus.FieldLogger
	info  *prometheus.GaugeVec
	alarm prometheus.Gauge
	// refuses: the mongo role stops managing the set below 4.4; the letschat role only reports.
	refuses bool

	mu       sync.Mutex
	st       versionStatus
	letschat bool
	logged   string // the last verdict logged, so each is logged once
}

func newVersionWatch(log logrus.FieldLogger, reg *prometheus.Registry, role string, refuses, letschat bool) *versionWatch {
	c := prometheus.Labels{"role": role}
	w := &versionWatch{
		log:      log,
		refuses:  refuses,
		letschat: letschat,
		info: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "replset_agent_mongodb_version_info", Help: "1 for the MongoDB version the agent last read (buildInfo).", ConstLabels: c,
		}, []string{"version"}),
		alarm: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "replset_agent_mongodb_version_alarm", Help: "1 while the MongoDB version is outside the window: older than 4.4, or newer than 5.0 with Let's Chat in the stack.", ConstLabels: c,
		}),
	}
	if reg != nil {
		reg.MustRegister(w.info, w.alarm)
	}
	return w
}

// status returns a copy of what is known; nil before anything was tried.
func (w *versionWatch) status() *versionStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.st == (versionStatus{}) {
		return nil
	}
	st := w.st
	return &st
}

// problems lists the version's problems for a status report.
func (w *versionWatch) problems() []string {
	st := w.status()
	if st == nil {
		return nil
	}
	var out []string
	for _, p := range []string{st.Problem, st.Alarm} {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// setLetschat records whether Let's Chat shares the set, and re-judges the known version.
func (w *versionWatch) setLetschat(present bool) {
	w.mu.Lock()
	if w.letschat == present {
		w.mu.Unlock()
		return
	}
	w.letschat = present
	w.judgeLocked()
	w.mu.Unlock()
}

// record stores the result of one read; it returns true when the set must not be managed.
func (w *versionWatch) record(version, from string, err error) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.st.Error = err.Error()
		if w.logged != "error:"+w.st.Error && w.st.Version == "" {
			w.logged = "error:" + w.st.Error
			w.log.WithError(err).WithField("mongod", from).Warn("MongoDB version not known yet; will retry")
		}
		return w.st.Refused
	}
	if version != w.st.Version {
		w.log.WithFields(logrus.Fields{"version": version, "mongod": from}).Info("MongoDB version read")
	}
	w.st.Version, w.st.From, w.st.Error = version, from, ""
	w.info.Reset()
	w.info.WithLabelValues(version).Set(1)
	w.judgeLocked()
	return w.st.Refused
}

func (w *versionWatch) judgeLocked() {
	if w.st.Version == "" {
		return
	}
	v := judgeVersion(w.st.Version, w.letschat)
	w.st.Alarm, w.st.Problem = v.Alarm, ""
	if v.TooOld {
		w.st.Problem = tooOldMessage(w.st.Version)
		w.st.Refused = w.refuses
	}
	raised := v.TooOld || v.Alarm != ""
	if raised {
		w.alarm.Set(1)
	} else {
		w.alarm.Set(0)
	}
	key := w.st.Version + "|" + w.st.Problem + "|" + w.st.Alarm
	if key == w.logged {
		return
	}
	w.logged = key
	f := w.log.WithFields(logrus.Fields{"version": w.st.Version, "mongod": w.st.From, "letschat_in_stack": w.letschat})
	switch {
	case v.TooOld:
		f.Error(w.st.Problem)
	case v.Alarm != "":
		f.Error(v.Alarm)
	default:
		f.Info("MongoDB version inside the window")
	}
}

// watch reads the version with read until ctx ends: every retry until it is known, then every
// versionRecheck. It returns early, true, once the version makes the set unmanageable.
func (w *versionWatch) watch(ctx context.Context, retry time.Duration, read func(context.Context) (version, from string, err error)) bool {
	for {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		version, from, err := read(rctx)
		cancel()
		if ctx.Err() != nil {
			return false
		}
		if w.record(version, from, err) {
			return true
		}
		next := versionRecheck
		if err != nil {
			next = retry
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(next):
		}
	}
}

// runReconciler runs the mongo role's reconciler beside the version watch, and stops it for good
// when the local mongod is older than 4.4: the agent then refuses to manage the set.
func (r *mongoRole) runReconciler(ctx context.Context) {
	recCtx, stopRec := context.WithCancel(ctx)
	defer stopRec()
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.rec.Run(recCtx)
	}()
	refused := r.version.watch(ctx, r.cfg.Recheck, func(ctx context.Context) (string, string, error) {
		v, err := readVersion(ctx, r.client, r.cfg.MongodAddress)
		return v, r.cfg.MongodAddress, err
	})
	if refused {
		stopRec()
		r.log.WithField("mongod", r.cfg.MongodAddress).Error("the reconciler is stopped: this agent refuses to manage a set it cannot manage safely")
	}
	<-done
}

// watchVersion is the letschat role's version watch: it reads buildInfo from the set's members
// (the first that answers), the ones Let's Chat is given.
func (r *letschatRole) watchVersion(ctx context.Context) {
	var client *mongors.DriverClient
	defer func() {
		if client != nil {
			cctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_ = client.Close(cctx)
		}
	}()
	r.version.watch(ctx, 5*time.Second, func(ctx context.Context) (string, string, error) {
		r.mu.Lock()
		hosts := append([]string(nil), r.lastHosts...)
		r.mu.Unlock()
		if len(hosts) == 0 {
			return "", "", fmt.Errorf("no member of the set is known yet")
		}
		if client == nil {
			c, err := mongors.NewDriverClient(connConfig(&r.cfg.commonConfig, hosts[0], 10*time.Second, 0))
			if err != nil {
				return "", "", err
			}
			client = c
		}
		var last error
		for _, h := range hosts {
			v, err := readVersion(ctx, client, h)
			if err == nil {
				return v, h, nil
			}
			last = err
		}
		return "", strings.Join(hosts, ","), last
	})
}

// statusVersion reads the version for the status command and adds its problems to the report's.
func statusVersion(ctx context.Context, client *mongors.DriverClient, cfg *statusConfig, snap metadata.Snapshot, stack string, problems []string) (*versionStatus, []string) {
	w := newVersionWatch(discardLogger(), nil, "status", true, stack != "" && letschatInStack(snap, stack, cfg.LetschatService))
	v, err := readVersion(ctx, client, cfg.MongodAddress)
	w.record(v, cfg.MongodAddress, err)
	st := w.status()
	if err != nil {
		// The unreachable mongod is reported once, by the set's own check.
		return st, problems
	}
	return st, append(problems, w.problems()...)
}

func discardLogger() logrus.FieldLogger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

// printVersion adds the version line to the status table.
func printVersion(w io.Writer, st *versionStatus) {
	if st == nil || st.Version == "" {
		return
	}
	note := "supported"
	switch {
	case st.Problem != "":
		note = "too old for replset-agent"
	case st.Alarm != "":
		note = "too new for Let's Chat"
	}
	fmt.Fprintf(w, "MongoDB %s on %s: %s\n", st.Version, st.From, note)
}

// versionSummary is the demo summary's MongoDB line: the version the agents read and the
// verdict, and what presented it.
func (d *demo) versionSummary() string {
	var st *versionStatus
	for _, h := range d.hosts {
		if h.agent != nil {
			if s := h.agent.version.status(); s != nil && s.Version != "" {
				st = s
				break
			}
		}
	}
	if st == nil {
		return "version not read (" + d.backend + ")"
	}
	verdict := "inside the window for Let's Chat (4.4 to 5.0)"
	switch {
	case st.Problem != "":
		verdict = st.Problem
	case st.Alarm != "":
		verdict = st.Alarm
	}
	return fmt.Sprintf("%s as read by the agents (%s); %s", st.Version, d.backend, verdict)
}
