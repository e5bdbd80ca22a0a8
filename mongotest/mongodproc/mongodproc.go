// Package mongodproc runs real mongod processes, one per "host:port", each with its own data
// directory: the real-MongoDB side of mongotest and of the demo's --mongod switch. It knows nothing
// of tests or of replica-set membership.
package mongodproc

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// startTimeout bounds how long a mongod may take to accept connections.
const startTimeout = 60 * time.Second

// ErrUnsupported is returned by Partition and Heal: real processes on one machine cannot be
// partitioned from each other without privileges.
var ErrUnsupported = errors.New("mongodproc: network partitions are not supported with real mongod")

// Cluster runs real mongod processes, one per address, each with its own dbpath under a root
// directory. All methods are safe for concurrent use.
type Cluster struct {
	bin     string
	setName string
	root    string

	mu      sync.Mutex
	procs   map[string]*mongodProc
	keyFile string
	// testCommands starts mongod with enableTestCommands=1 (configureFailPoint).
	testCommands bool
}

type mongodProc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// New returns a cluster that starts bin with --replSet setName and keeps each node's data under
// root (which must exist). No process runs until StartNode.
func New(bin, setName, root string) *Cluster {
	return &Cluster{bin: bin, setName: setName, root: root, procs: map[string]*mongodProc{}}
}

// EnableTestCommands makes every node start from now on with --setParameter
// enableTestCommands=1, which tests need for configureFailPoint.
func (m *Cluster) EnableTestCommands() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.testCommands = true
}

// UseKeyFile makes every node start from now on with --keyFile path: access control on, and
// members authenticating each other with the key. The file must not be readable by others.
func (m *Cluster) UseKeyFile(path string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keyFile = path
}

// Kind is "mongod".
func (m *Cluster) Kind() string { return "mongod" }

// SetName is the --replSet name.
func (m *Cluster) SetName() string { return m.setName }

func (m *Cluster) dbpath(addr string) string {
	return filepath.Join(m.root, strings.NewReplacer(":", "_", ".", "_").Replace(addr))
}

// StartNode starts mongod on addr (bound to its IP) and waits until it accepts connections; a
// node that runs already is left alone. Its data survives stop and crash.
func (m *Cluster) StartNode(addr string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, running := m.procs[addr]; running {
		return nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("start mongod %s: %w", addr, err)
	}
	dir := m.dbpath(addr)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("start mongod %s: %w", addr, err)
	}
	args := []string{"--replSet", m.setName, "--bind_ip", host, "--port", port,
		"--dbpath", dir, "--logpath", dir + ".log", "--logappend"}
	if m.keyFile != "" {
		args = append(args, "--keyFile", m.keyFile)
	}
	if m.testCommands {
		args = append(args, "--setParameter", "enableTestCommands=1")
	}
	cmd := exec.Command(m.bin, args...)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start mongod %s: %w", addr, err)
	}
	p := &mongodProc{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	deadline := time.Now().Add(startTimeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			_ = conn.Close()
			break
		}
		select {
		case <-p.done:
			return fmt.Errorf("start mongod %s: exited early (see %s.log)", addr, dir)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-p.done
			return fmt.Errorf("start mongod %s: not accepting connections after %s", addr, startTimeout)
		}
	}
	m.procs[addr] = p
	return nil
}

func (m *Cluster) signal(addr string, sig syscall.Signal) error {
	m.mu.Lock()
	p := m.procs[addr]
	delete(m.procs, addr)
	m.mu.Unlock()
	if p == nil {
		return nil
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal mongod %s: %w", addr, err)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	return nil
}

// StopNode shuts the node down with SIGTERM.
func (m *Cluster) StopNode(addr string) error { return m.signal(addr, syscall.SIGTERM) }

// CrashNode kills the node with SIGKILL.
func (m *Cluster) CrashNode(addr string) error { return m.signal(addr, syscall.SIGKILL) }

// WipeNode kills the node and deletes its data.
func (m *Cluster) WipeNode(addr string) error {
	if err := m.signal(addr, syscall.SIGKILL); err != nil {
		return err
	}
	if err := os.RemoveAll(m.dbpath(addr)); err != nil {
		return fmt.Errorf("wipe mongod %s: %w", addr, err)
	}
	return nil
}

// Partition returns ErrUnsupported.
func (m *Cluster) Partition(...[]string) error { return ErrUnsupported }

// Heal returns ErrUnsupported.
func (m *Cluster) Heal() error { return ErrUnsupported }

// Close kills every node.
func (m *Cluster) Close() {
	m.mu.Lock()
	addrs := make([]string, 0, len(m.procs))
	for a := range m.procs {
		addrs = append(addrs, a)
	}
	m.mu.Unlock()
	for _, a := range addrs {
		_ = m.signal(a, syscall.SIGKILL)
	}
}
