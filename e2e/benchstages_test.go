package e2e

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The stages of one change as the mongo agent that acted on it logged them ("action done",
// "config committed": stagesFrom and seenMs … committedMs, see mongors.Timing), in order. The
// benchmark adds the moment it published the change in front.
var stageNames = []string{"seen", "read", "handed", "observe", "observed", "planned", "sent", "returned", "committed"}

// stageSteps names the interval that ends at each stage, for the breakdown table.
var stageSteps = []string{
	"change published → version seen (long-poll or poll answer)",
	"version seen → tree read and decoded",
	"tree read → desired members handed to the reconciler",
	"handed → pass starts observing",
	"observe (local hello, primary's config and status, new member's replSetGetConfig)",
	"plan",
	"planned → reconfig sent",
	"reconfig sent → returned (mongod: quorum check, install, commit)",
	"returned → agent's next pass reads it committed",
}

// stages are the wall-clock times of one change's stages; a zero time is a stage not logged.
type stages struct {
	published time.Time
	at        []time.Time // len(stageNames)
}

// ok reports whether every stage up to and including returned was found.
func (s stages) ok() bool {
	if s.published.IsZero() || len(s.at) != len(stageNames) {
		return false
	}
	for _, t := range s.at[:len(stageNames)-1] {
		if t.IsZero() {
			return false
		}
	}
	return true
}

// step returns the duration of interval i (ending at stage i), and whether both ends are known.
func (s stages) step(i int) (time.Duration, bool) {
	prev := s.published
	if i > 0 {
		prev = s.at[i-1]
	}
	if prev.IsZero() || s.at[i].IsZero() {
		return 0, false
	}
	return max(s.at[i].Sub(prev), 0), true
}

// since returns the time from the published change to stage name.
func (s stages) since(name string) (time.Duration, bool) {
	i := slices.Index(stageNames, name)
	if i < 0 || s.published.IsZero() || s.at[i].IsZero() {
		return 0, false
	}
	return max(s.at[i].Sub(s.published), 0), true
}

// between returns the time from stage from to stage to.
func (s stages) between(from, to string) (time.Duration, bool) {
	i, j := slices.Index(stageNames, from), slices.Index(stageNames, to)
	if i < 0 || j < 0 || len(s.at) != len(stageNames) || s.at[i].IsZero() || s.at[j].IsZero() {
		return 0, false
	}
	return max(s.at[j].Sub(s.at[i]), 0), true
}

// stagesOf parses one log entry's stage fields into wall-clock times.
func stagesOf(entry map[string]any) ([]time.Time, bool) {
	from, err := time.Parse(time.RFC3339Nano, fmt.Sprint(entry["stagesFrom"]))
	if err != nil {
		return nil, false
	}
	at := make([]time.Time, len(stageNames))
	for i, n := range stageNames {
		v, ok := entry[n+"Ms"]
		if !ok {
			continue
		}
		ms, err := strconv.ParseFloat(fmt.Sprint(v), 64)
		if err != nil {
			return nil, false
		}
		at[i] = from.Add(time.Duration(ms * float64(time.Millisecond)))
	}
	return at, true
}

// findStages returns the stages of the first action of step on member that the agent took for a
// change seen at or after published: its "config committed" line when there is one (it has every
// stage), else its "action done" line.
func findStages(lines []map[string]any, step, member string, published time.Time) stages {
	s := stages{published: published, at: make([]time.Time, len(stageNames))}
	// The stages count from when the agent saw the change; allow for a clock read a little
	// before the benchmark's own.
	floor := published.Add(-time.Millisecond)
	var done []time.Time
	for _, l := range lines {
		msg := fmt.Sprint(l["msg"])
		if msg != "action done" && msg != "config committed" {
			continue
		}
		if fmt.Sprint(l["step"]) != step || fmt.Sprint(l["member"]) != member {
			continue
		}
		at, ok := stagesOf(l)
		if !ok || at[0].Before(floor) {
			continue
		}
		if msg == "config committed" {
			s.at = at
			return s
		}
		if done == nil {
			done = at
		}
	}
	if done != nil {
		s.at = done
	}
	return s
}

// logTime is when a JSON log entry was written, to the millisecond of the agents' log format,
// rounded up: the true time lies in [t, t+1 ms), so the result is never early.
func logTime(entry map[string]any) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, fmt.Sprint(entry["time"]))
	if err != nil {
		return time.Time{}, false
	}
	return t.Add(time.Millisecond), true
}

// uriChangedAt returns when a letschat agent logged adopting a URI of n hosts, first at or after
// published (to the log's millisecond, rounded up).
func uriChangedAt(lines []map[string]any, n int, published time.Time) (time.Time, bool) {
	floor := published.Truncate(time.Millisecond)
	for _, l := range lines {
		if l["msg"] != "database URI changed" || fmt.Sprint(l["hosts"]) != strconv.Itoa(n) {
			continue
		}
		at, ok := logTime(l)
		if ok && !at.Add(-time.Millisecond).Before(floor) {
			return at, true
		}
	}
	return time.Time{}, false
}

// durations is a sample of durations with the percentiles the tables print.
type durations []time.Duration

func (d durations) p(q float64) time.Duration { return percentile(d, q) }

// pair prints "p50 / p99" in ms with a precision that suits the values.
func (d durations) pair() string {
	if len(d) == 0 {
		return "n/a"
	}
	return fmtMs(d.p(50)) + " / " + fmtMs(d.p(99))
}

func fmtMs(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case ms >= 100:
		return fmt.Sprintf("%.0f ms", ms)
	case ms >= 10:
		return fmt.Sprintf("%.1f ms", ms)
	default:
		return fmt.Sprintf("%.2f ms", ms)
	}
}

// stageTable renders the per-stage breakdown of a sample of changes, p50 and p99 of each interval
// and of the cumulative times, as Markdown rows.
func stageTable(cols []string, samples [][]stages) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "| stage (agent's own timestamps) |")
	for _, c := range cols {
		fmt.Fprintf(&sb, " %s p50 / p99 |", c)
	}
	sb.WriteString("\n|---|")
	for range cols {
		sb.WriteString("---|")
	}
	sb.WriteString("\n")
	for i, name := range stageSteps {
		fmt.Fprintf(&sb, "| %s |", name)
		for _, ss := range samples {
			var d durations
			for _, s := range ss {
				if v, ok := s.step(i); ok {
					d = append(d, v)
				}
			}
			fmt.Fprintf(&sb, " %s |", d.pair())
		}
		sb.WriteString("\n")
	}
	for _, c := range []struct{ what, from, stage string }{
		{"**change → reconfig sent** (the agent's own reaction)", "", "sent"},
		{"version seen → reconfig sent (the reaction without the notification)", "seen", "sent"},
		{"change → reconfig returned (committed, as mongod answers it)", "", "returned"},
	} {
		fmt.Fprintf(&sb, "| %s |", c.what)
		for _, ss := range samples {
			var d durations
			for _, s := range ss {
				v, ok := s.since(c.stage)
				if c.from != "" {
					v, ok = s.between(c.from, c.stage)
				}
				if ok {
					d = append(d, v)
				}
			}
			fmt.Fprintf(&sb, " %s |", d.pair())
		}
		sb.WriteString("\n")
	}
	return sb.String()
}

// The benchmark's reading of the agents' log lines: the stages of the action on the measured
// member, from the first change at or after the publication, preferring the line that has the
// commit; and a Let's Chat URI change rounded up to the log's millisecond.
func TestBenchStages_fromLogLines(t *testing.T) {
	pub := time.Date(2026, 1, 2, 3, 4, 5, 100_000_000, time.UTC)
	line := func(msg, member string, from time.Time, committed bool) map[string]any {
		l := map[string]any{"msg": msg, "step": "add", "member": member, "stagesFrom": from.Format(time.RFC3339Nano),
			"seenMs": "0.000", "readMs": "1.500", "handedMs": "1.600", "observeMs": "1.700", "observedMs": "4.000",
			"plannedMs": "4.100", "sentMs": "4.200", "returnedMs": "9.000"}
		if committed {
			l["committedMs"] = "30.000"
		}
		return l
	}
	seen := pub.Add(2 * time.Millisecond)
	lines := []map[string]any{
		line("config committed", "h4:27017", pub.Add(-time.Second), true), // an earlier change
		line("action done", "h5:27017", seen, false),                      // another member
		line("action done", "h4:27017", seen, false),
		line("config committed", "h4:27017", seen, true),
	}
	s := findStages(lines, "add", "h4:27017", pub)
	if !s.ok() {
		t.Fatalf("stages not found: %+v", s)
	}
	for _, c := range []struct {
		stage string
		want  time.Duration
	}{{"seen", 2 * time.Millisecond}, {"sent", 6200 * time.Microsecond}, {"returned", 11 * time.Millisecond}, {"committed", 32 * time.Millisecond}} {
		if got, ok := s.since(c.stage); !ok || got != c.want {
			t.Errorf("change → %s = %v (%t), want %v", c.stage, got, ok, c.want)
		}
	}
	if d, ok := s.between("seen", "sent"); !ok || d != 4200*time.Microsecond {
		t.Errorf("seen → sent = %v (%t), want 4.2ms", d, ok)
	}
	if d, ok := s.step(4); !ok || d != 2300*time.Microsecond {
		t.Errorf("observe took %v (%t), want 2.3ms", d, ok)
	}
	if s := findStages(lines[:3], "add", "h4:27017", pub); !s.ok() || !s.at[len(stageNames)-1].IsZero() {
		t.Errorf("without the committed line: %+v, want the action done stages", s)
	}
	if s := findStages(lines[:2], "add", "h4:27017", pub); s.ok() {
		t.Errorf("a line of an earlier change was taken: %+v", s)
	}

	lc := []map[string]any{
		{"msg": "database URI changed", "hosts": 3.0, "time": "2026-01-02T03:04:05.200Z"},
		{"msg": "database URI changed", "hosts": 4.0, "time": "2026-01-02T03:04:05.050Z"}, // before the change
		{"msg": "database URI changed", "hosts": 4.0, "time": "2026-01-02T03:04:05.107Z"},
	}
	at, ok := uriChangedAt(lc, 4, pub)
	if want := pub.Add(8 * time.Millisecond); !ok || !at.Equal(want) {
		t.Errorf("URI changed at %v (%t), want %v", at, ok, want)
	}
}
