package fix

import (
	"bytes"
	"errors"
	"fmt"
)

// editRunLine works out the edits for a docker, podman or nerdctl run line
// in a shell script, Makefile, Markdown file or systemd unit, or a
// Dockerfile's LABEL RUN: the command source read at the target's
// position, edited option by option.
func editRunLine(path string, src []byte, t *target, opts Options) (*editResult, error) {
	lines, err := findRunLines(path, src, t.format)
	if err != nil {
		return nil, err
	}
	var rl *runLine
	for _, l := range lines {
		if l.line == t.w.Pos.Line && l.col == t.w.Pos.Col {
			rl = l
		}
	}
	if rl == nil {
		return nil, fmt.Errorf("%w at line %d column %d (%s)", errPosition, t.w.Pos.Line, t.w.Pos.Col, t.name)
	}
	es, notes, err := fixRunLine(newText(src, nil), rl, t.name, t.w.Runtime, opts)
	if err != nil {
		return nil, err
	}
	return &editResult{edits: es, notes: notes, check: func(out []byte) error {
		return checkRunLine(path, src, out, rl, t.format)
	}}, nil
}

// checkRunLine proves a run-line rewrite touched nothing but the command:
// every byte before and after it is the original's, and the file still
// holds as many run commands. (That the command now gives exactly the set
// is the re-audit's to prove.)
func checkRunLine(path string, src, out []byte, rl *runLine, format Format) error {
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
	for _, a := range after {
		if a.start == rl.start {
			return nil
		}
	}
	return errors.New("the command is gone")
}
