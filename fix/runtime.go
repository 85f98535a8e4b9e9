package fix

import (
	"strings"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/merge"
	"github.com/capdrop/capdrop/workload"
)

// fix knows no runtime's rules of its own: what a container holds, what a
// word in one of its lists means and whether a rewrite came out right are
// all asked of package merge, the one place those rules live. The helpers
// below put fix's questions to merge as small containers of the target's
// runtime.

// reads returns the capability a word names in an add list to runtime rt:
// merge is asked about a container of rt that drops ALL and adds only that
// word. ok is false for ALL and for a word the runtime ignores or rejects.
func reads(rt workload.Runtime, word string) (capset.Cap, bool) {
	r := merge.Compute(workload.Workload{Runtime: rt,
		CapAdd: []workload.Word{{Text: word}}, CapDrop: []workload.Word{{Text: "ALL"}}}, merge.Options{})
	return single(r)
}

// readsExplicit is reads for a word of an OCI spec's lists.
func readsExplicit(word string) (capset.Cap, bool) {
	ws := []workload.Word{{Text: word}}
	r := merge.Compute(workload.Workload{Runtime: workload.OCI, Explicit: &workload.ExplicitSets{
		Bounding: ws, Effective: ws, Permitted: ws}}, merge.Options{})
	return single(r)
}

func single(r merge.Result) (capset.Cap, bool) {
	if r.Refusal != nil || len(r.Names) > 0 || r.Sets.Bounding.Len() != 1 {
		return 0, false
	}
	return r.Sets.Bounding.Caps()[0], true
}

// dropsAll reports whether a drop list holding only word leaves a container
// of runtime rt nothing: whether the runtime reads the word as ALL.
func dropsAll(rt workload.Runtime, word string) bool {
	r := merge.Compute(workload.Workload{Runtime: rt, CapDrop: []workload.Word{{Text: word}}}, merge.Options{})
	return r.Refusal == nil && len(r.Names) == 0 && r.Held().IsEmpty()
}

// exact reports whether merge gives w exactly set: the runtime accepts it,
// ignores none of its names, and the process holds set and nothing else.
func exact(r merge.Result, set capset.Set) bool {
	return r.Refusal == nil && len(r.Names) == 0 && r.Sets.Bounding == set && r.Held() == set
}

// lenient returns the capability a word means in the usual reading (any
// case, CAP_ optional), for correcting a spelling the runtime does not read.
func lenient(word string) (capset.Cap, bool) {
	if strings.EqualFold(strings.TrimSpace(word), "ALL") {
		return 0, false
	}
	return merge.Lenient(word)
}

// current is what w holds today, for the never-wider check: every
// capability in any of its process's five sets.
func current(w workload.Workload) (capset.Set, merge.Result) {
	r := merge.Compute(w, merge.Options{})
	return r.Held(), r
}
