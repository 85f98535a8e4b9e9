package picture

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/capdrop/capdrop/fleet"
	"github.com/capdrop/capdrop/knowledge"
)

// TextOptions say how to draw for a terminal.
type TextOptions struct {
	// Color turns ANSI colour on (a terminal, without NO_COLOR).
	Color bool
	// Width is the terminal's width; 0 when not a terminal. Names are
	// shortened so rows fit.
	Width int
}

func sgr(on bool, code, s string) string {
	if !on || code == "" {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

var riskANSI = map[knowledge.Risk]string{knowledge.Critical: "1;35", knowledge.High: "31", knowledge.Medium: "33", knowledge.Low: ""}

var riskLetter = map[knowledge.Risk]string{knowledge.Critical: "C", knowledge.High: "H", knowledge.Medium: "M", knowledge.Low: "L"}

// Text writes the fleet as a compact matrix: one row per container, one
// column per capability any container has a cell for (riskiest first, names
// written downwards), a glyph per cell, and the legend.
func Text(w io.Writer, f *fleet.Fleet, o TextOptions) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	if len(f.Containers) == 0 {
		bw.WriteString("no containers\n")
		return bw.Flush()
	}
	cols := f.Columns
	nameW := 9 // "CONTAINER"
	for _, c := range f.Containers {
		nameW = max(nameW, utf8.RuneCountInString(c.Name))
	}
	// Keep the matrix on the line: shorten names, never the columns.
	tail := 2*len(cols) + len("  held unused")
	if o.Width > 0 && nameW+2+tail > o.Width {
		nameW = max(12, o.Width-2-tail)
	}
	nameW = min(nameW, 48)
	pad := strings.Repeat(" ", nameW+2)

	height := 0
	for _, cp := range cols {
		height = max(height, len(cp.Short()))
	}
	for row := 0; row < height; row++ {
		var b strings.Builder
		b.WriteString(pad)
		for _, cp := range cols {
			n := cp.Short()
			ch := " "
			if k := row - (height - len(n)); k >= 0 {
				ch = n[k : k+1]
			}
			b.WriteString(sgr(o.Color, riskANSI[fleet.Risk(cp)], ch) + " ")
		}
		bw.WriteString(strings.TrimRight(b.String(), " ") + "\n")
	}
	// The risk of each column in letters, for reading without colour.
	var b strings.Builder
	b.WriteString(fit("CONTAINER", nameW) + "  ")
	for _, cp := range cols {
		r := fleet.Risk(cp)
		b.WriteString(sgr(o.Color, riskANSI[r], riskLetter[r]) + " ")
	}
	b.WriteString(" held unused")
	bw.WriteString(sgr(o.Color, "1", b.String()) + "\n")

	for _, c := range f.Containers {
		b.Reset()
		b.WriteString(fit(c.Name, nameW) + "  ")
		held, unused := 0, 0
		for _, cp := range cols {
			cell := c.Cell(cp)
			g := glyphs[cell.State]
			code := g.ansi
			if cell.Configured && cell.State != fleet.None {
				code += ";4" // underlined: asked for in the configuration
			}
			b.WriteString(sgr(o.Color, code, g.symbol) + " ")
			if cell.State.Holds() {
				held++
			}
			if cell.State == fleet.Unused {
				unused++
			}
		}
		u := "-"
		if c.Known() {
			u = fmt.Sprint(unused)
		}
		fmt.Fprintf(&b, " %4d %6s", held, u)
		if len(c.Uncertain) > 0 {
			b.WriteString("  uncertain")
		}
		if c.Usage != nil && c.Usage.Partial {
			b.WriteString("  partial profile")
		}
		bw.WriteString(b.String() + "\n")
	}

	bw.WriteString("\n")
	var legend []string
	for _, s := range fleet.States()[1:] {
		legend = append(legend, sgr(o.Color, glyphs[s].ansi, glyphs[s].symbol)+" "+s.Words())
	}
	bw.WriteString(wrapJoin(legend, "   ", o.Width) + "\n")
	note := "Columns riskiest first (C critical, H high, M medium, L low)."
	if o.Color {
		note += " Underlined: asked for in the configuration."
	}
	t := f.Totals()
	if t.Profiled > 0 {
		note += fmt.Sprintf(" %d of %d grants held by the %d profiled containers were never used.", t.Unused, t.Unused+t.Used+t.Needed, t.Profiled)
	}
	if t.Used > 0 {
		note += fmt.Sprintf(" %d used, not proven needed: profiles recommend keeping them until verify --minimize decides.", t.Used)
	}
	if t.Uncertain > 0 {
		note += fmt.Sprintf(" %d uncertain: the audit could not fully see their configuration (variables, templates, unknown flags); their sets are as read.", t.Uncertain)
	}
	bw.WriteString(wrapJoin(strings.Fields(note), " ", o.Width) + "\n")
	return bw.Flush()
}

// fit pads or shortens s to exactly n columns.
func fit(s string, n int) string {
	l := utf8.RuneCountInString(s)
	if l <= n {
		return s + strings.Repeat(" ", n-l)
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// wrapJoin joins items with sep, breaking lines before width.
func wrapJoin(items []string, sep string, width int) string {
	if width <= 0 {
		width = 100
	}
	var b strings.Builder
	col := 0
	for i, it := range items {
		l := visible(it)
		if i > 0 {
			if col+len(sep)+l > width {
				b.WriteString("\n")
				col = 0
			} else {
				b.WriteString(sep)
				col += len(sep)
			}
		}
		b.WriteString(it)
		col += l
	}
	return b.String()
}

func visible(s string) int {
	n := 0
	esc := false
	for _, r := range s {
		switch {
		case r == 0x1b:
			esc = true
		case esc:
			if r == 'm' {
				esc = false
			}
		default:
			n++
		}
	}
	return n
}
