package agent

import (
	"fmt"
	"strconv"
	"strings"
)

// Bytes binds a size flag: a number of bytes, optionally with a KiB, MiB or GiB suffix.
func (s *optionSet) Bytes(p *int64, name, env string, def int64, usage string) {
	*p = def
	s.add(name, env, usage, (*bytesValue)(p), false)
}

type bytesValue int64

var byteUnits = []struct {
	suffix string
	factor int64
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

func (v *bytesValue) Set(s string) error {
	t := strings.TrimSpace(s)
	factor := int64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(strings.ToLower(t), strings.ToLower(u.suffix)) {
			t, factor = strings.TrimSpace(t[:len(t)-len(u.suffix)]), u.factor
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/factor {
		return fmt.Errorf("%q is not a positive size such as 64MiB, 512KiB or 1048576", s)
	}
	*v = bytesValue(n * factor)
	return nil
}

func (v *bytesValue) String() string {
	n := int64(*v)
	for _, u := range byteUnits {
		if n >= u.factor && n%u.factor == 0 && u.factor > 1 {
			return strconv.FormatInt(n/u.factor, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}
