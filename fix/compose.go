package fix

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/workload"
)

// editResult is what a rewriter works out: the edits, notes for the user,
// and a check that the result changed nothing but the capability settings.
type editResult struct {
	edits []edit
	notes []string
	check func(out []byte) error
}

// edits dispatches to the rewriter of the target's format.
func edits(path string, src []byte, t *target, opts Options) (*editResult, error) {
	switch t.format {
	case Compose, Kubernetes, OCI:
		return editYAML(src, t, opts)
	case Quadlet:
		return editQuadlet(src, t, opts)
	}
	return editRunLine(path, src, t, opts)
}

// addWords are the words fix wants in an add list of runtime rt: an item
// stays as written when the runtime reads it as a wanted capability; one
// that means a wanted capability in the usual reading but not to the
// runtime (CAP_SYS_TIME in a Kubernetes manifest, which containerd turns
// into CAP_CAP_SYS_TIME) is corrected in place.
func addWords(rt workload.Runtime, set capset.Set) words {
	return words{want: set.ShortNames(), classify: func(word string) (string, string) {
		if c, ok := reads(rt, word); ok {
			return c.Name(), word
		}
		if c, ok := lenient(word); ok {
			return c.Name(), c.Short()
		}
		return "", word
	}}
}

// dropWords are the words fix wants in a drop list: ALL, spelled so that
// the runtime reads it as ALL (literally "ALL" where literal is set: the only
// spelling Pod Security's restricted level accepts).
func dropWords(rt workload.Runtime, literal bool) words {
	return words{want: []string{"ALL"}, classify: func(word string) (string, string) {
		if (!literal || word == "ALL") && dropsAll(rt, word) {
			return "ALL", word
		}
		if strings.EqualFold(word, "ALL") || strings.EqualFold(word, "CAP_ALL") {
			return "ALL", "ALL"
		}
		if c, ok := lenient(word); ok {
			return c.Name(), word
		}
		return "", word
	}}
}

// dropRight reports whether a drop list already drops ALL the way the
// dialect writes it, and holds nothing else but capabilities the runtime
// reads and the set leaves out (dropping a wanted one would take it away
// where drops win, and is an error for Podman).
func dropRight(rt workload.Runtime, literal bool, v *yaml.Node, set capset.Set) bool {
	ws, ok := listWords(v)
	return ok && wordsDropRight(rt, literal, ws, set)
}

func wordsDropRight(rt workload.Runtime, literal bool, ws []string, set capset.Set) bool {
	d := dropWords(rt, literal)
	all := false
	for _, w := range ws {
		if id, spelling := d.classify(w); id == "ALL" {
			if spelling != w {
				return false
			}
			all = true
			continue
		}
		if c, ok := reads(rt, w); !ok || set.Has(c) {
			return false
		}
	}
	return all
}

// addRight reports whether an add list (nil when absent) already adds
// exactly set, every item read by the runtime as written.
func addRight(rt workload.Runtime, v *yaml.Node, set capset.Set) bool {
	if v == nil {
		return set.IsEmpty()
	}
	ws, ok := listWords(v)
	return ok && wordsAddRight(rt, ws, set)
}

func wordsAddRight(rt workload.Runtime, ws []string, set capset.Set) bool {
	return exactly(ws, set, func(w string) (capset.Cap, bool) { return reads(rt, w) })
}

// exactly reports whether the words name exactly set, every one read by
// read as a capability.
func exactly(ws []string, set capset.Set, read func(string) (capset.Cap, bool)) bool {
	var got capset.Set
	for _, w := range ws {
		c, ok := read(w)
		if !ok {
			return false
		}
		got = got.With(c)
	}
	return got == set
}

// listWords returns the scalar words of a list value, following aliases; ok
// is false when the value is not a list of scalars (or null).
func listWords(v *yaml.Node) (ws []string, ok bool) {
	v = resolve(v)
	if v == nil || isNull(v) {
		return nil, true
	}
	if v.Kind != yaml.SequenceNode {
		return nil, false
	}
	for _, it := range v.Content {
		it = resolve(it)
		if it == nil || it.Kind != yaml.ScalarNode {
			return nil, false
		}
		ws = append(ws, it.Value)
	}
	return ws, true
}

// fixCompose records the edits that make a service drop ALL and add exactly
// opts.Add: its own cap_drop and cap_add, written where they are or added.
func (ed *editor) fixCompose(t *yamlTarget, w workload.Workload, opts Options) ([]string, error) {
	m := t.node
	if t.alias != nil {
		return nil, fmt.Errorf("%w: %s is the alias *%s (line %d), so its settings are shared with &%s: give it its own mapping first",
			ErrRefused, t.name, t.alias.Value, t.alias.Line, t.alias.Value)
	}
	if a := ed.sharedAbove(m); a != nil {
		return nil, ed.sharedError(t.name, a)
	}
	if m.Tag == "!!null" {
		// "web:" with nothing after it: a service of defaults, which
		// now gets settings of its own.
		return nil, ed.setValue(ed.parent[t.key], t.key, m, composeEntries(opts.Add))
	}
	if m.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%w: %s is not a mapping", ErrRefused, t.name)
	}
	rt := w.Runtime
	var notes []string
	drop, dropOK := lookup(m, "cap_drop")
	add, addOK := lookup(m, "cap_add")
	var insert []kv
	after, before := "", ""
	if !dropOK || !dropRight(rt, false, drop.value, opts.Add) {
		if err := ed.setList(m, drop, dropOK, "cap_drop", dropWords(rt, false), &insert, &notes); err != nil {
			return nil, err
		}
	}
	if dropOK && drop.own {
		after = "cap_drop"
	} else if addOK && add.own {
		before = "cap_add"
	}
	var addVal *yaml.Node
	if addOK {
		addVal = add.value
	}
	if !addRight(rt, addVal, opts.Add) && (addOK || !opts.Add.IsEmpty()) {
		if err := ed.setList(m, add, addOK, "cap_add", addWords(rt, opts.Add), &insert, &notes); err != nil {
			return nil, err
		}
	}
	if len(insert) > 0 {
		if err := ed.insertEntries(m, after, before, insert); err != nil {
			return nil, err
		}
	}
	return notes, nil
}
