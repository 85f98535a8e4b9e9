package fix

import (
	"bytes"
	"fmt"
	"sort"

	"github.com/capdrop/capdrop/source/textpos"
)

// text is a file's bytes with the line index the YAML scanner uses, so that
// a yaml.Node's Line and Column (1-based; columns count characters, not
// bytes) can be turned into byte offsets into the original file.
type text struct {
	b   []byte
	idx *textpos.Index
	nl  string // the file's line break, "\n" or "\r\n", for inserted lines
}

// newText indexes b; idx, when not nil, is an index of b to use (one that
// counts lines the way the parser of b does).
func newText(b []byte, idx *textpos.Index) *text {
	if idx == nil {
		idx = textpos.NewYAML("", b)
	}
	t := &text{b: b, idx: idx, nl: "\n"}
	if i := bytes.IndexByte(b, '\n'); i > 0 && b[i-1] == '\r' {
		t.nl = "\r\n"
	}
	return t
}

// breakLen returns the length of the line break at b[i], or 0: the breaks
// the YAML scanner counts lines by.
func breakLen(b []byte, i int) int { return textpos.Break(b, i) }

// errPosition says a node's position could not be mapped onto the bytes; the
// rewriter then refuses rather than guess.
var errPosition = fmt.Errorf("%w: capdrop cannot locate the text it would edit", ErrRefused)

// offset returns the byte offset of a 1-based line and character column.
func (t *text) offset(line, col int) (int, error) {
	p := t.idx.Offset(line, col)
	if l, c := t.idx.LineCol(p); p < 0 || l != line || c != col {
		return 0, fmt.Errorf("%w at line %d column %d", errPosition, line, col)
	}
	return p, nil
}

// line returns the 1-based line number holding byte offset p.
func (t *text) line(p int) int {
	l, _ := t.idx.LineCol(p)
	return l
}

// lineStart returns the offset where the line holding p starts.
func (t *text) lineStart(p int) int { return t.idx.LineStart(t.line(p)) }

// lineEnd returns the offset of the line break ending the line holding p, or
// len(b) on the last line.
func (t *text) lineEnd(p int) int { return t.idx.LineEnd(t.line(p)) }

// nextLine returns the offset just after the line break ending the line
// holding p, or len(b) when that line is the last one.
func (t *text) nextLine(p int) int {
	if l := t.line(p); l < t.idx.Lines() {
		return t.idx.LineStart(l + 1)
	}
	return len(t.b)
}

// restIsComment reports whether only blanks and an optional comment follow p
// on its line.
func (t *text) restIsComment(p int) bool {
	e := t.lineEnd(p)
	for i := p; i < e; i++ {
		switch t.b[i] {
		case ' ', '\t':
		case '#':
			return i == p || t.b[i-1] == ' ' || t.b[i-1] == '\t'
		default:
			return false
		}
	}
	return true
}

// onlyBlanksBefore reports whether the line holding p has nothing but spaces
// before p.
func (t *text) onlyBlanksBefore(p int) bool {
	for i := t.lineStart(p); i < p; i++ {
		if t.b[i] != ' ' {
			return false
		}
	}
	return true
}

// isCommentLine reports whether the line starting at s holds only a comment
// (after spaces); col is the comment's 0-based byte column.
func (t *text) isCommentLine(s int) (col int, ok bool) {
	e := t.lineEnd(s)
	for i := s; i < e; i++ {
		switch t.b[i] {
		case ' ':
		case '#':
			return i - s, true
		default:
			return 0, false
		}
	}
	return 0, false
}

// edit replaces b[at:end] with text; at == end inserts.
type edit struct {
	at, end int
	text    string
}

// apply returns b with the edits made. Edits must not overlap; an insertion
// may sit at either end of a replaced range.
func apply(b []byte, edits []edit) ([]byte, error) {
	es := append([]edit(nil), edits...)
	sort.SliceStable(es, func(i, j int) bool {
		if es[i].at != es[j].at {
			return es[i].at < es[j].at
		}
		// At the same offset an insertion goes before a replacement that
		// starts there.
		return es[i].end-es[i].at < es[j].end-es[j].at
	})
	var out bytes.Buffer
	last := 0
	for _, e := range es {
		if e.at < last || e.end < e.at || e.end > len(b) {
			return nil, fmt.Errorf("internal error: overlapping edits at offset %d", e.at)
		}
		out.Write(b[last:e.at])
		out.WriteString(e.text)
		last = e.end
	}
	out.Write(b[last:])
	return out.Bytes(), nil
}
