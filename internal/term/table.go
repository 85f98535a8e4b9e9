package term

import (
	"io"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Table collects rows and writes them with columns aligned by two spaces.
// Cells may hold ANSI colour; widths are measured without it. The last
// column is never padded. When MaxWidth is set (a terminal), a last cell too
// long for the line wraps onto continuation lines aligned under its column,
// or, when fewer than MinLastWidth columns are left, onto indented lines
// below the row; without MaxWidth every row is one line, for grep.
type Table struct {
	rows     [][]string
	MaxWidth int // 0: no limit
}

// MinLastWidth is the narrowest a wrapped last column may be before it moves
// below its row.
const MinLastWidth = 24

// Row appends a row.
func (t *Table) Row(cells ...string) { t.rows = append(t.rows, cells) }

// Len returns the number of rows added.
func (t *Table) Len() int { return len(t.rows) }

var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

// VisibleLen is the number of runes of s a terminal shows (ANSI escapes
// excluded).
func VisibleLen(s string) int {
	if strings.IndexByte(s, 0x1b) < 0 { // the common case: no colour, no regexp
		return utf8.RuneCountInString(s)
	}
	return utf8.RuneCountInString(ansi.ReplaceAllString(s, ""))
}

// Render writes the table to w.
func (t *Table) Render(w io.Writer) error {
	var widths []int
	for _, r := range t.rows {
		for i, c := range r {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], VisibleLen(c))
		}
	}
	var b strings.Builder
	for _, r := range t.rows {
		b.Reset()
		col := 0
		for i, c := range r {
			last := i == len(r)-1
			if i > 0 {
				b.WriteString("  ")
				col += 2
			}
			if last {
				b.WriteString(t.wrapLast(c, col))
				break
			}
			b.WriteString(c)
			pad := widths[i] - VisibleLen(c)
			b.WriteString(strings.Repeat(" ", pad))
			col += widths[i]
		}
		for _, line := range strings.Split(b.String(), "\n") {
			if _, err := io.WriteString(w, strings.TrimRight(line, " ")+"\n"); err != nil {
				return err
			}
		}
	}
	return nil
}

// wrapLast lays out the last cell of a row that starts at column col.
func (t *Table) wrapLast(c string, col int) string {
	if t.MaxWidth <= 0 || VisibleLen(c) <= t.MaxWidth-col || strings.Contains(c, "\x1b") {
		return c
	}
	if avail := t.MaxWidth - col; avail >= MinLastWidth {
		return strings.ReplaceAll(Wrap(c, avail, ""), "\n", "\n"+strings.Repeat(" ", col))
	}
	const indent = "    "
	return "\n" + Wrap(c, t.MaxWidth, indent)
}
