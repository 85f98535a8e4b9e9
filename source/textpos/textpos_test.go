package textpos

import (
	"bytes"
	"math/rand"
	"strings"
	"testing"
	"unicode/utf8"
)

// naive is the obvious reading: lines split at breaks, columns counted with
// utf8.RuneCount from the line's start.
func naive(data []byte, yaml bool, off int) (line, col int) {
	start, line := 0, 1
	if yaml && bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) {
		start = 3
	}
	for i := start; i < off; {
		l := 0
		if yaml {
			l = Break(data, i)
		} else if data[i] == '\n' {
			l = 1
		}
		if l > 0 && i+l <= off {
			i += l
			start, line = i, line+1
			continue
		}
		i++
	}
	if off < start {
		return line, 1
	}
	return line, utf8.RuneCount(data[start:off]) + 1
}

func FuzzIndex(f *testing.F) {
	for _, s := range []string{"", "a\nb", "é\r\nü\rx\u2028y\u0085z", "\xef\xbb\xbfa: 1\n", "\xff\xfe\n\xe2\x80", strings.Repeat("ab€", 300) + "\n" + strings.Repeat("x", 600)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, yaml := range []bool{false, true} {
			x := New("f", data)
			if yaml {
				x = NewYAML("f", data)
			}
			for off := 0; off <= len(data); off++ {
				l, c := x.LineCol(off)
				if wl, wc := naive(data, yaml, off); l != wl || c != wc {
					t.Fatalf("yaml=%v LineCol(%d) = %d:%d, want %d:%d in %q", yaml, off, l, c, wl, wc, data)
				}
				// At a character boundary Offset inverts LineCol.
				if off < len(data) && !utf8.RuneStart(data[off]) || off < 3 && yaml && bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) {
					continue
				}
				if r, _ := utf8.DecodeLastRune(data[:off]); r == utf8.RuneError && off > 0 && !utf8.FullRune(data[max(0, off-3):off]) {
					continue
				}
				if off > x.LineEnd(l) { // inside a "\r\n" break
					continue
				}
				if got := x.Offset(l, c); got != off && utf8.Valid(data) {
					t.Fatalf("yaml=%v Offset(%d, %d) = %d, want %d in %q", yaml, l, c, got, off, data)
				}
			}
		}
	})
}

func TestLongLine(t *testing.T) {
	// A minified JSON file: one line of many characters, some multi-byte.
	r := rand.New(rand.NewSource(1))
	var b strings.Builder
	for b.Len() < 1<<20 {
		b.WriteString([]string{"a", "é", "€", "𝄞", ","}[r.Intn(5)])
	}
	data := []byte(b.String())
	x := New("f", data)
	n := 0
	for off := 0; off < len(data); off += utf8.RuneLen(rune(0)) {
		_, size := utf8.DecodeRune(data[off:])
		n++
		if n%97 == 0 {
			if l, c := x.LineCol(off); l != 1 || c != n || x.Offset(l, c) != off {
				t.Fatalf("offset %d: %d:%d (want 1:%d), back to %d", off, l, c, n, x.Offset(l, c))
			}
		}
		off += size - 1
	}
}
