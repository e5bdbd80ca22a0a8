//go:build race

package lcconfig

import "time"

// propUnit is the active–standby property test's time unit. Its timers are scaled to it (a health
// check every 3 units, handover delays of 10–25): under the race detector, which slows every
// process several times over on a 2-core machine, a millisecond unit let scheduling delays of a
// few ms open gaps the invariant reports (twice in seven CI runs). The invariant is the same at
// every scale; only the ratio of the timers to the machine's scheduling noise changes.
const propUnit = 3 * time.Millisecond
