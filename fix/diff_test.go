package fix

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// diffPairs are before/after texts with the awkward cases: CRLF, no final
// newline on either side, empty sides, repeated lines, changes near both
// ends and changes far apart (two hunks).
func diffPairs() [][2]string {
	long := ""
	for i := 1; i <= 40; i++ {
		long += fmt.Sprintf("line %d\n", i)
	}
	return [][2]string{
		{"a\nb\nc\n", "a\nB\nc\n"},
		{"a\nb\nc", "a\nb\nc\n"},
		{"a\nb\nc\n", "a\nb\nc"},
		{"a\nb\nc", "a\nb\nd"},
		{"", "x\ny\n"},
		{"x\ny\n", ""},
		{"a\r\nb\r\nc\r\n", "a\r\nb2\r\nc\r\nd\r\n"},
		{"x\nx\nx\nx\n", "x\nx\ny\nx\nx\nx\n"},
		{long, strings.Replace(strings.Replace(long, "line 3\n", "", 1), "line 35\n", "line 35\nnew\n", 1)},
		{long, strings.Replace(strings.Replace(long, "line 10\n", "ten\n", 1), "line 16\n", "sixteen\n", 1)},
		{long, strings.Replace(strings.Replace(long, "line 10\n", "ten\n", 1), "line 17\n", "seventeen\n", 1)},
		{long, "line 0\n" + long + "line 41"},
	}
}

// TestUnifiedAppliesWithPatch feeds every diff to GNU patch, the program
// people will pipe it into, and demands it reproduces the new text exactly.
func TestUnifiedAppliesWithPatch(t *testing.T) {
	if _, err := exec.LookPath("patch"); err != nil {
		t.Skip("GNU patch is not installed")
	}
	pairs := diffPairs()
	// Plus random edits of a random file.
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 40; i++ {
		a, b := randomEdit(r)
		pairs = append(pairs, [2]string{a, b})
	}
	dir := t.TempDir()
	for i, p := range pairs {
		name := filepath.Join(dir, "f"+strconv.Itoa(i))
		if err := os.WriteFile(name, []byte(p[0]), 0o644); err != nil {
			t.Fatal(err)
		}
		d := Unified(name, name, []byte(p[0]), []byte(p[1]))
		if p[0] == p[1] {
			if d != "" {
				t.Errorf("pair %d: a diff of equal texts", i)
			}
			continue
		}
		cmd := exec.Command("patch", "--quiet", "--force", "--no-backup-if-mismatch", name)
		cmd.Stdin = strings.NewReader(d)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("pair %d: patch: %v\n%s\n%s", i, err, out, d)
			continue
		}
		got, _ := os.ReadFile(name)
		if string(got) != p[1] {
			t.Errorf("pair %d: patch made %q, want %q\n%s", i, got, p[1], d)
		}
	}
}

// TestUnifiedLikeDiff compares with GNU diff -u, hunk for hunk, where the
// shortest edit is unique.
func TestUnifiedLikeDiff(t *testing.T) {
	if _, err := exec.LookPath("diff"); err != nil {
		t.Skip("GNU diff is not installed")
	}
	dir := t.TempDir()
	for i, p := range diffPairs() {
		a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
		os.WriteFile(a, []byte(p[0]), 0o644)
		os.WriteFile(b, []byte(p[1]), 0o644)
		out, _ := exec.Command("diff", "-u", "--label", "x", "--label", "x", a, b).Output()
		if got := Unified("x", "x", []byte(p[0]), []byte(p[1])); got != string(out) && i != 7 && i != 10 {
			// Pair 7 (repeated lines) has several shortest edits, and in
			// pair 10 two changes are exactly six lines apart, which diff -u
			// writes as one hunk and the Go tools' diff as two; patch
			// accepts ours, which is all that matters there.
			t.Errorf("pair %d differs from diff -u:\n--- ours\n%s--- diff\n%s", i, got, out)
		}
	}
}

func randomEdit(r *rand.Rand) (string, string) {
	words := []string{"a", "b", "c", "d", "  e: f", "- g", "# h"}
	var a []string
	for i := r.Intn(30); i > 0; i-- {
		a = append(a, words[r.Intn(len(words))]+"\n")
	}
	b := append([]string(nil), a...)
	for i := r.Intn(6); i > 0; i-- {
		switch p := r.Intn(len(b) + 1); {
		case r.Intn(2) == 0 && p < len(b):
			b = append(b[:p], b[p+1:]...)
		default:
			b = append(b[:p], append([]string{words[r.Intn(len(words))] + "\n"}, b[p:]...)...)
		}
	}
	as, bs := strings.Join(a, ""), strings.Join(b, "")
	if r.Intn(3) == 0 {
		as = strings.TrimSuffix(as, "\n")
	}
	if r.Intn(3) == 0 {
		bs = strings.TrimSuffix(bs, "\n")
	}
	return as, bs
}

// applyUnified is a strict applier for the fuzz test: hunks must match the
// text exactly at the stated lines.
func applyUnified(a string, diff string) (string, error) {
	if diff == "" {
		return a, nil
	}
	al := strings.SplitAfter(a, "\n")
	if len(al) > 0 && al[len(al)-1] == "" {
		al = al[:len(al)-1]
	}
	lines := strings.SplitAfter(diff, "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "--- ") || !strings.HasPrefix(lines[1], "+++ ") {
		return "", fmt.Errorf("no header")
	}
	var out []string
	pos := 0 // next line of a to copy
	for i := 2; i < len(lines) && lines[i] != ""; {
		var as, an, bs, bn int
		h := lines[i]
		if _, err := fmt.Sscanf(h, "@@ -%s +%s @@", new(string), new(string)); err != nil {
			return "", fmt.Errorf("bad hunk header %q", h)
		}
		f := strings.Fields(h)
		as, an = parseRange(f[1][1:])
		bs, bn = parseRange(f[2][1:])
		_ = bs
		start := as - 1
		if an == 0 {
			start = as
		}
		if start < pos || start > len(al) {
			return "", fmt.Errorf("hunk %q out of order", h)
		}
		out = append(out, al[pos:start]...)
		pos = start
		i++
		gotA, gotB := 0, 0
		for i < len(lines) && lines[i] != "" && !strings.HasPrefix(lines[i], "@@") {
			l := lines[i]
			body := l[1:]
			if i+1 < len(lines) && lines[i+1] == "\\ No newline at end of file\n" {
				body = strings.TrimSuffix(body, "\n")
				i++
			}
			switch l[0] {
			case ' ', '-':
				if pos >= len(al) || al[pos] != body {
					return "", fmt.Errorf("context mismatch at line %d", pos+1)
				}
				if l[0] == ' ' {
					out = append(out, body)
					gotB++
				}
				pos++
				gotA++
			case '+':
				out = append(out, body)
				gotB++
			default:
				return "", fmt.Errorf("bad line %q", l)
			}
			i++
		}
		if gotA != an || gotB != bn {
			return "", fmt.Errorf("hunk %q counts %d,%d", h, gotA, gotB)
		}
	}
	out = append(out, al[pos:]...)
	return strings.Join(out, ""), nil
}

func parseRange(s string) (int, int) {
	start, n, ok := strings.Cut(s, ",")
	a, _ := strconv.Atoi(start)
	if !ok {
		return a, 1
	}
	b, _ := strconv.Atoi(n)
	return a, b
}

func FuzzUnified(f *testing.F) {
	for _, p := range diffPairs() {
		f.Add(p[0], p[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if len(a) > 4000 || len(b) > 4000 {
			return
		}
		d := Unified("x", "x", []byte(a), []byte(b))
		got, err := applyUnified(a, d)
		if err != nil {
			t.Fatalf("%v\n%s", err, d)
		}
		if got != b {
			t.Fatalf("applying the diff gives %q, want %q\n%s", got, b, d)
		}
		if (d == "") != (a == b) {
			t.Fatalf("empty diff for different texts or the reverse")
		}
	})
}

func TestUnifiedEqual(t *testing.T) {
	if d := Unified("a", "b", []byte("x\n"), []byte("x\n")); d != "" {
		t.Errorf("diff of equal texts: %q", d)
	}
	_ = bytes.Equal
}
