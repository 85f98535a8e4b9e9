package fix

import (
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/capdrop/capdrop/workload"
)

// containerKeys are the pod spec lists whose items are containers.
var containerKeys = map[string]workload.Kind{
	"containers":          workload.KubeContainer,
	"initContainers":      workload.KubeInitContainer,
	"ephemeralContainers": workload.KubeEphemeral,
}

// kubeTargets lists every container of every document: in any workload kind
// (and custom resources that embed a pod template), in List items, init
// and ephemeral containers too.
func kubeTargets(s *stream) []yamlTarget {
	var out []yamlTarget
	for di, d := range s.docs {
		if root := rootOf(d); root != nil {
			kubeWalk(root, di, nil, "", "", nil, &out, 0)
		}
	}
	return out
}

// kubeWalk finds containers under n. kind and name are those of the nearest
// object; via is the alias the walk came through, if any.
func kubeWalk(n *yaml.Node, doc int, path []any, kind, name string, via *yaml.Node, out *[]yamlTarget, depth int) {
	if depth > maxDepth {
		return
	}
	switch n.Kind {
	case yaml.SequenceNode:
		for i, c := range n.Content {
			kubeWalk(c, doc, appendPath(path, i), kind, name, via, out, depth+1)
		}
	case yaml.MappingNode:
		if k := lookupString(n, "kind"); k != "" {
			if md, ok := lookup(n, "metadata"); ok {
				kind, name = k, lookupString(md.value, "name")
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if isMergeKey(k) || k.Kind != yaml.ScalarNode || k.Tag != "!!str" {
				// Kubernetes fields are strings; 000: is not one.
				continue
			}
			if ck, ok := containerKeys[k.Value]; ok && isContainerList(v) {
				seq := resolve(v)
				for j, item := range seq.Content {
					c := resolve(item)
					cname := lookupString(c, "name")
					t := yamlTarget{
						doc: doc, path: appendPath(appendPath(path, k.Value), j), node: c, kind: ck, line: item.Line,
						matches: []string{cname},
					}
					switch {
					case via != nil:
						t.alias = via
					case v.Kind == yaml.AliasNode:
						t.alias = v
					case item.Kind == yaml.AliasNode:
						t.alias = item
					}
					obj := kind
					if name != "" {
						obj = kind + "/" + name
						t.matches = append(t.matches, name+"/"+cname)
					}
					if kind != "" {
						t.matches = append(t.matches, kind+"/"+name+"/"+cname)
					}
					what := map[workload.Kind]string{workload.KubeContainer: "container", workload.KubeInitContainer: "init container", workload.KubeEphemeral: "ephemeral container"}[ck]
					t.name = what + " " + cname
					if obj != "" {
						t.name = obj + " " + t.name
					}
					*out = append(*out, t)
				}
				continue
			}
			if v.Kind == yaml.AliasNode {
				// Only the alias' own containers count, once, where the
				// anchor is; walking it again here would list them twice.
				continue
			}
			kubeWalk(v, doc, appendPath(path, k.Value), kind, name, via, out, depth+1)
		}
	}
}

func appendPath(path []any, k any) []any {
	return append(append([]any(nil), path...), k)
}

// isContainerList reports whether v is a list of mappings that each have a
// name: what a pod spec's containers look like.
func isContainerList(v *yaml.Node) bool {
	seq := resolve(v)
	if seq == nil || seq.Kind != yaml.SequenceNode || len(seq.Content) == 0 {
		return false
	}
	for _, item := range seq.Content {
		c := resolve(item)
		if c == nil || c.Kind != yaml.MappingNode || lookupString(c, "name") == "" {
			return false
		}
	}
	return true
}

// fixKube records the edits that make a container drop ALL, add exactly
// opts.Add, and set allowPrivilegeEscalation: false when it is not set.
func (ed *editor) fixKube(t *yamlTarget, d dialect, opts Options) ([]string, error) {
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
		if scm != nil && scm.Kind != yaml.MappingNode && !isNull(scm) {
			return nil, fmt.Errorf("%w: line %d: securityContext of %s is not a mapping", ErrInput, sc.key.Line, t.name)
		}
		if e, ok := lookup(scm, "privileged"); ok && isTrue(e.value) {
			return nil, fmt.Errorf("%w: %s is privileged: true (line %d); a privileged container gets every capability whatever drop says, "+
				"and the API rejects privileged together with allowPrivilegeEscalation: false; privileged also opens every host device, "+
				"which capdrop will not decide for you: remove privileged, check the container still works, then run capdrop fix again",
				ErrRefused, t.name, e.key.Line)
		}
	}
	ape, apeOK := lookup(scm, "allowPrivilegeEscalation")
	capsE, capsOK := lookup(scm, "capabilities")
	var drop, add entry
	var dropOK, addOK bool
	var addWords, dropWords []string
	if capsOK {
		if err := stringKeys(resolve(capsE.value)); err != nil {
			return nil, err
		}
		drop, dropOK = lookup(capsE.value, "drop")
		add, addOK = lookup(capsE.value, "add")
		if addOK {
			addWords, _ = listWords(add.value)
		}
		if dropOK {
			dropWords, _ = listWords(drop.value)
		}
	}
	if cur := containerdCurrent(false, addWords, dropWords); !opts.AllowWiden && !cur.Contains(opts.Add) {
		return nil, widenError(t.name, opts.Add.Minus(cur).ShortNames())
	}
	if apeOK && isTrue(ape.value) {
		notes = append(notes, fmt.Sprintf("%s sets allowPrivilegeEscalation: true (line %d), left as it is: setuid programs can still gain the capabilities the bounding set keeps", t.name, ape.key.Line))
	}
	var addVal *yaml.Node
	if addOK {
		addVal = add.value
	}
	dropRight := dropOK && d.dropRight(drop.value)
	addRight := d.addRight(addVal, opts.Add)
	if apeOK && dropRight && addRight {
		return notes, nil
	}
	capsWant := []kv{{"drop", d.drop().want}}
	if !opts.Add.IsEmpty() {
		capsWant = append(capsWant, kv{"add", d.add(opts.Add).want})
	}
	scWant := []kv{}
	if !apeOK {
		scWant = append(scWant, kv{"allowPrivilegeEscalation", false})
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
	if isNull(scm) || len(scm.Content) == 0 {
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
		if !dropRight {
			if err := ed.setList(capm, drop, dropOK, "drop", d.drop(), &capsInsert, &notes); err != nil {
				return nil, err
			}
		}
		if !addRight && (addOK || !opts.Add.IsEmpty()) {
			if err := ed.setList(capm, add, addOK, "add", d.add(opts.Add), &capsInsert, &notes); err != nil {
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
