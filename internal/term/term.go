// Package term holds what capdrop needs to talk to a terminal: the I/O
// streams every command writes through (so tests can fake them), colour that
// is on only for a TTY and honours NO_COLOR, the terminal width, word
// wrapping and aligned tables.
package term

import (
	"bytes"
	"io"
	"os"
	"strings"

	xterm "golang.org/x/term"
)

// Streams are the standard streams of one command invocation.
type Streams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	// OutTTY is true when Out is a terminal.
	OutTTY bool
	// Color enables ANSI colour on Out.
	Color bool
	// Width is the terminal width of Out, or 0 when Out is not a terminal.
	Width int
}

// System returns the process's standard streams, with colour decided by
// whether stdout is a terminal, NO_COLOR and TERM=dumb.
func System() *Streams {
	s := &Streams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	fd := int(os.Stdout.Fd())
	if xterm.IsTerminal(fd) {
		s.OutTTY = true
		if w, _, err := xterm.GetSize(fd); err == nil {
			s.Width = w
		}
	}
	s.Color = s.OutTTY && ColorAllowed(os.Getenv)
	return s
}

// ColorAllowed applies the conventions that switch colour off: NO_COLOR set
// to anything (https://no-color.org) and TERM=dumb.
func ColorAllowed(getenv func(string) string) bool {
	if getenv("NO_COLOR") != "" {
		return false
	}
	return getenv("TERM") != "dumb"
}

// Test returns streams on buffers, not a terminal, no colour; stdin is in.
func Test(in string) (*Streams, *bytes.Buffer, *bytes.Buffer) {
	var out, errOut bytes.Buffer
	return &Streams{In: strings.NewReader(in), Out: &out, ErrOut: &errOut}, &out, &errOut
}

// Palette returns the colour functions to use on Out.
func (s *Streams) Palette() Palette { return Palette{on: s.Color} }
