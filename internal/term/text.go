package term

import (
	"strings"
	"unicode/utf8"
)

// Wrap breaks text into lines of at most width runes, each prefixed with
// indent (counted in the width). Runs of white space collapse; a word longer
// than the line stands alone on its line. width <= 0 means 80.
func Wrap(text string, width int, indent string) string {
	return WrapHanging(text, width, indent, indent)
}

// WrapHanging is Wrap with a different prefix for the first line, for bullet
// lists ("  - " then "    ").
func WrapHanging(text string, width int, first, rest string) string {
	if width <= 0 {
		width = 80
	}
	var b strings.Builder
	prefix := first
	line := 0
	for _, w := range strings.Fields(text) {
		wl := utf8.RuneCountInString(w)
		switch {
		case line == 0:
			b.WriteString(prefix)
			line = utf8.RuneCountInString(prefix)
		case line+1+wl > width:
			b.WriteString("\n")
			prefix = rest
			b.WriteString(prefix)
			line = utf8.RuneCountInString(prefix)
		default:
			b.WriteByte(' ')
			line++
		}
		b.WriteString(w)
		line += wl
	}
	return b.String()
}

// Truncate shortens s to at most n runes, ending in "…" when cut.
func Truncate(s string, n int) string {
	if n <= 0 || utf8.RuneCountInString(s) <= n {
		return s
	}
	if n == 1 {
		return "…"
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
