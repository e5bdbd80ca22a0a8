//go:build unix && !linux

package childproc

import (
	"errors"
	"syscall"
)

// setSubreaper has no equivalent here; PID 1 still receives orphans and the reaper reaps them.
func setSubreaper() error { return errors.ErrUnsupported }

// groupAlive reports whether any process, zombies included, is left in group pgid.
func groupAlive(pgid int) bool {
	return !errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH)
}

// groupMembers cannot list a group's members here.
func groupMembers(int) []int { return nil }

// childPIDs cannot list children without /proc, so the reaper finds nothing to reap here; the
// agent runs as PID 1 only in Linux containers.
func childPIDs() []int { return nil }
