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
// Member roles (Role) are plain fields; the agent maps them from container or host labels. The
// suggested label names are:
//
//	replset-agent.priority=<0..1000>   election priority of a voting member (default 1)
//	replset-agent.non-voting=true      never give the member a vote
//	replset-agent.hidden=true          hide the member from clients (priority 0, may still vote)
package mongors
