package lcconfig

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
)

// settingsMode keeps the settings file, which holds the database password, private to the owner.
const settingsMode os.FileMode = 0o600

// writeIfChanged replaces path with data unless it already holds exactly data, and reports
// whether it wrote.
func writeIfChanged(path string, data []byte) (bool, error) {
	if current, err := os.ReadFile(path); err == nil && bytes.Equal(current, data) {
		return false, nil
	}
	if err := writeAtomic(path, data, settingsMode); err != nil {
		return false, err
	}
	return true, nil
}

// writeAtomic writes data to a temporary file in path's directory, flushes it to disk and renames
// it over path, so a reader sees either the old or the new content, never a torn mix, and a crash
// leaves one of the two. The directory is synced so that the rename itself survives a crash.
func writeAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create temp file: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write temp file: %w", err)
	}
	if err := tmp.Chmod(perm); err != nil {
		return fmt.Errorf("chmod temp file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("sync temp file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close temp file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("rename temp file: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
