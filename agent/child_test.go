package agent

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SIGQUIT to `mongo -- mongod ...` stops mongod cleanly with SIGTERM, never Go's goroutine dump that
// would leave it orphaned.
func TestMongoCommandSIGQUITStopsChildCleanly(t *testing.T) {
	dir := t.TempDir()
	ready := filepath.Join(dir, "ready")
	got := filepath.Join(dir, "got")
	script := `trap 'echo TERM > ` + got + `; exit 7' TERM; trap 'echo QUIT > ` + got + `; exit 8' QUIT; touch ` + ready + `; while :; do sleep 0.05; done`
	args := append(append([]string{"mongo"}, deadMetadata...), "--", "sh", "-c", script)
	done := make(chan int, 1)
	go func() { done <- run(args, noEnv, &bytes.Buffer{}, &bytes.Buffer{}) }()
	waitFile(t, ready)
	syscall.Kill(os.Getpid(), syscall.SIGQUIT)
	select {
	case code := <-done:
		if code != 7 {
			t.Fatalf("exit %d, want the child's 7 after SIGTERM", code)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the agent did not stop after SIGQUIT")
	}
	if b, _ := os.ReadFile(got); strings.TrimSpace(string(b)) != "TERM" {
		t.Fatalf("the child saw %q, want TERM", b)
	}
}

// Without a child, SIGHUP and SIGQUIT stop the mongo role cleanly with exit 0 (Go's defaults would
// end the process at once, or dump its goroutines).
func TestMongoCommandStopsOnSIGHUPAndSIGQUITWithoutChild(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGQUIT} {
		t.Run(sig.String(), func(t *testing.T) {
			done := make(chan int, 1)
			var errb syncBuffer
			go func() { done <- run(append([]string{"mongo"}, deadMetadata...), noEnv, &bytes.Buffer{}, &errb) }()
			deadline := time.Now().Add(10 * time.Second)
			for !strings.Contains(errb.String(), "mongo role starting") {
				if time.Now().After(deadline) {
					t.Fatalf("the role never started:\n%s", errb.String())
				}
				time.Sleep(10 * time.Millisecond)
			}
			syscall.Kill(os.Getpid(), sig)
			select {
			case code := <-done:
				if code != 0 {
					t.Fatalf("exit %d, want 0", code)
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("the agent did not stop after %v", sig)
			}
		})
	}
}
