package fix

import (
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// style is how a file writes YAML, learnt from the file itself, so that
// inserted lines look like their neighbours.
type style struct {
	nl        string // line break
	indent    int    // spaces a nested mapping is indented by
	seqIndent int    // spaces a block sequence's "-" is indented by under its key (0: at the key's column)
	dashGap   int    // spaces after "-"
	flowLists bool   // write new lists as [A, B] rather than as "- A" lines
	quote     byte   // quote new list items with this: 0, '\'' or '"'
	json      bool   // the document is JSON: quote keys, flow everywhere
}

// detectStyle learns how the file lays out YAML by voting over its nodes:
// first around focus (the container being fixed and the list holding it),
// since files mix styles and the neighbours matter most, then over every
// document. Defaults: two-space indent, sequences indented under their key,
// one space after the dash.
func detectStyle(s *stream, focus *yaml.Node) style {
	st := style{nl: s.nl, indent: 2, dashGap: 1}
	global, local := newVotes(), newVotes()
	for _, d := range s.docs {
		global.walk(d, 0)
		if r := rootOf(d); r != nil && r.Kind == yaml.MappingNode && r.Style&yaml.FlowStyle != 0 {
			if len(r.Content) == 0 || r.Content[0].Style&yaml.DoubleQuotedStyle != 0 {
				st.json = true
			}
		}
	}
	if focus != nil {
		local.walk(focus, 0)
		if seq := s.parent[focus]; seq != nil && seq.Kind == yaml.SequenceNode {
			local.seqItems(seq)
			if m := s.parent[seq]; m != nil && m.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(m.Content); i += 2 {
					if m.Content[i+1] == seq {
						local.entry(m.Content[i], seq)
					}
				}
			}
		}
	}
	pick := func(field string, def int) int {
		if v, ok := mostVotes(local[field]); ok {
			return v
		}
		if v, ok := mostVotes(global[field]); ok {
			return v
		}
		return def
	}
	st.indent = pick("indent", 2)
	st.seqIndent = pick("seq", st.indent)
	st.dashGap = pick("gap", 1)
	if st.json {
		st.quote = '"'
		st.flowLists = true
	}
	return st
}

// votes counts layout observations: "indent" (a nested mapping's offset
// from its key), "seq" (a block sequence's dash offset from its key) and
// "gap" (spaces after a dash).
type votes map[string]map[int]int

func newVotes() votes {
	return votes{"indent": {}, "seq": {}, "gap": {}}
}

func (v votes) walk(n *yaml.Node, depth int) {
	if depth > maxDepth {
		return
	}
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			v.entry(n.Content[i], n.Content[i+1])
		}
	}
	if n.Kind == yaml.SequenceNode {
		v.seqItems(n)
	}
	for _, c := range n.Content {
		v.walk(c, depth+1)
	}
}

// entry votes on how the value of key k is laid out under it.
func (v votes) entry(k, val *yaml.Node) {
	if val.Anchor != "" || val.Style&yaml.TaggedStyle != 0 || len(val.Content) == 0 {
		return
	}
	switch {
	case val.Kind == yaml.MappingNode:
		// Block in block, or JSON laid out over lines.
		if d := val.Content[0].Column - k.Column; d > 0 && val.Content[0].Line > k.Line {
			v["indent"][d]++
		}
	case val.Kind == yaml.SequenceNode && val.Style&yaml.FlowStyle == 0:
		if d := val.Column - k.Column; d >= 0 && val.Line > k.Line {
			v["seq"][d]++
		}
	}
}

func (v votes) seqItems(n *yaml.Node) {
	if n.Style&yaml.FlowStyle != 0 || n.Anchor != "" {
		return
	}
	for _, it := range n.Content {
		if d := it.Column - n.Column - 1; d >= 1 && d < 8 && it.Line == n.Line {
			v["gap"][d]++
			break
		}
	}
}

// mostVotes returns the value with the most votes, the smaller on a tie.
func mostVotes(votes map[int]int) (int, bool) {
	best, n := 0, 0
	for v, c := range votes {
		if c > n || c == n && v < best {
			best, n = v, c
		}
	}
	return best, n > 0
}

// rootOf returns a document's top node.
func rootOf(doc *yaml.Node) *yaml.Node {
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			return nil
		}
		return doc.Content[0]
	}
	return doc
}

// learnList makes new list items look like an existing capability list.
func (st *style) learnList(seq *yaml.Node) {
	seq = resolve(seq)
	if seq == nil || seq.Kind != yaml.SequenceNode || st.json {
		return
	}
	st.flowLists = seq.Style&yaml.FlowStyle != 0
	st.quote = 0
	for _, it := range seq.Content {
		if it.Kind == yaml.ScalarNode {
			st.quote = quoteOf(it)
			break
		}
	}
}

func quoteOf(n *yaml.Node) byte {
	switch n.Style &^ yaml.TaggedStyle {
	case yaml.DoubleQuotedStyle:
		return '"'
	case yaml.SingleQuotedStyle:
		return '\''
	}
	return 0
}

// quoted writes a capability word (letters, digits, underscores) in a
// quoting style.
func quoted(word string, q byte) string {
	if q == 0 {
		return word
	}
	return string(q) + word + string(q)
}

func spaces(n int) string { return strings.Repeat(" ", n) }

// kv is an entry to write: its value is a list of words, a bool, or a
// nested mapping.
type kv struct {
	key string
	val any // []string, bool or []kv
}

func (st style) key(k string) string {
	if st.json {
		return `"` + k + `"`
	}
	return k
}

// flowList writes words as [A, B].
func (st style) flowList(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = quoted(w, st.quote)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// inline writes a value on one line.
func (st style) inline(v any) string {
	switch v := v.(type) {
	case bool:
		return strconv.FormatBool(v)
	case []string:
		return st.flowList(v)
	case []kv:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = st.key(e.key) + ": " + st.inline(e.val)
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return ""
}

// block writes entries as block YAML lines at column col, each line ending
// in the file's line break.
func (st style) block(col int, entries []kv) string {
	var b strings.Builder
	for _, e := range entries {
		b.WriteString(spaces(col) + st.key(e.key) + ":")
		b.WriteString(st.blockValue(col, e.val))
	}
	return b.String()
}

// blockValue writes what follows "key:" for a value under a key at column
// col: " value" and a line break, or a line break and indented lines.
func (st style) blockValue(col int, v any) string {
	switch v := v.(type) {
	case []string:
		if st.flowLists || len(v) == 0 {
			return " " + st.flowList(v) + st.nl
		}
		var b strings.Builder
		b.WriteString(st.nl)
		for _, w := range v {
			b.WriteString(spaces(col+st.seqIndent) + "-" + spaces(st.dashGap) + quoted(w, st.quote) + st.nl)
		}
		return b.String()
	case []kv:
		return st.nl + st.block(col+st.indent, v)
	}
	return " " + st.inline(v) + st.nl
}

// pretty writes entries as multi-line flow (JSON) at column col, separated
// by commas, without a final line break.
func (st style) pretty(col int, entries []kv) string {
	lines := make([]string, len(entries))
	for i, e := range entries {
		s := spaces(col) + st.key(e.key) + ": "
		if m, ok := e.val.([]kv); ok {
			s += "{" + st.nl + st.pretty(col+st.indent, m) + st.nl + spaces(col) + "}"
		} else {
			s += st.inline(e.val)
		}
		lines[i] = s
	}
	return strings.Join(lines, ","+st.nl)
}
