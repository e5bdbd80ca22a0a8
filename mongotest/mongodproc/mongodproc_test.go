package mongodproc

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// The test binary doubles as a stand-in mongod: with FAKE_MONGOD=1 it parses the flags mongod
// gets, writes a file into --dbpath and listens on --bind_ip:--port until signalled.
func TestMain(m *testing.M) {
	if os.Getenv("FAKE_MONGOD") == "1" {
		os.Exit(fakeMongod(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func fakeMongod(args []string) int {
	flags := map[string]string{}
	for i := 0; i+1 < len(args); i += 2 {
		flags[args[i]] = args[i+1]
	}
	if flags["--replSet"] == "" || flags["--dbpath"] == "" {
		return 2
	}
	if os.Getenv("FAKE_MONGOD_FAIL") == "1" {
		return 3
	}
	os.WriteFile(filepath.Join(flags["--dbpath"], "data"), []byte("x"), 0o600)
	ln, err := net.Listen("tcp", net.JoinHostPort(flags["--bind_ip"], flags["--port"]))
	if err != nil {
		return 4
	}
	defer ln.Close()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	<-sigs
	return 0
}

func addr(t *testing.T) string {
	for range 20 {
		a := fmt.Sprintf("127.%d.%d.%d:27017", 1+rand.IntN(250), 1+rand.IntN(250), 1+rand.IntN(250))
		if ln, err := net.Listen("tcp", a); err == nil {
			ln.Close()
			return a
		}
	}
	t.Fatal("no free loopback address")
	return ""
}

func TestLifecycle(t *testing.T) {
	self, _ := os.Executable()
	t.Setenv("FAKE_MONGOD", "1")
	c := New(self, "rs0", t.TempDir())
	defer c.Close()
	a := addr(t)
	if err := c.StartNode(a); err != nil {
		t.Fatal(err)
	}
	if conn, err := net.Dial("tcp", a); err != nil {
		t.Fatalf("node not listening after StartNode: %v", err)
	} else {
		conn.Close()
	}
	data := filepath.Join(c.dbpath(a), "data")
	if _, err := os.Stat(data); err != nil {
		t.Fatalf("dbpath not used: %v", err)
	}
	if err := c.CrashNode(a); err != nil {
		t.Fatal(err)
	}
	if _, err := net.Dial("tcp", a); err == nil {
		t.Fatal("node still listening after CrashNode")
	}
	if _, err := os.Stat(data); err != nil {
		t.Fatal("a crash lost the data directory")
	}
	if err := c.StartNode(a); err != nil {
		t.Fatal(err)
	}
	if err := c.StopNode(a); err != nil {
		t.Fatal(err)
	}
	if err := c.WipeNode(a); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c.dbpath(a)); !os.IsNotExist(err) {
		t.Fatal("WipeNode kept the data directory")
	}
	if !errors.Is(c.Partition(), ErrUnsupported) || !errors.Is(c.Heal(), ErrUnsupported) {
		t.Fatal("partition must be unsupported")
	}
}

func TestStartFailureIsReported(t *testing.T) {
	self, _ := os.Executable()
	t.Setenv("FAKE_MONGOD", "1")
	t.Setenv("FAKE_MONGOD_FAIL", "1")
	c := New(self, "rs0", t.TempDir())
	defer c.Close()
	err := c.StartNode(addr(t))
	if err == nil || !strings.Contains(err.Error(), "exited early") {
		t.Fatalf("err = %v, want an early exit", err)
	}
}
