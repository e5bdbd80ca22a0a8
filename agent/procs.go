package agent

import (
	"runtime"
	"strconv"
)

// agentProcs is how many OS threads may run the agent's Go code at once (GOMAXPROCS) in the
// long-running roles, unless the GOMAXPROCS variable says otherwise. The agents are sidecars on
// every host, beside mongod or Let's Chat, and wait on the network almost all the time: one
// thread does their work, and a second lets the runtime spin idle threads and wake goroutines
// across cores, which on a 2-core machine running six agents cost a sixth more CPU per metadata
// change (21.9 against 18.8 ms per host joining and leaving, issue 14's benchmark). Prometheus'
// node_exporter makes the same choice for the same reason.
const agentProcs = 1

// procsFor returns the GOMAXPROCS the command args[0] should run with, and false to leave the
// runtime's choice alone: a set GOMAXPROCS variable always wins, and the short-lived commands
// (status, install) and the demo, which runs a whole emulated cluster in one process, keep the
// runtime's default.
func procsFor(args []string, env func(string) (string, bool)) (int, bool) {
	if len(args) == 0 {
		return 0, false
	}
	if v, set := env("GOMAXPROCS"); set {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			return 0, false // the runtime read it already
		}
	}
	switch args[0] {
	case "mongo", "letschat":
		return agentProcs, true
	}
	return 0, false
}

// limitProcs applies procsFor to this process.
func limitProcs(args []string, env func(string) (string, bool)) {
	if n, ok := procsFor(args, env); ok {
		runtime.GOMAXPROCS(n)
	}
}
