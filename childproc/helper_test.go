package childproc

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the programs the tests run: CHILDPROC_HELPER names the part it plays.
//
//	npm         starts a "node" helper and exits at once on SIGTERM, like `npm start`
//	node        on SIGTERM waits HELPER_GRACE, writes HELPER_DIR/node-exited, exits 0;
//	            with HELPER_STUBBORN=1 it ignores SIGTERM
//	orphaner    starts HELPER_ORPHANS sleepers that outlive it by HELPER_GRACE, exits 3
//	sleeper     sleeps HELPER_GRACE and exits 0
//	zombie-maker starts a child that exits at once, moves itself to a group of its own without
//	            reaping it, writes its pid to HELPER_DIR/zombie-parent and exits the leader
//	reaper-host runs the reaper scenario of TestReaper and prints a JSON report
func TestMain(m *testing.M) {
	if mode := os.Getenv("CHILDPROC_HELPER"); mode != "" {
		os.Exit(runHelper(mode))
	}
	os.Exit(m.Run())
}

func helperCmd(t testing.TB, mode string, env ...string) *exec.Cmd {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), append([]string{"CHILDPROC_HELPER=" + mode}, env...)...)
	return cmd
}

func helperEnvDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil {
		return d
	}
	return def
}

func runHelper(mode string) int {
	dir := os.Getenv("HELPER_DIR")
	grace := helperEnvDuration("HELPER_GRACE", 300*time.Millisecond)
	self, _ := os.Executable()
	spawn := func(child string, env ...string) *exec.Cmd {
		cmd := exec.Command(self)
		cmd.Env = append(os.Environ(), append([]string{"CHILDPROC_HELPER=" + child}, env...)...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(100)
		}
		return cmd
	}
	switch mode {
	case "npm":
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM)
		node := spawn("node")
		writeFile(filepath.Join(dir, "node-pid"), strconv.Itoa(node.Process.Pid))
		<-sigs
		return 0 // at once, without waiting for node: what recent npm does
	case "node":
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM)
		writeFile(filepath.Join(dir, "node-ready"), "")
		for range sigs {
			if os.Getenv("HELPER_STUBBORN") == "1" {
				continue
			}
			time.Sleep(grace)
			writeFile(filepath.Join(dir, "node-exited"), strconv.FormatInt(time.Now().UnixNano(), 10))
			return 0
		}
	case "orphaner":
		n, _ := strconv.Atoi(os.Getenv("HELPER_ORPHANS"))
		for range n {
			spawn("sleeper")
		}
		return 3
	case "sleeper":
		time.Sleep(grace)
		return 0
	case "zombie-maker":
		child := spawn("sleeper", "HELPER_GRACE=0s")
		// Wait until the child is a zombie, then leave the group: only the zombie stays in it.
		for {
			st, err := readStat(child.Process.Pid)
			if err != nil || st.state == 'Z' {
				break
			}
			time.Sleep(time.Millisecond)
		}
		if err := syscall.Setpgid(0, 0); err != nil {
			return 101
		}
		writeFile(filepath.Join(dir, "zombie-parent"), strconv.Itoa(os.Getpid()))
		time.Sleep(time.Minute) // never reaps the child
		return 0
	case "reaper-host":
		return reaperHost()
	}
	return 99
}

// reaperReport is what reaper-host prints.
type reaperReport struct {
	ExitCodes []int  `json:"exit_codes"` // of the orphaners, as their Process saw them
	Zombies   int    `json:"zombies"`    // zombie children left at the end
	Reaped    int64  `json:"reaped"`
	Err       string `json:"err,omitempty"`
}

// reaperHost is PID 1 in miniature: a subreaper whose children leave orphans. With HELPER_REAP=1
// it enables the reaper; otherwise it only becomes a subreaper, like an entrypoint that never
// reaps. It runs HELPER_ROUNDS orphaners one after the other, waits for their orphans to exit,
// and reports the zombies left.
func reaperHost() int {
	rep := reaperReport{}
	defer func() { _ = json.NewEncoder(os.Stdout).Encode(rep) }()
	if os.Getenv("HELPER_REAP") == "1" {
		stop, err := EnableReaper(nil)
		if err != nil {
			rep.Err = err.Error()
			return 1
		}
		defer stop()
	} else if err := setSubreaper(); err != nil {
		rep.Err = err.Error()
		return 1
	}
	self, _ := os.Executable()
	rounds, _ := strconv.Atoi(os.Getenv("HELPER_ROUNDS"))
	for range rounds {
		cmd := exec.Command(self)
		cmd.Env = append(os.Environ(), "CHILDPROC_HELPER=orphaner")
		p, err := Start(cmd)
		if err != nil {
			rep.Err = err.Error()
			return 1
		}
		rep.ExitCodes = append(rep.ExitCodes, p.ExitCode())
	}
	// The orphans outlive their parents by the grace; wait for them to have exited.
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		alive, _ := scanProcs(func(st procStat) bool { return st.ppid == os.Getpid() && st.state != 'Z' })
		if len(alive) == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	// With the reaper, zombies vanish soon after they appear; give it a moment, then count.
	for time.Now().Before(deadline) {
		zombies, _ := scanProcs(func(st procStat) bool { return st.ppid == os.Getpid() && st.state == 'Z' })
		rep.Zombies = len(zombies)
		if rep.Zombies == 0 || os.Getenv("HELPER_REAP") != "1" {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	rep.Reaped = Reaped()
	// Counted; now reap them, so they do not pass on to a PID 1 that may never reap either.
	for {
		var ws syscall.WaitStatus
		if pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 || err != nil {
			break
		}
	}
	return 0
}

func writeFile(path, content string) {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err == nil {
		_ = os.Rename(tmp, path)
	}
}
