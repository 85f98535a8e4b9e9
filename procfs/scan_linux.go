package procfs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/capdrop/capdrop/capset"
)

// Scan reads every process under root ("" means /proc), skipping kernel
// threads (as pscap does) and processes that exit while being read. It fails
// only when root itself cannot be listed; everything else it could not read
// is counted in the snapshot (see Snapshot.Warning).
//
// Each file is read with one open, one read into a buffer the worker reuses,
// and one close; processes are spread over Options.Workers goroutines.
func Scan(root string, opts Options) (*Snapshot, error) {
	root = rootOr(root)
	pids := opts.PIDs
	if pids != nil {
		pids = slices.Compact(slices.Sorted(slices.Values(pids)))
	} else {
		var err error
		if pids, err = listPIDs(root); err != nil {
			return nil, fmt.Errorf("list processes: %w", err)
		}
	}
	if len(opts.Exclude) > 0 {
		pids = slices.DeleteFunc(pids, func(p int) bool { return slices.Contains(opts.Exclude, p) })
	}
	if opts.Threads == ThreadsQuick && root != DefaultRoot {
		// capget answers about this pid namespace's threads, which are
		// the ones another proc root lists only if it is the same.
		opts.Threads = ThreadsFull
	}
	snap := &Snapshot{}
	if opts.UserNS {
		snap.InitUserNS = initUserNS(root)
	}

	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = max(1, min(workers, len(pids)/64+1)) // small scans are not worth a goroutine
	results := make([]Process, len(pids))
	kept := make([]bool, len(pids))
	scanners := make([]*scanner, workers)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range scanners {
		sc := newScanner(root, opts, snap.InitUserNS)
		scanners[w] = sc
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(pids) {
					return
				}
				kept[i] = sc.process(pids[i], &results[i])
			}
		})
	}
	wg.Wait()

	n := 0
	for _, k := range kept {
		if k {
			n++
		}
	}
	snap.Processes = make([]Process, 0, n)
	for i := range results {
		if kept[i] {
			snap.Processes = append(snap.Processes, results[i])
		}
	}
	for _, sc := range scanners {
		snap.KernelThreads += sc.kthreads
		snap.Vanished += sc.vanished
		snap.Denied += sc.denied
		if snap.FirstDenied == nil {
			snap.FirstDenied = sc.firstDenied
		}
		snap.Errors = append(snap.Errors, sc.errs...)
	}
	slices.SortFunc(snap.Processes, func(a, b Process) int { return a.Pid - b.Pid })
	return snap, nil
}

// listPIDs returns the numeric entries of root, in directory order.
func listPIDs(root string) ([]int, error) {
	names, err := readDirNames(root, make([]byte, 64<<10), make([]string, 0, 4096))
	if err != nil {
		return nil, err
	}
	pids := make([]int, 0, len(names))
	for _, n := range names {
		if pid, err := strconv.Atoi(n); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

func initUserNS(root string) uint64 {
	buf := make([]byte, 64)
	for _, p := range []string{root + "/1/ns/user", "/proc/self/ns/user"} {
		if n, err := readlink(p, buf); err == nil {
			if ino, err := parseNSLink(buf[:n]); err == nil {
				return ino
			}
		}
	}
	return 0
}

func readlink(path string, buf []byte) (int, error) {
	for {
		n, err := syscall.Readlink(path, buf)
		if err != syscall.EINTR {
			return n, err
		}
	}
}

// scanner is one worker's state: its buffers and what it counted.
type scanner struct {
	root   string
	opts   Options
	initNS uint64
	buf    []byte
	dirBuf []byte
	names  []string
	// cgroups interns parsed cgroup files by content: most processes share
	// their cgroup with many others, so each distinct file is parsed once.
	cgroups map[string][]Cgroup

	kthreads, vanished, denied int
	firstDenied                error
	errs                       []error
}

func newScanner(root string, opts Options, initNS uint64) *scanner {
	return &scanner{root: root, opts: opts, initNS: initNS, buf: make([]byte, 8<<10), cgroups: map[string][]Cgroup{}}
}

// failed sorts an error reading a process's file: gone, denied, or a real
// problem worth reporting.
func (s *scanner) failed(path string, err error) {
	switch {
	case vanished(err):
		s.vanished++
	case errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM):
		s.denied++
		if s.firstDenied == nil {
			s.firstDenied = &os.PathError{Op: "read", Path: path, Err: err}
		}
	default:
		s.errs = append(s.errs, &os.PathError{Op: "read", Path: path, Err: err})
	}
}

// secondaryFailed handles an error reading a file other than status and
// reports whether the process is gone. A missing file does not prove that
// (kernels without user namespaces have no ns/user), so the process
// directory decides.
func (s *scanner) secondaryFailed(dir, file string, err error) bool {
	if vanished(err) {
		var st syscall.Stat_t
		if syscall.Stat(dir, &st) != nil {
			s.vanished++
			return true
		}
		return false // the process lives; this file just is not there
	}
	s.failed(dir+file, err)
	return false
}

// vanished reports whether err means the process (or thread) exited.
func vanished(err error) bool {
	return errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ESRCH)
}

// process reads one process into p; false leaves it out.
func (s *scanner) process(pid int, p *Process) bool {
	dir := s.root + "/" + strconv.Itoa(pid)
	n, err := s.read(dir + "/status")
	if err != nil {
		s.failed(dir+"/status", err)
		return false
	}
	if err := parseStatus(s.buf[:n], &p.Status); err != nil {
		s.errs = append(s.errs, fmt.Errorf("%s/status: %w", dir, err))
		return false
	}
	if s.kernelThread(dir, &p.Status) {
		s.kthreads++
		return false
	}
	if s.opts.Keep != nil && !s.opts.Keep(&p.Status) {
		return false
	}
	if s.opts.Cgroups {
		n, err := s.read(dir + "/cgroup")
		if err != nil {
			if s.secondaryFailed(dir, "/cgroup", err) {
				return false
			}
		} else if cg, ok := s.cgroups[string(s.buf[:n])]; ok {
			p.Cgroups = cg
		} else if cg, err := parseCgroup(s.buf[:n]); err != nil {
			s.errs = append(s.errs, fmt.Errorf("%s/cgroup: %w", dir, err))
		} else {
			s.cgroups[string(s.buf[:n])] = cg
			p.Cgroups = cg
		}
	}
	if s.opts.UserNS {
		if ino, err := s.nsInode(dir + "/ns/user"); err != nil {
			if s.secondaryFailed(dir, "/ns/user", err) {
				return false
			}
		} else {
			p.UserNS = ino
			p.ForeignUserNS = s.initNS != 0 && ino != s.initNS
		}
	}
	if s.opts.Cmdline {
		if args, err := s.cmdline(dir + "/cmdline"); err != nil {
			if s.secondaryFailed(dir, "/cmdline", err) {
				return false
			}
		} else {
			p.Cmdline = args
		}
	}
	if s.opts.Threads != ThreadsOff && p.Status.Threads > 1 {
		p.DivergentThreads = s.threads(dir, pid, p.Sets)
	}
	return true
}

// nsInode reads a namespace link ("user:[4026531837]") and returns the
// inode. readlink is cheaper than stat here: it does not open the
// namespace file.
func (s *scanner) nsInode(path string) (uint64, error) {
	n, err := readlink(path, s.buf)
	if err != nil {
		return 0, err
	}
	return parseNSLink(s.buf[:n])
}

// kernelThread tells kernel threads apart like pscap (kthreadd and its
// children) but precisely: by the kernel's Kthread line where it has one,
// else by PF_KTHREAD in /proc/<pid>/stat, read only for kthreadd's children.
func (s *scanner) kernelThread(dir string, st *Status) bool {
	switch st.Kthread {
	case 0:
		return false
	case 1:
		return true
	}
	if st.Pid != 2 && st.PPid != 2 {
		return false
	}
	n, err := s.read(dir + "/stat")
	if err != nil {
		return st.Pid == 2 || st.PPid == 2
	}
	stat, err := parseStat(s.buf[:n])
	if err != nil {
		return st.Pid == 2 || st.PPid == 2
	}
	return stat.KernelThread()
}

// threads returns the threads of pid whose sets differ from the leader's.
// In ThreadsQuick mode a thread is first compared with one capget(2) (its
// effective, permitted and inheritable sets); only a thread that differs
// there has its status file read. A status file costs as much to read as a
// whole process's, capget a single syscall.
func (s *scanner) threads(dir string, pid int, leader capset.Sets) []Thread {
	if s.dirBuf == nil {
		s.dirBuf = make([]byte, 8<<10)
	}
	names, err := readDirNames(dir+"/task", s.dirBuf, s.names[:0])
	s.names = names
	if err != nil {
		s.failed(dir+"/task", err)
		return nil
	}
	var out []Thread
	var st Status
	for _, name := range names {
		tid, err := strconv.Atoi(name)
		if err != nil || tid == pid {
			continue
		}
		if s.opts.Threads == ThreadsQuick {
			eff, prm, inh, err := capget(tid)
			if err != nil {
				if !vanished(err) {
					s.failed(fmt.Sprintf("capget(%d)", tid), err)
				}
				continue
			}
			if eff == leader.Effective && prm == leader.Permitted && inh == leader.Inheritable {
				continue
			}
		}
		path := dir + "/task/" + name + "/status"
		n, err := s.read(path)
		if err != nil {
			if !vanished(err) {
				s.failed(path, err)
			}
			continue
		}
		if err := parseStatus(s.buf[:n], &st); err != nil {
			s.errs = append(s.errs, fmt.Errorf("%s: %w", path, err))
			continue
		}
		if st.Sets != leader {
			out = append(out, Thread{TID: tid, Name: st.Name, Sets: st.Sets})
		}
	}
	return out
}

// capget returns a thread's effective, permitted and inheritable sets.
// Anyone may ask about any thread.
func capget(tid int) (eff, prm, inh capset.Set, err error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3, Pid: int32(tid)}
	var data [2]unix.CapUserData
	for {
		err = unix.Capget(&hdr, &data[0])
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return 0, 0, 0, err
	}
	join := func(lo, hi uint32) capset.Set { return capset.Set(uint64(hi)<<32 | uint64(lo)) }
	return join(data[0].Effective, data[1].Effective), join(data[0].Permitted, data[1].Permitted),
		join(data[0].Inheritable, data[1].Inheritable), nil
}

// cmdline reads a NUL-separated argument vector.
func (s *scanner) cmdline(path string) ([]string, error) {
	n, err := s.read(path)
	if err != nil {
		return nil, err
	}
	b := bytes.TrimRight(s.buf[:n], "\x00")
	if len(b) == 0 {
		return nil, nil
	}
	var args []string
	for a := range bytes.SplitSeq(b, []byte{0}) {
		args = append(args, string(a))
	}
	return args, nil
}

// read reads the whole file at path into s.buf (growing it when the file
// does not fit) and returns its length. A /proc file is generated in one
// pass, so a read that does not fill the buffer has returned all of it: one
// open, one read, one close.
func (s *scanner) read(path string) (int, error) {
	fd, err := open(path, syscall.O_RDONLY|syscall.O_CLOEXEC)
	if err != nil {
		return 0, err
	}
	defer syscall.Close(fd)
	n := 0
	for {
		m, err := syscall.Read(fd, s.buf[n:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return 0, err
		}
		n += m
		if m == 0 || n < len(s.buf) {
			return n, nil
		}
		if len(s.buf) >= 1<<20 {
			return n, nil // a command line this long is cut here
		}
		s.buf = append(s.buf, make([]byte, len(s.buf))...)
	}
}

func open(path string, flags int) (int, error) {
	for {
		fd, err := syscall.Open(path, flags, 0)
		if err != syscall.EINTR {
			return fd, err
		}
	}
}

// readDirNames lists a directory with getdents into buf.
func readDirNames(path string, buf []byte, names []string) ([]string, error) {
	fd, err := open(path, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC)
	if err != nil {
		return names, err
	}
	defer syscall.Close(fd)
	for {
		n, err := syscall.Getdents(fd, buf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return names, err
		}
		if n <= 0 {
			return names, nil
		}
		_, _, names = syscall.ParseDirent(buf[:n], -1, names)
	}
}
