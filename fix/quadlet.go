package fix

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/source/quadlet"
	"github.com/capdrop/capdrop/workload"
)

// editQuadlet works out the edits for a Podman Quadlet .container unit:
// the [Container] section ends up with one DropCapability=ALL and the set
// in AddCapability= lines. Lines already right stay as written; the other
// AddCapability= and DropCapability= lines (resets included) are removed
// with their continuation lines; what is missing is added after the last
// line kept, or where the first removed one was, or after the section's
// last line.
func editQuadlet(src []byte, t *target, opts Options) (*editResult, error) {
	entries, header, ok := quadlet.Section(src)
	if !ok {
		return nil, fmt.Errorf("%w: %s has no [Container] section", ErrInput, t.name)
	}
	txt := newText(src, nil)
	rt := t.w.Runtime
	for _, e := range entries {
		if e.Key != "PodmanArgs" {
			continue
		}
		for _, w := range append(append([]workload.Word{}, t.w.CapAdd...), t.w.CapDrop...) {
			if w.Pos.Line >= txt.line(e.Start) && w.Pos.Line <= txt.line(e.End) {
				return nil, fmt.Errorf("%w: %s sets capabilities in PodmanArgs= (line %d), which come after the unit's own: move them to AddCapability= and DropCapability= first",
					ErrRefused, t.name, txt.line(e.Start))
			}
		}
	}
	add, drop := addWords(rt, opts.Add), dropWords(rt, false)
	var es []edit
	seen := capset.Set(0)
	keptDrop := false
	lastKept, firstRemoved := -1, -1
	for _, e := range entries {
		if e.Key != "AddCapability" && e.Key != "DropCapability" {
			continue
		}
		ws := quadlet.Words(e.Value)
		keep := len(ws) > 0
		var cs capset.Set
		for _, w := range ws {
			if e.Key == "DropCapability" {
				id, spelling := drop.classify(w)
				keep = keep && !keptDrop && len(ws) == 1 && id == "ALL" && spelling == w
				continue
			}
			id, spelling := add.classify(w)
			c, err := capset.Parse(id)
			keep = keep && id != "" && id != "ALL" && spelling == w && err == nil && opts.Add.Has(c) && !seen.Has(c) && !cs.Has(c)
			if err == nil {
				cs = cs.With(c)
			}
		}
		if keep {
			if e.Key == "DropCapability" {
				keptDrop = true
			} else {
				seen |= cs
			}
			lastKept = e.End
			continue
		}
		start := txt.lineStart(e.Start)
		if firstRemoved < 0 {
			firstRemoved = start
		}
		es = append(es, edit{at: start, end: txt.nextLine(e.End)})
	}
	var lines []string
	if !keptDrop {
		lines = append(lines, "DropCapability=ALL")
	}
	if missing := opts.Add.Minus(seen); !missing.IsEmpty() {
		lines = append(lines, "AddCapability="+strings.Join(missing.ShortNames(), " "))
	}
	if len(lines) > 0 {
		text := strings.Join(lines, txt.nl) + txt.nl
		var at int
		switch {
		case lastKept >= 0:
			at = txt.nextLine(lastKept)
		case firstRemoved >= 0:
			at = firstRemoved
		default:
			at = txt.nextLine(header)
			if len(entries) > 0 {
				at = txt.nextLine(entries[len(entries)-1].End)
			}
		}
		if at == len(src) && len(src) > 0 && breakLen(src, len(src)-1) == 0 {
			text = txt.nl + strings.TrimSuffix(text, txt.nl)
		}
		es = append(es, edit{at: at, end: at, text: text})
	}
	return &editResult{edits: es, check: func(out []byte) error { return checkQuadlet(src, out) }}, nil
}

// checkQuadlet proves a Quadlet rewrite changed nothing but the capability
// lines of the [Container] section: without them, both files are the same
// bytes.
func checkQuadlet(src, out []byte) error {
	if !bytes.Equal(withoutCapLines(src), withoutCapLines(out)) {
		return errors.New("lines other than AddCapability= and DropCapability= changed")
	}
	return nil
}

func withoutCapLines(b []byte) []byte {
	entries, _, _ := quadlet.Section(b)
	txt := newText(b, nil)
	var es []edit
	for _, e := range entries {
		if e.Key == "AddCapability" || e.Key == "DropCapability" {
			es = append(es, edit{at: txt.lineStart(e.Start), end: txt.nextLine(e.End)})
		}
	}
	out, err := apply(b, es)
	if err != nil {
		return nil
	}
	return bytes.TrimRight(out, "\r\n")
}
