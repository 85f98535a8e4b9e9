package fix

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/capdrop/capdrop/workload"
)

// applyScript fixes a docker/podman/nerdctl run line in a shell script,
// Makefile, Markdown file or systemd unit; applyDockerfile one in a
// Dockerfile's LABEL RUN. Both choose the line, make the edits and check
// them the same way.
func applyScript(path string, src []byte, opts Options) (*Result, error) {
	return applyRunLines(path, src, opts, Script, 0)
}

func applyDockerfile(path string, src []byte, opts Options) (*Result, error) {
	return applyRunLines(path, src, opts, Dockerfile, 0)
}

func applyRunLines(path string, src []byte, opts Options, format Format, depth int) (*Result, error) {
	if opts.Service != "" || opts.Container != "" {
		return nil, fmt.Errorf("%w: %s holds run lines: choose one with --line, not --service or --container", ErrInput, path)
	}
	lines, err := findRunLines(path, src, format)
	if err != nil {
		return nil, err
	}
	rl, err := chooseLine(lines, opts.Line, format)
	if err != nil {
		return nil, err
	}
	what := describeRunLine(rl, format)
	pos := workload.Position{File: path, Line: rl.line, Col: rl.col}
	t := newText(src)
	edits, notes, err := fixRunLine(t, rl, what, opts)
	if err != nil {
		return nil, &Error{Pos: pos, Err: err}
	}
	res := &Result{Target: what, Pos: pos, Notes: notes}
	if len(edits) == 0 {
		return res, nil
	}
	out, err := apply(src, edits)
	if err == nil {
		err = checkRunLine(path, src, out, rl, format, opts)
	}
	if err == nil && depth == 0 {
		var again *Result
		again, err = applyRunLines(path, out, Options{Add: opts.Add, Line: opts.Line, AllowWiden: true}, format, depth+1)
		if err == nil && again.Changed {
			err = errors.New("a second run would change it again")
		}
	}
	if err != nil {
		return nil, &Error{Pos: pos, Err: &selfCheckError{err}}
	}
	res.Changed = true
	res.Output = out
	return res, nil
}

func describeRunLine(rl *runLine, format Format) string {
	what := "run line " + strconv.Itoa(rl.line)
	if format == Dockerfile {
		what = "LABEL RUN at line " + strconv.Itoa(rl.line)
	}
	if rl.label != "" {
		what += " (" + rl.label + ")"
	}
	return what
}

// chooseLine picks the run line starting on line n, or the only one.
func chooseLine(lines []*runLine, n int, format Format) (*runLine, error) {
	what := "run lines"
	if format == Dockerfile {
		what = "LABEL RUN instructions"
	}
	var choices []string
	for _, rl := range lines {
		choices = append(choices, strconv.Itoa(rl.line))
	}
	switch {
	case len(lines) == 0:
		return nil, fmt.Errorf("%w: no docker, podman or nerdctl %s found", ErrNoTarget, what)
	case n == 0 && len(lines) == 1:
		return lines[0], nil
	case n == 0:
		return nil, &AmbiguousError{What: "line", Choices: slices.Compact(choices)}
	}
	var found []*runLine
	for _, rl := range lines {
		if rl.line == n {
			found = append(found, rl)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
	default:
		return nil, fmt.Errorf("%w: %d run commands start on line %d; capdrop fix edits one per line: put them on lines of their own", ErrAmbiguous, len(found), n)
	}
	return nil, fmt.Errorf("%w: no run line starts on line %d; they start on lines %s", ErrNoTarget, n, joinChoices(choices))
}

func joinChoices(cs []string) string {
	var b bytes.Buffer
	for i, c := range cs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c)
	}
	return b.String()
}

// checkRunLine proves a run-line rewrite: every byte before the command and
// after it is the original's, the file still reads as the same run lines,
// and the target's options now drop ALL and add exactly the set.
func checkRunLine(path string, src, out []byte, rl *runLine, format Format, opts Options) error {
	if !bytes.HasPrefix(out, src[:rl.start]) || !bytes.HasSuffix(out, src[rl.end:]) {
		return errors.New("bytes outside the command changed")
	}
	before, err := findRunLines(path, src, format)
	if err != nil {
		return err
	}
	after, err := findRunLines(path, out, format)
	if err != nil {
		return fmt.Errorf("the result does not parse: %v", err)
	}
	if len(after) != len(before) {
		return fmt.Errorf("the result has %d run lines, the original %d", len(after), len(before))
	}
	var got *runLine
	for _, a := range after {
		if a.start == rl.start {
			got = a
		}
	}
	if got == nil {
		return errors.New("the command is gone")
	}
	var adds, drops []string
	for _, f := range got.flags {
		switch f.name {
		case "cap-add":
			adds = append(adds, got.capWords(f)...)
		case "cap-drop":
			drops = append(drops, got.capWords(f)...)
		}
	}
	if !runDropRight(dialect{}, drops) || !runAddRight(dialect{}, adds, opts.Add) {
		return fmt.Errorf("the result adds %q and drops %q", adds, drops)
	}
	return nil
}
