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
// by the first electable container of the whole service as the orchestrator lists it: a peer
// (a container that is not a usable member, in any state) created before it blocks it, because
// another host's copy of the orchestrator's state may show that container running and make it the
// initiator. The view must have stayed the same for Settings.InitiateSettle with no container
// starting, at least Settings.MinMembers must be listed, and every listed container — members,
// peers, the local node — must be proven empty: hello without a set and replSetGetStatus 94.
// mongod answers hello alike on a node removed from a set; its 93 marks a node that keeps a set's
// data, which blocks initiation and never seeds a set, and any other answer blocks as unknown.
// Under access control (DriverClient with ConnConfig.LoginFallback) a node without users answers
// another host nothing but hello: one that refuses the admin login and names no set counts as empty
// (StandingNoUsers), since every node holding this set's data holds its admin user too.
// The loop reads the set once more just before it sends the initiate. Peers are never put in a
// config; one that reports a primary makes the agent read that primary's config and join its view
// instead, and a listed mongod holding another replica set is never added (foreign-set alarm).
//
// Membership changes follow health (rules 4–6): new members join together without a vote and are
// promoted one voting change per reconfig once SECONDARY and caught up; a voter unreachable for
// Settings.RemovalGrace hands its vote to a healthy non-voter; a member gone from the desired state
// for the grace is removed once unreachable for the grace too, or — still reachable — loses its
// vote first and goes at twice the grace; the primary steps down before any of that touches it.
//
// Member roles (Role) are plain fields; the agent maps them from container or host labels. The
// suggested label names are:
//
//	replset-agent.priority=<0..1000>   election priority of a voting member (default 1)
//	replset-agent.non-voting=true      never give the member a vote
//	replset-agent.hidden=true          hide the member from clients (priority 0, may still vote)
package mongors
