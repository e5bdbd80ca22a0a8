package lcconfig

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func BenchmarkBuildURI_sevenMembers(b *testing.B) {
	members := MembersOf("10.42.0.7", "10.42.0.3", "mongo-b.example", "10.42.0.1:27018", "10.42.0.5", "mongo-a.example", "10.42.0.2")
	opts := URIOptions{Username: "chat", Password: "p@ss", AuthSource: "admin", Options: map[string]string{"w": "majority", "readPreference": "primaryPreferred"}}
	for b.Loop() {
		if _, err := BuildURI(members, opts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRenderSettings(b *testing.B) {
	base := readFixture(b, "settings/base.yml")
	for b.Loop() {
		if _, err := RenderSettings(base, testURI); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSettingsFileApply measures a write that changes the file (temp file, fsync, rename,
// directory fsync) against one that finds the content already there.
func BenchmarkSettingsFileApply(b *testing.B) {
	for _, changing := range []bool{true, false} {
		b.Run(fmt.Sprintf("changed=%v", changing), func(b *testing.B) {
			f, err := LoadSettings(filepath.Join("testdata", "settings", "base.yml"), filepath.Join(b.TempDir(), "settings.yml"))
			if err != nil {
				b.Fatal(err)
			}
			uris := []string{testURI, strings.Replace(testURI, "10.0.0.2", "10.0.0.3", 1)}
			i := 0
			for b.Loop() {
				if changing {
					i++
				}
				if _, err := f.Apply(uris[i%2]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSupervisor_restart measures one policy restart of a real child, from Update to the new
// child running (SIGTERM, exit, start), with the settle delay at its 1ms floor for the benchmark.
func BenchmarkSupervisor_restart(b *testing.B) {
	h := newHarness(b, func(c *SupervisorConfig) {
		c.Policy = RestartAlways
		c.SettleDelay = time.Millisecond
	})
	h.update(0, "10.0.0.1")
	h.run()
	h.waitStarts(1)
	n := 1
	for b.Loop() {
		n++
		h.update(0, fmt.Sprintf("10.0.1.%d", n%250+1))
		h.waitStarts(n)
	}
	b.StopTimer()
	h.stop()
}
