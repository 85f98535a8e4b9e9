package fix

import (
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/capdrop/capdrop/workload"
)

// fixKube records the edits that make a container drop ALL, add exactly
// opts.Add, and set allowPrivilegeEscalation: false when it is not set.
func (ed *editor) fixKube(t *yamlTarget, w workload.Workload, opts Options) ([]string, error) {
	rt := w.Runtime
	m := t.node
	if t.alias != nil {
		return nil, fmt.Errorf("%w: %s is reached through the alias *%s (line %d), so its settings are shared with &%s: give it its own mapping first",
			ErrRefused, t.name, t.alias.Value, t.alias.Line, t.alias.Value)
	}
	if a := ed.sharedAbove(m); a != nil {
		return nil, ed.sharedError(t.name, a)
	}
	var notes []string
	sc, scOK := lookup(m, "securityContext")
	var scm *yaml.Node
	if scOK {
		scm = resolve(sc.value)
		if err := stringKeys(scm); err != nil {
			return nil, err
		}
		if scm != nil && scm.Kind != yaml.MappingNode && scm.Tag != "!!null" {
			return nil, fmt.Errorf("%w: line %d: securityContext of %s is not a mapping", ErrInput, sc.key.Line, t.name)
		}
	}
	_, apeOK := lookup(scm, "allowPrivilegeEscalation")
	capsE, capsOK := lookup(scm, "capabilities")
	var drop, add entry
	var dropOK, addOK bool
	if capsOK {
		if err := stringKeys(resolve(capsE.value)); err != nil {
			return nil, err
		}
		drop, dropOK = lookup(capsE.value, "drop")
		add, addOK = lookup(capsE.value, "add")
	}
	var addVal *yaml.Node
	if addOK {
		addVal = add.value
	}
	dropOK2 := dropOK && dropRight(rt, true, drop.value, opts.Add)
	addOK2 := addRight(rt, addVal, opts.Add)
	if apeOK && dropOK2 && addOK2 {
		return notes, nil
	}
	capsWant := kubeCaps(opts.Add)
	scWant := []kv{}
	if !apeOK {
		scWant = kubeEntries(0, true)[:1]
	}

	// No securityContext of its own: write a whole one.
	if !scOK {
		return notes, ed.insertEntries(m, "", "", []kv{{"securityContext", append(scWant, kv{"capabilities", capsWant})}})
	}
	if !sc.own {
		return nil, fmt.Errorf("%w: the securityContext of %s comes from a << merge key (line %d); a securityContext of its own would hide everything else merged in: write it out in the container first",
			ErrRefused, t.name, sc.key.Line)
	}
	if sc.value.Kind == yaml.AliasNode {
		return nil, fmt.Errorf("%w: the securityContext of %s is the alias *%s (line %d), shared with &%s: give the container its own securityContext first",
			ErrRefused, t.name, sc.value.Value, sc.value.Line, sc.value.Value)
	}
	if len(ed.aliased[scm]) > 0 {
		return nil, ed.sharedError("the securityContext of "+t.name, scm)
	}
	if scm.Tag == "!!null" || len(scm.Content) == 0 {
		return notes, ed.setValue(m, sc.key, sc.value, append(scWant, kv{"capabilities", capsWant}))
	}

	// A securityContext mapping of its own.
	if capsOK && (!capsE.own || capsE.value.Kind == yaml.AliasNode) {
		// Replacing a capabilities mapping that is shared or merged in
		// keeps nothing of it but what fix writes: add and drop.
		if err := onlyAddDrop(resolve(capsE.value)); err != nil {
			return nil, err
		}
	}
	var insert []kv
	insert = append(insert, scWant...)
	switch {
	case !capsOK:
		insert = append(insert, kv{"capabilities", capsWant})
	case !capsE.own:
		notes = append(notes, fmt.Sprintf("capabilities came from a << merge key (line %d); the container now has its own, which override the merged ones", capsE.key.Line))
		insert = append(insert, kv{"capabilities", capsWant})
	case capsE.value.Kind == yaml.AliasNode:
		notes = append(notes, fmt.Sprintf("capabilities was the alias *%s (line %d); the container now has its own and the anchor is left as it was", capsE.value.Value, capsE.value.Line))
		if err := ed.setValue(scm, capsE.key, capsE.value, capsWant); err != nil {
			return nil, err
		}
	case capsE.value.Kind != yaml.MappingNode || len(capsE.value.Content) == 0:
		if a := ed.sharedBelow(capsE.value); a != nil {
			return nil, ed.sharedError("the capabilities of "+t.name, a)
		}
		if err := ed.setValue(scm, capsE.key, capsE.value, capsWant); err != nil {
			return nil, err
		}
	default:
		capm := capsE.value
		if len(ed.aliased[capm]) > 0 {
			return nil, ed.sharedError("the capabilities of "+t.name, capm)
		}
		var capsInsert []kv
		if !dropOK2 {
			if err := ed.setList(capm, drop, dropOK, "drop", dropWords(rt, true), &capsInsert, &notes); err != nil {
				return nil, err
			}
		}
		if !addOK2 && (addOK || !opts.Add.IsEmpty()) {
			if err := ed.setList(capm, add, addOK, "add", addWords(rt, opts.Add), &capsInsert, &notes); err != nil {
				return nil, err
			}
		}
		if len(capsInsert) > 0 {
			after, before := "", ""
			if dropOK && drop.own {
				after = "drop"
			} else if addOK && add.own {
				before = "add"
			}
			if err := ed.insertEntries(capm, after, before, capsInsert); err != nil {
				return nil, err
			}
		}
	}
	if len(insert) > 0 {
		if err := ed.insertEntries(scm, "", "", insert); err != nil {
			return nil, err
		}
	}
	return notes, nil
}

// stringKeys checks that a mapping's keys are all strings, as every
// Kubernetes object's are.
func stringKeys(m *yaml.Node) error {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := m.Content[i]; !isMergeKey(k) && (k.Kind != yaml.ScalarNode || k.Tag != "!!str") {
			return fmt.Errorf("%w: line %d: a key that is not a string", ErrInput, k.Line)
		}
	}
	return nil
}

// onlyAddDrop checks that a capabilities mapping holds nothing but add and
// drop, the only fields Kubernetes defines there.
func onlyAddDrop(m *yaml.Node) error {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := m.Content[i]; k.Value != "add" && k.Value != "drop" {
			return fmt.Errorf("%w: line %d: capabilities holds %q, which is neither add nor drop", ErrInput, k.Line, k.Value)
		}
	}
	return nil
}
