package fix

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/capdrop/capdrop/source"
	"github.com/capdrop/capdrop/source/textpos"
)

// stream is a parsed YAML stream or JSON text: its documents as the
// sources read them (yaml.Nodes over the original bytes), with what the
// rewriters need to edit those bytes in place.
type stream struct {
	*text
	docs  []*yaml.Node
	spans [][2]int // the byte span of each document's text
	// parent maps each node to the node holding it (without following
	// aliases); aliased holds every anchored node some alias refers to.
	parent  map[*yaml.Node]*yaml.Node
	aliased map[*yaml.Node][]*yaml.Node
}

// maxDepth bounds how deep the rewriters walk; yaml.v3 refuses far deeper
// documents, this keeps recursion modest on hostile input.
const maxDepth = 500

// parseStream reads b the way the sources do (source.Documents): a YAML
// stream document by document, so that a document with a syntax error is
// left out (and left alone); JSON with encoding/json's grammar, which
// yaml.v3 does not accept whole (the "\/" escape).
func parseStream(b []byte, json bool) (*stream, error) {
	f, idx := source.YAML, textpos.NewYAML("", b)
	if json {
		f, idx = source.JSON, textpos.New("", b)
	}
	s := &stream{text: newText(b, idx), parent: map[*yaml.Node]*yaml.Node{}, aliased: map[*yaml.Node][]*yaml.Node{}}
	docs, errs := source.Documents("", b, f)
	if json && len(errs) > 0 {
		return nil, errors.New(strings.TrimPrefix(errs[0].Error(), ":"))
	}
	for _, d := range docs {
		s.docs = append(s.docs, d.Root)
		s.spans = append(s.spans, [2]int{d.Start, d.End})
		if err := s.index(d.Root, 0, false); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// index records n's parents and aliases; with dups, it only checks that no
// mapping has a key twice (compose and kubectl refuse that).
func (s *stream) index(n *yaml.Node, depth int, dups bool) error {
	if depth > maxDepth {
		return fmt.Errorf("line %d: nested more than %d levels deep", n.Line, maxDepth)
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil && !dups {
		s.aliased[n.Alias] = append(s.aliased[n.Alias], n)
	}
	if n.Kind == yaml.MappingNode && dups {
		keys := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; k.Kind == yaml.ScalarNode {
				if l, dup := keys[k.Value]; dup {
					return fmt.Errorf("line %d: mapping key %q already defined at line %d", k.Line, k.Value, l)
				}
				keys[k.Value] = k.Line
			}
		}
	}
	for _, c := range n.Content {
		if !dups {
			s.parent[c] = n
		}
		if err := s.index(c, depth+1, dups); err != nil {
			return err
		}
	}
	return nil
}

// start returns the offset where a node's text begins, including its anchor
// and tag.
func (s *stream) start(n *yaml.Node) (int, error) {
	return s.offset(n.Line, n.Column)
}

// valueStart returns the offset of a node's content after its anchor and
// tag (and any blanks, comments and line breaks between them).
func (s *stream) valueStart(n *yaml.Node) (int, error) {
	p, err := s.start(n)
	if err != nil {
		return 0, err
	}
	if n.Anchor == "" && n.Style&yaml.TaggedStyle == 0 && !strings.HasPrefix(n.Tag, "!") {
		return p, nil
	}
	b := s.b
	for p < len(b) {
		switch {
		case b[p] == '&' || b[p] == '!':
			for p < len(b) && b[p] != ' ' && b[p] != '\t' && breakLen(b, p) == 0 {
				p++
			}
		case b[p] == ' ' || b[p] == '\t':
			p++
		case breakLen(b, p) > 0:
			p += breakLen(b, p)
		case b[p] == '#':
			p = s.lineEnd(p)
		default:
			return p, nil
		}
	}
	return p, nil
}

// errExtent says where a node ends could not be worked out (a block scalar,
// a multi-line plain scalar); callers choose another place or refuse.
var errExtent = fmt.Errorf("%w: capdrop cannot tell where a value ends (a multi-line or block value where it would edit)", ErrRefused)

// isNull reports whether n is an empty value (`key:` with nothing after).
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null" && n.Value == "" && n.Style == 0
}

// end returns the offset just after a node's text.
func (s *stream) end(n *yaml.Node) (int, error) {
	return s.endDepth(n, 0)
}

func (s *stream) endDepth(n *yaml.Node, depth int) (int, error) {
	if depth > maxDepth {
		return 0, errExtent
	}
	if isNull(n) {
		return 0, errExtent
	}
	p, err := s.valueStart(n)
	if err != nil {
		return 0, err
	}
	b := s.b
	if p >= len(b) {
		return 0, errExtent
	}
	switch n.Kind {
	case yaml.AliasNode:
		if b[p] != '*' || !bytes.HasPrefix(b[p+1:], []byte(n.Value)) {
			return 0, fmt.Errorf("%w: alias at line %d", errPosition, n.Line)
		}
		return p + 1 + len(n.Value), nil
	case yaml.ScalarNode:
		return s.scalarEnd(n, p)
	case yaml.SequenceNode, yaml.MappingNode:
		if n.Style&yaml.FlowStyle != 0 {
			return s.flowEnd(p)
		}
		if len(n.Content) == 0 {
			return 0, errExtent
		}
		return s.endDepth(n.Content[len(n.Content)-1], depth+1)
	}
	return 0, errExtent
}

func (s *stream) scalarEnd(n *yaml.Node, p int) (int, error) {
	b := s.b
	switch n.Style &^ yaml.TaggedStyle {
	case yaml.DoubleQuotedStyle:
		if b[p] != '"' {
			return 0, fmt.Errorf("%w: string at line %d", errPosition, n.Line)
		}
		for i := p + 1; i < len(b); i++ {
			switch b[i] {
			case '\\':
				i++
			case '"':
				return i + 1, nil
			}
		}
	case yaml.SingleQuotedStyle:
		if b[p] != '\'' {
			return 0, fmt.Errorf("%w: string at line %d", errPosition, n.Line)
		}
		for i := p + 1; i < len(b); i++ {
			if b[i] == '\'' {
				if i+1 < len(b) && b[i+1] == '\'' {
					i++
					continue
				}
				return i + 1, nil
			}
		}
	case 0:
		v := n.Value
		if v == "" || strings.ContainsAny(v, "\r\n") || !bytes.HasPrefix(b[p:], []byte(v)) {
			return 0, errExtent
		}
		e := p + len(v)
		// A plain scalar ends at a line break, at " #", at ": " or at a flow
		// indicator; anything else means the value went on (folded onto
		// following lines) and the text is not what it seems.
		if e < len(b) && breakLen(b, e) == 0 && !strings.ContainsRune(" \t,]}:", rune(b[e])) {
			return 0, errExtent
		}
		if e < len(b) && (b[e] == ' ' || b[e] == '\t') {
			// Trailing blanks then a continuation line would fold into the
			// value; the value would not equal the text then, except for a
			// comment or the line's end.
			q := e
			for q < len(b) && (b[q] == ' ' || b[q] == '\t') {
				q++
			}
			if q < len(b) && breakLen(b, q) == 0 && !strings.ContainsRune("#,]}:", rune(b[q])) {
				return 0, errExtent
			}
		}
		return e, nil
	}
	return 0, errExtent
}

// flowEnd returns the offset after the bracket closing the flow collection
// opened at p.
func (s *stream) flowEnd(p int) (int, error) {
	b := s.b
	if b[p] != '[' && b[p] != '{' {
		return 0, fmt.Errorf("%w: flow collection at offset %d", errPosition, p)
	}
	depth := 0
	prev := byte('[') // the last significant character: a quote starts a string only after one of [{,:?
	for i := p; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '[' || c == '{':
			depth++
		case c == ']' || c == '}':
			depth--
			if depth == 0 {
				return i + 1, nil
			}
		case (c == '"' || c == '\'') && strings.IndexByte("[{,:?", prev) >= 0:
			j := i + 1
			for ; j < len(b); j++ {
				if c == '"' && b[j] == '\\' {
					j++
					continue
				}
				if b[j] == c {
					if c == '\'' && j+1 < len(b) && b[j+1] == '\'' {
						j++
						continue
					}
					break
				}
			}
			if j >= len(b) {
				return 0, errExtent
			}
			i = j
		case c == '#' && i > 0 && (b[i-1] == ' ' || b[i-1] == '\t' || breakLen(b, i-1) > 0):
			i = s.lineEnd(i) - 1
			continue
		case c == ' ' || c == '\t' || breakLen(b, i) > 0:
			continue
		}
		prev = c
	}
	return 0, errExtent
}

// colonEnd returns the offset just after the ':' that follows a mapping key.
func (s *stream) colonEnd(key *yaml.Node) (int, error) {
	e, err := s.end(key)
	if err != nil {
		return 0, err
	}
	for e < len(s.b) && (s.b[e] == ' ' || s.b[e] == '\t') {
		e++
	}
	if e >= len(s.b) || s.b[e] != ':' {
		return 0, fmt.Errorf("%w: key at line %d", errPosition, key.Line)
	}
	return e + 1, nil
}

// resolve follows an alias to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// entry is one key of a mapping as the YAML merge rules see it: own is
// false when it comes in through a `<<` merge key.
type entry struct {
	key, value *yaml.Node
	own        bool
}

func isMergeKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" && (k.Tag == "!!merge" || k.Style == 0)
}

// lookup finds key in mapping m, own keys first, then those merged in with
// `<<` (earlier merge sources win, as in YAML). Each mapping is searched at
// most once, so merge chains cannot make it slow.
func lookup(m *yaml.Node, key string) (entry, bool) {
	return lookupIn(m, key, map[*yaml.Node]bool{})
}

func lookupIn(m *yaml.Node, key string, seen map[*yaml.Node]bool) (entry, bool) {
	m = resolve(m)
	if m == nil || m.Kind != yaml.MappingNode || seen[m] {
		return entry{}, false
	}
	seen[m] = true
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		if k.Kind == yaml.ScalarNode && k.Value == key && !isMergeKey(k) {
			return entry{k, m.Content[i+1], true}, true
		}
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if !isMergeKey(m.Content[i]) {
			continue
		}
		v := resolve(m.Content[i+1])
		srcs := []*yaml.Node{v}
		if v != nil && v.Kind == yaml.SequenceNode {
			srcs = v.Content
		}
		for _, src := range srcs {
			if e, ok := lookupIn(src, key, seen); ok {
				e.own = false
				return e, true
			}
		}
	}
	return entry{}, false
}

// sharedAbove returns an anchored node that makes changing n's content
// change some other place too: n itself or one of its ancestors is anchored
// and referred to by an alias. It returns nil when n is safe to edit.
func (s *stream) sharedAbove(n *yaml.Node) *yaml.Node {
	for p := n; p != nil; p = s.parent[p] {
		if len(s.aliased[p]) > 0 {
			return p
		}
	}
	return nil
}

// sharedBelow returns an anchored node inside n (or n itself) that an alias
// refers to, so that removing or replacing n would change or break it.
func (s *stream) sharedBelow(n *yaml.Node) *yaml.Node {
	if len(s.aliased[n]) > 0 {
		return n
	}
	return s.sharedInside(n, 0)
}

func (s *stream) sharedInside(n *yaml.Node, depth int) *yaml.Node {
	if depth > maxDepth {
		return n
	}
	for _, c := range n.Content {
		if len(s.aliased[c]) > 0 {
			return c
		}
		if x := s.sharedInside(c, depth+1); x != nil {
			return x
		}
	}
	return nil
}

// sharedError explains why an edit was refused.
func (s *stream) sharedError(what string, anchor *yaml.Node) error {
	users := s.aliased[anchor]
	var lines []string
	for _, u := range users {
		lines = append(lines, fmt.Sprint(u.Line))
	}
	return fmt.Errorf("%w: %s is inside anchor &%s (line %d), which is also used at line %s; editing it would change those too: give the target its own settings first",
		ErrRefused, what, anchor.Anchor, anchor.Line, strings.Join(lines, ", "))
}
