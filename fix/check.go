package fix

import (
	"bytes"
	"fmt"

	"go.yaml.in/yaml/v3"
)

// checkYAML proves a rewrite changed nothing but the target's capability
// settings: out parses into as many documents as the original; every other
// document decodes to the same value; the target's document decodes to the
// original one once keys (the settings fix writes) are taken out of the
// target on both sides. That the settings now give exactly the set is the
// re-audit's to prove (see reaudit).
func checkYAML(orig, out []byte, t *yamlTarget, keys func(any)) error {
	before, err := documents(orig)
	if err != nil {
		return fmt.Errorf("the original does not decode: %v", err)
	}
	after, err := documents(out)
	if err != nil {
		return fmt.Errorf("the result does not parse: %v", err)
	}
	if len(before) != len(after) {
		return fmt.Errorf("the result has %d documents, the original %d", len(after), len(before))
	}
	for i := range before {
		if i != t.doc && !sameValue(before[i], after[i]) {
			return fmt.Errorf("document %d changed", i+1)
		}
	}
	want, ok := at(before[t.doc], t.path)
	if !ok {
		return fmt.Errorf("%s not found in the original", t.name)
	}
	got, ok := at(after[t.doc], t.path)
	if !ok {
		return fmt.Errorf("%s not found in the result", t.name)
	}
	keys(want)
	keys(got)
	if !sameValue(before[t.doc], after[t.doc]) {
		return fmt.Errorf("%s: the result differs from the intended change", t.name)
	}
	return nil
}

// sameValue compares decoded documents by their canonical YAML encoding
// (sorted keys; NaN equals NaN).
func sameValue(a, b any) bool {
	x, err1 := yaml.Marshal(a)
	y, err2 := yaml.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

// at follows keys and indexes through decoded YAML.
func at(v any, path []any) (any, bool) {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m := asMap(v)
			if m == nil {
				if mm, ok := v.(map[any]any); ok {
					x, ok := mm[k]
					if !ok {
						return nil, false
					}
					v = x
					continue
				}
				return nil, false
			}
			x, ok := m[k]
			if !ok {
				return nil, false
			}
			v = x
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil, false
			}
			v = l[k]
		}
	}
	return v, true
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func get(m any, k string) any {
	switch m := m.(type) {
	case map[string]any:
		return m[k]
	case map[any]any:
		return m[k]
	}
	return nil
}

func set(m any, k string, v any) {
	switch m := m.(type) {
	case map[string]any:
		m[k] = v
	case map[any]any:
		m[k] = v
	}
}

func del(m any, k string) {
	switch m := m.(type) {
	case map[string]any:
		delete(m, k)
	case map[any]any:
		delete(m, k)
	}
}
