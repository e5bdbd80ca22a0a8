package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/replset-agent/replset-agent/bootstrap"
	"github.com/replset-agent/replset-agent/metadata"
	"github.com/replset-agent/replset-agent/mongors"
)

// statusConfig is the status command's configuration.
type statusConfig struct {
	commonConfig
	letschatServiceFlag
	appUserFlags
	MongodAddress string
	Database      string
	JSON          bool
	Timeout       time.Duration
}

func (c *statusConfig) options() *optionSet {
	s := newOptionSet("status", "Reads metadata and the replica set once and prints the topology, the set's config version,\nthe primary and the action the planner would take next (a dry run; nothing is changed).\nExits 1 when the set is unhealthy or unreachable.")
	c.commonConfig.register(s, true)
	c.letschatServiceFlag.register(s)
	s.String(&c.MongodAddress, "mongod-address", "MONGOD_ADDRESS", "127.0.0.1:27017", "the mongod to start from, reached by direct connection")
	c.appUserFlags.register(s)
	s.String(&c.Database, "database", "LETSCHAT_DATABASE", "letschat", "Let's Chat's database, on which its user should have readWrite")
	s.Bool(&c.JSON, "json", "", false, "print JSON instead of a table")
	s.Duration(&c.Timeout, "timeout", "STATUS_TIMEOUT", 15*time.Second, "how long to wait for metadata and mongod")
	return s
}

// statusMember is one row of the status table: a container of the service, a config member, or
// both.
type statusMember struct {
	Host          string   `json:"host,omitempty"`
	Address       string   `json:"address"`
	Container     string   `json:"container,omitempty"`
	MetadataState string   `json:"metadata_state"`
	SetState      string   `json:"set_state"`
	Votes         *int     `json:"votes,omitempty"`
	Priority      *float64 `json:"priority,omitempty"`
	Self          bool     `json:"self,omitempty"`
}

// statusReport is the status command's output; the mongo role's /status embeds it.
type statusReport struct {
	SetName       string          `json:"set_name"`
	Stack         string          `json:"stack,omitempty"`
	Self          string          `json:"self,omitempty"`
	ConfigVersion int             `json:"config_version,omitempty"`
	Committed     bool            `json:"committed"`
	Primary       string          `json:"primary,omitempty"`
	MongoDB       *versionStatus  `json:"mongodb,omitempty"`
	Members       []statusMember  `json:"members"`
	NextAction    *mongors.Action `json:"next_action,omitempty"`
	// ForeignSet lists mongods of the service found holding another replica set, with what to do.
	ForeignSet []mongors.ForeignNode `json:"foreign_set,omitempty"`
	Healthy    bool                  `json:"healthy"`
	Problems   []string              `json:"problems,omitempty"`
	// AccessControl is "on", "off" or "unknown": whether the local mongod refuses clients without
	// credentials (see probeAccessControl). Informational: a set without auth is not unhealthy.
	AccessControl string `json:"access_control,omitempty"`
	// Auth is the state of the set's first users (the bootstrap), when the agent has admin
	// credentials; an alarm there makes the set unhealthy.
	Auth *authStatus `json:"auth,omitempty"`
}

func runStatusCmd(args []string, env func(string) (string, bool), stdout, stderr io.Writer) int {
	var cfg statusConfig
	s := cfg.options()
	rest, err := s.parse(args, env)
	if code, done := handleParseError(s, "status [flags]", err, stdout, stderr); done {
		return code
	}
	if len(rest) > 0 {
		return reportUsage(stderr, s, usagef("status: unexpected argument %q", rest[0]))
	}
	if err := cfg.commonConfig.validate(); err != nil {
		return reportUsage(stderr, s, err)
	}
	if err := checkHostPort("mongod-address", "MONGOD_ADDRESS", cfg.MongodAddress); err != nil {
		return reportUsage(stderr, s, err)
	}
	if cfg.Timeout <= 0 {
		return reportUsage(stderr, s, usagef("--timeout (env STATUS_TIMEOUT) must be positive"))
	}
	warning, err := cfg.appUserFlags.validate()
	if err != nil {
		return reportUsage(stderr, s, err)
	}
	if warning != "" {
		cfg.warnings = append(cfg.warnings, warning)
	}
	if err := checkDatabaseName(cfg.Database); err != nil {
		return reportUsage(stderr, s, err)
	}
	log := newLogger(stderr, cfg.LogLevel, cfg.LogFormat, cfg.Password, cfg.AppPassword)
	logWarnings(log, cfg.warnings)
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
	defer cancel()
	rep := collectStatus(ctx, &cfg, log)
	if cfg.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	} else {
		printStatus(stdout, rep)
	}
	if !rep.Healthy {
		return 1
	}
	return 0
}

// collectStatus reads metadata and the set once. Every failure becomes a problem in the report;
// the report is always printable.
func collectStatus(ctx context.Context, cfg *statusConfig, log *logrus.Logger) statusReport {
	rep := statusReport{SetName: cfg.ReplSet}
	problem := func(format string, args ...any) { rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...)) }

	w, err := newWatcher(&cfg.commonConfig, mongoScope(&cfg.commonConfig, cfg.LetschatService), log, nil)
	if err != nil {
		problem("metadata: %v", err)
		return rep
	}
	snap, err := w.Fetch(ctx)
	if err != nil {
		problem("metadata: %v", err)
		return rep
	}
	var desired mongors.Desired
	var containers []metadata.ContainerStatus
	p, err := locate(snap, cfg.Stack, cfg.MongoService)
	if err != nil {
		problem("metadata: %v", err)
	} else {
		rep.Stack = p.Stack
		if self, err := selfAddress(p, cfg.AddressSource, cfg.Port); err == nil {
			rep.Self = self
		} else {
			problem("metadata: %v (no dry run without it)", err)
		}
		ms, err := desiredFromTopology(snap, &cfg.commonConfig, p.Stack, rep.Self)
		if err != nil {
			problem("metadata: %v", err)
		}
		desired, containers = ms.Desired, ms.Containers
	}

	client, err := mongors.NewDriverClient(connConfig(&cfg.commonConfig, cfg.MongodAddress, cfg.Timeout, 0))
	if err != nil {
		problem("mongod: %v", err)
		return finishStatus(rep, containers, nil)
	}
	defer client.Close(context.Background())
	rep.MongoDB, rep.Problems = statusVersion(ctx, client, cfg, snap, rep.Stack, rep.Problems)
	obs := mongors.Observe(ctx, client, desired)
	if !obs.Local.Reachable() {
		problem("mongod %s unreachable: %s", cfg.MongodAddress, obs.Local.Err)
	}
	for _, e := range obs.Errors {
		problem("mongod: %s", e)
	}
	if rep.Self != "" {
		a := mongors.Plan(desired, obs, time.Now(), settingsOf(&cfg.commonConfig, 0))
		rep.NextAction = &a
	}
	if obs.Local.Reachable() {
		rep.AccessControl = probeAccessControl(ctx, &cfg.commonConfig, cfg.MongodAddress, cfg.Timeout)
		rep.Auth = checkUsers(ctx, cfg, client, log)
		rep.Problems = append(rep.Problems, rep.Auth.problems()...)
	}
	return finishStatus(rep, containers, &obs)
}

// checkUsers says, without creating anything, where the bootstrap of the set's first users
// stands (bootstrap.Check); nil without admin credentials.
func checkUsers(ctx context.Context, cfg *statusConfig, client *mongors.DriverClient, log logrus.FieldLogger) *authStatus {
	if cfg.Username == "" {
		return nil
	}
	st := &authStatus{Admin: credName(cfg.Username, cfg.AuthSource), App: credName(cfg.AppUsername, cfg.AuthSource), Database: cfg.Database}
	if cfg.AppPassword == "" {
		st.Waiting = "not checked: give --app-password-file (env LETSCHAT_DB_PASSWORD_FILE) to check the users"
		return st
	}
	b, err := bootstrap.New(bootstrap.Config{
		Address:       cfg.MongodAddress,
		Admin:         bootstrap.Credential{Username: cfg.Username, Password: cfg.Password, Source: cfg.AuthSource},
		App:           bootstrap.Credential{Username: cfg.AppUsername, Password: cfg.AppPassword, Source: cfg.AuthSource},
		AppDatabase:   cfg.Database,
		ClientOptions: client.ApplyTransport,
		Timeout:       cfg.Timeout,
		Log:           log,
	})
	if err != nil {
		st.LastError = err.Error()
		return st
	}
	res, err := b.Check(ctx)
	st.Done, st.Waiting, st.Warnings = res.Done, res.Waiting, res.Warnings
	if alarm, text := alarmOf(err); alarm != "" {
		st.Alarm, st.AlarmText = alarm, text
	} else if err != nil {
		st.LastError = err.Error()
	}
	return st
}

func finishStatus(rep statusReport, containers []metadata.ContainerStatus, obs *mongors.Observed) statusReport {
	rows := map[string]*statusMember{}
	var order []string
	row := func(addr string) *statusMember {
		if r, ok := rows[addr]; ok {
			return r
		}
		r := &statusMember{Address: addr, MetadataState: "-", SetState: "-"}
		rows[addr] = r
		order = append(order, addr)
		return r
	}
	for _, c := range containers {
		addr := c.Address
		if addr == "" {
			addr = "(" + c.ContainerName + ")"
		}
		r := row(addr)
		r.Host, r.Container = c.HostName, c.ContainerName
		r.MetadataState = c.State
		if c.HealthState != "" {
			r.MetadataState += "/" + c.HealthState
		}
		if !c.Usable {
			r.MetadataState += " (" + string(c.Cause) + ")"
		}
	}
	if obs != nil && obs.Config != nil {
		rep.ConfigVersion = obs.Config.Version
		rep.Committed = obs.Committed
		for _, m := range obs.Config.Members {
			r := row(m.Host)
			v, p := m.Votes, m.Priority
			r.Votes, r.Priority = &v, &p
			r.SetState = "in config"
		}
	}
	if obs != nil {
		rep.Primary = obs.Primary
		if obs.Status != nil {
			for _, m := range obs.Status.Members {
				row(m.Name).SetState = m.StateStr
			}
		}
	}
	for _, addr := range order {
		r := rows[addr]
		r.Self = addr == rep.Self
		rep.Members = append(rep.Members, *r)
	}
	sort.SliceStable(rep.Members, func(i, j int) bool { return rep.Members[i].Address < rep.Members[j].Address })

	switch {
	case obs == nil || !obs.Local.Reachable():
	case obs.Config == nil:
		rep.Problems = append(rep.Problems, "the replica set is not initiated")
	case rep.Primary == "":
		rep.Problems = append(rep.Problems, "the replica set has no primary")
	}
	for _, m := range rep.Members {
		if m.Votes != nil && m.SetState != "PRIMARY" && m.SetState != "SECONDARY" && m.SetState != "ARBITER" {
			rep.Problems = append(rep.Problems, fmt.Sprintf("member %s is %s", m.Address, m.SetState))
		}
	}
	if obs != nil {
		rep.ForeignSet = obs.Foreign
		for _, f := range obs.Foreign {
			rep.Problems = append(rep.Problems, "FOREIGN SET: "+f.Advice)
		}
	}
	rep.Healthy = len(rep.Problems) == 0
	return rep
}

func printStatus(w io.Writer, rep statusReport) {
	fmt.Fprintf(w, "Replica set %s", rep.SetName)
	if rep.Stack != "" {
		fmt.Fprintf(w, " (stack %s)", rep.Stack)
	}
	fmt.Fprintln(w)
	if rep.ConfigVersion > 0 {
		committed := "not yet committed"
		if rep.Committed {
			committed = "committed"
		}
		fmt.Fprintf(w, "Config version %d, %s; primary %s\n", rep.ConfigVersion, committed, orDash(rep.Primary))
	}
	printVersion(w, rep.MongoDB)
	if rep.AccessControl != "" {
		fmt.Fprintf(w, "Access control %s\n", accessControlLine(rep.AccessControl))
	}
	if a := rep.Auth; a != nil {
		fmt.Fprintf(w, "Users %s\n", usersLine(a))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tADDRESS\tCONTAINER\tMETADATA\tSET STATE\tVOTES\tPRIORITY\t")
	for _, m := range rep.Members {
		votes, prio := "-", "-"
		if m.Votes != nil {
			votes = fmt.Sprint(*m.Votes)
		}
		if m.Priority != nil {
			prio = fmt.Sprint(*m.Priority)
		}
		addr := m.Address
		if m.Self {
			addr += " *"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", orDash(m.Host), addr, orDash(m.Container), m.MetadataState, m.SetState, votes, prio)
	}
	tw.Flush()
	fmt.Fprintln(w)
	if rep.NextAction != nil {
		fmt.Fprintf(w, "Next action: %s — %s\n", rep.NextAction.Kind, rep.NextAction.Reason)
	}
	if rep.Healthy {
		fmt.Fprintln(w, "Healthy.")
		return
	}
	fmt.Fprintln(w, "Problems:")
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "  - %s\n", p)
	}
}

// usersLine says where the set's first users stand, in words.
func usersLine(a *authStatus) string {
	switch {
	case a.Alarm != "":
		return fmt.Sprintf("%s and %s: ALARM (%s)", a.Admin, a.App, a.Alarm)
	case a.Done:
		return fmt.Sprintf("%s and %s (readWrite on %s) exist and log in", a.Admin, a.App, a.Database)
	case a.LastError != "":
		return fmt.Sprintf("%s and %s: unknown (%s)", a.Admin, a.App, a.LastError)
	}
	return fmt.Sprintf("%s and %s: %s", a.Admin, a.App, a.Waiting)
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}
