// Command fakechat stands in for Let's Chat in lcconfig's tests: it records what it was started
// with and every signal it gets, as JSON lines appended to $FAKECHAT_LOG, serves HTTP once
// "booted" (a readiness probe's target), and exits when told to. It must not be used outside
// tests.
//
// Environment:
//
//	FAKECHAT_LOG          file to append records to (required)
//	FAKECHAT_SETTINGS     settings file whose content is recorded at start
//	FAKECHAT_HTTP_ADDR    host:port to serve HTTP on (every request answers 200) once booted; a port
//	                      already taken exits with code 8, as Let's Chat crashes on EADDRINUSE
//	FAKECHAT_BOOT_DELAY   time from start to listening (default 0)
//	FAKECHAT_CRASH_WHILE  while this file exists, exit with code 7 shortly after starting
//	FAKECHAT_IGNORE_TERM  "1": record SIGTERM but keep running
//	FAKECHAT_TERM_DELAY   time from SIGTERM/SIGINT to exit (a graceful shutdown), default 0
//	FAKECHAT_TERM_CODE    exit code after SIGTERM/SIGINT; "die" re-raises the signal; default 0
//	FAKECHAT_NPM          "1": play `npm start`: run a second fakechat (the app, "node") in the
//	                      same process group and exit at once on SIGTERM, without waiting for it;
//	                      exit with the app's code when it exits on its own
//	FAKECHAT_ORPHANS      number of sleeping grandchildren to leave behind, each living
//	                      FAKECHAT_ORPHAN_LIFE (default 100ms) after this process exits
//
// SIGUSR1 makes it exit with code 9, as a crash on demand; SIGHUP is only recorded. Records of the
// app under FAKECHAT_NPM carry "role": "node", the wrapper's "npm".
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

// record is one line of the log.
type record struct {
	Event     string `json:"event"` // start, ready, signal, exit
	Role      string `json:"role,omitempty"`
	PID       int    `json:"pid"`
	PGID      int    `json:"pgid,omitempty"`
	Time      int64  `json:"time"` // Unix nanoseconds
	URI       string `json:"uri,omitempty"`
	URISet    bool   `json:"uri_set,omitempty"`
	Cookie    string `json:"cookie,omitempty"`
	CookieSet bool   `json:"cookie_set,omitempty"`
	Settings  string `json:"settings,omitempty"`
	Signal    string `json:"signal,omitempty"`
	Code      int    `json:"code,omitempty"`
}

var role string

func write(r record) {
	r.PID, r.Time, r.Role = os.Getpid(), time.Now().UnixNano(), role
	line, _ := json.Marshal(r)
	f, err := os.OpenFile(os.Getenv("FAKECHAT_LOG"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakechat:", err)
		os.Exit(2)
	}
	_, _ = f.Write(append(line, '\n'))
	_ = f.Close()
}

func exit(code int) {
	write(record{Event: "exit", Code: code})
	os.Exit(code)
}

func duration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil {
		return d
	}
	return def
}

func main() {
	if os.Getenv("FAKECHAT_LOG") == "" {
		fmt.Fprintln(os.Stderr, "fakechat: FAKECHAT_LOG not set")
		os.Exit(2)
	}
	if os.Getenv("FAKECHAT_SLEEPER") == "1" {
		time.Sleep(duration("FAKECHAT_ORPHAN_LIFE", 100*time.Millisecond))
		return
	}
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR1)
	if os.Getenv("FAKECHAT_NPM") == "1" {
		role = "npm"
		runNPM(signals)
		return
	}
	if os.Getenv("FAKECHAT_ROLE") != "" {
		role = os.Getenv("FAKECHAT_ROLE")
	}

	start := record{Event: "start", PGID: syscall.Getpgrp()}
	start.URI, start.URISet = os.LookupEnv("LCB_DATABASE_URI")
	start.Cookie, start.CookieSet = os.LookupEnv("LCB_SECRETS_COOKIE")
	if p := os.Getenv("FAKECHAT_SETTINGS"); p != "" {
		if b, err := os.ReadFile(p); err == nil {
			start.Settings = string(b)
		}
	}
	write(start)
	fmt.Println("fakechat: started")
	leaveOrphans()

	var crash <-chan time.Time
	if p := os.Getenv("FAKECHAT_CRASH_WHILE"); p != "" {
		if _, err := os.Stat(p); err == nil {
			crash = time.After(20 * time.Millisecond)
		}
	}
	var boot <-chan time.Time
	if os.Getenv("FAKECHAT_HTTP_ADDR") != "" {
		boot = time.After(duration("FAKECHAT_BOOT_DELAY", 0))
	}
	for {
		select {
		case <-crash:
			exit(7)
		case <-boot:
			boot = nil
			serve(os.Getenv("FAKECHAT_HTTP_ADDR"))
		case sig := <-signals:
			write(record{Event: "signal", Signal: sig.String()})
			switch sig {
			case syscall.SIGUSR1:
				exit(9)
			case syscall.SIGTERM, syscall.SIGINT:
				if sig == syscall.SIGTERM && os.Getenv("FAKECHAT_IGNORE_TERM") == "1" {
					continue
				}
				time.Sleep(duration("FAKECHAT_TERM_DELAY", 0))
				onStop(sig.(syscall.Signal))
			}
		}
	}
}

// serve listens on addr and answers every request with 200; a taken port is a crash.
func serve(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakechat:", err)
		if errors.Is(err, syscall.EADDRINUSE) {
			exit(8)
		}
		exit(2)
	}
	write(record{Event: "ready"})
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go answer(conn)
		}
	}()
}

// answer reads one request's head and answers 200, closing the connection: enough HTTP for a
// probe, without net/http, whose size makes every start of this program slower.
func answer(conn net.Conn) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	head := make([]byte, 0, 512)
	buf := make([]byte, 512)
	for !bytes.Contains(head, []byte("\r\n\r\n")) && len(head) < 8<<10 {
		n, err := conn.Read(buf)
		head = append(head, buf[:n]...)
		if err != nil {
			return
		}
	}
	_, _ = conn.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 9\r\nConnection: close\r\n\r\nfakechat\n"))
}

// onStop ends the process the way FAKECHAT_TERM_CODE asks.
func onStop(sig syscall.Signal) {
	code := os.Getenv("FAKECHAT_TERM_CODE")
	if code == "die" {
		write(record{Event: "exit", Code: 128 + int(sig)})
		signal.Reset(sig)
		_ = syscall.Kill(os.Getpid(), sig)
		time.Sleep(time.Second) // The signal ends the process before this returns.
	}
	n, _ := strconv.Atoi(code)
	exit(n)
}

// leaveOrphans starts FAKECHAT_ORPHANS sleepers that outlive this process.
func leaveOrphans() {
	n, _ := strconv.Atoi(os.Getenv("FAKECHAT_ORPHANS"))
	self, _ := os.Executable()
	for range n {
		cmd := exec.Command(self)
		cmd.Env = append(os.Environ(), "FAKECHAT_SLEEPER=1")
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "fakechat:", err)
		}
		// Never waited for: once this process exits they are orphans, reparented to the
		// nearest subreaper or PID 1.
	}
}

// runNPM plays `npm start`: the app runs as a child in the same process group; a SIGTERM ends
// the wrapper at once (the app gets the same signal from the group and shuts down on its own
// time); the app's own exit ends the wrapper with its code.
func runNPM(signals chan os.Signal) {
	self, _ := os.Executable()
	app := exec.Command(self)
	app.Env = append(os.Environ(), "FAKECHAT_NPM=0", "FAKECHAT_ROLE=node")
	app.Stdout, app.Stderr = os.Stdout, os.Stderr
	if err := app.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "fakechat npm:", err)
		exit(2)
	}
	write(record{Event: "start", PGID: syscall.Getpgrp()})
	done := make(chan int, 1)
	go func() {
		_ = app.Wait()
		done <- app.ProcessState.ExitCode()
	}()
	for {
		select {
		case code := <-done:
			exit(code)
		case sig := <-signals:
			write(record{Event: "signal", Signal: sig.String()})
			if sig == syscall.SIGTERM || sig == syscall.SIGINT {
				exit(0) // what recent npm does: no waiting for the app
			}
		}
	}
}
