// Package mongors keeps one MongoDB replica set's membership in step with a plain list of desired
// members, one safe step at a time.
//
// It owns three things: the pure planner (Plan: desired members, observed set, clock and settings
// in; exactly one next action with its reason out), the safety rules every proposed config must
// pass before it can leave the planner (rules.go), and the executor that observes the set and runs
// an action through the MongoDB Go driver (DriverClient), tied together by the Reconciler loop.
//
// It must not know anything of Rancher: callers map their orchestrator's view to Desired. It must
// never force a reconfig, never start a second set, and never let a credential reach a log line, a
// status field or an error string.
//
// Initiation (rule 1) happens once, with an explicit config listing exactly Desired.Members, sent
// by the lowest-ordered electable member, and only when at least Settings.MinMembers are listed and
// every one of them answers hello as a --replSet node without a config. Desired.Peers (mongods of
// the service the orchestrator does not count as usable: stopped, starting, unhealthy, a second
// container on a host) are asked too and must pass the same test: a peer that has a config or does
// not answer blocks initiation, since after a host replacement the old nodes may still hold the
// set. Peers are never put in a config; one that reports a primary makes the agent read that
// primary's config and join its view instead.
//
// Member roles (Role) are plain fields; the agent maps them from container or host labels. The
// suggested label names are:
//
//	replset-agent.priority=<0..1000>   election priority of a voting member (default 1)
//	replset-agent.non-voting=true      never give the member a vote
//	replset-agent.hidden=true          hide the member from clients (priority 0, may still vote)
package mongors
