// Command fakechat stands in for Let's Chat in lcconfig's tests: it records what it was started
// with and every signal it gets, as JSON lines appended to $FAKECHAT_LOG, and exits when told to.
// It must not be used outside tests.
//
// Environment:
//
//	FAKECHAT_LOG          file to append records to (required)
//	FAKECHAT_SETTINGS     settings file whose content is recorded at start
//	FAKECHAT_CRASH_WHILE  while this file exists, exit with code 7 shortly after starting
//	FAKECHAT_IGNORE_TERM  "1": record SIGTERM but keep running
//	FAKECHAT_TERM_CODE    exit code after SIGTERM/SIGINT; "die" re-raises the signal; default 0
//
// SIGUSR1 makes it exit with code 9, as a crash on demand; SIGHUP is only recorded.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

// record is one line of the log.
type record struct {
	Event    string `json:"event"` // start, signal, exit
	PID      int    `json:"pid"`
	Time     int64  `json:"time"` // Unix nanoseconds
	URI      string `json:"uri,omitempty"`
	URISet   bool   `json:"uri_set,omitempty"`
	Settings string `json:"settings,omitempty"`
	Signal   string `json:"signal,omitempty"`
	Code     int    `json:"code,omitempty"`
}

func main() {
	logPath := os.Getenv("FAKECHAT_LOG")
	if logPath == "" {
		fmt.Fprintln(os.Stderr, "fakechat: FAKECHAT_LOG not set")
		os.Exit(2)
	}
	write := func(r record) {
		r.PID, r.Time = os.Getpid(), time.Now().UnixNano()
		line, _ := json.Marshal(r)
		f, err := os.OpenFile(logPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fakechat:", err)
			os.Exit(2)
		}
		_, _ = f.Write(append(line, '\n'))
		_ = f.Close()
	}
	exit := func(code int) {
		write(record{Event: "exit", Code: code})
		os.Exit(code)
	}

	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR1)

	start := record{Event: "start"}
	start.URI, start.URISet = os.LookupEnv("LCB_DATABASE_URI")
	if p := os.Getenv("FAKECHAT_SETTINGS"); p != "" {
		if b, err := os.ReadFile(p); err == nil {
			start.Settings = string(b)
		}
	}
	write(start)
	fmt.Println("fakechat: listening")

	var crash <-chan time.Time
	if p := os.Getenv("FAKECHAT_CRASH_WHILE"); p != "" {
		if _, err := os.Stat(p); err == nil {
			crash = time.After(20 * time.Millisecond)
		}
	}
	for {
		select {
		case <-crash:
			exit(7)
		case sig := <-signals:
			write(record{Event: "signal", Signal: sig.String()})
			switch sig {
			case syscall.SIGUSR1:
				exit(9)
			case syscall.SIGTERM, syscall.SIGINT:
				if sig == syscall.SIGTERM && os.Getenv("FAKECHAT_IGNORE_TERM") == "1" {
					continue
				}
				onStop(sig.(syscall.Signal), exit)
			}
		}
	}
}

// onStop ends the process the way FAKECHAT_TERM_CODE asks.
func onStop(sig syscall.Signal, exit func(int)) {
	code := os.Getenv("FAKECHAT_TERM_CODE")
	if code == "die" {
		signal.Reset(sig)
		_ = syscall.Kill(os.Getpid(), sig)
		time.Sleep(time.Second) // The signal ends the process before this returns.
	}
	n, _ := strconv.Atoi(code)
	exit(n)
}
