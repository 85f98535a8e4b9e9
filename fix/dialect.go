package fix

import (
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/knowledge"
)

// dialect is how a configuration format spells capabilities.
//
// Docker (compose, run lines) upper-cases names and adds CAP_ when missing,
// and takes "all" in any case: every spelling of a known name is right, and
// capdrop writes the short upper-case one. Kubernetes passes names through
// to the runtime, and containerd prefixes every name with CAP_ again, so
// "CAP_SYS_ADMIN" becomes CAP_CAP_SYS_ADMIN and is silently not granted;
// Pod Security's restricted level wants the literal ALL in drop (FACTS.md
// §3). So Kubernetes names are right only without the prefix, and ALL only
// in upper case.
type dialect struct {
	kube bool
}

// classify names what a word stands for — "ALL", a canonical capability name,
// or "" when no runtime knows it — and how it should be spelled.
func (d dialect) classify(word string) (id, spelling string) {
	if strings.EqualFold(word, "ALL") {
		if d.kube {
			return "ALL", "ALL"
		}
		return "ALL", word
	}
	if strings.EqualFold(word, "CAP_ALL") {
		return "ALL", "ALL"
	}
	c, err := capset.Parse(word)
	if err != nil || !c.Known() {
		return "", word
	}
	if d.kube && len(word) > 4 && strings.EqualFold(word[:4], "CAP_") {
		return c.Name(), word[4:]
	}
	return c.Name(), word
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

// dropRight reports whether a drop list already drops everything. For
// Docker any list holding ALL does (drop ALL leaves exactly the adds, and
// adds win over drops); for Kubernetes the list must be the literal ALL
// alone, since containerd lets drops win over adds.
func (d dialect) dropRight(v *yaml.Node) bool {
	ws, ok := listWords(v)
	if !ok || len(ws) == 0 {
		return false
	}
	all := false
	for _, w := range ws {
		id, spelling := d.classify(w)
		if id == "" || spelling != w || d.kube && id != "ALL" {
			return false
		}
		all = all || id == "ALL"
	}
	return all
}

// addRight reports whether an add list (nil when absent) already adds
// exactly want, in right spellings.
func (d dialect) addRight(v *yaml.Node, want capset.Set) bool {
	if v == nil {
		return want.IsEmpty()
	}
	ws, ok := listWords(v)
	if !ok {
		return false
	}
	var got capset.Set
	for _, w := range ws {
		id, spelling := d.classify(w)
		if id == "" || id == "ALL" || spelling != w {
			return false
		}
		c, _ := capset.Parse(id)
		got = got.With(c)
	}
	return got == want
}

// drop and add return the words the rewriter wants in a drop and an add
// list.
func (d dialect) drop() words {
	return words{want: []string{"ALL"}, classify: d.classify}
}

func (d dialect) add(set capset.Set) words {
	return words{want: set.ShortNames(), classify: d.classify}
}

// dockerCurrent is the set a root process gets under Docker's rules from
// add and drop lists as written (moby TweakCapabilities): privileged is
// everything; add ALL is everything but the drops; drop ALL is exactly the
// adds; otherwise the defaults minus drops plus adds. Unknown names, which
// Docker rejects, grant nothing.
func dockerCurrent(privileged bool, add, drop []string) capset.Set {
	if privileged {
		return capset.Known
	}
	adds, addAll := parseWords(add, false)
	drops, dropAll := parseWords(drop, false)
	switch {
	case addAll:
		if dropAll {
			return capset.Known
		}
		return capset.Known.Minus(drops)
	case dropAll:
		return adds
	}
	return knowledge.MustDefault(knowledge.Docker).Minus(drops).Union(adds)
}

// containerdCurrent is the same under containerd's CRI rules, which most
// Kubernetes clusters use: add ALL, then drop ALL, then the adds, then the
// drops (drops win); names already prefixed with CAP_ are prefixed again
// and so grant nothing.
func containerdCurrent(privileged bool, add, drop []string) capset.Set {
	if privileged {
		return capset.Known
	}
	adds, addAll := parseWords(add, true)
	drops, dropAll := parseWords(drop, true)
	set := knowledge.MustDefault(knowledge.Containerd)
	if addAll {
		set = capset.Known
	}
	if dropAll {
		set = 0
	}
	return set.Union(adds).Minus(drops)
}

// parseWords returns the known capabilities among words and whether ALL is
// one of them. With cri set, CAP_-prefixed names count for nothing.
func parseWords(ws []string, cri bool) (set capset.Set, all bool) {
	for _, w := range ws {
		if strings.EqualFold(w, "ALL") {
			all = true
			continue
		}
		if cri && len(w) > 4 && strings.EqualFold(w[:4], "CAP_") {
			continue
		}
		if c, err := capset.Parse(w); err == nil && c.Known() {
			set = set.With(c)
		}
	}
	return set, all
}
