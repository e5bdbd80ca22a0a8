package mongotest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
)

var (
	blocksMu sync.Mutex
	blocks   = map[[2]int]bool{}
)

// Addrs returns n addresses "127.A.B.i:27017" (i = 1..n) in a random 127.A.B.0/24 block that no
// other call in this process got, each checked bindable, so parallel test binaries do not collide.
func Addrs(t testing.TB, n int) []string {
	t.Helper()
	if n < 1 || n > 250 {
		t.Fatalf("mongotest.Addrs: n must be 1..250, got %d", n)
	}
	for range 50 {
		blk := [2]int{1 + rand.IntN(254), 1 + rand.IntN(254)}
		blocksMu.Lock()
		taken := blocks[blk]
		blocks[blk] = true
		blocksMu.Unlock()
		if taken {
			continue
		}
		addrs := make([]string, n)
		ok := true
		for i := range addrs {
			addrs[i] = fmt.Sprintf("127.%d.%d.%d:27017", blk[0], blk[1], i+1)
			ln, err := net.Listen("tcp", addrs[i])
			if err != nil {
				ok = false
				break
			}
			_ = ln.Close()
		}
		if ok {
			return addrs
		}
	}
	t.Fatalf("mongotest.Addrs: no bindable loopback block found")
	return nil
}
