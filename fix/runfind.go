package fix

import (
	"fmt"

	"github.com/capdrop/capdrop/source"
	"github.com/capdrop/capdrop/source/dockerfile"
	"github.com/capdrop/capdrop/source/runargs"
	"github.com/capdrop/capdrop/source/shell"
	"github.com/capdrop/capdrop/workload"
)

// findRunLines finds the run lines of a file with the audit sources'
// parsers (source/shell, source/dockerfile over source/runargs): the same
// commands capdrop audit reports, with the offset of every option.
func findRunLines(path string, src []byte, format Format) ([]*runLine, error) {
	var (
		cmds []*runargs.Command
		errs []*workload.Error
	)
	unquoted := map[*runargs.Command]bool{}
	if format == Dockerfile {
		var lcs []dockerfile.LabelCommand
		lcs, errs = dockerfile.RunCommands(path, src, dockerfile.Options{})
		for _, lc := range lcs {
			cmds = append(cmds, lc.Cmd)
			unquoted[lc.Cmd] = lc.Unquoted
		}
	} else {
		sf := shell.Script
		switch source.DetectName(path) {
		case source.Unit:
			sf = shell.Unit
		case source.Makefile:
			sf = shell.Makefile
		case source.Markdown:
			sf = shell.Markdown
		}
		cmds, errs = shell.Commands(path, src, sf)
	}
	if len(cmds) == 0 && len(errs) > 0 {
		return nil, fmt.Errorf("%w: %v", ErrInput, errs[0])
	}
	var out []*runLine
	for _, c := range cmds {
		rl := &runLine{tool: c.Tool, cmd: c, start: c.Start.Offset, end: c.End.Offset, line: c.Start.Line, col: c.Start.Col, image: -1, unquoted: unquoted[c]}
		if img, ok := c.Image(); ok {
			rl.image = img.Start.Offset
			rl.label = img.Value
			// New options go before the image, and before a "--" that
			// ends the options.
			for i := max(c.SubArg+1, 0); i < c.ImageArg; i++ {
				if a := c.Args[i]; a.Literal && a.Value == "--" {
					rl.image = a.Start.Offset
					break
				}
			}
		}
		// Between the words of the options only blanks and continuations:
		// a comment there (shells disagree on backslashes in comments)
		// makes the layout unsafe to edit.
		for i := 1; i < len(c.Args) && (c.ImageArg < 0 || i <= c.ImageArg); i++ {
			if !separators(src, c.Args[i-1].End.Offset, c.Args[i].Start.Offset) {
				rl.odd = true
			}
		}
		// Each word of the options must read in the file exactly as the
		// command parser saw it. In a Dockerfile the label's own quotes and
		// escapes are removed first; a word that lost some would not
		// survive an edit next to it.
		for i := 0; i < len(c.Args) && (c.ImageArg < 0 || i < c.ImageArg); i++ {
			a := c.Args[i]
			if a.Start.Offset < 0 || a.End.Offset > len(src) || a.Start.Offset > a.End.Offset || string(src[a.Start.Offset:a.End.Offset]) != a.Raw {
				rl.odd = true
			}
		}
		for _, f := range c.Flags {
			lit := true
			if f.ValueArg >= 0 && f.ValueArg < len(c.Args) {
				lit = c.Args[f.ValueArg].Literal
			}
			prev, next := 0, len(src)
			if f.Arg > 0 && f.Arg <= len(c.Args) {
				prev = c.Args[f.Arg-1].End.Offset
			}
			last := max(f.Arg, f.ValueArg)
			if last >= 0 && last+1 < len(c.Args) {
				next = c.Args[last+1].Start.Offset
			}
			rl.flags = append(rl.flags, runFlag{
				flag: f, name: f.Canonical(), spelling: f.Spelling, value: f.Value, literal: lit,
				hasValue: f.HasValue, inline: f.Inline, start: f.Start.Offset, end: f.End.Offset, prevEnd: prev, nextStart: next,
			})
			if f.Canonical() == "name" && f.HasValue {
				rl.label = f.Value
			}
		}
		out = append(out, rl)
	}
	return out, nil
}

// separators reports whether src[from:to] holds only blanks, line breaks
// and backslash-newline continuations.
func separators(src []byte, from, to int) bool {
	if from < 0 || to > len(src) || from > to {
		return false
	}
	for i := from; i < to; i++ {
		switch {
		case src[i] == ' ' || src[i] == '\t' || src[i] == '\n' || src[i] == '\r':
		case src[i] == '\\' && i+1 < to && src[i+1] == '\n':
			i++
		case src[i] == '\\' && i+2 < to && src[i+1] == '\r' && src[i+2] == '\n':
			i += 2
		default:
			return false
		}
	}
	return true
}
