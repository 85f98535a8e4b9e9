package procfs

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func addFixtures(f *testing.F, glob string) {
	files, _ := filepath.Glob(filepath.Join("testdata", glob))
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
}

func FuzzParseStatus(f *testing.F) {
	addFixtures(f, "status-*.txt")
	f.Add([]byte("Pid:\t1\nCapInh:\t0\nCapPrm:\t0\nCapEff:\t0\nCapBnd:\t0\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var st Status
		err := parseStatus(b, &st)
		if err != nil {
			return
		}
		// What parsed must say what the text says: every Cap line's mask
		// printed back is in the text (case aside).
		lower := bytes.ToLower(b)
		for _, m := range []struct {
			key string
			hex string
		}{{"capeff", st.Sets.Effective.Hex()}, {"capbnd", st.Sets.Bounding.Hex()}} {
			if !bytes.Contains(lower, []byte(m.key)) {
				t.Fatalf("parsed without a %s line", m.key)
			}
			trimmed := strings.TrimLeft(m.hex, "0")
			if trimmed != "" && !bytes.Contains(lower, []byte(trimmed)) {
				t.Fatalf("%s %s not in the input", m.key, m.hex)
			}
		}
	})
}

func FuzzParseCgroup(f *testing.F) {
	f.Add([]byte("12:cpu,cpuacct:/docker/abc\n1:name=systemd:/a:b\n0::/init.scope\n"))
	f.Add([]byte("0::/\n"))
	addFixtures(f, "proc/*/cgroup")
	f.Fuzz(func(t *testing.T, b []byte) {
		cg, err := parseCgroup(b)
		if err != nil {
			if !strings.Contains(err.Error(), "line ") {
				t.Fatalf("error without a line: %v", err)
			}
			return
		}
		for _, c := range cg {
			line := fmt.Sprintf("%d:%s:%s", c.Hierarchy, c.Controllers, c.Path)
			if !bytes.Contains(b, []byte(line)) && c.Hierarchy < 1e17 {
				// leading zeros or blanks in the hierarchy are the only rewrite
				if !bytes.Contains(b, []byte(":"+c.Controllers+":"+c.Path)) {
					t.Fatalf("entry %q is not in the input", line)
				}
			}
		}
	})
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0\n"))
	f.Add([]byte("99 (a) b (c) S 1 99 99 0 -1 4194560 0 0\n"))
	addFixtures(f, "proc/*/stat")
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parseStat(b)
		if err != nil {
			return
		}
		if !bytes.Contains(b, []byte("("+st.Comm+")")) {
			t.Fatalf("comm %q not in the input", st.Comm)
		}
	})
}
