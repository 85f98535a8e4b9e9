package procfs

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"github.com/capdrop/capdrop/capset"
)

// ErrNotSupported is returned by Scan where there is no Linux /proc.
var ErrNotSupported = errors.New("scanning processes needs Linux /proc")

// Process is one process as Scan saw it.
type Process struct {
	// Status is /proc/<pid>/status: the thread-group leader's identity and
	// its five capability sets.
	Status
	// Cmdline is the argument vector from /proc/<pid>/cmdline, read only
	// with Options.Cmdline; empty for zombies.
	Cmdline []string
	// UserNS is the inode number of the process's user namespace
	// (/proc/<pid>/ns/user); 0 when it could not be read.
	UserNS uint64
	// ForeignUserNS is true when UserNS is known and is not the initial user
	// namespace: the process's capabilities then apply only to what that
	// namespace owns.
	ForeignUserNS bool
	// Cgroups are the lines of /proc/<pid>/cgroup. Processes with the same
	// file share one slice: do not modify it.
	Cgroups []Cgroup
	// DivergentThreads are the other threads of the process whose
	// capability sets differ from the leader's (read only with
	// Options.Threads).
	DivergentThreads []Thread
}

// Thread is a thread whose capability sets differ from its process leader's.
type Thread struct {
	TID  int
	Name string
	Sets capset.Sets
}

// ThreadMode says how Scan looks for threads whose sets differ from their
// process's.
type ThreadMode int

// The thread modes.
const (
	// ThreadsOff does not look at threads.
	ThreadsOff ThreadMode = iota
	// ThreadsQuick compares each thread's effective, permitted and
	// inheritable sets with one capget(2) and reads the status of those
	// that differ. A thread that differs only in its bounding or ambient
	// set is not found. Only for the proc root of this pid namespace;
	// elsewhere it acts as ThreadsFull.
	ThreadsQuick
	// ThreadsFull reads every thread's status: all five sets.
	ThreadsFull
)

var threadModes = [...]string{"off", "quick", "full"}

// String returns "off", "quick" or "full".
func (m ThreadMode) String() string {
	if m >= 0 && int(m) < len(threadModes) {
		return threadModes[m]
	}
	return fmt.Sprintf("ThreadMode(%d)", int(m))
}

// ParseThreadMode parses "off", "quick" or "full".
func ParseThreadMode(s string) (ThreadMode, error) {
	for i, n := range threadModes {
		if s == n {
			return ThreadMode(i), nil
		}
	}
	return 0, fmt.Errorf("thread mode %q: want off, quick or full", s)
}

// Options tune Scan.
type Options struct {
	// PIDs limits the scan to these processes; nil scans every process.
	PIDs []int
	// Exclude lists processes to leave out (capdrop leaves out itself, as
	// pscap does).
	Exclude []int
	// Keep, when set, is called with each process's status before anything
	// else is read about it; returning false leaves the process out.
	Keep func(*Status) bool
	// Threads says how to find, in processes with more than one thread,
	// the threads whose sets differ from the leader's.
	Threads ThreadMode
	// Cmdline reads /proc/<pid>/cmdline.
	Cmdline bool
	// Cgroups reads /proc/<pid>/cgroup.
	Cgroups bool
	// UserNS reads the user namespace of each process.
	UserNS bool
	// Workers is how many processes are read in parallel; 0 means
	// GOMAXPROCS.
	Workers int
}

// Snapshot is the result of one Scan.
type Snapshot struct {
	// Processes are sorted by PID. Kernel threads are not included.
	Processes []Process
	// InitUserNS is the inode of the initial user namespace (pid 1's, or
	// capdrop's own when pid 1's cannot be read); 0 when unknown.
	InitUserNS uint64
	// KernelThreads counts the kernel threads skipped.
	KernelThreads int
	// Vanished counts processes that exited while they were being read;
	// they are left out without complaint.
	Vanished int
	// Denied counts processes some file of which could not be read for lack
	// of permission; FirstDenied is the first such error.
	Denied      int
	FirstDenied error
	// Errors are other failures to read or understand a process's files
	// (each names the file); those processes are left out.
	Errors []error
}

// Warning returns one error summarising what the scan could not read
// (permissions, malformed files), or nil. Commands print it once.
func (s *Snapshot) Warning() error {
	var errs []error
	if s.Denied > 0 {
		hint := "run as root to see them all"
		if os.Geteuid() == 0 {
			// Root is refused when the process holds capabilities outside
			// root's own permitted set (ptrace access rules), e.g. the
			// init of a sandbox that keeps more than it hands out.
			hint = "they hold capabilities outside this process's own permitted set, so even root may not read them"
		}
		errs = append(errs, fmt.Errorf("permission denied for %d processes (first: %w); %s", s.Denied, s.FirstDenied, hint))
	}
	const maxShown = 5
	for i, err := range s.Errors {
		if i == maxShown {
			errs = append(errs, fmt.Errorf("and %d more errors", len(s.Errors)-maxShown))
			break
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// parseNSLink parses the target of a /proc/<pid>/ns/* link, "type:[inode]".
func parseNSLink(b []byte) (uint64, error) {
	open := bytes.IndexByte(b, '[')
	if open < 0 || len(b) < open+3 || b[len(b)-1] != ']' {
		return 0, fmt.Errorf("%w: namespace link %q", ErrMalformed, b)
	}
	n, err := atoi(b[open+1 : len(b)-1])
	if err != nil {
		return 0, fmt.Errorf("%w: namespace link %q", ErrMalformed, b)
	}
	return uint64(n), nil
}
