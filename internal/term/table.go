package term

import (
	"io"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Table collects rows and writes them with columns aligned by two spaces.
// Cells may hold ANSI colour; widths are measured without it. The last
// column is never padded, and is truncated to the terminal width when
// MaxWidth is set.
type Table struct {
	rows     [][]string
	MaxWidth int // 0: no limit
}

// Row appends a row.
func (t *Table) Row(cells ...string) { t.rows = append(t.rows, cells) }

// Len returns the number of rows added.
func (t *Table) Len() int { return len(t.rows) }

var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

// VisibleLen is the number of runes of s a terminal shows (ANSI escapes
// excluded).
func VisibleLen(s string) int { return utf8.RuneCountInString(ansi.ReplaceAllString(s, "")) }

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
				if t.MaxWidth > 0 && col < t.MaxWidth && VisibleLen(c) > t.MaxWidth-col && !strings.Contains(c, "\x1b") {
					c = Truncate(c, t.MaxWidth-col)
				}
				b.WriteString(c)
				break
			}
			b.WriteString(c)
			pad := widths[i] - VisibleLen(c)
			b.WriteString(strings.Repeat(" ", pad))
			col += widths[i]
		}
		line := strings.TrimRight(b.String(), " ")
		b.Reset()
		if _, err := io.WriteString(w, line+"\n"); err != nil {
			return err
		}
	}
	return nil
}
