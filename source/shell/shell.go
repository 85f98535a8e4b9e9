// Package shell finds docker/podman/nerdctl run lines where people write
// them: shell scripts, systemd units (ExecStart= and friends), Makefile
// recipes and Markdown code blocks. Each is parsed as shell by
// source/runargs, never matched with regular expressions; the parts of the
// file that are not shell (a recipe's tab, a prompt, a unit key) are
// blanked with spaces first so every position stays a place in the file.
package shell

import (
	"bytes"
	"fmt"
	"regexp"

	"github.com/capdrop/capdrop/source/runargs"
	"github.com/capdrop/capdrop/source/textpos"
	"github.com/capdrop/capdrop/workload"
)

// Format says what kind of file holds the shell text.
type Format int

// The formats read by Parse.
const (
	Script   Format = iota // a shell script: the whole file is shell
	Unit                   // a systemd unit: Exec*= values
	Makefile               // a Makefile: recipe lines
	Markdown               // Markdown: fenced sh/bash/console/shell and untagged code blocks
)

func (f Format) String() string {
	switch f {
	case Script:
		return "shell script"
	case Unit:
		return "systemd unit"
	case Makefile:
		return "Makefile"
	case Markdown:
		return "Markdown"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// Parse returns a workload for every run/create command in data, the
// content of file. In a script, a syntax error is reported and the rest of
// the file is still read line by line. In units, Makefiles and Markdown,
// where shell snippets often hold placeholders or make syntax, a snippet
// that does not parse is reported only when it mentions a run command
// (capdrop could not audit it); otherwise it is passed over.
func Parse(file string, data []byte, format Format) ([]workload.Workload, []*workload.Error) {
	p := parse(file, data, format)
	return p.workloads, p.errs
}

// parse reads data as format: the workloads and commands Parse and
// Commands return.
func parse(file string, data []byte, format Format) *parser {
	p := &parser{file: file, data: data, idx: textpos.New(file, data)}
	switch format {
	case Script:
		p.script()
	case Unit:
		p.unit()
	case Makefile:
		p.makefile()
	case Markdown:
		p.markdown()
	}
	return p
}

type parser struct {
	file      string
	data      []byte
	idx       *textpos.Index
	workloads []workload.Workload
	cmds      []*runargs.Command // what Commands returns
	errs      []*workload.Error
}

// span is a piece of the file, [start,end), with the bytes to parse (the
// same length, with non-shell parts blanked).
type span struct {
	start int
	src   []byte
}

func (p *parser) add(cmds []*runargs.Command) {
	for _, c := range cmds {
		if c.Placeholder != "" {
			p.errs = append(p.errs, workload.Warnf(workload.Position{File: p.file, Line: c.Start.Line, Col: c.Start.Col},
				"a run command with the placeholder %s, not audited", c.Placeholder))
			continue
		}
		if c.ImageArg < 0 && len(c.Spread) == 0 {
			continue // no image: a placeholder or a fragment, not a container
		}
		w, errs := c.Workload(p.file, workload.RunLine)
		p.workloads = append(p.workloads, w)
		p.errs = append(p.errs, errs...)
		p.cmds = append(p.cmds, c)
	}
}

func (p *parser) errorf(off int, format string, args ...any) {
	p.errs = append(p.errs, &workload.Error{Pos: p.idx.Pos(off), Err: fmt.Errorf(format, args...)})
}

// parseErr reports a syntax error; in a snippet of a file that is not a
// script (a unit's Exec line, a recipe, a Markdown block) it is a warning:
// the file is fine, the snippet is just not shell capdrop can read (a
// placeholder like <image_name>, make or systemd syntax).
func (p *parser) parseErr(err error, warning bool) {
	e := &workload.Error{Pos: workload.Position{File: p.file}, Err: fmt.Errorf("shell syntax: %v", err), Warning: warning}
	if pe, ok := err.(*runargs.ParseError); ok {
		e.Pos.Line, e.Pos.Col = pe.Loc.Line, pe.Loc.Col
		e.Err = fmt.Errorf("shell syntax: %s", pe.Msg)
		if warning {
			e.Err = fmt.Errorf("a run command that is not shell capdrop can read, not audited: %s", pe.Msg)
		}
	}
	p.errs = append(p.errs, e)
}

// How snippet reports a syntax error.
type report int

const (
	always  report = iota // every error
	lenient               // only when the piece mentions a run command
	quiet                 // never (a fallback follows)
)

// snippet parses one piece and reports syntax errors as rep says.
func (p *parser) snippet(s span, rep report) bool {
	cmds, err := runargs.Find(s.src, s.start, p.idx, runargs.Vars{})
	if err != nil {
		if rep == always || (rep == lenient && mentionsRun(s.src)) {
			p.parseErr(err, rep == lenient)
		}
		return false
	}
	p.add(cmds)
	return true
}

func (p *parser) script() {
	if p.snippet(span{0, p.data}, always) {
		return
	}
	// Recover what can be read: each logical line on its own.
	for _, s := range logicalLines(p.data, 0, len(p.data)) {
		cmds, err := runargs.Find(p.data[s[0]:s[1]], s[0], p.idx, runargs.Vars{})
		if err == nil {
			p.add(cmds)
		}
	}
}

// runMention spots text that probably holds a run command; it decides only
// whether a snippet that failed to parse is worth an error.
var runMention = regexp.MustCompile(`\b(docker|podman|nerdctl)\b[^\n]*\b(run|create)\b`)

func mentionsRun(b []byte) bool { return runMention.Match(b) }

// logicalLines splits data[start:end] into lines joined by backslash
// continuations, as [start,end) offsets without the final newline.
func logicalLines(data []byte, start, end int) [][2]int {
	var out [][2]int
	ls := start
	for i := start; i <= end; i++ {
		if i < end && data[i] != '\n' {
			continue
		}
		if i < end && continued(data[ls:i]) {
			continue
		}
		out = append(out, [2]int{ls, i})
		ls = i + 1
	}
	return out
}

// continued reports whether a line ends with an odd number of backslashes.
func continued(line []byte) bool {
	line = bytes.TrimRight(line, "\r")
	n := 0
	for i := len(line) - 1; i >= 0 && line[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

// blank copies data[start:end] and replaces [from,to) (absolute offsets)
// with spaces.
func blank(src []byte, start int, ranges ...[2]int) []byte {
	for _, r := range ranges {
		for i := r[0]; i < r[1]; i++ {
			if src[i-start] != '\n' {
				src[i-start] = ' '
			}
		}
	}
	return src
}

func clone(data []byte, start, end int) []byte {
	return append([]byte(nil), data[start:end]...)
}
