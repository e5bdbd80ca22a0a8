package lcconfig

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

const testURI = "mongodb://chat:p%40ss@10.0.0.1:27017,10.0.0.2:27017/letschat?replicaSet=letschat"

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRenderSettings_golden(t *testing.T) {
	got, err := RenderSettings(readFixture(t, "settings/base.yml"), testURI)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "settings", "base.golden.yml")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if want := readFixture(t, "settings/base.golden.yml"); !bytes.Equal(got, want) {
		t.Fatalf("rendered settings differ from %s:\n%s", golden, got)
	}
	// Comments and the order of keys survive.
	for _, keep := range []string{"# Rewritten by replset-agent.", "# never change", "env: production\nhttp:"} {
		if !bytes.Contains(got, []byte(keep)) {
			t.Errorf("lost %q", keep)
		}
	}
}

func TestRenderSettings_keepsEveryOtherKey(t *testing.T) {
	for _, name := range []string{"base", "no-database", "null-database", "comment-only", "empty"} {
		t.Run(name, func(t *testing.T) {
			base := readFixture(t, "settings/"+name+".yml")
			out, err := RenderSettings(base, testURI)
			if err != nil {
				t.Fatal(err)
			}
			var before, after map[string]any
			if err := yaml.Unmarshal(base, &before); err != nil {
				t.Fatal(err)
			}
			if err := yaml.Unmarshal(out, &after); err != nil {
				t.Fatalf("output is not YAML: %v\n%s", err, out)
			}
			db, _ := after["database"].(map[string]any)
			if db["uri"] != testURI {
				t.Fatalf("database.uri = %v, want %s", db["uri"], testURI)
			}
			delete(db, "uri")
			if len(db) == 0 {
				delete(after, "database")
			}
			if before == nil {
				before = map[string]any{}
			}
			if d, ok := before["database"].(map[string]any); ok {
				delete(d, "uri")
				if len(d) == 0 {
					delete(before, "database")
				}
			} else if before["database"] == nil {
				delete(before, "database")
			}
			if !reflect.DeepEqual(before, after) {
				t.Fatalf("keys other than database.uri changed\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

func TestRenderSettings_refusesWhatItCannotMerge(t *testing.T) {
	for _, name := range []string{"invalid", "not-a-mapping", "database-scalar", "two-documents", "anchored-uri"} {
		t.Run(name, func(t *testing.T) {
			out, err := RenderSettings(readFixture(t, "settings/"+name+".yml"), testURI)
			if !errors.Is(err, ErrInvalidSettings) {
				t.Fatalf("RenderSettings = %q, %v; want ErrInvalidSettings", out, err)
			}
		})
	}
}

func TestLoadSettings_badBaseWritesNothing(t *testing.T) {
	tests := []struct {
		name string
		base string
	}{
		{"missing", filepath.Join("testdata", "settings", "does-not-exist.yml")},
		{"unreadable (a directory)", filepath.Join("testdata", "settings")},
		{"invalid YAML", filepath.Join("testdata", "settings", "invalid.yml")},
		{"database not a mapping", filepath.Join("testdata", "settings", "database-scalar.yml")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target := filepath.Join(t.TempDir(), "settings.yml")
			f, err := LoadSettings(tc.base, target)
			if err == nil {
				t.Fatalf("LoadSettings(%s) = %v, want an error", tc.base, f)
			}
			if _, statErr := os.Stat(target); !errors.Is(statErr, os.ErrNotExist) {
				t.Fatalf("target written after a bad base (stat: %v)", statErr)
			}
		})
	}
}

func TestSettingsFile_Apply(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "settings.yml")
	f, err := LoadSettings(filepath.Join("testdata", "settings", "base.yml"), target)
	if err != nil {
		t.Fatal(err)
	}
	other := strings.Replace(testURI, "10.0.0.2", "10.0.0.3", 1)
	steps := []struct {
		uri         string
		wantChanged bool
	}{
		{testURI, true},
		{testURI, false},
		{other, true},
		{other, false},
		{testURI, true},
	}
	for i, step := range steps {
		changed, err := f.Apply(step.uri)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if changed != step.wantChanged {
			t.Fatalf("step %d: changed = %v, want %v", i, changed, step.wantChanged)
		}
		got, err := ResolveDatabaseURI(nil, map[string][]byte{"settings.yml": mustRead(t, target)})
		if err != nil || got.URI != step.uri {
			t.Fatalf("step %d: Let's Chat would read %v, %v; want %s", i, got, err, step.uri)
		}
	}
	info, err := os.Stat(target)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", info.Mode().Perm())
	}
	assertOnlyFiles(t, dir, "settings.yml")
}

func TestSettingsFile_Apply_unwritableTarget(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) string
	}{
		{"parent directory cannot be created", func(t *testing.T, dir string) string {
			writeFile(t, filepath.Join(dir, "plain"), "x")
			return filepath.Join(dir, "plain", "config", "settings.yml")
		}},
		{"parent is a file", func(t *testing.T, dir string) string {
			writeFile(t, filepath.Join(dir, "plain"), "x")
			return filepath.Join(dir, "plain", "settings.yml")
		}},
		{"target is a non-empty directory", func(t *testing.T, dir string) string {
			writeFile(t, filepath.Join(dir, "settings.yml", "keep"), "x")
			return filepath.Join(dir, "settings.yml")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			target := tc.setup(t, dir)
			f, err := LoadSettings("", target)
			if err != nil {
				t.Fatal(err)
			}
			changed, err := f.Apply(testURI)
			if err == nil || changed {
				t.Fatalf("Apply = %v, %v; want an error", changed, err)
			}
			if strings.Contains(err.Error(), "p%40ss") || strings.Contains(err.Error(), "p@ss") {
				t.Errorf("error leaks the password: %v", err)
			}
			assertNoTempFiles(t, dir)
		})
	}
}

// A git checkout of Let's Chat has no config/: Apply creates it (and LoadSettings writes nothing).
func TestSettingsFile_Apply_createsMissingDirectory(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "config", "settings.yml")
	f, err := LoadSettings("", target)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(target)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("LoadSettings created something: %v", err)
	}
	if changed, err := f.Apply(testURI); err != nil || !changed {
		t.Fatalf("Apply = %v, %v", changed, err)
	}
	st, err := os.Stat(target)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("settings file %v, %v; want mode 0600", st, err)
	}
}

// The error for a directory that cannot be created says what it is for and how to fix it.
func TestSettingsFile_prepareDir_error(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "app"), "not a directory")
	f, err := LoadSettings("", filepath.Join(dir, "app", "config", "settings.yml"))
	if err != nil {
		t.Fatal(err)
	}
	err = f.prepareDir()
	if err == nil || !strings.Contains(err.Error(), "cannot create the settings directory "+filepath.Join(dir, "app", "config")) ||
		!strings.Contains(err.Error(), "writable volume") {
		t.Fatalf("prepareDir = %v", err)
	}
}

// TestSettingsFile_Apply_noTornReads has a reader hammer the file while it is rewritten: every
// read must see one complete version.
func TestSettingsFile_Apply_noTornReads(t *testing.T) {
	target := filepath.Join(t.TempDir(), "settings.yml")
	f, err := LoadSettings(filepath.Join("testdata", "settings", "base.yml"), target)
	if err != nil {
		t.Fatal(err)
	}
	uris := []string{testURI, strings.Replace(testURI, "10.0.0.2", "10.0.0.200", 1)}
	valid := map[string]bool{}
	for _, u := range uris {
		b, err := RenderSettings(f.base, u)
		if err != nil {
			t.Fatal(err)
		}
		valid[string(b)] = true
	}
	if _, err := f.Apply(uris[0]); err != nil {
		t.Fatal(err)
	}

	var stop atomic.Bool
	var reads, torn atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			b, err := os.ReadFile(target)
			if err != nil {
				torn.Add(1)
				continue
			}
			reads.Add(1)
			if !valid[string(b)] {
				torn.Add(1)
			}
		}
	}()
	const writes = 100
	for i := range writes {
		if _, err := f.Apply(uris[(i+1)%2]); err != nil {
			stop.Store(true)
			wg.Wait()
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if torn.Load() != 0 {
		t.Fatalf("%d of %d reads saw a missing or torn file", torn.Load(), reads.Load()+torn.Load())
	}
	if reads.Load() == 0 {
		t.Fatal("the reader never read")
	}
	t.Logf("%d writes, %d clean reads", writes, reads.Load())
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func assertOnlyFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if !reflect.DeepEqual(got, names) {
		t.Fatalf("files in %s: %v, want %v", dir, got, names)
	}
}

func assertNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".tmp-") {
			t.Errorf("temp file left behind: %s", path)
		}
		return nil
	})
}
