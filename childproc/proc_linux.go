package childproc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// prSetChildSubreaper is PR_SET_CHILD_SUBREAPER from <linux/prctl.h>.
const prSetChildSubreaper = 36

func setSubreaper() error {
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		return fmt.Errorf("prctl(PR_SET_CHILD_SUBREAPER): %w", errno)
	}
	return nil
}

// groupAlive reports whether a live process is left in process group pgid. kill(-pgid, 0) answers
// cheaply that nothing is left; when it says something is, /proc tells whether that is only
// zombies whose parent does not reap them (a PID 1 that is not an init), which are gone for us.
func groupAlive(pgid int) bool {
	if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	members, ok := scanProcs(func(st procStat) bool { return st.pgrp == pgid && st.state != 'Z' && st.state != 'X' })
	return !ok || len(members) > 0
}

// groupMembers lists the live processes of group pgid, for reports.
func groupMembers(pgid int) []int {
	members, _ := scanProcs(func(st procStat) bool { return st.pgrp == pgid && st.state != 'Z' && st.state != 'X' })
	return members
}

// childPIDs lists this process's children: from every thread's children file when the kernel has
// them (CONFIG_PROC_CHILDREN), otherwise by scanning /proc.
func childPIDs() []int {
	self := os.Getpid()
	tasks, err := os.ReadDir("/proc/self/task")
	if err == nil {
		var pids []int
		complete := true
		for _, t := range tasks {
			b, err := os.ReadFile(filepath.Join("/proc/self/task", t.Name(), "children"))
			if err != nil {
				if errors.Is(err, os.ErrNotExist) && t.Name() == strconv.Itoa(self) {
					complete = false
					break
				}
				continue // the thread ended meanwhile
			}
			for _, f := range bytes.Fields(b) {
				if pid, err := strconv.Atoi(string(f)); err == nil {
					pids = append(pids, pid)
				}
			}
		}
		if complete {
			return pids
		}
	}
	pids, _ := scanProcs(func(st procStat) bool { return st.ppid == self })
	return pids
}

// procStat is the part of /proc/<pid>/stat this package reads.
type procStat struct {
	state byte
	ppid  int
	pgrp  int
}

// scanProcs returns the processes in /proc that match; ok is false when /proc cannot be read.
func scanProcs(match func(procStat) bool) (pids []int, ok bool) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, false
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readStat(pid)
		if err != nil {
			continue // gone meanwhile
		}
		if match(st) {
			pids = append(pids, pid)
		}
	}
	return pids, true
}

// readStat parses /proc/<pid>/stat: "pid (comm) state ppid pgrp ...", where comm may hold spaces
// and parentheses, so fields are counted from the last ')'.
func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("stat of %d: no command", pid)
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 3 || len(f[0]) != 1 {
		return procStat{}, fmt.Errorf("stat of %d: short", pid)
	}
	ppid, err1 := strconv.Atoi(string(f[1]))
	pgrp, err2 := strconv.Atoi(string(f[2]))
	if err1 != nil || err2 != nil {
		return procStat{}, fmt.Errorf("stat of %d: bad numbers", pid)
	}
	return procStat{state: f[0][0], ppid: ppid, pgrp: pgrp}, nil
}
