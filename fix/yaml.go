package fix

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// yamlTarget is the mapping of the container being fixed in a YAML or JSON
// file: a compose service, a Kubernetes container, an OCI config.
type yamlTarget struct {
	doc  int
	path []any // keys and indexes from the document's top to the container
	// node is the container's mapping; alias is set when the file reaches it
	// through an alias (its text is shared with another place).
	node, alias *yaml.Node
	key         *yaml.Node // a compose service's name
	name        string     // for messages: "service web", "Deployment/web container app"
}

// editYAML works out the edits for a target in a YAML or JSON file.
func editYAML(src []byte, t *target, opts Options) (*editResult, error) {
	s, err := parseStream(src, t.json)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInput, err)
	}
	yt, err := s.locate(t)
	if err != nil {
		return nil, err
	}
	if err := s.index(s.docs[yt.doc], 0, true); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInput, err)
	}
	ed := &editor{stream: s, st: detectStyle(s, yt.node)}
	var notes []string
	var keys func(*yaml.Node) // removes the capability settings from a container
	switch t.format {
	case Compose:
		ed.st.flowLists = true
		learnCapStyle(ed, yt.node, nil, []string{"cap_drop", "cap_add"})
		notes, err = ed.fixCompose(yt, t.w, opts)
		keys = func(m *yaml.Node) {
			drop(m, "cap_drop", "cap_add")
			if m.Tag == "!!null" || m.Kind == yaml.MappingNode && len(m.Content) == 0 {
				// A service of defaults: "web:", "web: ~" or "web: {}".
				*m = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}
			}
		}
	case Kubernetes:
		learnCapStyle(ed, yt.node, []string{"securityContext", "capabilities"}, []string{"drop", "add"})
		notes, err = ed.fixKube(yt, t.w, opts)
		_, hadAPE := lookup(yt.node, "securityContext")
		hadAPE = hadAPE && t.w.AllowPrivilegeEscalation != nil
		keys = func(m *yaml.Node) {
			sc := own(m, "securityContext")
			drop(sc, "capabilities")
			if !hadAPE {
				drop(sc, "allowPrivilegeEscalation")
			}
			if sc != nil && (sc.Tag == "!!null" || sc.Kind == yaml.MappingNode && len(sc.Content) == 0) {
				drop(m, "securityContext")
			}
		}
	case OCI:
		ed.st.flowLists = true
		notes, err = ed.fixOCI(yt, t.w, opts)
		keys = func(m *yaml.Node) { drop(resolve(own(m, "process")), "capabilities") }
	}
	if err != nil {
		return nil, err
	}
	return &editResult{edits: ed.edits, notes: notes, check: func(out []byte) error {
		return checkYAML(src, out, t.json, yt, keys)
	}}, nil
}

// locate finds the target's mapping at the position source gave it: the
// compose service's key, the Kubernetes container's mapping, the OCI
// config's top object.
func (s *stream) locate(t *target) (*yamlTarget, error) {
	p := t.w.Pos
	var found *yaml.Node
	var doc int
	for di, d := range s.docs {
		s.walk(d, 0, func(n *yaml.Node) bool {
			if found != nil || n.Line != p.Line || n.Column != p.Col {
				return found == nil
			}
			parent := s.parent[n]
			switch {
			case t.format == Compose && n.Kind == yaml.ScalarNode && parent != nil && parent.Kind == yaml.MappingNode && isKeyOf(parent, n):
				found, doc = n, di
			case t.format != Compose && n.Kind == yaml.MappingNode:
				found, doc = n, di
			}
			return found == nil
		})
	}
	if found == nil {
		return nil, fmt.Errorf("%w at line %d column %d (%s)", errPosition, p.Line, p.Col, t.name)
	}
	yt := &yamlTarget{doc: doc, node: found, name: t.name}
	if t.format == Compose && found.Tag != "!!str" {
		return nil, fmt.Errorf("%w: line %d: the service name %s is not a string to YAML (it reads as %s): quote it first", ErrRefused, found.Line, found.Value, strings.TrimPrefix(found.Tag, "!!"))
	}
	if t.format == Compose {
		yt.key = found
		m := s.parent[found]
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i] == found {
				yt.node = m.Content[i+1]
			}
		}
		if yt.node.Kind == yaml.AliasNode {
			yt.alias = yt.node
		}
		yt.node = resolve(yt.node)
	}
	yt.path = s.pathTo(yt.node)
	if yt.alias != nil {
		yt.path = s.pathTo(yt.alias)
	}
	return yt, nil
}

func isKeyOf(m, k *yaml.Node) bool {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i] == k {
			return true
		}
	}
	return false
}

// walk visits n and what it holds (not following aliases) while visit says
// to go on.
func (s *stream) walk(n *yaml.Node, depth int, visit func(*yaml.Node) bool) bool {
	if depth > maxDepth || !visit(n) {
		return false
	}
	for _, c := range n.Content {
		if !s.walk(c, depth+1, visit) {
			return false
		}
	}
	return true
}

// pathTo returns the keys and indexes that lead from n's document to n.
func (s *stream) pathTo(n *yaml.Node) []any {
	var path []any
	for c := n; ; {
		p := s.parent[c]
		if p == nil || p.Kind == yaml.DocumentNode {
			break
		}
		switch p.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(p.Content); i += 2 {
				if p.Content[i+1] == c {
					path = append(path, p.Content[i].Value)
				}
			}
		case yaml.SequenceNode:
			for i, x := range p.Content {
				if x == c {
					path = append(path, i)
				}
			}
		}
		c = p
	}
	slices.Reverse(path)
	return path
}

// learnCapStyle makes new capability lists look like the file's own: the
// target's lists (under the mapping reached through via) first, then the
// first such list anywhere in the file. Only a mapping's own keys count, so
// the search costs one visit per node however much the file merges.
func learnCapStyle(ed *editor, m *yaml.Node, via, keys []string) {
	if learnFrom(ed, m, via, keys) {
		return
	}
	for _, d := range ed.docs {
		done := false
		ed.walk(d, 0, func(n *yaml.Node) bool {
			done = n.Kind == yaml.MappingNode && learnFrom(ed, n, via, keys)
			return !done
		})
		if done {
			return
		}
	}
}

func learnFrom(ed *editor, m *yaml.Node, via, keys []string) bool {
	for _, k := range via {
		m = resolve(own(m, k))
	}
	for _, k := range keys {
		if l := resolve(own(m, k)); l != nil && l.Kind == yaml.SequenceNode {
			ed.st.learnList(l)
			return true
		}
	}
	return false
}

// setList makes the list under key in mapping m hold w: edited in place when
// m has its own list, replaced when m's value is an alias or not a list,
// and queued for insertion when m has no such key (or has it only through
// a merge key, which the new key then overrides).
func (ed *editor) setList(m *yaml.Node, e entry, ok bool, key string, w words, insert *[]kv, notes *[]string) error {
	if !ok || !e.own {
		if ok {
			*notes = append(*notes, fmt.Sprintf("%s came from a << merge key (line %d); it now has its own %s, which overrides the merged one", key, e.key.Line, key))
		}
		*insert = append(*insert, kv{key, w.want})
		return nil
	}
	v := e.value
	if v.Kind == yaml.SequenceNode {
		if a := ed.sharedBelow(v); a != nil {
			return ed.sharedError(key, a)
		}
		colon, err := ed.colonEnd(e.key)
		if err != nil {
			return err
		}
		return ed.editList(v, colon, w)
	}
	if v.Kind == yaml.AliasNode {
		*notes = append(*notes, fmt.Sprintf("%s was the alias *%s (line %d); it now has its own list and the anchor is left as it was", key, v.Value, v.Line))
	} else if a := ed.sharedBelow(v); a != nil {
		return ed.sharedError(key, a)
	}
	return ed.setValue(m, e.key, v, w.want)
}
