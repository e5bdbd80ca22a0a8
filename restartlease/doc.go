// Package restartlease is Let's Chat's restart gate (lcconfig.RestartGate and
// lcconfig.HandoverGate) kept as a lease document in the replica set the chat already uses: one
// document per Let's Chat service, in the chat database (the only one the application's user may
// write once authentication is on), every change a compare-and-set written with w:majority on the
// primary. It knows MongoDB, not Rancher: the caller names the lease, the instance and the
// collection.
//
// # The document
//
//	{_id: <lease name>, holder: <instance>, token: <random, one per hold>, counter: <int64>,
//	 ttl_ms: <the holder's TTL>, handover: <bool>, successor: <instance>}
//
// holder "" means free. Every write increments counter, so (holder, counter) names one state of
// the lease, and every write is conditional on the state it was decided on: a free lease is taken
// on its counter, a held one renewed or released on its (holder, token), an expired one taken over
// on its exact counter, an offer claimed on (holder, token, no successor yet).
//
// # Expiry without trusting clocks
//
// Hosts' clocks are never compared. The holder renews by incrementing counter every TTL/3 while
// it holds; an observer treats the lease as expired only after it has seen the same (holder,
// counter) for TTL (the longer of its own TTL and the holder's ttl_ms) on its own monotonic clock,
// and takes it over by a compare-and-set on that exact counter. A holder that renewed in the
// meantime changed counter, so the takeover matches nothing. Time is only ever measured on one
// host, between two of its own observations; a clock step or skew between hosts changes nothing.
// The price: a dead holder is taken over no sooner than TTL after the observer first saw its last
// state, however long it has been dead.
//
// # Failure modes
//
//   - No primary, or no majority: a w:majority write is never acknowledged, so the lease cannot be
//     taken (ErrGateUnavailable) and no policy restart happens. A write the driver reports failed
//     may still have been applied; it then holds the lease for an instance that does not know
//     it, which expires after TTL like a dead holder's (and which that instance may take back at
//     once, being its holder).
//   - Failover while held: the lease was majority-acknowledged, so the new primary has it; the
//     holder's renewals resume there. TTL must exceed an election (10 s by default in mongod)
//     plus a renewal interval, or observers may take over during it: the default is 30 s.
//   - The holder dies: its renewals stop and the others take over TTL later. A hold also ends by
//     itself: renewals stop after the hold asked for, so the lease lapses TTL later.
//   - The holder is cut off from the primary for longer than TTL: another instance may take over
//     while the first still believes it holds. The first then cannot reach the set either, so its
//     Let's Chat could not serve anyway; HandoverGate.Successor reports the loss to it.
//   - Reads go to the primary; an observation of a state that is later rolled back only restarts
//     the observer's wait.
package restartlease
