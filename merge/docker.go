package merge

import (
	"fmt"
	"strings"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/workload"
)

// Docker releases whose rules differ.
var (
	// docker23 knows PERFMON, BPF and CHECKPOINT_RESTORE and limits ALL
	// and every name to what the engine itself holds.
	docker23 = Version{23, 0, 0}
	// docker201014 stopped filling the inheritable set (CVE-2022-24769)
	// and stopped setting effective/permitted for non-root users.
	docker201014 = Version{20, 10, 14}
)

// dockerWord is a cap_add/cap_drop entry after the engine normalised it.
type dockerWord struct {
	all  bool
	cap  capset.Cap
	word workload.Word
}

// docker models moby's TweakCapabilities and SetCapabilities: names are
// upper-cased and get CAP_ when missing, and an unknown name makes the
// engine refuse the container at create (even a privileged one); privileged
// gives every capability and ignores the lists; ALL in cap_add gives every
// capability but the dropped ones (so add ALL + drop ALL is everything); ALL
// in cap_drop gives exactly the added ones; otherwise defaults minus drops
// plus adds, so a capability in both lists is kept. A non-root user gets only
// the bounding set.
func (e *env) docker(id identity) spec {
	var sp spec
	known := capset.Known
	var all capset.Set
	if e.version.Less(docker23) {
		// Docker 20.10 took its list from an old capability library: 0–37.
		known = capset.Upto(capset.AUDIT_READ)
		all = known & e.kernel
	} else {
		all = known & e.host
	}
	normalize := func(words []workload.Word, field, list string) []dockerWord {
		var out []dockerWord
		for _, w := range words {
			s := strings.ToUpper(w.Text)
			if s == "ALL" {
				out = append(out, dockerWord{all: true, word: w})
				continue
			}
			if !strings.HasPrefix(s, "CAP_") {
				s = "CAP_" + s
			}
			c, isName := exact(s)
			if !isName || !known.Has(c) || (e.version.Less(docker23) && !e.kernel.Has(c)) {
				msg := fmt.Sprintf("invalid %s: unknown capability: %q", field, s)
				hint := ""
				if isName {
					hint = fmt.Sprintf("Docker %s does not know %s; Docker 23 and later do", e.version, s)
				}
				sp.name(w, list, Rejected, s, joinHint(msg, hint))
				sp.refuseHint(StageCreate, msg, hint, &w)
				continue
			}
			if !e.version.Less(docker23) && !e.host.Has(c) {
				msg := fmt.Sprintf("invalid %s: capability not supported by your kernel or not available in the current environment: %q", field, s)
				sp.name(w, list, Rejected, s, msg)
				sp.refuse(StageCreate, msg, &w)
				continue
			}
			out = append(out, dockerWord{cap: c, word: w})
		}
		return out
	}
	adds := normalize(e.w.CapAdd, "CapAdd", "cap_add")
	drops := normalize(e.w.CapDrop, "CapDrop", "cap_drop")
	if sp.refusal != nil {
		return sp
	}
	hasAll := func(ws []dockerWord) *workload.Word {
		for i := range ws {
			if ws[i].all {
				return &ws[i].word
			}
		}
		return nil
	}
	dropped := func(c capset.Cap) bool {
		for _, d := range drops {
			if !d.all && d.cap == c {
				return true
			}
		}
		return false
	}
	l := newList()
	addAll, dropAll := hasAll(adds), hasAll(drops)
	switch {
	case e.w.Privileged:
		l.addSet(all, reason(FromPrivileged, e.privilegedWord()))
		if len(adds)+len(drops) > 0 {
			sp.note("privileged: Docker ignores cap_add and cap_drop")
		}
	case len(e.w.CapAdd) == 0 && len(e.w.CapDrop) == 0:
		l.addSet(e.defaults, reason(FromDefault, nil))
	case addAll != nil:
		for _, c := range all.Caps() {
			if !dropped(c) {
				l.add(c, reason(FromAll, addAll))
			}
		}
		if dropAll != nil {
			sp.note("Docker: cap_add ALL wins over cap_drop ALL, so the container gets every capability")
		}
	case dropAll != nil:
		for i := range adds {
			l.add(adds[i].cap, reason(FromAdd, &adds[i].word))
		}
	default:
		for _, c := range e.defaults.Caps() {
			if !dropped(c) {
				l.add(c, reason(FromDefault, nil))
			}
		}
		for i := range adds {
			if dropped(adds[i].cap) {
				sp.note("Docker: %s is both added and dropped; the add wins", adds[i].cap.Short())
			}
			l.add(adds[i].cap, reason(FromAdd, &adds[i].word))
		}
	}
	sp.prov = l.why
	sp.bounding = l.set
	if e.version.Less(docker201014) {
		sp.inheritable = l.set
	}
	if id.root {
		sp.permitted, sp.effective = l.set, l.set
	}
	return sp
}

func joinHint(msg, hint string) string {
	if hint == "" {
		return msg
	}
	return msg + " (" + hint + ")"
}
