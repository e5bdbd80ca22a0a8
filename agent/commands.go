package agent

import (
	"context"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/sirupsen/logrus"
)

// splitCommand separates the agent's own arguments from a child command line after "--".
func splitCommand(args []string) (own, child []string) {
	for i, a := range args {
		if a == "--" {
			if i+1 == len(args) {
				return args[:i], nil // "--" alone: the default command
			}
			return args[:i], args[i+1:]
		}
	}
	return args, nil
}

// parseRole parses a long-running role's arguments: its flags, then an optional child command after
// "--". done means the caller returns code (help, or a usage error already reported).
func parseRole(s *optionSet, synopsis string, validate func() error, args []string, env func(string) (string, bool), stdout, stderr io.Writer) (child []string, code int, done bool) {
	own, child := splitCommand(args)
	rest, err := s.parse(own, env)
	if code, done := handleParseError(s, synopsis, err, stdout, stderr); done {
		return nil, code, true
	}
	if len(rest) > 0 {
		return nil, reportUsage(stderr, s, usagef("%s: unexpected argument %q (put a child command after --)", s.cmd, rest[0])), true
	}
	if err := validate(); err != nil {
		return nil, reportUsage(stderr, s, err), true
	}
	return child, 0, false
}

func runLetschatCmd(args []string, env func(string) (string, bool), stdout, stderr io.Writer) int {
	var cfg letschatConfig
	child, code, done := parseRole(cfg.options(), "letschat [flags] [-- command ...]", cfg.validate, args, env, stdout, stderr)
	if done {
		return code
	}
	if err := cfg.checkStart(); err != nil {
		return reportUsage(stderr, cfg.options(), err)
	}
	cfg.Command = child
	log := newLogger(stderr, cfg.LogLevel, cfg.LogFormat, cfg.Password, cfg.AppPassword, cfg.CookieSecret)
	logWarnings(log, cfg.warnings)
	defer startReaper(log)()

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	role, err := newLetschatRole(cfg, letschatOptions{Logger: log})
	if err != nil {
		log.WithError(err).Error("letschat role cannot start")
		return 1
	}
	if _, err := serveHTTP(ctx, cfg.Addr, role.endpoints(), log); err != nil {
		log.WithError(err).Error("cannot listen")
		return 1
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(sigs)
	log.WithFields(logrus.Fields{"config": cfg.String(), "gomaxprocs": runtime.GOMAXPROCS(0)}).Info("letschat role starting")
	return role.run(ctx, sigs)
}

func reportUsage(stderr io.Writer, s *optionSet, err error) int {
	_, _ = handleParseError(s, "", err, io.Discard, stderr)
	return 2
}

func runMongoCmd(args []string, env func(string) (string, bool), stdout, stderr io.Writer) int {
	var cfg mongoConfig
	child, code, done := parseRole(cfg.options(), "mongo [flags] [-- mongod ...]", cfg.validate, args, env, stdout, stderr)
	if done {
		return code
	}
	cfg.Command = child
	log := newLogger(stderr, cfg.LogLevel, cfg.LogFormat, cfg.secrets()...)
	logWarnings(log, cfg.warnings)
	if !prepareMongod(&cfg, child, realKeyFileSystem(), log) {
		return 1
	}

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	role, err := newMongoRole(cfg, mongoOptions{Logger: log})
	if err != nil {
		log.WithError(err).Error("mongo role cannot start")
		return 1
	}
	httpDone, err := serveHTTP(ctx, cfg.Addr, role.endpoints(), log)
	if err != nil {
		log.WithError(err).Error("cannot listen")
		return 1
	}
	sigs := make(chan os.Signal, 4)
	if len(child) > 0 {
		// mongod rotates its log on SIGUSR1; those are passed through. SIGQUIT is a clean stop.
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGHUP, syscall.SIGUSR1)
		defer startReaper(log)()
	} else {
		// Without a child every one of these is a clean stop; Go's default for SIGQUIT and
		// SIGHUP would end the process without stopping the reconciler.
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGHUP)
	}
	defer signal.Stop(sigs)
	log.WithFields(logrus.Fields{"config": cfg.String(), "gomaxprocs": runtime.GOMAXPROCS(0)}).Info("mongo role starting")

	roleDone := make(chan struct{})
	go func() { defer close(roleDone); role.run(ctx) }()
	// stopRole ends planning and waits for it: an in-flight action finishes or is abandoned
	// (bounded by its maxTimeMS) before mongod is asked to stop, so no change starts against a
	// node that is going away.
	stopRole := func() {
		stop()
		<-roleDone
	}

	if len(child) == 0 {
		sig := <-sigs
		log.WithField("signal", sig.String()).Info("stopping")
		stopRole()
		<-httpDone
		return 0
	}
	childSigs := make(chan os.Signal, 4)
	type result struct {
		code int
		err  error
	}
	childDone := make(chan result, 1)
	go func() {
		code, err := runChild(child, childSigs, log)
		childDone <- result{code, err}
	}()
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGQUIT {
				sig = syscall.SIGTERM // a clean stop of mongod, never a dump that orphans it
			}
			if sig == syscall.SIGTERM || sig == syscall.SIGINT {
				log.WithField("signal", sig.String()).Info("stopping the reconciler, then mongod")
				stopRole()
			}
			childSigs <- sig
		case res := <-childDone:
			if res.err != nil {
				log.WithError(res.err).Error("mongod could not be run")
			}
			stopRole()
			<-httpDone
			return res.code
		}
	}
}
