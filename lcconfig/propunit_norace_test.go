//go:build !race

package lcconfig

import "time"

// propUnit is the active–standby property test's time unit (see propunit_race_test.go).
const propUnit = time.Millisecond
