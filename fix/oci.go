package fix

import (
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/merge"
	"github.com/capdrop/capdrop/workload"
)

// ociLists are the five lists of process.capabilities, in the order runc
// spec writes them.
var ociLists = []string{"bounding", "effective", "permitted", "inheritable", "ambient"}

// explicitWords are the words fix wants in a list of an OCI spec: runc reads
// only the exact canonical name ("CAP_KILL"), so another spelling of a
// wanted capability is corrected in place.
func explicitWords(want capset.Set) words {
	return words{want: want.Names(), classify: func(word string) (string, string) {
		if c, ok := readsExplicit(word); ok {
			return c.Name(), word
		}
		if c, ok := lenient(word); ok {
			return c.Name(), c.Name()
		}
		return "", word
	}}
}

// fixOCI records the edits that give an OCI config's process exactly
// opts.Add: bounding, effective and permitted become the set; inheritable
// and ambient keep only what they held of it (see ociEntries).
func (ed *editor) fixOCI(t *yamlTarget, w workload.Workload, opts Options) ([]string, error) {
	r := merge.Compute(w, merge.Options{})
	entries := ociEntries(opts.Add, r.Spec.Inheritable&opts.Add, r.Spec.Ambient&opts.Add)
	proc, ok := lookup(t.node, "process")
	if !ok || resolve(proc.value).Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%w: %s has no process object", ErrInput, t.name)
	}
	pm := resolve(proc.value)
	caps, ok := lookup(pm, "capabilities")
	if !ok {
		return nil, ed.insertEntries(pm, "", "", []kv{{"capabilities", entries}})
	}
	cm := resolve(caps.value)
	if cm == nil || isNull(cm) || cm.Kind == yaml.MappingNode && len(cm.Content) == 0 {
		return nil, ed.setValue(pm, caps.key, caps.value, entries)
	}
	if cm.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%w: line %d: process.capabilities is not an object", ErrInput, caps.key.Line)
	}
	var notes, after []string
	var insert []kv
	for i, list := range ociLists {
		want := capset.Set(0)
		for _, n := range entries[i].val.([]string) {
			c, _ := capset.Parse(n)
			want = want.With(c)
		}
		e, ok := lookup(cm, list)
		if !ok {
			if !want.IsEmpty() {
				insert = append(insert, kv{list, want.Names()})
			}
			continue
		}
		after = append(after, list)
		if ws, ok := listWords(e.value); ok && exactly(ws, want, readsExplicit) {
			continue
		}
		if err := ed.setList(cm, e, ok, list, explicitWords(want), &insert, &notes); err != nil {
			return nil, err
		}
	}
	if len(insert) > 0 {
		last := ""
		if len(after) > 0 {
			last = after[len(after)-1]
		}
		if err := ed.insertEntries(cm, last, "", insert); err != nil {
			return nil, err
		}
	}
	return notes, nil
}
