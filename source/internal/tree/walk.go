package tree

import (
	"strings"

	"go.yaml.in/yaml/v3"
)

// Walker reads nodes of one document, following aliases and `<<` merges
// under a budget. When the budget runs out every method returns nothing
// and Err is the budget's error (wrapping ErrBudget).
type Walker struct {
	b   *Budget
	Err error
}

// NewWalker returns a walker with a budget of its own of budget node
// visits (DefaultBudget if 0).
func NewWalker(budget int) *Walker {
	if budget <= 0 {
		budget = DefaultBudget
	}
	b := &Budget{left: int64(budget), limit: int64(budget)}
	return &Walker{b: b}
}

// Spend charges n units of work a reader does with what it walked (copying
// a base's settings into every service built on it) to the budget; false,
// with Err set, once the budget is spent.
func (w *Walker) Spend(n int) bool { return w.spend(n) }

// WalkerFor returns a walker for d that spends from its budget.
func WalkerFor(d Doc) *Walker { return d.Budget.Walker() }

func (w *Walker) spend(n int) bool {
	if w.Err != nil {
		return false
	}
	if !w.b.spend(n) {
		w.Err = w.b.Err()
		return false
	}
	return true
}

// Resolve follows alias nodes to what they name. A nil node stays nil.
func (w *Walker) Resolve(n *yaml.Node) *yaml.Node {
	for depth := 0; n != nil && n.Kind == yaml.AliasNode; depth++ {
		if !w.spend(1) || depth > MaxDepth {
			if w.Err == nil {
				w.Err = ErrBudget
			}
			return nil
		}
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		return w.Resolve(n.Content[0])
	}
	return n
}

// Pair is one key and value of a mapping.
type Pair struct {
	Key   *yaml.Node
	Value *yaml.Node
}

// Pairs returns a mapping's pairs, `<<` merges applied as YAML 1.1 says:
// the mapping's own keys win over merged ones, and among merged mappings
// the earlier one wins. Keys keep their order of first appearance. Values
// are resolved. A node that is not a mapping has no pairs.
func (w *Walker) Pairs(m *yaml.Node) []Pair {
	var out []Pair
	index := map[string]int{}
	w.pairs(w.Resolve(m), 0, func(p Pair, own bool) bool {
		k := p.Key.Value
		if i, ok := index[k]; ok {
			if own {
				out[i] = p // an own key overrides a merged one seen first
			}
			return true
		}
		index[k] = len(out)
		out = append(out, p)
		return true
	})
	return out
}

// pairs calls f with own keys first, then merged keys in merge order,
// until f returns false; it reports whether f never did.
func (w *Walker) pairs(m *yaml.Node, depth int, f func(Pair, bool) bool) bool {
	if m == nil || m.Kind != yaml.MappingNode || depth > MaxDepth || !w.spend(len(m.Content)/2+1) {
		if depth > MaxDepth && w.Err == nil {
			w.Err = ErrBudget
		}
		return true
	}
	var merges []*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := w.Resolve(m.Content[i])
		if k == nil {
			continue
		}
		if k.Kind == yaml.ScalarNode && k.Value == "<<" && k.Tag == "!!merge" {
			merges = append(merges, m.Content[i+1])
			continue
		}
		if !f(Pair{Key: k, Value: w.Resolve(m.Content[i+1])}, depth == 0) {
			return false
		}
	}
	merged := func(p Pair, _ bool) bool { return f(p, false) }
	for _, mg := range merges {
		mg = w.Resolve(mg)
		if mg == nil {
			continue
		}
		switch mg.Kind {
		case yaml.MappingNode:
			if !w.pairs(mg, depth+1, merged) {
				return false
			}
		case yaml.SequenceNode:
			for _, item := range mg.Content {
				if !w.pairs(w.Resolve(item), depth+1, merged) {
					return false
				}
			}
		}
	}
	return true
}

// Get returns the value of key in mapping m (merges applied), or nil. Own
// keys come first and earlier merges win, so the first match is the
// value.
func (w *Walker) Get(m *yaml.Node, key string) *yaml.Node {
	var v *yaml.Node
	w.pairs(w.Resolve(m), 0, func(p Pair, _ bool) bool {
		if p.Key.Value == key {
			v = p.Value
			return false
		}
		return true
	})
	return v
}

// Path follows keys from m; nil when any is missing.
func (w *Walker) Path(m *yaml.Node, keys ...string) *yaml.Node {
	for _, k := range keys {
		m = w.Get(m, k)
		if m == nil {
			return nil
		}
	}
	return m
}

// Items returns a sequence's items, resolved; nil for anything else.
func (w *Walker) Items(s *yaml.Node) []*yaml.Node {
	s = w.Resolve(s)
	if s == nil || s.Kind != yaml.SequenceNode || !w.spend(len(s.Content)+1) {
		return nil
	}
	out := make([]*yaml.Node, 0, len(s.Content))
	for _, it := range s.Content {
		if r := w.Resolve(it); r != nil {
			out = append(out, r)
		}
	}
	return out
}

// Scalar returns a scalar's text; ok is false for other nodes and for null.
func Scalar(n *yaml.Node) (string, bool) {
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", false
	}
	return n.Value, true
}

// Bool reads a boolean the way Kubernetes (YAML 1.1 through
// sigs.k8s.io/yaml) and compose read one: true/false, yes/no, on/off, y/n
// in any case. ok is false for anything else.
func Bool(s string) (v, ok bool) {
	switch strings.ToLower(s) {
	case "true", "yes", "on", "y":
		return true, true
	case "false", "no", "off", "n":
		return false, true
	}
	return false, false
}

// IsNull reports whether n is absent or a YAML null ("key:" with
// nothing after it, "~", "null"): Kubernetes reads both as "not set".
func IsNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// IsMap and IsSeq report a node's kind (after resolving).
func IsMap(n *yaml.Node) bool { return n != nil && n.Kind == yaml.MappingNode }

// IsSeq reports whether n is a sequence.
func IsSeq(n *yaml.Node) bool { return n != nil && n.Kind == yaml.SequenceNode }
