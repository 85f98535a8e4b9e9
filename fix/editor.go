package fix

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// editor collects byte edits to a YAML stream. Every method either records
// edits that keep the rest of the file byte for byte, or returns an error
// and records nothing.
type editor struct {
	*stream
	st    style
	edits []edit
}

func (e *editor) add(es ...edit) { e.edits = append(e.edits, es...) }

// endsWithBreak reports whether the file ends in a line break.
func (e *editor) endsWithBreak() bool {
	n := len(e.b)
	return n > 0 && (e.b[n-1] == '\n' || e.b[n-1] == '\r' || n >= 2 && breakLen(e.b, n-2) == 2 || n >= 3 && breakLen(e.b, n-3) == 3)
}

// insertLines inserts whole lines (ending in line breaks) at p, the start of
// a line or the end of the file.
func (e *editor) insertLines(p int, lines string) {
	if p == len(e.b) && !e.endsWithBreak() {
		lines = e.nl + strings.TrimSuffix(lines, e.nl)
	}
	e.add(edit{at: p, end: p, text: lines})
}

// valueEnd returns where an entry's value ends: after the colon for an empty
// value.
func (e *editor) valueEnd(k, v *yaml.Node) (int, error) {
	if isNull(v) {
		if v.Line != k.Line {
			// Something (a lone tag) on a following line.
			return 0, errExtent
		}
		return e.colonEnd(k)
	}
	return e.end(v)
}

// insertEntries adds entries to mapping m (which must be m's own text, not an
// alias): right before the entry keyed before, or after the entry keyed
// after, when there is one; else after the last entry whose end can be
// found; else before the first entry.
func (e *editor) insertEntries(m *yaml.Node, after, before string, entries []kv) error {
	if m.Style&yaml.FlowStyle != 0 {
		return e.insertFlow(m, entries)
	}
	if len(m.Content) < 2 {
		return fmt.Errorf("%w: empty mapping at line %d", errPosition, m.Line)
	}
	col := m.Content[0].Column - 1
	ownKey := func(name string) int {
		for i := 0; i+1 < len(m.Content); i += 2 {
			if name != "" && m.Content[i].Value == name && !isMergeKey(m.Content[i]) {
				return i
			}
		}
		return -1
	}
	if i := ownKey(before); i >= 0 {
		if err := e.insertBefore(m.Content[i], col, entries); err == nil {
			return nil
		}
	}
	var order []int
	if i := ownKey(after); i >= 0 {
		order = append(order, i)
	}
	for i := len(m.Content) - 2; i >= 0; i -= 2 {
		order = append(order, i)
	}
	for _, i := range order {
		k, v := m.Content[i], m.Content[i+1]
		p, err := e.valueEnd(k, v)
		if err != nil || !e.restIsComment(p) {
			continue
		}
		e.insertLines(e.nextLine(p), e.st.block(col, entries))
		return nil
	}
	return e.insertBefore(m.Content[0], col, entries)
}

// insertBefore puts entries right before key, at column col of a block
// mapping: key's line keeps whatever precedes it (an indentation, or "- "
// for a list item) and the key moves down.
func (e *editor) insertBefore(key *yaml.Node, col int, entries []kv) error {
	p, err := e.start(key)
	if err != nil {
		return err
	}
	if key.Column-1 != col {
		return fmt.Errorf("%w: key at line %d", errPosition, key.Line)
	}
	text := strings.TrimPrefix(e.st.block(col, entries), spaces(col)) + spaces(col)
	e.add(edit{at: p, end: p, text: text})
	return nil
}

func (e *editor) insertFlow(m *yaml.Node, entries []kv) error {
	open, err := e.valueStart(m)
	if err != nil {
		return err
	}
	end, err := e.flowEnd(open)
	if err != nil {
		return err
	}
	if len(m.Content) == 0 {
		inner := e.st.inline(entries)
		e.add(edit{at: open, end: end, text: inner})
		return nil
	}
	lastKey, lastVal := m.Content[len(m.Content)-2], m.Content[len(m.Content)-1]
	p, err := e.valueEnd(lastKey, lastVal)
	if err != nil {
		return err
	}
	if p >= end {
		return fmt.Errorf("%w: flow mapping at line %d", errPosition, m.Line)
	}
	sep := ","
	if isNull(lastVal) {
		// "{a:, b: 1}" does not read as a: null; "{a: , b: 1}" does.
		sep = " ,"
	}
	if e.line(p) > e.line(open) || e.line(e.mustStart(lastKey)) > e.line(open) {
		col := lastKey.Column - 1
		e.add(edit{at: p, end: p, text: sep + e.nl + e.st.pretty(col, entries)})
		return nil
	}
	inline := e.st.inline(entries)
	e.add(edit{at: p, end: p, text: sep + " " + inline[1:len(inline)-1]})
	return nil
}

func (e *editor) mustStart(n *yaml.Node) int {
	p, err := e.start(n)
	if err != nil {
		return 0
	}
	return p
}

// setValue replaces the value of the entry k: v (own text of a mapping) with
// val: a list, a bool or a nested mapping.
func (e *editor) setValue(parent, k, v *yaml.Node, val any) error {
	colon, err := e.colonEnd(k)
	if err != nil {
		return err
	}
	flow := parent.Style&yaml.FlowStyle != 0 || e.st.json
	_, isList := val.([]string)
	_, isMap := val.([]kv)
	blockVal := !flow && (isMap || isList && !e.st.flowLists && len(val.([]string)) > 0)
	if isNull(v) {
		if !e.restIsComment(colon) || v.Line != k.Line {
			// An empty value with a tag or anchor ("key: !tag").
			return fmt.Errorf("%w: line %d: an empty value with a tag or anchor", ErrRefused, k.Line)
		}
		if blockVal {
			lines := e.st.blockValue(k.Column-1, val)
			e.add(edit{at: e.lineEnd(colon), end: e.lineEnd(colon), text: strings.TrimSuffix(lines, e.nl)})
			return nil
		}
		e.add(edit{at: colon, end: colon, text: " " + e.st.inline(val)})
		return nil
	}
	start, err := e.start(v)
	if err != nil {
		return err
	}
	end, err := e.end(v)
	if err != nil {
		return err
	}
	sameLine := e.line(start) == e.line(colon)
	if !sameLine && !onlySeparators(e.b[colon:start]) {
		return fmt.Errorf("%w: line %d: comments between a key and its value", ErrRefused, k.Line)
	}
	if !flow && !e.restIsComment(end) {
		return fmt.Errorf("%w: line %d: more text after a value", ErrRefused, v.Line)
	}
	if blockVal {
		// "key:" keeps its line (and comment); the value follows on new
		// lines.
		lines := e.st.blockValue(k.Column-1, val)
		e.add(edit{at: colon, end: end, text: ""},
			edit{at: e.lineEnd(end), end: e.lineEnd(end), text: strings.TrimSuffix(lines, e.nl)})
		return nil
	}
	text := e.st.inline(val)
	if flow && isMap && e.line(start) < e.line(end-1) {
		// A JSON object laid out over lines stays laid out over lines.
		text = "{" + e.nl + e.st.pretty(k.Column-1+e.st.indent, val.([]kv)) + e.nl + spaces(k.Column-1) + "}"
	}
	if !sameLine {
		e.add(edit{at: colon, end: end, text: " " + text})
		return nil
	}
	e.add(edit{at: start, end: end, text: text})
	return nil
}

// words says how the rewriter wants a capability list to read.
type words struct {
	want []string // the words to end up with, in order, as written when new
	// classify names the item a word stands for ("ALL", "CAP_CHOWN"; ""
	// when unknown) and how it should be spelled (the word itself when its
	// spelling is right).
	classify func(word string) (id, spelling string)
}

// editList makes sequence seq (own text, not an alias) hold exactly the
// wanted words: items already there stay as written when spelled right,
// wrong spellings are corrected in place, other items are removed with their
// lines, missing words are appended in the list's own layout and quoting.
// colon is the end of the list's key, used when the list becomes empty.
func (e *editor) editList(seq *yaml.Node, colon int, w words) error {
	wantID := map[string]int{}
	for i, word := range w.want {
		id, _ := w.classify(word)
		wantID[id] = i
	}
	type item struct {
		node     *yaml.Node
		keep     bool
		spelling string // replacement text, "" to keep as written
	}
	items := make([]item, len(seq.Content))
	have := map[string]bool{}
	for i, n := range seq.Content {
		items[i].node = n
		r := resolve(n)
		if r == nil || r.Kind != yaml.ScalarNode {
			return fmt.Errorf("%w: line %d: a capability list item that is not a name", ErrRefused, n.Line)
		}
		id, spelling := w.classify(r.Value)
		if _, wanted := wantID[id]; !wanted || have[id] || id == "" {
			continue
		}
		have[id] = true
		items[i].keep = true
		if spelling != r.Value || n.Kind == yaml.AliasNode {
			items[i].spelling = spelling
		}
	}
	var missing []string
	for _, word := range w.want {
		if id, _ := w.classify(word); !have[id] {
			missing = append(missing, word)
		}
	}
	quote := e.st.quote
	for _, it := range items {
		if it.node.Kind == yaml.ScalarNode {
			quote = quoteOf(it.node)
			break
		}
	}
	if seq.Style&yaml.FlowStyle != 0 {
		var out []string
		for _, it := range items {
			if !it.keep {
				continue
			}
			if it.spelling != "" {
				out = append(out, quoted(it.spelling, quoteOf(it.node)))
				continue
			}
			s, err := e.start(it.node)
			if err != nil {
				return err
			}
			t, err := e.end(it.node)
			if err != nil {
				return err
			}
			out = append(out, string(e.b[s:t]))
		}
		for _, word := range missing {
			out = append(out, quoted(word, quote))
		}
		return e.rewriteFlowList(seq, out)
	}

	// Block sequence: edit item by item.
	var lastEnd int
	dashCol, gap := -1, e.st.dashGap
	kept := 0
	for _, it := range items {
		n := it.node
		s, err := e.start(n)
		if err != nil {
			return err
		}
		t, err := e.end(n)
		if err != nil {
			return err
		}
		dash := s - 1
		for dash >= 0 && e.b[dash] == ' ' {
			dash--
		}
		if dash < 0 || e.b[dash] != '-' || !e.onlyBlanksBefore(dash) || !e.restIsComment(t) {
			return fmt.Errorf("%w: line %d: list item laid out in a way capdrop does not edit", ErrRefused, n.Line)
		}
		if dashCol < 0 {
			dashCol = dash - e.lineStart(dash)
			gap = s - dash - 1
		}
		lastEnd = t
		switch {
		case it.keep && it.spelling != "":
			vs, err := e.valueStart(n)
			if err != nil {
				return err
			}
			q := byte(0)
			if n.Kind == yaml.ScalarNode {
				q = quoteOf(n)
			}
			e.add(edit{at: vs, end: t, text: quoted(it.spelling, q)})
			kept++
		case it.keep:
			kept++
		default:
			from := e.lineStart(dash)
			// Comment lines right above the item, at its column, go with it.
			for from > 0 {
				prev := e.lineStart(from - 1)
				if col, ok := e.isCommentLine(prev); ok && col == dashCol {
					from = prev
					continue
				}
				break
			}
			e.add(edit{at: from, end: e.nextLine(t), text: ""})
		}
	}
	if kept == 0 && len(missing) == 0 {
		if !e.restIsComment(colon) {
			return fmt.Errorf("%w: line %d: a list with a tag or anchor", ErrRefused, seq.Line)
		}
		e.add(edit{at: colon, end: colon, text: " []"})
		return nil
	}
	if len(missing) > 0 {
		var b strings.Builder
		for _, word := range missing {
			b.WriteString(spaces(dashCol) + "-" + spaces(gap) + quoted(word, quote) + e.nl)
		}
		e.insertLines(e.nextLine(lastEnd), b.String())
	}
	return nil
}

// rewriteFlowList replaces the items of a flow sequence, keeping its layout:
// one line stays one line with the same separator and bracket spacing; one
// item per line stays one item per line at the same indentation.
func (e *editor) rewriteFlowList(seq *yaml.Node, out []string) error {
	open, err := e.valueStart(seq)
	if err != nil {
		return err
	}
	close, err := e.flowEnd(open)
	if err != nil {
		return err
	}
	// Anything but blanks, commas and line breaks between the items (a
	// comment) would be lost: refuse.
	prev := open + 1
	for _, n := range seq.Content {
		s, err := e.start(n)
		if err != nil {
			return err
		}
		if !onlySeparators(e.b[prev:s]) {
			return fmt.Errorf("%w: line %d: a flow list with comments between its items", ErrRefused, seq.Line)
		}
		if prev, err = e.end(n); err != nil {
			return err
		}
	}
	if !onlySeparators(e.b[prev : close-1]) {
		return fmt.Errorf("%w: line %d: a flow list with comments between its items", ErrRefused, seq.Line)
	}
	if len(seq.Content) > 0 && len(out) > 0 {
		first, _ := e.start(seq.Content[0])
		last, _ := e.end(seq.Content[len(seq.Content)-1])
		if e.line(first) > e.line(open) {
			// One item per line.
			ind := first - e.lineStart(first)
			e.add(edit{at: first, end: last, text: strings.Join(out, ","+e.nl+spaces(ind))})
			return nil
		}
		if e.line(last) == e.line(open) {
			sep := ", "
			if len(seq.Content) > 1 {
				s1, _ := e.end(seq.Content[0])
				s2, _ := e.start(seq.Content[1])
				sep = string(e.b[s1:s2])
			}
			e.add(edit{at: first, end: last, text: strings.Join(out, sep)})
			return nil
		}
	}
	e.add(edit{at: open, end: close, text: "[" + strings.Join(out, ", ") + "]"})
	return nil
}

func onlySeparators(b []byte) bool {
	for i := range b {
		if !strings.ContainsRune(" \t\r\n,", rune(b[i])) {
			return false
		}
	}
	return true
}
