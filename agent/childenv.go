package agent

import (
	"os"
	"strings"
)

// The agent's children (mongod, Let's Chat) get the agent's environment minus everything the
// agent itself reads: its secrets (MONGO_PASSWORD, MONGO_KEYFILE, LETSCHAT_DB_PASSWORD, ...), the
// paths of its secret files (*_FILE), and its settings. What a child needs from the agent it gets
// explicitly (Let's Chat's URI or settings file, mongod's --keyFile).

// extraAgentVariables are read outside any option set.
var extraAgentVariables = []string{"INSTALL_NAME", "MONGOD_BIN"}

// agentVariables is every environment variable any agent command reads.
func agentVariables() map[string]bool {
	var mc mongoConfig
	var lc letschatConfig
	var sc statusConfig
	var dc demoConfig
	out := map[string]bool{}
	for _, s := range []*optionSet{mc.options(), lc.options(), sc.options(), dc.options()} {
		for _, o := range s.opts {
			if o.env != "" {
				out[o.env] = true
			}
		}
	}
	for _, v := range extraAgentVariables {
		out[v] = true
	}
	return out
}

// childEnv returns base (KEY=VALUE pairs) without the agent's own variables.
func childEnv(base []string) []string {
	own := agentVariables()
	out := make([]string, 0, len(base))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if !own[k] {
			out = append(out, kv)
		}
	}
	return out
}

// childEnvOr is env when a caller chose one (the demo, tests), else this process's environment
// without the agent's variables.
func childEnvOr(env []string) []string {
	if env != nil {
		return env
	}
	return childEnv(os.Environ())
}
