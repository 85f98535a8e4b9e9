package fix

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/source/runargs"
	"github.com/capdrop/capdrop/workload"
)

// runLine is one docker, podman or nerdctl run/create command in a file,
// with byte offsets into the file.
type runLine struct {
	tool       string // "docker", "podman", "nerdctl"
	start, end int
	line, col  int
	flags      []runFlag
	image      int    // where options end: the image word, or a "--" before it; -1 without an image
	label      string // for messages: the --name value or the image
	// unquoted is set for a Dockerfile LABEL KEY=value without quotes,
	// where a space would end the value.
	unquoted bool
	cmd      *runargs.Command
	// odd is set when something other than blanks and continuations (a
	// comment, an escape in a LABEL value) sits between the words of the
	// options.
	odd bool
}

// runFlag is one option of a run line.
type runFlag struct {
	flag     runargs.Flag
	name     string // long name without dashes, aliases resolved: "cap-add"
	spelling string // as written: "--cap-add"
	value    string // after quote removal
	literal  bool   // the value holds no expansion ($VAR, $(cmd))
	hasValue bool
	inline   bool // --cap-add=X rather than --cap-add X
	// start and end span the whole option, a separate value word included;
	// prevEnd is where the word before it ends, nextStart where the word
	// after it starts (a removal must stay between them).
	start, end, prevEnd, nextStart int
}

// capWords returns the capability names a flag carries, as its tool reads
// them (source/runargs splits podman's and nerdctl's values at commas).
func (rl *runLine) capWords(f runFlag) []string {
	return workload.Texts(rl.cmd.CapWords("", f.flag))
}

// fixRunLine returns the edits that make a run line drop ALL and add
// exactly opts.Add, changing only its capability options.
func fixRunLine(t *text, rl *runLine, what string, rt workload.Runtime, opts Options) ([]edit, []string, error) {
	add, drop := addWords(rt, opts.Add), dropWords(rt, false)
	var notes []string
	if rl.unquoted {
		return nil, nil, fmt.Errorf("%w: %s is an unquoted LABEL value, where a space would end it: quote the value first", ErrRefused, what)
	}
	if rl.odd {
		return nil, nil, fmt.Errorf("%w: %s has a comment, a quote or an escape of the file around its options; capdrop does not edit around it", ErrRefused, what)
	}
	var adds, drops []runFlag
	for _, f := range rl.flags {
		switch f.name {
		case "cap-add", "cap-drop":
			if !f.literal {
				return nil, nil, fmt.Errorf("%w: %s sets %s from a variable (%s); capdrop cannot tell what it holds", ErrRefused, what, f.spelling, f.value)
			}
			if f.name == "cap-add" {
				adds = append(adds, f)
			} else {
				drops = append(drops, f)
			}
		}
	}
	var addWords, dropWords []string
	for _, f := range adds {
		addWords = append(addWords, rl.capWords(f)...)
	}
	for _, f := range drops {
		dropWords = append(dropWords, rl.capWords(f)...)
	}
	if wordsDropRight(rt, false, dropWords, opts.Add) && wordsAddRight(rt, addWords, opts.Add) {
		return nil, notes, nil
	}

	var edits []edit
	var kept []runFlag
	keepDrop := false
	for _, f := range drops {
		ws := rl.capWords(f)
		if id, spelling := drop.classify(ws[0]); !keepDrop && len(ws) == 1 && id == "ALL" && spelling == ws[0] {
			keepDrop = true
			kept = append(kept, f)
			continue
		}
		edits = append(edits, deleteWord(t, f))
	}
	seen := map[capset.Cap]bool{}
	for _, f := range adds {
		ws := rl.capWords(f)
		ok := len(ws) > 0
		var cs []capset.Cap
		for _, w := range ws {
			id, spelling := add.classify(w)
			c, err := capset.Parse(id)
			if id == "" || id == "ALL" || spelling != w || err != nil || !opts.Add.Has(c) || seen[c] {
				ok = false
				break
			}
			cs = append(cs, c)
		}
		if !ok {
			edits = append(edits, deleteWord(t, f))
			continue
		}
		for _, c := range cs {
			seen[c] = true
		}
		kept = append(kept, f)
	}
	// The new options, spelled like the existing ones.
	sep := "="
	for _, f := range rl.flags {
		if (f.name == "cap-add" || f.name == "cap-drop") && f.hasValue {
			if !f.inline {
				sep = " "
			}
			break
		}
	}
	var pieces []string
	if !keepDrop {
		pieces = append(pieces, "--cap-drop"+sep+"ALL")
	}
	for _, c := range opts.Add.Caps() {
		if !seen[c] {
			pieces = append(pieces, "--cap-add"+sep+c.Short())
		}
	}
	edits = mergeDeletions(edits)
	if len(pieces) > 0 {
		e, err := insertWords(t, rl, kept, pieces, what)
		if err != nil {
			return nil, nil, err
		}
		// An insertion point inside a removed option (its line was taken
		// with it) moves to where the removal ends.
		for _, d := range edits {
			if d.at < e.at && e.at < d.end {
				e.at, e.end = d.end, d.end
			}
		}
		edits = append(edits, e)
	}
	return edits, notes, nil
}

// insertWords adds options after the last kept capability option, or else
// right before the image. When the options there stand one per line behind
// backslash continuations, the new ones do too, at the same indentation.
func insertWords(t *text, rl *runLine, kept []runFlag, pieces []string, what string) (edit, error) {
	var anchorStart, anchorEnd int
	after := len(kept) > 0
	if after {
		last := kept[0]
		for _, f := range kept {
			if f.start > last.start {
				last = f
			}
		}
		anchorStart, anchorEnd = last.start, last.end
	} else {
		if rl.image < 0 {
			return edit{}, fmt.Errorf("%w: %s has no image word to put options before", ErrRefused, what)
		}
		anchorStart, anchorEnd = rl.image, rl.image
	}
	// New lines need an indentation of their own: a continuation joins
	// lines, and without blanks on either side words would run together.
	if ownLine(t, anchorStart, anchorEnd, after) && t.lineStart(anchorStart) < anchorStart {
		ls := t.lineStart(anchorStart)
		indent := string(t.b[ls:anchorStart])
		var b strings.Builder
		for _, p := range pieces {
			b.WriteString(indent + p + " \\" + t.nl)
		}
		if after {
			p := t.nextLine(anchorEnd)
			return edit{at: p, end: p, text: b.String()}, nil
		}
		return edit{at: ls, end: ls, text: b.String()}, nil
	}
	if after {
		return edit{at: anchorEnd, end: anchorEnd, text: " " + strings.Join(pieces, " ")}, nil
	}
	return edit{at: anchorStart, end: anchorStart, text: strings.Join(pieces, " ") + " "}, nil
}

// ownLine reports whether the word at [start,end) stands alone on its line
// within a backslash-continued command: only blanks before it, the
// previous line continued, and (for an option to add after) a
// continuation after it.
func ownLine(t *text, start, end int, after bool) bool {
	ls := t.lineStart(start)
	if ls == 0 || !blankBytes(t.b[ls:start]) {
		return false
	}
	prev := bytes.TrimRight(t.b[t.lineStart(ls-1):ls], "\r\n")
	if !bytes.HasSuffix(prev, []byte("\\")) {
		return false
	}
	if after {
		return string(bytes.TrimSpace(t.b[end:t.lineEnd(end)])) == "\\"
	}
	return true
}

func blankBytes(b []byte) bool {
	return len(bytes.Trim(b, " \t")) == 0
}

// deleteWord removes the option at [start,end) and the blanks that
// separated it: its whole line when it stood alone on a continued line,
// else the blanks after it, or before it when a continuation follows.
func deleteWord(t *text, f runFlag) edit {
	start, end := f.start, f.end
	ls := t.lineStart(start)
	le := t.lineEnd(end)
	rest := bytes.TrimSpace(t.b[end:le])
	if blankBytes(t.b[ls:start]) && string(rest) == "\\" && ls > 0 {
		// The whole line goes, when the lines around it stay apart: the
		// line before ends in " \" or the line after starts with a blank.
		prev := bytes.TrimRight(t.b[t.lineStart(ls-1):ls], "\r\n")
		next := t.nextLine(end)
		apart := blankBeforeContinuation(prev) || next < len(t.b) && (t.b[next] == ' ' || t.b[next] == '\t')
		if bytes.HasSuffix(prev, []byte("\\")) && apart && next <= f.nextStart {
			return edit{at: ls, end: next}
		}
	}
	e := end
	for e < le && e < f.nextStart && (t.b[e] == ' ' || t.b[e] == '\t') {
		e++
	}
	if e < le && t.b[e] != '\\' {
		return edit{at: start, end: e}
	}
	s := start
	for s > ls && s > f.prevEnd && (t.b[s-1] == ' ' || t.b[s-1] == '\t') {
		s--
	}
	return edit{at: s, end: end}
}

// mergeDeletions joins removals that overlap (two options sharing the
// blanks between them) into one.
func mergeDeletions(es []edit) []edit {
	slices.SortFunc(es, func(a, b edit) int { return a.at - b.at })
	var out []edit
	for _, e := range es {
		if n := len(out); n > 0 && e.at < out[n-1].end {
			out[n-1].end = max(out[n-1].end, e.end)
			continue
		}
		out = append(out, e)
	}
	return out
}

// blankBeforeContinuation reports whether a line ending in a continuation
// backslash has an unescaped blank right before it, which keeps the words
// on either side of the continuation apart.
func blankBeforeContinuation(line []byte) bool {
	line = bytes.TrimSuffix(line, []byte("\\"))
	n := len(line)
	if n == 0 || line[n-1] != ' ' && line[n-1] != '\t' {
		return false
	}
	escapes := 0
	for i := n - 2; i >= 0 && line[i] == '\\'; i-- {
		escapes++
	}
	return escapes%2 == 0
}
