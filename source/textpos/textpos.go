// Package textpos turns byte offsets in a source text into line and column
// positions. Columns count characters (Unicode code points), as the YAML
// parser does, so every source reports columns the same way.
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
}

// New indexes data, the content of file.
func New(file string, data []byte) *Index {
	lines := []int{0}
	for i, b := range data {
		if b == '\n' {
			lines = append(lines, i+1)
		}
	}
	return &Index{file: file, data: data, lines: lines}
}

// LineCol returns the 1-based line and character column of a byte offset.
// Offsets outside the text are clamped.
func (x *Index) LineCol(off int) (line, col int) {
	if off < 0 {
		off = 0
	}
	if off > len(x.data) {
		off = len(x.data)
	}
	i := sort.Search(len(x.lines), func(i int) bool { return x.lines[i] > off }) - 1
	start := x.lines[i]
	return i + 1, utf8.RuneCount(x.data[start:off]) + 1
}

// Pos returns the workload position of a byte offset.
func (x *Index) Pos(off int) workload.Position {
	l, c := x.LineCol(off)
	return workload.Position{File: x.file, Line: l, Col: c}
}

// Offset returns the byte offset of a 1-based line and character column,
// the inverse of LineCol; -1 when the line does not exist.
func (x *Index) Offset(line, col int) int {
	if line < 1 || line > len(x.lines) {
		return -1
	}
	off := x.lines[line-1]
	for c := 1; c < col && off < len(x.data) && x.data[off] != '\n'; c++ {
		_, n := utf8.DecodeRune(x.data[off:])
		off += n
	}
	return off
}

// File returns the file name the index was made for.
func (x *Index) File() string { return x.file }

// Bytes returns the text between two byte offsets, clamped to the text.
func (x *Index) Bytes(start, end int) []byte {
	start = max(0, min(start, len(x.data)))
	end = max(start, min(end, len(x.data)))
	return x.data[start:end]
}
