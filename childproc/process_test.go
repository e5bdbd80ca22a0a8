package childproc

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waitLimit is the generous deadline for anything awaited; no test asserts an upper bound on time.
const waitLimit = 20 * time.Second

func waitFile(t *testing.T, path string) string {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		if b, err := os.ReadFile(path); err == nil {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared", path)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func pidAlive(pid int) bool {
	st, err := readStat(pid)
	return err == nil && st.state != 'Z' && st.state != 'X'
}

// startNPM starts the npm-like helper and waits until its node child runs.
func startNPM(t *testing.T, env ...string) (*Process, int, string) {
	t.Helper()
	dir := t.TempDir()
	p, err := Start(helperCmd(t, "npm", append([]string{"HELPER_DIR=" + dir}, env...)...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(syscall.SIGKILL, 0) })
	node, err := strconv.Atoi(waitFile(t, filepath.Join(dir, "node-pid")))
	if err != nil {
		t.Fatal(err)
	}
	waitFile(t, filepath.Join(dir, "node-ready"))
	return p, node, dir
}

// npm exits at once on SIGTERM; Stop must still wait for node's own graceful exit, not kill it.
func TestStop_waitsForTheWholeGroup(t *testing.T) {
	p, node, dir := startNPM(t, "HELPER_GRACE=300ms")
	res := p.Stop(syscall.SIGTERM, waitLimit)
	if res.Killed || res.ExitCode != 0 {
		t.Fatalf("Stop = %+v; want a graceful stop with npm's status 0", res)
	}
	if _, err := os.Stat(filepath.Join(dir, "node-exited")); err != nil {
		t.Fatalf("Stop returned before node finished its graceful exit: %v", err)
	}
	if pidAlive(node) {
		t.Fatalf("node (pid %d) still runs after Stop", node)
	}
	if res.Took < 300*time.Millisecond {
		t.Fatalf("Stop took %v, less than node's 300ms grace: it did not wait for the group", res.Took)
	}
	if p.Running() {
		t.Fatal("Running() after Stop")
	}
	if again := p.Stop(syscall.SIGTERM, time.Second); again.ExitCode != 0 || again.Killed {
		t.Fatalf("second Stop = %+v", again)
	}
}

// A node that ignores SIGTERM is killed with the whole group once the grace has passed.
func TestStop_killsTheGroupAfterTheTimeout(t *testing.T) {
	p, node, _ := startNPM(t, "HELPER_STUBBORN=1")
	res := p.Stop(syscall.SIGTERM, 200*time.Millisecond)
	if !res.Killed || len(res.Lingering) != 0 {
		t.Fatalf("Stop = %+v; want the group killed and nothing lingering", res)
	}
	if res.Took < 200*time.Millisecond {
		t.Fatalf("killed after %v, before the 200ms grace", res.Took)
	}
	if pidAlive(node) {
		t.Fatalf("node (pid %d) survived SIGKILL of its group", node)
	}
}

// A leader that dies on its own leaves its group running; Running says so, and Stop cleans up.
func TestProcess_leaderExitsAlone(t *testing.T) {
	p, node, _ := startNPM(t, "HELPER_STUBBORN=1")
	npm, err := os.FindProcess(p.Pid())
	if err != nil {
		t.Fatal(err)
	}
	if err := npm.Signal(syscall.SIGKILL); err != nil { // only the leader
		t.Fatal(err)
	}
	select {
	case <-p.Exited():
	case <-time.After(waitLimit):
		t.Fatal("leader exit not noticed")
	}
	if got := p.ExitCode(); got != 128+int(syscall.SIGKILL) {
		t.Fatalf("ExitCode = %d, want %d", got, 128+int(syscall.SIGKILL))
	}
	if !p.Running() || !pidAlive(node) {
		t.Fatal("Running() = false while node still runs in the group")
	}
	if res := p.Stop(syscall.SIGTERM, 100*time.Millisecond); !res.Killed || pidAlive(node) {
		t.Fatalf("Stop = %+v; node alive %v", res, pidAlive(node))
	}
}

// A group whose only member left is a zombie that its parent never reaps (an entrypoint that is no
// init) is gone: kill(-pgid, 0) still finds it, Running must not.
func TestRunning_zombiesDoNotCount(t *testing.T) {
	dir := t.TempDir()
	p, err := Start(helperCmd(t, "zombie-maker", "HELPER_DIR="+dir))
	if err != nil {
		t.Fatal(err)
	}
	parent, err := strconv.Atoi(waitFile(t, filepath.Join(dir, "zombie-parent")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-parent, syscall.SIGKILL) })
	if err := syscall.Kill(-p.Pid(), 0); err != nil {
		t.Fatalf("the group should still hold the zombie: %v", err)
	}
	if got := p.Stop(syscall.SIGTERM, waitLimit); got.Killed {
		t.Fatalf("Stop = %+v: a zombie-only group must count as gone", got)
	}
	if p.Running() {
		t.Fatal("Running() = true for a group of one unreaped zombie")
	}
}

func TestStart_error(t *testing.T) {
	if _, err := Start(exec.Command(filepath.Join(t.TempDir(), "missing"))); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("Start(missing) = %v", err)
	}
}

// TestReaper runs a miniature PID 1 in a process of its own (a subreaper: orphans of its children
// come to it) through three children that each leave two orphans behind. Without reaping, the
// orphans stay <defunct>; with the reaper none is left, and the children's own exit statuses are
// intact (the reaper never takes them).
func TestReaper(t *testing.T) {
	for _, reap := range []bool{false, true} {
		t.Run("reap="+strconv.FormatBool(reap), func(t *testing.T) {
			env := []string{"HELPER_ROUNDS=3", "HELPER_ORPHANS=2", "HELPER_GRACE=50ms"}
			if reap {
				env = append(env, "HELPER_REAP=1")
			}
			cmd := helperCmd(t, "reaper-host", env...)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, os.Stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("reaper host: %v\n%s", err, out.String())
			}
			var rep reaperReport
			if err := json.Unmarshal(out.Bytes(), &rep); err != nil || rep.Err != "" {
				t.Fatalf("report %q: %v %s", out.String(), err, rep.Err)
			}
			if len(rep.ExitCodes) != 3 {
				t.Fatalf("exit codes %v", rep.ExitCodes)
			}
			for _, c := range rep.ExitCodes {
				if c != 3 {
					t.Fatalf("a child's status was %d, want its own 3: %v", c, rep.ExitCodes)
				}
			}
			if reap {
				if rep.Zombies != 0 || rep.Reaped < 6 {
					t.Fatalf("with the reaper: %d zombies left, %d reaped; want 0 and 6", rep.Zombies, rep.Reaped)
				}
			} else if rep.Zombies < 6 {
				t.Fatalf("without reaping only %d zombies: the scenario does not reproduce the leak", rep.Zombies)
			}
		})
	}
}
