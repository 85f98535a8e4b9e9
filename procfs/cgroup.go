package procfs

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
)

// Cgroup is one line of /proc/<pid>/cgroup: a hierarchy and the process's
// cgroup in it. On cgroup v2 the only line is hierarchy 0 with no
// controllers; on v1 (and hybrid hosts) there is one line per hierarchy.
type Cgroup struct {
	Hierarchy   int
	Controllers string // "cpu,cpuacct", "name=systemd", or "" for v2
	Path        string // relative to the reader's cgroup namespace root
}

// Unified reports whether c is the cgroup v2 (unified) hierarchy.
func (c Cgroup) Unified() bool { return c.Hierarchy == 0 && c.Controllers == "" }

// ReadCgroup reads /proc/<pid>/cgroup under root ("" means /proc).
func ReadCgroup(root string, pid int) ([]Cgroup, error) {
	path := filepath.Join(rootOr(root), strconv.Itoa(pid), "cgroup")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cg, err := parseCgroup(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cg, nil
}

// ParseCgroup parses the text of a /proc/<pid>/cgroup file.
func ParseCgroup(r io.Reader) ([]Cgroup, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	return parseCgroup(b)
}

// parseCgroup parses "hierarchy-ID:controller-list:cgroup-path" lines. The
// path is everything after the second colon, colons included.
func parseCgroup(b []byte) ([]Cgroup, error) {
	out := make([]Cgroup, 0, bytes.Count(b, []byte{'\n'})+1)
	line := 0
	for len(b) > 0 {
		line++
		var l []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			l, b = b[:i], b[i+1:]
		} else {
			l, b = b, nil
		}
		if len(trimSpace(l)) == 0 {
			continue
		}
		c1 := bytes.IndexByte(l, ':')
		if c1 < 0 {
			return nil, fmt.Errorf("%w: line %d: %q: want hierarchy:controllers:path", ErrMalformedCgroup, line, l)
		}
		c2 := bytes.IndexByte(l[c1+1:], ':')
		if c2 < 0 {
			return nil, fmt.Errorf("%w: line %d: %q: want hierarchy:controllers:path", ErrMalformedCgroup, line, l)
		}
		c2 += c1 + 1
		h, err := atoi(l[:c1])
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: hierarchy %q: %v", ErrMalformedCgroup, line, l[:c1], err)
		}
		out = append(out, Cgroup{Hierarchy: h, Controllers: string(l[c1+1 : c2]), Path: string(l[c2+1:])})
	}
	return out, nil
}
