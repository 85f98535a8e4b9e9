package fix

import (
	"bytes"
	"fmt"
	"slices"

	"go.yaml.in/yaml/v3"
)

// checkYAML proves a rewrite did what it should and nothing else: out
// parses into as many documents as the original; every other document
// decodes to the same value; the target's document decodes to the original
// one with only the capability settings (and a missing
// allowPrivilegeEscalation) changed, and those now say exactly "drop ALL,
// add opts.Add". Lists are compared as sets of correctly spelled names, so
// the check does not depend on how the rewriter laid them out.
func checkYAML(orig, out []byte, s *stream, t *yamlTarget, d dialect, opts Options) error {
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
		if i == t.doc {
			continue
		}
		if !sameValue(before[i], after[i]) {
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
	wantSet := normalize(d, "add", toAnySlice(opts.Add.ShortNames()))
	if d.kube {
		sc := asMap(get(want, "securityContext"))
		if sc == nil {
			sc = map[string]any{}
		}
		if _, ok := sc["allowPrivilegeEscalation"]; !ok {
			sc["allowPrivilegeEscalation"] = false
		}
		caps := asMap(sc["capabilities"])
		if caps == nil {
			caps = map[string]any{}
		}
		setList(caps, "drop", []string{"ALL"})
		setList(caps, "add", wantSet)
		sc["capabilities"] = caps
		set(want, "securityContext", sc)
		if sc := asMap(get(got, "securityContext")); sc != nil {
			if caps := asMap(sc["capabilities"]); caps != nil {
				setList(caps, "drop", normalize(d, "drop", caps["drop"]))
				setList(caps, "add", normalize(d, "add", caps["add"]))
				sc["capabilities"] = caps
			}
		}
	} else {
		drop := normalize(d, "drop", get(want, "cap_drop"))
		if !slices.Contains(drop, "ALL") || slices.ContainsFunc(drop, func(w string) bool { return w[0] == '!' }) {
			drop = []string{"ALL"}
		}
		setList(want, "cap_drop", drop)
		setList(want, "cap_add", wantSet)
		setList(got, "cap_drop", normalize(d, "drop", get(got, "cap_drop")))
		setList(got, "cap_add", normalize(d, "add", get(got, "cap_add")))
	}
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

// normalize turns a capability list into sorted, de-duplicated canonical
// names; a word the dialect does not accept as written stays visible as
// "!word", so a wrong spelling never compares equal to a right one.
func normalize(d dialect, which string, v any) []string {
	if v == nil {
		return nil
	}
	list, ok := v.([]any)
	if !ok {
		return []string{"!" + fmt.Sprint(v)}
	}
	var out []string
	for _, x := range list {
		w, ok := x.(string)
		if !ok {
			out = append(out, "!"+fmt.Sprint(x))
			continue
		}
		id, spelling := d.classify(w)
		if id == "" || spelling != w || which == "add" && id == "ALL" {
			out = append(out, "!"+w)
			continue
		}
		out = append(out, id)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func toAnySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// setList stores a normalized list, or removes the key for an empty one
// (an absent list and an empty one mean the same).
func setList(m any, key string, list []string) {
	if len(list) == 0 {
		del(m, key)
		return
	}
	set(m, key, list)
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
