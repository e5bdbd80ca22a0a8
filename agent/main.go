package agent

import (
	"fmt"
	"io"
)

// Version is the release version; set at build time with -ldflags "-X ...agent.Version=v1.2.3".
var Version = "dev"

// Main runs the command named by args[0] and returns the process exit code: 0 on success, 1 when
// the command failed, 2 for a usage error.
func Main(args []string, stdout, stderr io.Writer) int {
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
	default:
		fmt.Fprintf(stderr, "replset-agent: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage: replset-agent <command> [flags]

Commands:
  version   print the version
`)
}
