package fix

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/capdrop/capdrop/workload"
)

// yamlTarget is one container in a YAML file: a compose service or a
// Kubernetes container.
type yamlTarget struct {
	doc  int
	path []any // keys and indexes from the document's top to the container
	// node is the container's mapping; alias is set when the file reaches it
	// through an alias (its text is shared with another place).
	node, alias *yaml.Node
	kind        workload.Kind
	name        string   // for messages: "service web", "Deployment/web container app"
	matches     []string // what --service / --container may say, shortest first
	line        int
}

// sniffYAML tells compose files from Kubernetes manifests by content.
func sniffYAML(src []byte) (Format, bool) {
	dec := yaml.NewDecoder(bytes.NewReader(src))
	for i := 0; i < 1000; i++ {
		var n yaml.Node
		if err := dec.Decode(&n); err != nil {
			return "", false
		}
		root := resolve(rootOf(&n))
		if root == nil || root.Kind != yaml.MappingNode {
			continue
		}
		if e, ok := lookup(root, "services"); ok && resolve(e.value) != nil && resolve(e.value).Kind == yaml.MappingNode {
			return Compose, true
		}
		if lookupString(root, "apiVersion") != "" && lookupString(root, "kind") != "" {
			return Kubernetes, true
		}
	}
	return "", false
}

func applyYAML(path string, src []byte, format Format, opts Options) (*Result, error) {
	return applyYAMLDepth(path, src, format, opts, 0)
}

func applyYAMLDepth(path string, src []byte, format Format, opts Options, depth int) (*Result, error) {
	s, err := parseStream(src)
	if err == nil {
		// What yaml.v3 cannot decode (duplicate keys, excessive aliasing),
		// compose and kubectl cannot either.
		_, err = documents(src)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInput, err)
	}
	var targets []yamlTarget
	what, want := "service", opts.Service
	if opts.Line != 0 {
		return nil, fmt.Errorf("%w: %s is a %s file: --line is for run lines; choose with --%s", ErrInput, path, format, map[Format]string{Compose: "service", Kubernetes: "container"}[format])
	}
	if format == Compose {
		if opts.Container != "" {
			return nil, fmt.Errorf("%w: %s is a compose file: choose a service with --service, not --container", ErrInput, path)
		}
		targets = composeTargets(s)
	} else {
		if opts.Service != "" {
			return nil, fmt.Errorf("%w: %s is a Kubernetes manifest: choose a container with --container, not --service", ErrInput, path)
		}
		targets = kubeTargets(s)
		what, want = "container", opts.Container
	}
	t, err := choose(targets, what, want)
	if err != nil {
		return nil, err
	}
	ed := &editor{stream: s, st: detectStyle(s, t.node)}
	d := dialect{kube: format == Kubernetes}
	var notes []string
	if format == Compose {
		ed.st.flowLists = true
		learnCapStyle(ed, targets, t, []string{"cap_drop", "cap_add"}, false)
		notes, err = ed.fixCompose(t, d, opts)
	} else {
		learnCapStyle(ed, targets, t, []string{"drop", "add"}, true)
		notes, err = ed.fixKube(t, d, opts)
	}
	res := &Result{Target: t.name, Pos: workload.Position{File: path, Line: t.line}, Notes: notes}
	if err != nil {
		return nil, &Error{Pos: res.Pos, Err: err}
	}
	if len(ed.edits) == 0 {
		return res, nil
	}
	out, err := apply(src, ed.edits)
	if err == nil {
		err = checkYAML(src, out, s, t, d, opts)
	}
	if err == nil && depth == 0 {
		// A second run must find nothing to do.
		var again *Result
		again, err = applyYAMLDepth(path, out, format, opts, depth+1)
		if err == nil && again.Changed {
			err = errors.New("a second run would change it again")
		}
	}
	if err != nil {
		return nil, &Error{Pos: res.Pos, Err: &selfCheckError{err}}
	}
	res.Changed = true
	res.Output = out
	return res, nil
}

// selfCheckError says a rewrite failed its own check (see checkYAML): a
// bug or a layout the rewriter does not understand. The file is left alone.
type selfCheckError struct{ err error }

func (e *selfCheckError) Error() string {
	return fmt.Sprintf("refused: capdrop could not make this edit safely, so the file is left as it is (%v); please report this with the file", e.err)
}

// Unwrap makes errors.Is(err, ErrRefused) true.
func (e *selfCheckError) Unwrap() error { return ErrRefused }

// learnCapStyle makes new capability lists look like the file's own: the
// target's lists first, then any other target's.
func learnCapStyle(ed *editor, targets []yamlTarget, t *yamlTarget, keys []string, kube bool) {
	order := []*yamlTarget{t}
	for i := range targets {
		order = append(order, &targets[i])
	}
	for _, ownOnly := range []bool{true, false} {
		for _, x := range order {
			m := resolve(x.node)
			if kube {
				sc, ok := lookup(m, "securityContext")
				if !ok {
					continue
				}
				c, ok := lookup(sc.value, "capabilities")
				if !ok {
					continue
				}
				m = c.value
			}
			for _, k := range keys {
				e, ok := lookup(m, k)
				if ok && (e.own || !ownOnly) && resolve(e.value) != nil && resolve(e.value).Kind == yaml.SequenceNode {
					ed.st.learnList(e.value)
					return
				}
			}
		}
	}
}

// choose picks the target named want, or the only one.
func choose(targets []yamlTarget, what, want string) (*yamlTarget, error) {
	names := choiceNames(targets)
	if len(targets) == 0 {
		if what == "service" {
			return nil, fmt.Errorf("%w: the file defines no services", ErrNoTarget)
		}
		return nil, fmt.Errorf("%w: the file defines no containers", ErrNoTarget)
	}
	if want == "" {
		if len(targets) == 1 {
			return &targets[0], nil
		}
		return nil, &AmbiguousError{What: what, Choices: names}
	}
	var found []int
	for i, t := range targets {
		for _, m := range t.matches {
			if m == want {
				found = append(found, i)
				break
			}
		}
	}
	switch len(found) {
	case 1:
		return &targets[found[0]], nil
	case 0:
		return nil, fmt.Errorf("%w: no %s %q; the file has %s", ErrNoTarget, what, want, strings.Join(names, ", "))
	}
	var sub []string
	for _, i := range found {
		sub = append(sub, names[i])
	}
	return nil, &AmbiguousError{What: what, Choices: sub}
}

// choiceNames gives each target the shortest of its names that no other
// target shares.
func choiceNames(targets []yamlTarget) []string {
	count := map[string]int{}
	for _, t := range targets {
		for _, m := range t.matches {
			count[m]++
		}
	}
	names := make([]string, len(targets))
	for i, t := range targets {
		names[i] = t.matches[len(t.matches)-1]
		for _, m := range t.matches {
			if count[m] == 1 {
				names[i] = m
				break
			}
		}
	}
	return names
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

// isTrue reports whether a YAML value is the boolean true.
func isTrue(n *yaml.Node) bool {
	n = resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode {
		return false
	}
	var b bool
	return n.Decode(&b) == nil && b
}

// documents decodes every document of a stream into plain Go values.
func documents(src []byte) ([]any, error) {
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var docs []any
	for {
		var v any
		err := dec.Decode(&v)
		if err == io.EOF {
			return docs, nil
		}
		if err != nil {
			return nil, yamlError(err)
		}
		docs = append(docs, v)
	}
}
