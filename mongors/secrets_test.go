package mongors_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/replset-agent/replset-agent/mongors"
	"github.com/replset-agent/replset-agent/mongotest"
)

// TestCredentials_neverShown runs a reconciler with a password against a dead address and against
// the emulator, then searches every place text can leak: the config's renderings, every log line
// and field, the status JSON and the errors.
func TestCredentials_neverShown(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-Pa55w0rd-7f1c"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	_ = ln.Close()

	c := mongotest.New(t, mongotest.Options{SetName: "letschat"})
	live := mongotest.Addrs(t, 1)[0]
	if err := c.StartNode(live); err != nil {
		t.Fatal(err)
	}

	for _, addr := range []string{dead, live} {
		t.Run(addr, func(t *testing.T) {
			conn := connFor(addr)
			conn.Username, conn.Password = "agent", secret
			conn.ConnectTimeout = 300 * time.Millisecond
			var seen []string
			seen = append(seen, conn.String(), fmt.Sprintf("%v %+v", conn, conn))
			js, _ := json.Marshal(conn)
			seen = append(seen, string(js))

			dc, err := mongors.NewDriverClient(conn)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = dc.Close(context.Background()) }()
			log, hook := logtest.NewNullLogger()
			cfg := liveLoop()
			cfg.Client, cfg.Log = dc, log
			r, err := mongors.NewReconciler(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); _ = r.Run(ctx) }()
			r.SetDesired(desiredOf(addr, addr))
			eventually(t, 10*time.Second, "a few passes", func() bool { return r.Status().Passes >= 2 })
			cancel()
			<-done

			_, hErr := dc.Hello(context.Background(), addr)
			seen = append(seen, fmt.Sprint(hErr))
			st, _ := json.Marshal(r.Status())
			seen = append(seen, string(st))
			for _, e := range hook.AllEntries() {
				line, _ := e.String()
				seen = append(seen, line)
			}
			for _, s := range seen {
				if strings.Contains(s, secret) {
					t.Fatalf("password leaked: %s", s)
				}
			}
			if len(hook.AllEntries()) == 0 {
				t.Fatal("nothing logged; the test would prove nothing")
			}
		})
	}
}
