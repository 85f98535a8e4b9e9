// Package procfs reads what capdrop needs from /proc: a process's
// capability sets and identity from /proc/<pid>/status, its threads, the
// kernel-thread flag from /proc/<pid>/stat, its command line, its user
// namespace, and the cgroup paths that tell which container it belongs to.
// Scan reads all of it for every process on the host.
//
// Each reader is split in a public function that opens the file and a
// private parser over the file's bytes, so parsers are tested on fixtures.
package procfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/capdrop/capdrop/capset"
)

// DefaultRoot is where the proc filesystem is mounted.
const DefaultRoot = "/proc"

// ErrMalformed is wrapped by errors about a status or stat file that cannot
// be understood.
var ErrMalformed = errors.New("malformed proc file")

// ErrMalformedCgroup is wrapped by errors about a cgroup file that cannot be
// understood.
var ErrMalformedCgroup = errors.New("malformed cgroup file")

// Status is what capdrop uses of /proc/<pid>/status.
type Status struct {
	Name       string // the comm, at most 15 bytes, escaped by the kernel
	Tgid       int
	Pid        int
	PPid       int
	UID        [4]int // real, effective, saved, filesystem
	GID        [4]int
	NSpid      []int // pid in each nested pid namespace, outermost first
	Sets       capset.Sets
	HasAmbient bool // the kernel reports CapAmb (4.3 and later)
	NoNewPrivs bool
	Seccomp    int // 0 disabled, 1 strict, 2 filter; -1 when not reported
	Threads    int
	// Kthread is the kernel's "Kthread:" line (6.x kernels): 1 for a kernel
	// thread, 0 for a user process, -1 when the kernel does not report it
	// (then /proc/<pid>/stat's flags tell; see ReadStat).
	Kthread int
}

// ReadStatus reads /proc/<pid>/status under root ("" means /proc).
func ReadStatus(root string, pid int) (*Status, error) {
	return readStatusFile(filepath.Join(rootOr(root), strconv.Itoa(pid), "status"))
}

// ReadTaskStatus reads /proc/<pid>/task/<tid>/status, the view of one thread.
func ReadTaskStatus(root string, pid, tid int) (*Status, error) {
	return readStatusFile(filepath.Join(rootOr(root), strconv.Itoa(pid), "task", strconv.Itoa(tid), "status"))
}

func readStatusFile(path string) (*Status, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	st := new(Status)
	if err := parseStatus(b, st); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return st, nil
}

func rootOr(root string) string {
	if root == "" {
		return DefaultRoot
	}
	return root
}

// ParseStatus parses the text of a status file.
func ParseStatus(r io.Reader) (*Status, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	st := new(Status)
	if err := parseStatus(b, st); err != nil {
		return nil, err
	}
	return st, nil
}

// The lines of a status file parseStatus uses, as bits of a "seen" mask.
const (
	seenPid = 1 << iota
	seenTgid
	seenInh
	seenPrm
	seenEff
	seenBnd
)

const seenRequired = seenPid | seenInh | seenPrm | seenEff | seenBnd

// parseStatus fills st from the bytes of a status file. It runs once per
// process in a scan, so it works on the bytes in place and allocates only the
// name and NSpid. It stops after the Seccomp line: nothing capdrop uses
// comes later.
func parseStatus(b []byte, st *Status) error {
	*st = Status{Seccomp: -1, Kthread: -1}
	seen := 0
	line := 0
	for len(b) > 0 {
		line++
		var l []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			l, b = b[:i], b[i+1:]
		} else {
			l, b = b, nil
		}
		colon := bytes.IndexByte(l, ':')
		if colon < 0 {
			continue
		}
		key, val := l[:colon], trimSpace(l[colon+1:])
		var err error
		done := false
		switch string(key) { // no allocation: the compiler compares in place
		case "Name":
			st.Name = string(val)
		case "Tgid":
			st.Tgid, err = atoi(val)
			seen |= seenTgid
		case "Pid":
			st.Pid, err = atoi(val)
			seen |= seenPid
		case "PPid":
			st.PPid, err = atoi(val)
		case "Uid":
			err = parseIDs(val, &st.UID)
		case "Gid":
			err = parseIDs(val, &st.GID)
		case "NSpid":
			st.NSpid, err = parseInts(val)
		case "Kthread":
			st.Kthread, err = parseBool(val)
		case "Threads":
			st.Threads, err = atoi(val)
		case "NoNewPrivs":
			var v int
			v, err = parseBool(val)
			st.NoNewPrivs = v == 1
		case "Seccomp":
			st.Seccomp, err = atoi(val)
			done = true
		case "CapInh":
			st.Sets.Inheritable, err = parseMask(val)
			seen |= seenInh
		case "CapPrm":
			st.Sets.Permitted, err = parseMask(val)
			seen |= seenPrm
		case "CapEff":
			st.Sets.Effective, err = parseMask(val)
			seen |= seenEff
		case "CapBnd":
			st.Sets.Bounding, err = parseMask(val)
			seen |= seenBnd
		case "CapAmb":
			st.Sets.Ambient, err = parseMask(val)
			st.HasAmbient = err == nil
		default:
			continue
		}
		if err != nil {
			return fmt.Errorf("%w: line %d: %s: %q: %v", ErrMalformed, line, key, val, err)
		}
		if done && seen&seenRequired == seenRequired {
			break
		}
	}
	if seen&seenRequired != seenRequired {
		for _, k := range []struct {
			bit  int
			name string
		}{{seenPid, "Pid"}, {seenInh, "CapInh"}, {seenPrm, "CapPrm"}, {seenEff, "CapEff"}, {seenBnd, "CapBnd"}} {
			if seen&k.bit == 0 {
				return fmt.Errorf("%w: no %s line", ErrMalformed, k.name)
			}
		}
	}
	if seen&seenTgid == 0 {
		st.Tgid = st.Pid
	}
	return nil
}

var (
	errNotNumber = errors.New("not a non-negative decimal number")
	errNotBool   = errors.New("want 0 or 1")
	errNotMask   = errors.New("want 1 to 16 hex digits")
)

func trimSpace(b []byte) []byte {
	for len(b) > 0 && isBlank(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isBlank(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// atoi parses a non-negative decimal int without allocating.
func atoi(b []byte) (int, error) {
	if len(b) == 0 || len(b) > 18 {
		return 0, errNotNumber
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, errNotNumber
		}
		n = n*10 + int(c-'0')
	}
	return n, nil
}

func parseBool(b []byte) (int, error) {
	if len(b) == 1 && (b[0] == '0' || b[0] == '1') {
		return int(b[0] - '0'), nil
	}
	return 0, errNotBool
}

// parseMask parses the 16 hex digits of a Cap* line without allocating.
func parseMask(b []byte) (capset.Set, error) {
	if len(b) == 0 || len(b) > 16 {
		return 0, errNotMask
	}
	var v uint64
	for _, c := range b {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, errNotMask
		}
		v = v<<4 | uint64(d)
	}
	return capset.Set(v), nil
}

// fields calls f for each field of b separated by blanks.
func fields(b []byte, f func([]byte) error) error {
	for {
		b = trimSpace(b)
		if len(b) == 0 {
			return nil
		}
		i := 0
		for i < len(b) && !isBlank(b[i]) {
			i++
		}
		if err := f(b[:i]); err != nil {
			return err
		}
		b = b[i:]
	}
}

func parseIDs(val []byte, ids *[4]int) error {
	n := 0
	err := fields(val, func(w []byte) error {
		v, err := atoi(w)
		if err != nil {
			return err
		}
		if n < 4 {
			ids[n] = v
		}
		n++
		return nil
	})
	if err != nil {
		return err
	}
	if n != 4 {
		return fmt.Errorf("want 4 ids, got %d", n)
	}
	return nil
}

func parseInts(val []byte) ([]int, error) {
	var out []int
	err := fields(val, func(w []byte) error {
		v, err := atoi(w)
		out = append(out, v)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
