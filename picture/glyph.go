// Package picture draws a fleet (package fleet): containers × capabilities,
// as one self-contained HTML page (HTML) and as a compact matrix for a
// terminal (Text). Both use the same glyphs, so the matrix reads the same
// without colour, in print and in a terminal; the colours are a
// colour-blind-safe palette (Okabe and Ito).
package picture

import "github.com/capdrop/capdrop/fleet"

// glyph is how a cell state looks: a symbol readable without colour, and
// a colour for the page (Okabe–Ito) and for the terminal (an ANSI code).
type glyph struct {
	symbol string
	color  string // CSS colour
	ansi   string // SGR code
}

var glyphs = map[fleet.State]glyph{
	fleet.None:     {"·", "#ffffff", "2"},
	fleet.Held:     {"●", "#5a5a5a", "1"},
	fleet.Bounding: {"○", "#a0a0a0", "2"},
	fleet.Unused:   {"✗", "#d55e00", "31"},
	fleet.Used:     {"◐", "#56b4e9", "36"},
	fleet.Needed:   {"✓", "#0072b2", "34"},
	fleet.Missing:  {"+", "#cc79a7", "35"},
	fleet.Dropped:  {"−", "#009e73", "32"},
	fleet.Ignored:  {"!", "#e69f00", "33"},
}

// Symbol is the glyph of a state.
func Symbol(s fleet.State) string { return glyphs[s].symbol }
