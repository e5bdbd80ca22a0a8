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

// deadMetadata points at a closed port: the role keeps retrying metadata while the child runs.
var deadMetadata = []string{"--metadata-url", "http://127.0.0.1:1/2016-07-29", "--metadata-backoff-cap", "1s"}

func TestMongoCommandExitsWithItsChild(t *testing.T) {
	var out, errb bytes.Buffer
	args := append(append([]string{"mongo"}, deadMetadata...), "--", "sh", "-c", "exit 3")
	if code := run(args, noEnv, &out, &errb); code != 3 {
		t.Fatalf("exit %d, want the child's 3\n%s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "child exited") {
		t.Fatalf("the child's exit was not logged:\n%s", errb.String())
	}
}

func TestMongoCommandForwardsSIGTERM(t *testing.T) {
	dir := t.TempDir()
	ready := filepath.Join(dir, "ready")
	got := filepath.Join(dir, "got")
	script := `trap 'echo TERM > ` + got + `; exit 7' TERM; touch ` + ready + `; while :; do sleep 0.05; done`
	args := append(append([]string{"mongo"}, deadMetadata...), "--", "sh", "-c", script)
	done := make(chan int, 1)
	var errb bytes.Buffer
	go func() { done <- run(args, noEnv, &bytes.Buffer{}, &errb) }()
	waitFile(t, ready)
	// The agent has registered for SIGTERM before it started the child, so this reaches the agent,
	// which forwards it.
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	select {
	case code := <-done:
		if code != 7 {
			t.Fatalf("exit %d, want the child's 7", code)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the agent did not stop after SIGTERM")
	}
	if b, _ := os.ReadFile(got); strings.TrimSpace(string(b)) != "TERM" {
		t.Fatal("the child never saw SIGTERM")
	}
}

func TestMongoCommandStopsOnSIGTERMWithoutChild(t *testing.T) {
	done := make(chan int, 1)
	var errb syncBuffer
	go func() { done <- run(append([]string{"mongo"}, deadMetadata...), noEnv, &bytes.Buffer{}, &errb) }()
	deadline := time.Now().Add(10 * time.Second)
	// Signal only once the role has tried metadata, so the log below is there to check.
	for !strings.Contains(errb.String(), "metadata request failed") {
		if time.Now().After(deadline) {
			t.Fatalf("the role never tried metadata:\n%s", errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d, want 0 on SIGTERM", code)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the agent did not stop after SIGTERM")
	}
	if !strings.Contains(errb.String(), "metadata request failed; keeping the last good snapshot") || !strings.Contains(errb.String(), "connection refused") {
		t.Fatalf("the metadata failure was not logged with its cause:\n%s", errb.String())
	}
}

func waitFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared", path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
