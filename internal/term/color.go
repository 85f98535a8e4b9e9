package term

// Palette colours text with ANSI escapes when enabled and returns it
// unchanged otherwise.
type Palette struct{ on bool }

// NewPalette returns a palette that colours when on is true.
func NewPalette(on bool) Palette { return Palette{on: on} }

func (p Palette) wrap(code, s string) string {
	if !p.on || s == "" {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

// Bold makes s bold.
func (p Palette) Bold(s string) string { return p.wrap("1", s) }

// Dim makes s faint.
func (p Palette) Dim(s string) string { return p.wrap("2", s) }

// Red colours s red.
func (p Palette) Red(s string) string { return p.wrap("31", s) }

// Yellow colours s yellow.
func (p Palette) Yellow(s string) string { return p.wrap("33", s) }

// Green colours s green.
func (p Palette) Green(s string) string { return p.wrap("32", s) }

// Cyan colours s cyan.
func (p Palette) Cyan(s string) string { return p.wrap("36", s) }

// Magenta colours s magenta (bold), used for the gravest level.
func (p Palette) Magenta(s string) string { return p.wrap("1;35", s) }
