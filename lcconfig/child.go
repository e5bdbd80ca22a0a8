package lcconfig

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"
)

// outputDrainDelay bounds how long Wait keeps copying output after the child exits, in case a
// grandchild still holds the pipes open.
const outputDrainDelay = time.Second

// child is one run of the Let's Chat process. A new child, with a new exited channel, is made for
// every start: do not keep an old one's channel.
type child struct {
	pid     int
	started time.Time
	// hosts are the sorted addresses of the URI it was started with; nil when started without
	// members.
	hosts []string
	// uri is the URI it was started with; empty when started without members.
	uri string
	// exited receives the exit status exactly once.
	exited chan int
}

// childSpec is what startChild needs to run one child.
type childSpec struct {
	command        []string
	dir            string
	env            []string
	stdout, stderr io.Writer
}

// startChild starts the command in a process group of its own and returns once it runs.
func startChild(spec childSpec) (*child, error) {
	cmd := exec.Command(spec.command[0], spec.command[1:]...)
	cmd.Dir = spec.dir
	cmd.Env = spec.env
	cmd.Stdin = nil
	cmd.Stdout = spec.stdout
	cmd.Stderr = spec.stderr
	cmd.SysProcAttr = processAttributes()
	cmd.WaitDelay = outputDrainDelay
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.command[0], err)
	}
	c := &child{pid: cmd.Process.Pid, started: time.Now(), exited: make(chan int, 1)}
	go func() {
		_ = cmd.Wait()
		// Take down whatever the leader left behind (node under npm), so the next start does
		// not find its port taken.
		_ = signalGroup(c.pid, killSignal)
		c.exited <- exitCode(cmd.ProcessState)
	}()
	return c, nil
}

// signal sends sig to the child's process group.
func (c *child) signal(sig os.Signal) error {
	if err := signalGroup(c.pid, sig); err != nil {
		return fmt.Errorf("signal pid %d: %w", c.pid, err)
	}
	return nil
}
