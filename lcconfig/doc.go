// Package lcconfig owns Let's Chat's database configuration and the supervision of the Let's Chat
// process: the MongoDB URI built from a plain list of replica-set members (members its driver cannot
// parse are left out), its delivery to Let's Chat (LCB_DATABASE_URI and LCB_SECRETS_COOKIE in the
// child's environment, or a settings.yml merged into a user-supplied base, checked as Let's Chat's
// own YAML parser reads it, and written atomically with mode 0600), a model of how Let's Chat
// resolves database.uri and http.port from its environment and files, and the Supervisor.
//
// The Supervisor runs Let's Chat as a process group (package childproc) and restarts it when the
// membership that matters changes: gracefully, in this instance's slot (rank × stagger, re-derived
// when the rank changes), and through a RestartGate that lets at most one instance of the service be
// down for a policy restart at a time; the gate is held until the replacement answers its
// readiness probe. Crash restarts, with backoff, never wait for the gate.
//
// In active–standby (InstancesMode) one instance serves, the others run warm: choose decides from
// the caller's view of the instances and their health (the load balancer's verdict on readiness)
// whether this one serves, and the serving instance hands over to a standby through a
// HandoverGate before its own policy restart (handover.go), so that some instance serves at every
// moment.
//
// lcconfig must not know anything of Rancher or of how members are discovered: callers hand it
// "host:port" strings with an optional health hint and this instance's rank. It never logs,
// prints or returns a password or the cookie secret; use Redact on anything that may carry a URI.
package lcconfig
