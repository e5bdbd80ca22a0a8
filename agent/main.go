package agent

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// Version is the release version; set at build time with -ldflags "-X ...agent.Version=v1.2.3".
var Version = "dev"

// Main runs the command named by args[0] and returns the process exit code: 0 on success, 1 when
// the command failed, 2 for a usage error.
func Main(args []string, stdout, stderr io.Writer) int {
	limitProcs(args, os.LookupEnv) // here, not in run: tests call run in their own process
	return run(args, os.LookupEnv, stdout, stderr)
}

func run(args []string, env func(string) (string, bool), stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "version", "--version":
		fmt.Fprintf(stdout, "replset-agent %s\n", Version)
		return 0
	case "help", "-h", "--help":
		usage(stdout)
		return 0
	case "install":
		return runInstall(args[1:], env, stdout, stderr)
	case "mongo":
		return runMongoCmd(args[1:], env, stdout, stderr)
	case "status":
		return runStatusCmd(args[1:], env, stdout, stderr)
	case "demo":
		return runDemoCmd(args[1:], env, stdout, stderr)
	case demoChildCommand:
		return runDemoChild()
	case "letschat":
		return runLetschatCmd(args[1:], env, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "replset-agent: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
}

// handleParseError turns a parse result into an exit: help → 0 on stdout, usage error → 2.
func handleParseError(s *optionSet, synopsis string, err error, stdout, stderr io.Writer) (code int, done bool) {
	if err == nil {
		return 0, false
	}
	if errors.Is(err, flag.ErrHelp) {
		s.help(stdout, synopsis)
		return 0, true
	}
	fmt.Fprintf(stderr, "replset-agent %v\nRun 'replset-agent %s --help' for the flags.\n", err, s.cmd)
	return 2, true
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage: replset-agent <command> [flags]

Commands:
  mongo      reconcile the replica set beside a mongod (optionally: mongo -- mongod ...)
  letschat   supervise Let's Chat and keep its database URI current: letschat -- npm start
  install    copy this binary into a shared volume: install DIR
  status     print the topology, the set's state and the planner's next action
  demo       run the whole system in one process on simulated hosts
  version    print the version

Run 'replset-agent <command> --help' for a command's flags.
`)
}
