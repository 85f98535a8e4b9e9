package fix

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"slices"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// checkYAML proves a rewrite changed nothing but the target's capability
// settings: out has as many documents as the original; every byte outside
// the target's document is the original's (a document with a syntax error
// included); every anchor that an alias uses holds the same tree, so no
// other user of shared YAML changed; and the target's document is the same
// tree (kinds, tags, values, anchors and aliases, in order; layout and
// comments aside) once strip has taken the settings fix writes out of the
// target on both sides. That the settings now give exactly the set is the
// re-audit's to prove (see reaudit). Trees are compared by hashes computed
// once per node, so aliases are never expanded.
func checkYAML(orig, out []byte, json bool, t *yamlTarget, strip func(*yaml.Node)) error {
	before, err := parseStream(orig, json)
	if err != nil {
		return fmt.Errorf("the original does not parse: %v", err)
	}
	after, err := parseStream(out, json)
	if err != nil {
		return fmt.Errorf("the result does not parse: %v", err)
	}
	if len(before.docs) != len(after.docs) {
		return fmt.Errorf("the result has %d documents, the original %d", len(after.docs), len(before.docs))
	}
	span := before.spans[t.doc]
	tail := len(orig) - span[1]
	if len(out) < span[0]+tail || !bytes.Equal(out[:span[0]], orig[:span[0]]) || !bytes.Equal(out[len(out)-tail:], orig[span[1]:]) {
		return fmt.Errorf("bytes outside document %d changed", t.doc+1)
	}
	hb, ha := hasher{}, hasher{}
	now := after.anchors(after.docs[t.doc])
	for k, n := range before.anchors(before.docs[t.doc]) {
		if len(before.aliased[n]) > 0 && (now[k] == nil || hb.sum(n) != ha.sum(now[k])) {
			return fmt.Errorf("anchor &%s, used elsewhere, changed", k.name)
		}
	}
	want, got := follow(before.docs[t.doc], t.path), follow(after.docs[t.doc], t.path)
	if want == nil {
		return fmt.Errorf("%s not found in the original", t.name)
	}
	if got == nil {
		return fmt.Errorf("%s not found in the result", t.name)
	}
	strip(want)
	strip(got)
	if (&hasher{}).sum(before.docs[t.doc]) != (&hasher{}).sum(after.docs[t.doc]) {
		return fmt.Errorf("%s: the result differs from the intended change", t.name)
	}
	return nil
}

// hasher gives each node a hash of what it means to YAML: kind, tag,
// value, anchor and its content's hashes, but not its layout, position or
// comments. An alias hashes as its name.
type hasher map[*yaml.Node][sha256.Size]byte

func (h hasher) sum(n *yaml.Node) [sha256.Size]byte {
	if s, ok := h[n]; ok {
		return s
	}
	d := sha256.New()
	d.Write([]byte(strconv.Itoa(int(n.Kind)) + "\x00" + n.Tag + "\x00" + n.Anchor + "\x00" + n.Value + "\x00"))
	for _, c := range n.Content {
		s := h.sum(c)
		d.Write(s[:])
	}
	var s [sha256.Size]byte
	d.Sum(s[:0])
	h[n] = s
	return s
}

// anchor names an anchor by its name and how many anchors of that name
// come before it.
type anchor struct {
	name string
	nth  int
}

// anchors returns every anchored node of a document (an alias refers to
// an anchor of its own document).
func (s *stream) anchors(doc *yaml.Node) map[anchor]*yaml.Node {
	out := map[anchor]*yaml.Node{}
	count := map[string]int{}
	s.walk(doc, 0, func(n *yaml.Node) bool {
		if n.Anchor != "" {
			out[anchor{n.Anchor, count[n.Anchor]}] = n
			count[n.Anchor]++
		}
		return true
	})
	return out
}

// follow returns the node at path (own keys and indexes) below doc.
func follow(doc *yaml.Node, path []any) *yaml.Node {
	n := rootOf(doc)
	for _, p := range path {
		if n == nil {
			return nil
		}
		switch k := p.(type) {
		case string:
			n = own(n, k)
		case int:
			if n.Kind != yaml.SequenceNode || k >= len(n.Content) {
				return nil
			}
			n = n.Content[k]
		}
	}
	return n
}

// own returns the value of mapping m's own key (not one merged in).
func own(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := m.Content[i]; k.Kind == yaml.ScalarNode && k.Value == key && !isMergeKey(k) {
			return m.Content[i+1]
		}
	}
	return nil
}

// drop removes mapping m's own keys.
func drop(m *yaml.Node, keys ...string) {
	if m == nil || m.Kind != yaml.MappingNode {
		return
	}
	var c []*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := m.Content[i]; isMergeKey(k) || !slices.Contains(keys, k.Value) {
			c = append(c, k, m.Content[i+1])
		}
	}
	m.Content = c
}
