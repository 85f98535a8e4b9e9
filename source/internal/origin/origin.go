// Package origin maps the nodes of a rendered document (Helm's output, a
// Kustomize build) back to the files that wrote them, so that a finding
// points at the template, values file, base or patch a person edits, not at
// a line of output nobody sees.
//
// Nothing records where a rendered value came from, so the mapping is a
// search, best first: files parsed as YAML (values files, Kustomize bases
// and patches) are matched by the value and the keys above it (with
// container names: "containers[app]/securityContext/capabilities/add"), the
// longest matching chain of keys winning; templates, which are not YAML,
// are searched as text for the value on a line with its key. A node that
// matches nothing takes the position of its parent.
package origin

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/capdrop/capdrop/workload"
)

// Source is a file that may have written part of a rendered document.
type Source struct {
	Path string
	Data []byte
	// Template is true for a file that is not YAML until rendered (a Helm
	// template): it is searched as text. A YAML source that is a JSON 6902
	// patch (a list of operations) has the values it adds indexed under
	// their path.
	Template bool
	// Base is true for the file an object was defined in (a Kustomize
	// resource): it is searched first for containers and other mappings,
	// and last for values, which patches override.
	Base bool
	// Emits, for a template, reports whether the text at line (1-based)
	// and byte column col (0-based), n bytes long, is written into the
	// rendered document (helm.Chart.Emits). A value found both in a
	// template's text and in a YAML source (a values file) is placed in
	// the template only when the template's text was written out, so that
	// a default in a branch not taken ({{ else }}) does not take the place
	// of the values file that really set it. Nil: always.
	Emits func(line, col, n int) bool
}

// Locator finds where nodes came from, among its sources in order of
// preference.
type Locator struct {
	sources []*source
}

type source struct {
	path     string
	template bool
	base     bool
	emits    func(line, col, n int) bool
	lines    [][]byte // template text, by line
	entries  map[string][]entry
	cursor   int // template line after the last match, to keep document order
}

// entry is a scalar (or a mapping, with an empty value) of a YAML source.
type entry struct {
	chain []string
	pos   workload.Position
}

// New indexes sources; the order is the order of preference.
func New(sources []Source) *Locator {
	l := &Locator{}
	for _, s := range sources {
		src := &source{path: s.Path, template: s.Template, base: s.Base, emits: s.Emits, entries: map[string][]entry{}}
		if s.Template {
			src.lines = bytes.Split(s.Data, []byte("\n"))
		} else {
			src.index(s.Data)
		}
		l.sources = append(l.sources, src)
	}
	return l
}

// budget bounds the nodes indexed per source file and mapped per document.
const budget = 1 << 18

func (s *source) index(data []byte) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	n := 0
	for docs := 0; docs < 1000; docs++ {
		var doc yaml.Node
		if err := decode(dec, &doc); err != nil || doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
			return
		}
		root := doc.Content[0]
		if root.Kind == yaml.SequenceNode && field(first(root), "op") != nil {
			for _, op := range root.Content {
				path, value := field(op, "path"), field(op, "value")
				if path == nil || value == nil {
					continue
				}
				var chain []string
				for _, p := range strings.Split(strings.Trim(path.Value, "/"), "/") {
					switch {
					case p == "" || p == "-":
					case strings.Trim(p, "0123456789") == "" && len(chain) > 0:
						chain[len(chain)-1] += "[#" + p + "]" // an index into the list above
					default:
						chain = append(chain, strings.ReplaceAll(strings.ReplaceAll(p, "~1", "/"), "~0", "~"))
					}
				}
				s.walk(value, chain, &n)
			}
			continue
		}
		s.walk(root, nil, &n)
	}
}

// decode reads one document, turning a parser panic into an error.
func decode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errPanic
		}
	}()
	return dec.Decode(n)
}

type panicError struct{}

func (panicError) Error() string { return "yaml parser failure" }

var errPanic error = panicError{}

func first(n *yaml.Node) *yaml.Node {
	if len(n.Content) == 0 {
		return nil
	}
	return n.Content[0]
}

func field(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func (s *source) walk(n *yaml.Node, chain []string, count *int) {
	if n == nil || *count > budget {
		return
	}
	*count++
	pos := workload.Position{File: s.path, Line: n.Line, Col: n.Column}
	switch n.Kind {
	case yaml.ScalarNode:
		s.add(chain, n.Value, pos)
	case yaml.MappingNode:
		s.add(chain, "", pos)
		for i := 0; i+1 < len(n.Content); i += 2 {
			s.walk(n.Content[i+1], append(chain[:len(chain):len(chain)], n.Content[i].Value), count)
		}
	case yaml.SequenceNode:
		for i, it := range n.Content {
			s.walk(it, item(chain, it, i), count)
		}
	}
}

// item is the chain of a list item: the list's key with the item's name
// (containers, volumes, env have one) and index, "containers[app#0]".
func item(chain []string, it *yaml.Node, i int) []string {
	if len(chain) == 0 {
		return chain
	}
	name := ""
	if n := field(it, "name"); n != nil {
		name = n.Value
	}
	return append(chain[:len(chain)-1:len(chain)-1], fmt.Sprintf("%s[%s#%d]", chain[len(chain)-1], name, i))
}

func (s *source) add(chain []string, value string, pos workload.Position) {
	if len(chain) == 0 {
		return
	}
	k := key(chain[len(chain)-1], value)
	s.entries[k] = append(s.entries[k], entry{chain: chain, pos: pos})
}

// key indexes an entry by its last key (without a container name) and
// value.
func key(last, value string) string {
	if i := strings.IndexByte(last, '['); i >= 0 {
		last = last[:i]
	}
	return last + "\x00" + value
}

// Map returns the origin of every node of a rendered document. fallback
// is where nodes with no better place are (the template, the base file).
func (l *Locator) Map(root *yaml.Node, fallback workload.Position) map[*yaml.Node]workload.Position {
	out := map[*yaml.Node]workload.Position{}
	for _, s := range l.sources {
		s.cursor = 0
	}
	n := 0
	l.walk(root, nil, fallback, out, &n)
	return out
}

func (l *Locator) walk(n *yaml.Node, chain []string, parent workload.Position, out map[*yaml.Node]workload.Position, count *int) {
	if n == nil || *count > budget {
		return
	}
	*count++
	value := ""
	if n.Kind == yaml.ScalarNode {
		value = n.Value
	}
	pos, ok := l.find(chain, value, n.Kind)
	if !ok {
		pos = parent
	}
	out[n] = pos
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			out[k] = pos
			l.walk(n.Content[i+1], append(chain[:len(chain):len(chain)], k.Value), pos, out, count)
		}
	case yaml.SequenceNode:
		for i, it := range n.Content {
			l.walk(it, item(chain, it, i), pos, out, count)
		}
	}
}

// find looks for the node in the sources, in order: the first template
// whose text wrote it, else the best YAML source.
func (l *Locator) find(chain []string, value string, kind yaml.Kind) (workload.Position, bool) {
	if len(chain) == 0 || kind == yaml.SequenceNode {
		return workload.Position{}, false
	}
	last := chain[len(chain)-1]
	yamlPos, inYAML := l.findYAML(chain, last, value, kind)
	// Templates first, in order: the text that wrote the node. When a
	// YAML source (a values file) also has it, the tie goes to the
	// template only if that text is really written out.
	for _, s := range l.sources {
		if !s.template {
			continue
		}
		cursor := s.cursor
		p, col, ok := s.search(last, value, kind)
		if !ok {
			continue
		}
		if inYAML && kind == yaml.ScalarNode && s.emits != nil && !s.emits(p.Line, col, len(value)) {
			s.cursor = cursor
			continue
		}
		return p, true
	}
	return yamlPos, inYAML
}

// findYAML looks for the node in the YAML sources: the longest chain of
// matching keys wins. On a tie, mappings (a container, a securityContext)
// are where the object's own file defines them, values where a patch last
// set them.
func (l *Locator) findYAML(chain []string, last, value string, kind yaml.Kind) (workload.Position, bool) {
	wantBase := kind == yaml.MappingNode
	// A values file keys a container's settings by a name like the
	// container's (volumePermissions for volume-permissions): that entry
	// wins a tie.
	owner := ""
	for i := len(chain) - 1; i >= 0 && owner == ""; i-- {
		_, owner, _ = split(chain[i])
		owner = squash(owner)
	}
	var best workload.Position
	score, rank := 0, 0
	for _, s := range l.sources {
		if s.template {
			continue
		}
		r := 1
		if s.base == wantBase {
			r = 2
		}
		for _, e := range s.entries[key(last, value)] {
			sc := suffix(e.chain, chain)
			if sc == 0 {
				continue
			}
			sc *= 2
			if owner != "" && slices.ContainsFunc(e.chain, func(k string) bool { return squash(k) == owner }) {
				sc++
			}
			if sc > score || (sc == score && r > rank) {
				best, score, rank = e.pos, sc, r
			}
		}
	}
	return best, score > 0
}

// squash lower-cases a name and keeps its letters and digits, so that
// volume-permissions and volumePermissions compare equal.
func squash(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// suffix counts the keys at the ends of a and b that are equal. List
// items match by name when both have one, else by index when both have
// one ("containers[app#0]" and "containers[#0]" from a JSON 6902 path), else
// by the list's key alone.
func suffix(a, b []string) int {
	n := 0
	for i, j := len(a)-1, len(b)-1; i >= 0 && j >= 0; i, j = i-1, j-1 {
		if a[i] != b[j] && !sameItem(a[i], b[j]) {
			break
		}
		n++
	}
	return n
}

func sameItem(x, y string) bool {
	kx, nx, ix := split(x)
	ky, ny, iy := split(y)
	switch {
	case kx != ky:
		return false
	case nx != "" && ny != "":
		return nx == ny
	case ix != "" && iy != "":
		return ix == iy
	}
	return true
}

// split reads "key[name#index]".
func split(e string) (key, name, index string) {
	k, rest, ok := strings.Cut(e, "[")
	if !ok {
		return e, "", ""
	}
	name, index, _ = strings.Cut(strings.TrimSuffix(rest, "]"), "#")
	return k, name, index
}

// search finds a node in a template's text: a line holding its key and
// value ("add: [NET_RAW]", "runAsUser: 0"), a list item ("- NET_RAW"), or
// for a mapping its key ("securityContext:") or, for a container, its name
// line ("- name: app"). It prefers lines after the last match, as rendered
// output follows the template's order.
// It returns the position and the byte column (0-based) of the match.
func (s *source) search(last, value string, kind yaml.Kind) (workload.Position, int, bool) {
	last, name, _ := split(last)
	var match func(line []byte) int
	switch {
	case kind == yaml.MappingNode && name != "":
		match = func(line []byte) int {
			t := bytes.TrimLeft(line, " \t")
			ind := len(line) - len(t)
			t = bytes.TrimLeft(bytes.TrimPrefix(t, []byte("-")), " \t")
			v, ok := bytes.CutPrefix(t, []byte("name:"))
			if ok && string(bytes.Trim(bytes.TrimSpace(v), `"'`)) == name {
				return ind
			}
			return -1
		}
	case kind == yaml.MappingNode:
		match = func(line []byte) int { return keyAt(line, last) }
	case value == "" || strings.Contains(value, "\n"):
		return workload.Position{}, 0, false
	default:
		match = func(line []byte) int {
			col := wordAt(line, value)
			if col < 0 {
				return -1
			}
			t := bytes.TrimLeft(line, " \t")
			if keyAt(line, last) >= 0 || bytes.HasPrefix(t, []byte("- ")) || bytes.IndexByte(line, '[') >= 0 {
				return col
			}
			return -1
		}
	}
	for pass := 0; pass < 2; pass++ {
		from, to := s.cursor, len(s.lines)
		if pass == 1 {
			from, to = 0, s.cursor
		}
		for i := from; i < to; i++ {
			if col := match(s.lines[i]); col >= 0 {
				if pass == 0 {
					s.cursor = i
				}
				return workload.Position{File: s.path, Line: i + 1, Col: utf8.RuneCount(s.lines[i][:col]) + 1}, col, true
			}
		}
	}
	return workload.Position{}, 0, false
}

// keyAt returns the column (in bytes) of "key:" in line, the key standing
// alone (after a space, "{", ",", "-" or the start), or -1.
func keyAt(line []byte, key string) int {
	for off := 0; ; {
		i := bytes.Index(line[off:], []byte(key))
		if i < 0 {
			return -1
		}
		i += off
		j := i + len(key)
		for j < len(line) && (line[j] == ' ' || line[j] == '\t') {
			j++
		}
		if (i == 0 || bytes.IndexByte([]byte(" \t{,-\"'"), line[i-1]) >= 0) && j < len(line) && (line[j] == ':' || ((line[j] == '"' || line[j] == '\'') && j+1 < len(line) && line[j+1] == ':')) {
			return i
		}
		off = i + 1
	}
}

// wordAt returns the column of value in line as a whole word (not part of
// a longer name), or -1.
func wordAt(line []byte, value string) int {
	for off := 0; ; {
		i := bytes.Index(line[off:], []byte(value))
		if i < 0 {
			return -1
		}
		i += off
		j := i + len(value)
		if (i == 0 || !wordByte(line[i-1])) && (j == len(line) || !wordByte(line[j])) {
			return i
		}
		off = i + 1
	}
}

func wordByte(b byte) bool {
	return b == '_' || b == '.' || b == '-' || b == '/' || (b >= '0' && b <= '9') || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z')
}
