// Package textpos turns byte offsets in a source text into line and column
// positions and back. Columns count characters (Unicode code points), as the
// YAML parser does, so every source reports columns the same way.
//
// Both directions cost time bounded by a constant, not by the length of the
// line: a minified JSON file is one line of up to megabytes, and its parser
// asks for a position per value.
package textpos

import (
	"sort"
	"unicode/utf8"

	"github.com/capdrop/capdrop/workload"
)

// Index maps byte offsets of one text to lines and columns.
type Index struct {
	file  string
	data  []byte
	lines []int // byte offset where each line starts
	// Checkpoints every block bytes: marks[k] is the first character
	// boundary at or after byte k*block, runes[k] the number of characters
	// before it.
	marks, runes []int
	yaml         bool // lines end at YAML's breaks, not only at "\n"
}

const block = 256

// New indexes data, the content of file, with lines ending at "\n".
func New(file string, data []byte) *Index {
	return index(file, data, false)
}

// NewYAML indexes data with the line breaks YAML counts lines by: "\r\n",
// "\r", "\n", NEL, LS and PS (so yaml.v3's node lines match). A leading
// byte order mark is not a character of line 1.
func NewYAML(file string, data []byte) *Index {
	x := index(file, data, true)
	if len(data) >= 3 && string(data[:3]) == "\xef\xbb\xbf" {
		x.lines[0] = 3
	}
	return x
}

// Break returns the length of the YAML line break at b[i], or 0.
func Break(b []byte, i int) int {
	switch {
	case b[i] == '\r' && i+1 < len(b) && b[i+1] == '\n':
		return 2
	case b[i] == '\r' || b[i] == '\n':
		return 1
	case b[i] == 0xC2 && i+1 < len(b) && b[i+1] == 0x85:
		return 2
	case b[i] == 0xE2 && i+2 < len(b) && b[i+1] == 0x80 && (b[i+2] == 0xA8 || b[i+2] == 0xA9):
		return 3
	}
	return 0
}

func (x *Index) brk(i int) int {
	if x.yaml {
		return Break(x.data, i)
	}
	if x.data[i] == '\n' {
		return 1
	}
	return 0
}

func index(file string, data []byte, yaml bool) *Index {
	x := &Index{file: file, data: data, lines: []int{0}, yaml: yaml}
	n := 0
	for i := 0; i < len(data); {
		for len(x.marks)*block <= i {
			x.marks, x.runes = append(x.marks, i), append(x.runes, n)
		}
		if l := x.brk(i); l > 0 {
			n += utf8.RuneCount(data[i : i+l])
			i += l
			x.lines = append(x.lines, i)
			continue
		}
		size := 1
		if data[i] >= utf8.RuneSelf {
			_, size = utf8.DecodeRune(data[i:])
		}
		i += size
		n++
	}
	x.marks, x.runes = append(x.marks, len(data)), append(x.runes, n)
	return x
}

// chars returns the number of characters before byte offset off, counting
// the bytes of a partial or invalid character one each, as utf8.RuneCount
// does.
func (x *Index) chars(off int) int {
	k := min(off/block, len(x.marks)-1)
	for k > 0 && x.marks[k] > off {
		k--
	}
	return x.runes[k] + utf8.RuneCount(x.data[x.marks[k]:off])
}

// LineCol returns the 1-based line and character column of a byte offset.
// Offsets outside the text are clamped.
func (x *Index) LineCol(off int) (line, col int) {
	off = max(0, min(off, len(x.data)))
	i := max(sort.Search(len(x.lines), func(i int) bool { return x.lines[i] > off })-1, 0)
	start := x.lines[i]
	if off < start { // inside a byte order mark
		return i + 1, 1
	}
	return i + 1, x.chars(off) - x.chars(start) + 1
}

// Pos returns the workload position of a byte offset.
func (x *Index) Pos(off int) workload.Position {
	l, c := x.LineCol(off)
	return workload.Position{File: x.file, Line: l, Col: c}
}

// Offset returns the byte offset of a 1-based line and character column,
// the inverse of LineCol; -1 when the line does not exist. A column past
// the end of the line gives the offset of the line's break (or of the end
// of the text).
func (x *Index) Offset(line, col int) int {
	if line < 1 || line > len(x.lines) {
		return -1
	}
	start, end := x.lines[line-1], x.LineEnd(line)
	want := x.chars(start) + max(col, 1) - 1
	// Walk from the last checkpoint before the character wanted, or from
	// the line's start when that is later.
	k := sort.Search(len(x.runes), func(k int) bool { return x.runes[k] > want }) - 1
	off := start
	if k >= 0 && x.marks[k] > start {
		off = x.marks[k]
	}
	for n := x.chars(off); n < want && off < end; n++ {
		_, size := utf8.DecodeRune(x.data[off:])
		off += size
	}
	return min(off, end)
}

// LineEnd returns the byte offset of the break that ends a 1-based line,
// or the length of the text for the last line.
func (x *Index) LineEnd(line int) int {
	if line >= len(x.lines) {
		return len(x.data)
	}
	end := x.lines[line]
	for l := 3; l > 1; l-- {
		if end-l >= x.lines[line-1] && x.brk(end-l) == l {
			return end - l
		}
	}
	return end - 1
}

// File returns the file name the index was made for.
func (x *Index) File() string { return x.file }

// Lines returns how many lines the text has (a final line break starts an
// empty last line).
func (x *Index) Lines() int { return len(x.lines) }

// LineStart returns the byte offset where a 1-based line starts.
func (x *Index) LineStart(line int) int { return x.lines[line-1] }

// Bytes returns the text between two byte offsets, clamped to the text.
func (x *Index) Bytes(start, end int) []byte {
	start = max(0, min(start, len(x.data)))
	end = max(start, min(end, len(x.data)))
	return x.data[start:end]
}
