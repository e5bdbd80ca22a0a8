package agent

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// installBinary copies the file at src into dir/name with mode 0755, atomically: readers of the
// shared volume see either the old binary or the whole new one, never a partial file. It reports
// whether anything was written; an identical file already in place is left alone.
func installBinary(src, dir, name string) (changed bool, err error) {
	info, err := os.Stat(dir)
	if err != nil {
		return false, fmt.Errorf("install: target directory: %w", err)
	}
	if !info.IsDir() {
		return false, fmt.Errorf("install: %s is not a directory", dir)
	}
	want, err := fileDigest(src)
	if err != nil {
		return false, fmt.Errorf("install: read own binary: %w", err)
	}
	dst := filepath.Join(dir, name)
	if have, err := fileDigest(dst); err == nil && bytes.Equal(have, want) {
		if st, err := os.Stat(dst); err == nil && st.Mode().Perm() == 0o755 {
			return false, nil
		}
	}

	in, err := os.Open(src)
	if err != nil {
		return false, fmt.Errorf("install: open own binary: %w", err)
	}
	defer in.Close()
	tmp, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return false, fmt.Errorf("install: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return false, fmt.Errorf("install: copy: %w", err)
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return false, fmt.Errorf("install: chmod: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return false, fmt.Errorf("install: sync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return false, fmt.Errorf("install: %w", err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return false, fmt.Errorf("install: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // make the rename durable; not all filesystems support it
		d.Close()
	}
	return true, nil
}

func fileDigest(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

func runInstall(args []string, env func(string) (string, bool), stdout, stderr io.Writer) int {
	s := newOptionSet("install", "Copies this binary into DIR (a volume shared with the application container), atomically\nand with mode 0755, then exits 0. Meant for an io.rancher.container.start_once sidekick; idempotent.")
	var name string
	s.String(&name, "name", "INSTALL_NAME", "replset-agent", "file name inside DIR")
	rest, err := s.parse(args, env)
	if code, done := handleParseError(s, "install [flags] DIR", err, stdout, stderr); done {
		return code
	}
	if len(rest) != 1 {
		fmt.Fprintln(stderr, "replset-agent install: exactly one target directory is needed")
		return 2
	}
	if name == "" || name == "." || name == ".." || filepath.Base(name) != name {
		fmt.Fprintf(stderr, "replset-agent install: --name (env INSTALL_NAME): %q is not a plain file name\n", name)
		return 2
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "replset-agent install: locate own binary: %v\n", err)
		return 1
	}
	changed, err := installBinary(self, rest[0], name)
	if err != nil {
		fmt.Fprintf(stderr, "replset-agent %v\n", err)
		return 1
	}
	if changed {
		fmt.Fprintf(stdout, "installed %s\n", filepath.Join(rest[0], name))
	} else {
		fmt.Fprintf(stdout, "%s is already up to date\n", filepath.Join(rest[0], name))
	}
	return 0
}
