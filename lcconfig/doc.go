// Package lcconfig owns Let's Chat's database configuration: the MongoDB URI built from a plain
// list of replica-set members, its delivery to Let's Chat (the LCB_DATABASE_URI environment
// variable of a supervised child, or a settings.yml merged into a user-supplied base and written
// atomically), a model of how Let's Chat resolves database.uri from its environment and files,
// and the Supervisor that runs the Let's Chat process and restarts it, gracefully and according
// to a restart policy, when the membership that matters changes.
//
// lcconfig must not know anything of Rancher or of how members are discovered: callers hand it
// "host:port" strings with an optional health hint and this instance's rank. It never logs,
// prints or returns a password; use Redact on anything that may carry a URI.
package lcconfig
