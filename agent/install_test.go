package agent

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInstallBinary(t *testing.T) {
	src := filepath.Join(t.TempDir(), "bin")
	if err := os.WriteFile(src, []byte("binary v1"), 0o700); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()

	changed, err := installBinary(src, dir, "replset-agent")
	if err != nil || !changed {
		t.Fatalf("first install: changed=%v err=%v", changed, err)
	}
	dst := filepath.Join(dir, "replset-agent")
	assertFile(t, dst, "binary v1", 0o755)

	changed, err = installBinary(src, dir, "replset-agent")
	if err != nil || changed {
		t.Fatalf("second install of the same binary: changed=%v err=%v, want unchanged", changed, err)
	}

	if err := os.Chmod(dst, 0o644); err != nil {
		t.Fatal(err)
	}
	if changed, err = installBinary(src, dir, "replset-agent"); err != nil || !changed {
		t.Fatalf("install over a file with the wrong mode: changed=%v err=%v", changed, err)
	}
	assertFile(t, dst, "binary v1", 0o755)

	if err := os.WriteFile(src, []byte("binary v2, longer"), 0o700); err != nil {
		t.Fatal(err)
	}
	if changed, err = installBinary(src, dir, "replset-agent"); err != nil || !changed {
		t.Fatalf("upgrade: changed=%v err=%v", changed, err)
	}
	assertFile(t, dst, "binary v2, longer", 0o755)

	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}

func TestInstallBinaryErrors(t *testing.T) {
	src := filepath.Join(t.TempDir(), "bin")
	os.WriteFile(src, []byte("x"), 0o700)
	file := filepath.Join(t.TempDir(), "plain")
	os.WriteFile(file, nil, 0o600)
	tests := []struct {
		name, src, dir, want string
	}{
		{"missing dir", src, filepath.Join(t.TempDir(), "nope"), "target directory"},
		{"dir is a file", src, file, "is not a directory"},
		{"missing source", filepath.Join(t.TempDir(), "gone"), t.TempDir(), "read own binary"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := installBinary(tc.src, tc.dir, "replset-agent")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
	if os.Getuid() != 0 { // root ignores directory permissions
		ro := t.TempDir()
		os.Chmod(ro, 0o555)
		if _, err := installBinary(src, ro, "replset-agent"); err == nil {
			t.Fatal("install into a read-only directory succeeded")
		}
	}
}

func TestInstallCommand(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if code := run([]string{"install", dir}, noEnv, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	self, _ := os.Executable()
	want, _ := os.ReadFile(self)
	got, _ := os.ReadFile(filepath.Join(dir, "replset-agent"))
	if !bytes.Equal(got, want) {
		t.Fatal("installed file differs from the running binary")
	}
	out.Reset()
	if code := run([]string{"install", dir}, noEnv, &out, &errb); code != 0 || !strings.Contains(out.String(), "already up to date") {
		t.Fatalf("second run: exit %d, out %q", code, out.String())
	}
	for _, args := range [][]string{{"install"}, {"install", "a", "b"}, {"install", "--name", "../x", dir}} {
		if code := run(args, noEnv, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

func assertFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != content {
		t.Fatalf("%s holds %q, want %q", path, b, content)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != mode {
		t.Fatalf("%s mode %v, want %v", path, st.Mode().Perm(), mode)
	}
}

func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}
