// Package metadatatest runs a fake Rancher v1 metadata service on a real TCP listener, the way
// net/http/httptest runs a fake web server.
//
// It owns a faithful model of the server's HTTP surface, as described in the project's
// rancher-metadata reference: versioned paths only (2015-12-19, 2016-07-29, latest; an unversioned
// /version is 404 "Invalid version"), GET / listing the versions, Accept-driven JSON or text
// answers that always carry Content-Type text/plain, array elements addressed by index, name or
// uuid, a lower-case retry for paths that are not found, JSON 404 bodies, self resolved by client
// IP (or the raw X-Forwarded-For header) with a host-only default entry, and the long-poll
// version?wait=true&value=X&maxWait=N that wakes at once on change and otherwise answers after
// maxWait (0 or absent means 60 s, capped at 120 s, negative answers at once).
//
// Conformance with rancher-metadata v0.10.4 (measured, and read in its config/generator.go):
//   - Shuffle (Options, SetShuffle) serves hosts, containers, services, stacks and each stack's
//     services in a new order on every version change, as the real server's map iteration does,
//     and a client IP shared by a container and its network-sharing sidekick resolves to each in
//     turn, one per reload. Off (the default) keeps the tree's order, for readable tests.
//   - Service.AddSidekick adds a secondary launch config the way Cattle writes it: a second
//     service entry with the sidekick's name, the primary's uuid and primary_service_name, and
//     per primary container a sidekick container with the same host, primary_ip and
//     create_index, its own service_name and the primary's service_uuid. Primary services carry
//     primary_service_name = their own name, as Cattle sends it.
//   - JSON answers are maps marshalled with sorted keys, as the real server's are: the tree's
//     keys arrive as containers, environments, hosts, networks, self, services, stacks, version.
//   - SetOutage answers every request with 503 and counts it, for bounding client retries.
//
// The Go API lets tests and the demo replace the tree (which bumps the version), reload without
// a data change, switch to random-UUID versions as v0.10.1+ does, inject failures and latency,
// stop and restart on the same address, and count requests by kind. Tree and its builder methods
// make trees of hosts, stacks, services and containers in a few lines.
//
// It must not depend on the client package it serves (package metadata): its types are its own
// so that a wrong JSON tag on either side shows up in tests instead of round-tripping silently.
// All three API versions serve the same tree; the 2015-07-25 shape (containers listed by name) is
// not modelled.
package metadatatest
