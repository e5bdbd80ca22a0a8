package e2e

import (
	"fmt"
	"maps"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/replset-agent/replset-agent/metadata/metadatatest"
)

// TestMetadataFaults runs a settled three-host set with two Let's Chat instances under the most
// restart-happy policy (always) through metadata trouble: garbage answers, restarts with random
// versions, a burst of version bumps and an outage. None of it may change the set or restart Let's
// Chat; each agent must say clearly what went wrong; and the agents must follow metadata again
// afterwards. The scenarios share one world, so they run in order.
func TestMetadataFaults(t *testing.T) {
	spacing := []string{"--metadata-min-interval", "100ms"}
	e := newEnv(t, envOptions{hosts: 4, mongoFlags: spacing, letschatFlags: spacing})
	h := e.hosts
	e.addHosts(h[:3]...)
	lcs := e.addLetschat("letschat", "always", 2)
	e.waitSettled("3 hosts", h[:3])
	e.startWriter(h[:3])
	for _, lc := range lcs {
		waitFor(t, lc.name+" starts", settleTimeout, func() (bool, string) { return len(lc.startsOf()) == 1, "" })
	}
	all := append(agents(h[:3]), lcs[0].proc, lcs[1].proc)

	t.Run("garbage", func(t *testing.T) {
		// Each case breaks the tree answer in one way and bumps the version, so that every agent
		// reads it. want is what the agent's log must say.
		cases := []struct {
			name  string
			fault *metadatatest.Fault
			raw   string
			want  map[string]string
		}{
			{name: "html instead of json", fault: &metadatatest.Fault{Kinds: []metadatatest.Kind{metadatatest.KindTree}, Body: "<html><body>502 Bad Gateway</body></html>"},
				want: map[string]string{"msg": "metadata request failed", "error": "malformed metadata answer"}},
			{name: "truncated json", fault: &metadatatest.Fault{Kinds: []metadatatest.Kind{metadatatest.KindTree}, Body: `{"version":"9","hosts":[{"name":"ho`},
				want: map[string]string{"msg": "metadata request failed", "error": "malformed metadata answer"}},
			{name: "http 500", fault: &metadatatest.Fault{Kinds: []metadatatest.Kind{metadatatest.KindTree}, Status: 500, Body: "internal error"},
				want: map[string]string{"msg": "metadata request failed", "error": "metadata answered 500"}},
			{name: "version only", raw: `{"version":"raw-1"}`,
				want: map[string]string{"msg": "metadata request failed", "error": "incomplete metadata answer"}},
			{name: "version not a string", raw: `{"version":7,"hosts":[],"services":[],"containers":[],"stacks":[]}`,
				want: map[string]string{"msg": "metadata request failed", "error": "malformed metadata answer"}},
			// Well-formed but empty: everything seems gone. This must never read as "remove every
			// member"; each agent's own container is gone with it, and the agent says exactly that
			// and waits.
			{name: "empty tree", raw: `{"version":"raw-2","hosts":[],"services":[],"containers":[],"stacks":[]}`,
				want: map[string]string{"msg": "left metadata"}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				before := e.quietState(t, lcs)
				marks := map[*proc]int{}
				for _, a := range all {
					marks[a] = a.logCount()
				}
				if c.fault != nil {
					e.meta.InjectFault(*c.fault)
					e.publish()
				} else if err := e.meta.SetRaw([]byte(c.raw)); err != nil {
					t.Fatal(err)
				}
				for _, a := range all {
					waitFor(t, a.name+" reports the bad answer", settleTimeout, func() (bool, string) {
						return a.hasLogSince(marks[a], c.want), fmt.Sprintf("no log entry with %v", c.want)
					})
				}
				e.assertQuiet(t, before, lcs)
				e.meta.ClearFaults()
				e.publish()
				e.waitMetadataHealthy(t, all)
				e.assertQuiet(t, before, lcs)
				e.checkSafety(t)
			})
		}
	})

	t.Run("random versions across restarts", func(t *testing.T) {
		before := e.quietState(t, lcs)
		unchanged := map[*proc]uint64{}
		for _, a := range all {
			st, _, err := a.metaStats()
			if err != nil {
				t.Fatal(err)
			}
			unchanged[a] = st.Unchanged
		}
		// A v0.10.1+ metadata service comes back from every reload and restart with a new random
		// version and the same data.
		e.meta.SetRandomVersions(true)
		for range 3 {
			e.meta.Reload()
			e.meta.Stop()
			e.meta.Reload()
			if err := e.meta.Restart(); err != nil {
				t.Fatal(err)
			}
		}
		e.waitMetadataHealthy(t, all)
		for _, a := range all {
			st, _, _ := a.metaStats()
			if st.Unchanged <= unchanged[a] {
				t.Errorf("%s read no unchanged tree after the restarts (unchanged %d → %d): the test proved nothing", a.name, unchanged[a], st.Unchanged)
			}
		}
		e.assertQuiet(t, before, lcs)
		e.checkSafety(t)
	})

	t.Run("burst of 100 version bumps", func(t *testing.T) {
		before := e.quietState(t, lcs)
		snaps := map[*proc]float64{}
		for _, a := range all {
			v, err := a.metric("replset_agent_snapshots_total")
			if err != nil {
				t.Fatal(err)
			}
			snaps[a] = v
		}
		passes := map[*proc]int64{}
		for _, a := range agents(h[:3]) {
			st, err := a.mongoStatus()
			if err != nil {
				t.Fatal(err)
			}
			passes[a] = st.Reconciler.Passes
		}
		reqs := e.meta.Requests()
		start := time.Now()
		// Every bump changes data (a label no agent cares about), so none can be skipped as
		// unchanged: only the agents' request spacing bounds the work.
		for i := range 100 {
			h[0].meta.Label("burst", strconv.Itoa(i))
			e.publish()
			time.Sleep(10 * time.Millisecond)
		}
		burst := time.Since(start)
		e.waitMetadataHealthy(t, all)
		window := time.Since(start)
		after := e.meta.Requests()
		// At most one version request per --metadata-min-interval (100ms), each followed by at
		// most one tree read and one snapshot.
		perAgent := math.Ceil(window.Seconds()/0.1) + 2
		var total float64
		for _, a := range all {
			v, _ := a.metric("replset_agent_snapshots_total")
			d := v - snaps[a]
			total += d
			if d > perAgent || d >= 100 {
				t.Errorf("%s made %.0f snapshots for 100 bumps in %s (bound %.0f)", a.name, d, burst.Round(time.Millisecond), perAgent)
			}
		}
		// Planning follows snapshots, not versions: at most one pass per snapshot plus the
		// periodic re-checks (every 300ms).
		for a, before := range passes {
			st, err := a.mongoStatus()
			if err != nil {
				t.Fatal(err)
			}
			d, _ := a.metric("replset_agent_snapshots_total")
			bound := int64(d-snaps[a]) + int64(math.Ceil(time.Since(start).Seconds()/0.3)) + 2
			if got := st.Reconciler.Passes - before; got > bound {
				t.Errorf("%s planned %d times during the burst (bound %d)", a.name, got, bound)
			}
		}
		served := (after.Version + after.LongPoll + after.Tree) - (reqs.Version + reqs.LongPoll + reqs.Tree)
		if bound := float64(len(all)) * 2 * perAgent; float64(served) > bound {
			t.Errorf("the metadata service served %d requests for the burst (bound %.0f)", served, bound)
		}
		t.Logf("100 bumps in %s: %.0f snapshots over %d agents (%.1f each), %d metadata requests; caught up after %s",
			burst.Round(time.Millisecond), total, len(all), total/float64(len(all)), served, window.Round(time.Millisecond))
		e.assertQuiet(t, before, lcs)
		e.checkSafety(t)
	})

	t.Run("outage", func(t *testing.T) {
		before := e.quietState(t, lcs)
		errs := map[*proc]float64{}
		for _, a := range all {
			errs[a], _ = a.metric("replset_agent_metadata_errors_total")
		}
		e.meta.Stop()
		// A member's mongod dies during the outage: without metadata the agents must neither
		// remove it nor take the silence for an empty service.
		if err := e.cluster.CrashNode(h[2].addr); err != nil {
			t.Fatal(err)
		}
		crashed := time.Now()
		for _, a := range all {
			if a == h[2].agent {
				continue
			}
			waitFor(t, a.name+" notices the outage", settleTimeout, func() (bool, string) {
				v, _ := a.metric("replset_agent_metadata_errors_total")
				return v >= errs[a]+3, fmt.Sprintf("%.0f errors", v-errs[a])
			})
		}
		// Nothing to wait for but time: the removal grace must pass twice over with the member
		// unreachable before "nothing happened" means something.
		time.Sleep(time.Until(crashed.Add(2 * e.opts.grace)))
		v := e.view()
		if _, ok := v.Members[h[2].addr]; !ok && v.Primary != "" {
			t.Errorf("%s was removed during the metadata outage: %s", h[2].addr, v)
		}
		// The agents keep the last desired membership: silence is not an empty service.
		for _, a := range agents(h[:3]) {
			st, err := a.mongoStatus()
			if err != nil {
				t.Fatal(err)
			}
			if d := st.Reconciler.Desired; d == nil || len(d.Members) != 3 {
				t.Errorf("%s's desired membership changed during the outage: %+v", a.name, d)
			}
		}
		e.assertQuiet(t, before, lcs)

		// The service comes back with a new version and the same data, as v0.10.1+ does. (Coming
		// back on the old version works too, but the agents' long-polls on it then report success
		// only after --metadata-max-wait, and until then /status still counts the outage's errors.)
		e.meta.Reload()
		if err := e.meta.Restart(); err != nil {
			t.Fatal(err)
		}
		e.startNode(h[2].addr)
		e.waitMetadataHealthy(t, all)
		e.waitSettled("after the outage", h[:3])
		e.assertQuiet(t, before, lcs)
		// The event path works again: a new host is added and Let's Chat follows.
		e.addHosts(h[3])
		e.waitSettled("a host added after the outage", h[:4])
		e.checkSafety(t)
	})
}

// quiet is what "no action" compares: the set's config version, the executed plan actions of the
// mongo agents, and each Let's Chat instance's starts and URI.
type quiet struct {
	version int
	actions float64
	starts  map[string]int
	uris    map[string]string
}

func (e *env) quietState(t *testing.T, lcs []*lcAgent) quiet {
	t.Helper()
	var q quiet
	waitFor(t, "a primary to read the config from", settleTimeout, func() (bool, string) {
		v := e.view()
		q.version = v.Version
		return v.Primary != "", v.String()
	})
	q.actions = sumOver(t, agents(e.hosts), "replset_agent_plan_actions_total")
	q.starts, q.uris = map[string]int{}, map[string]string{}
	for _, lc := range lcs {
		q.starts[lc.name] = len(lc.startsOf())
		st, err := lc.proc.letschatStatus()
		if err != nil {
			t.Fatal(err)
		}
		q.uris[lc.name] = st.Supervisor.URI
	}
	return q
}

// assertQuiet fails the test if anything changed since before.
func (e *env) assertQuiet(t *testing.T, before quiet, lcs []*lcAgent) {
	t.Helper()
	now := e.quietState(t, lcs)
	if now.version != before.version {
		t.Errorf("the set's config changed: version %d → %d", before.version, now.version)
	}
	if now.actions != before.actions {
		t.Errorf("the mongo agents executed %.0f plan actions", now.actions-before.actions)
	}
	if !maps.Equal(now.starts, before.starts) {
		t.Errorf("Let's Chat was (re)started: starts %v → %v", before.starts, now.starts)
	}
	if !maps.Equal(now.uris, before.uris) {
		t.Errorf("Let's Chat's URI changed: %v → %v", before.uris, now.uris)
	}
}

// waitMetadataHealthy waits until every agent has read the current version without error and
// holds no metadata-related error.
func (e *env) waitMetadataHealthy(t *testing.T, procs []*proc) {
	t.Helper()
	want := e.meta.Version()
	for _, a := range procs {
		waitFor(t, a.name+" follows metadata again", settleTimeout, func() (bool, string) {
			st, roleErr, err := a.metaStats()
			if err != nil {
				return false, err.Error()
			}
			return st.Version == want && st.ConsecutiveErrors == 0 && roleErr == "",
				fmt.Sprintf("version %q (want %q), %d consecutive errors, role error %q", st.Version, want, st.ConsecutiveErrors, roleErr)
		})
	}
}
