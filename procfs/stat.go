package procfs

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// PFKthread is the kernel's PF_KTHREAD process flag (include/linux/sched.h):
// the task is a kernel thread.
const PFKthread = 0x00200000

// Stat is what capdrop uses of /proc/<pid>/stat.
type Stat struct {
	Pid   int
	Comm  string // unescaped, as the kernel stores it (may hold spaces and parentheses)
	State byte
	PPid  int
	Flags uint64 // the task's PF_* flags
}

// KernelThread reports whether the flags mark a kernel thread.
func (s *Stat) KernelThread() bool { return s.Flags&PFKthread != 0 }

// ReadStat reads /proc/<pid>/stat under root ("" means /proc).
func ReadStat(root string, pid int) (*Stat, error) {
	path := filepath.Join(rootOr(root), strconv.Itoa(pid), "stat")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	st, err := parseStat(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return st, nil
}

// parseStat parses "pid (comm) state ppid pgrp session tty tpgid flags …".
// The comm may contain anything, ")" included, so it ends at the last ")".
func parseStat(b []byte) (*Stat, error) {
	open := bytes.IndexByte(b, '(')
	closing := bytes.LastIndexByte(b, ')')
	if open < 0 || closing < open {
		return nil, fmt.Errorf("%w: no (comm)", ErrMalformed)
	}
	st := &Stat{Comm: string(b[open+1 : closing])}
	var err error
	if st.Pid, err = atoi(trimSpace(b[:open])); err != nil {
		return nil, fmt.Errorf("%w: pid: %v", ErrMalformed, err)
	}
	// Fields after the comm, numbered as in proc(5): 3 state, 4 ppid, 9 flags.
	n := 3
	err = fields(b[closing+1:], func(w []byte) error {
		var err error
		switch n {
		case 3:
			if len(w) != 1 {
				err = fmt.Errorf("state %q", w)
			}
			st.State = w[0]
		case 4:
			st.PPid, err = atoi(w)
		case 9:
			var f int
			f, err = atoi(w)
			st.Flags = uint64(f)
		}
		n++
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%w: field %d: %v", ErrMalformed, n, err)
	}
	if n <= 9 {
		return nil, fmt.Errorf("%w: %d fields, want at least 9", ErrMalformed, n-1)
	}
	return st, nil
}
