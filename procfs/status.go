// Package procfs reads what capdrop needs from /proc: a process's
// capability sets and identity from /proc/<pid>/status, its threads, and the
// cgroup paths that tell which container it belongs to.
//
// Each reader is split in a public function that opens the file and a
// private parser over an io.Reader, so parsers are tested on fixtures.
package procfs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/capdrop/capdrop/capset"
)

// DefaultRoot is where the proc filesystem is mounted.
const DefaultRoot = "/proc"

// ErrMalformed is wrapped by errors about a status file that cannot be
// understood.
var ErrMalformed = errors.New("malformed status file")

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
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := parseStatus(f)
	if err != nil {
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
func ParseStatus(r io.Reader) (*Status, error) { return parseStatus(r) }

func parseStatus(r io.Reader) (*Status, error) {
	st := &Status{Seccomp: -1}
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		var err error
		switch key {
		case "Name":
			st.Name = val
		case "Tgid":
			st.Tgid, err = strconv.Atoi(val)
		case "Pid":
			st.Pid, err = strconv.Atoi(val)
		case "PPid":
			st.PPid, err = strconv.Atoi(val)
		case "Uid":
			st.UID, err = parseIDs(val)
		case "Gid":
			st.GID, err = parseIDs(val)
		case "NSpid":
			st.NSpid, err = parseInts(val)
		case "Threads":
			st.Threads, err = strconv.Atoi(val)
		case "NoNewPrivs":
			st.NoNewPrivs = val == "1"
			if val != "0" && val != "1" {
				err = fmt.Errorf("want 0 or 1")
			}
		case "Seccomp":
			st.Seccomp, err = strconv.Atoi(val)
		case "CapInh":
			st.Sets.Inheritable, err = capset.ParseMask(val)
		case "CapPrm":
			st.Sets.Permitted, err = capset.ParseMask(val)
		case "CapEff":
			st.Sets.Effective, err = capset.ParseMask(val)
		case "CapBnd":
			st.Sets.Bounding, err = capset.ParseMask(val)
		case "CapAmb":
			st.Sets.Ambient, err = capset.ParseMask(val)
			st.HasAmbient = err == nil
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %s: %q: %v", ErrMalformed, line, key, val, err)
		}
		seen[key] = true
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, k := range []string{"Pid", "CapInh", "CapPrm", "CapEff", "CapBnd"} {
		if !seen[k] {
			return nil, fmt.Errorf("%w: no %s line", ErrMalformed, k)
		}
	}
	if !seen["Tgid"] {
		st.Tgid = st.Pid
	}
	return st, nil
}

func parseIDs(val string) ([4]int, error) {
	var ids [4]int
	n, err := parseInts(val)
	if err != nil {
		return ids, err
	}
	if len(n) != 4 {
		return ids, fmt.Errorf("want 4 ids, got %d", len(n))
	}
	copy(ids[:], n)
	return ids, nil
}

func parseInts(val string) ([]int, error) {
	f := strings.Fields(val)
	out := make([]int, len(f))
	for i, s := range f {
		v, err := strconv.Atoi(s)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}
