package agent

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// splitCommand separates the agent's own arguments from a child command line after "--".
func splitCommand(args []string) (own, child []string) {
	for i, a := range args {
		if a == "--" {
			return args[:i], args[i+1:]
		}
	}
	return args, nil
}

func runLetschatCmd(args []string, env func(string) (string, bool), stdout, stderr io.Writer) int {
	var cfg letschatConfig
	s := cfg.options()
	own, child := splitCommand(args)
	rest, err := s.parse(own, env)
	if code, done := handleParseError(s, "letschat [flags] [-- command ...]", err, stdout, stderr); done {
		return code
	}
	if len(rest) > 0 {
		return reportUsage(stderr, s, usagef("letschat: unexpected argument %q (put the Let's Chat command after --)", rest[0]))
	}
	if err := cfg.validate(); err != nil {
		return reportUsage(stderr, s, err)
	}
	cfg.Command = child
	log := newLogger(stderr, cfg.LogLevel, cfg.LogFormat, cfg.Password)

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	role, err := newLetschatRole(cfg, roleOptions{Logger: log})
	if err != nil {
		log.WithError(err).Error("letschat role cannot start")
		return 1
	}
	if _, err := serveHTTP(ctx, cfg.Addr, role.endpoints(), log); err != nil {
		log.WithError(err).Error("cannot listen")
		return 1
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(sigs)
	log.WithField("config", cfg.String()).Info("letschat role starting")
	return role.run(ctx, sigs)
}

func reportUsage(stderr io.Writer, s *optionSet, err error) int {
	_, _ = handleParseError(s, "", err, io.Discard, stderr)
	return 2
}

func runMongoCmd(args []string, env func(string) (string, bool), stdout, stderr io.Writer) int {
	var cfg mongoConfig
	s := cfg.options()
	own, child := splitCommand(args)
	rest, err := s.parse(own, env)
	if code, done := handleParseError(s, "mongo [flags] [-- mongod ...]", err, stdout, stderr); done {
		return code
	}
	if len(rest) > 0 {
		return reportUsage(stderr, s, usagef("mongo: unexpected argument %q (put a mongod command after --)", rest[0]))
	}
	if err := cfg.validate(); err != nil {
		return reportUsage(stderr, s, err)
	}
	cfg.Command = child
	log := newLogger(stderr, cfg.LogLevel, cfg.LogFormat, cfg.Password)

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
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	log.WithField("config", cfg.String()).Info("mongo role starting")

	roleDone := make(chan struct{})
	go func() { defer close(roleDone); role.run(ctx) }()

	code := 0
	if len(child) > 0 {
		code, err = runChild(ctx, child, sigs, 30*time.Second, log)
		if err != nil {
			log.WithError(err).Error("mongod could not be run")
		}
	} else {
		sig := <-sigs
		log.WithField("signal", sig.String()).Info("stopping")
	}
	stop()
	<-roleDone
	<-httpDone
	return code
}
