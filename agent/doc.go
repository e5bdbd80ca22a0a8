// Package agent is the one place where Rancher metadata, the replica-set reconciler and the Let's
// Chat configuration meet: it owns the command line, configuration from flags and environment,
// the roles (mongo, letschat, install, status, demo), the HTTP endpoints and metrics. Nothing
// imports agent except main.
package agent
