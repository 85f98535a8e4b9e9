// Package report renders capdrop's results for people and programs: aligned
// text for terminals, JSON with a documented stable shape, and SARIF for code
// scanning. Renderers only write; they never decide what is true.
package report

import (
	"encoding/json"
	"io"

	"github.com/capdrop/capdrop/internal/term"
)

// Text is what every text renderer needs to know about the terminal.
type Text struct {
	// Color turns ANSI colour on (the caller decides: a terminal, and
	// NO_COLOR unset).
	Color bool
	Width int // terminal width; 0 when not a terminal (no truncation, wrap at 80)
}

func (t Text) pal() term.Palette { return term.NewPalette(t.Color) }

func (t Text) wrapWidth() int {
	if t.Width <= 0 {
		return 80
	}
	return min(t.Width, 100)
}

// JSON writes v as indented JSON followed by a newline.
func JSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// JSONLine writes v as one line of JSON (for streams of objects).
func JSONLine(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
