package fix

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/capdrop/capdrop/workload"
)

// composeTargets lists the services of every document with a services
// mapping.
func composeTargets(s *stream) []yamlTarget {
	var out []yamlTarget
	for di, d := range s.docs {
		root := rootOf(d)
		if root == nil || root.Kind != yaml.MappingNode {
			continue
		}
		e, ok := lookup(root, "services")
		if !ok {
			continue
		}
		svcs := resolve(e.value)
		if svcs == nil || svcs.Kind != yaml.MappingNode {
			continue
		}
		for i := 0; i+1 < len(svcs.Content); i += 2 {
			k, v := svcs.Content[i], svcs.Content[i+1]
			if isMergeKey(k) || k.Kind != yaml.ScalarNode || k.Tag != "!!str" {
				// Compose service names are strings; 00: or true: are not.
				continue
			}
			t := yamlTarget{
				doc: di, path: []any{"services", k.Value}, node: resolve(v), kind: workload.ComposeService,
				name: "service " + k.Value, matches: []string{k.Value}, line: k.Line,
			}
			if v.Kind == yaml.AliasNode {
				t.alias = v
			} else if e.value.Kind == yaml.AliasNode || !e.own {
				t.alias = e.value
			}
			out = append(out, t)
		}
	}
	return out
}

// fixCompose records the edits that make a service drop ALL and add exactly
// opts.Add.
func (ed *editor) fixCompose(t *yamlTarget, d dialect, opts Options) ([]string, error) {
	m := t.node
	if t.alias != nil {
		return nil, fmt.Errorf("%w: %s is the alias *%s (line %d), so its settings are shared with &%s: give it its own mapping first",
			ErrRefused, t.name, t.alias.Value, t.alias.Line, t.alias.Value)
	}
	if m == nil || m.Kind != yaml.MappingNode || len(m.Content) == 0 {
		return nil, fmt.Errorf("%w: %s has no settings to add capabilities to", ErrRefused, t.name)
	}
	if a := ed.sharedAbove(m); a != nil {
		return nil, ed.sharedError(t.name, a)
	}
	if e, ok := lookup(m, "privileged"); ok && isTrue(e.value) {
		return nil, fmt.Errorf("%w: %s is privileged: true (line %d); a privileged container gets every capability whatever cap_drop says, "+
			"and privileged also opens every host device and turns off seccomp and AppArmor, which capdrop will not decide for you: "+
			"remove privileged (or set it to false), check the service still works, then run capdrop fix again",
			ErrRefused, t.name, e.key.Line)
	}
	var notes []string
	if _, ok := lookup(m, "extends"); ok {
		notes = append(notes, t.name+" uses extends: compose adds the base service's cap_add and cap_drop to these lists; check the base service too")
	}
	drop, dropOK := lookup(m, "cap_drop")
	add, addOK := lookup(m, "cap_add")
	var addWords, dropWords []string
	if addOK {
		addWords, _ = listWords(add.value)
	}
	if dropOK {
		dropWords, _ = listWords(drop.value)
	}
	if cur := dockerCurrent(false, addWords, dropWords); !opts.AllowWiden && !cur.Contains(opts.Add) {
		return nil, widenError(t.name, opts.Add.Minus(cur).ShortNames())
	}
	if user := lookupString(m, "user"); user != "" && !isRootUser(user) && !opts.Add.IsEmpty() {
		notes = append(notes, fmt.Sprintf("%s runs as user %q: a non-root process holds added capabilities only through file capabilities (Docker sets the bounding set only)", t.name, user))
	}
	var insert []kv
	after, before := "", ""
	if !dropOK || !d.dropRight(drop.value) {
		if err := ed.setList(m, drop, dropOK, "cap_drop", d.drop(), &insert, &notes); err != nil {
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
	if !d.addRight(addVal, opts.Add) {
		if addOK || !opts.Add.IsEmpty() {
			if err := ed.setList(m, add, addOK, "cap_add", d.add(opts.Add), &insert, &notes); err != nil {
				return nil, err
			}
		}
	}
	if len(insert) > 0 {
		if err := ed.insertEntries(m, after, before, insert); err != nil {
			return nil, err
		}
	}
	return notes, nil
}

func widenError(name string, extra []string) error {
	return fmt.Errorf("%w: %s does not hold %s today; capdrop fix only ever takes capabilities away (pass --allow-widen if you really mean to grant them)",
		ErrWiden, name, strings.Join(extra, ", "))
}

// isRootUser reports whether a user as written ("0", "root", "0:0") is root.
func isRootUser(u string) bool {
	name, _, _ := strings.Cut(u, ":")
	return name == "0" || name == "root"
}
