package merge

import (
	"fmt"
	"strings"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/workload"
)

func firstAll(ws []workload.Word) *workload.Word {
	for i := range ws {
		if strings.EqualFold(ws[i].Text, "ALL") {
			return &ws[i]
		}
	}
	return nil
}

// containerd models the CRI plugin's WithCapabilities: ALL is matched in
// any case; add ALL replaces the set with every capability containerd holds,
// then drop ALL empties it (so add ALL + drop ALL is nothing), then each add
// and then each drop is applied, so a capability in both lists is dropped.
// Every other name becomes "CAP_" + its upper case, even when it already has
// the prefix: "CAP_SYS_ADMIN" is sent as "CAP_CAP_SYS_ADMIN", which runc
// ignores with a warning. privileged gives every capability containerd
// holds. Ambient and inheritable sets are always empty; for a non-root user
// execve leaves only the bounding set.
func (e *env) containerd(id identity) spec {
	var sp spec
	all := e.host // containerd's ALL is the capabilities it holds itself
	l := newList()
	l.addSet(e.defaults, reason(FromDefault, nil))
	addAll, dropAll := firstAll(e.w.CapAdd), firstAll(e.w.CapDrop)
	if addAll != nil {
		l.clear()
		l.addSet(all, reason(FromAll, addAll))
	}
	if dropAll != nil {
		l.clear()
		if addAll != nil {
			sp.note("containerd: cap_drop ALL comes after cap_add ALL, so the container starts from nothing")
		}
	}
	send := func(w workload.Word, list string) (capset.Cap, bool) {
		sent := "CAP_" + strings.ToUpper(w.Text)
		c, ok := e.runcKnows(sent)
		if !ok {
			msg := fmt.Sprintf("containerd sends %q; runc ignores it (\"ignoring unknown or unavailable capabilities\")", sent)
			if strings.HasPrefix(strings.ToUpper(w.Text), "CAP_") {
				msg = fmt.Sprintf("containerd adds CAP_ to every name, so %q becomes %q, which runc ignores with a warning; write %s", w.Text, sent, strings.TrimPrefix(strings.ToUpper(w.Text), "CAP_"))
			}
			if list == "cap_drop" {
				msg += ": nothing is dropped"
			} else {
				msg += ": nothing is added"
			}
			sp.name(w, list, Ignored, sent, msg)
		}
		return c, ok
	}
	for i, w := range e.w.CapAdd {
		if strings.EqualFold(w.Text, "ALL") {
			continue
		}
		if c, ok := send(w, "cap_add"); ok {
			l.add(c, reason(FromAdd, &e.w.CapAdd[i]))
		}
	}
	for _, w := range e.w.CapDrop {
		if strings.EqualFold(w.Text, "ALL") {
			continue
		}
		if c, ok := send(w, "cap_drop"); ok {
			if l.set.Has(c) && addedIn(e.w.CapAdd, c) {
				sp.note("containerd: %s is both added and dropped; the drop wins", c.Short())
			}
			l.drop(c)
		}
	}
	if e.w.Privileged {
		l.clear()
		l.addSet(all, reason(FromPrivileged, e.privilegedWord()))
	}
	sp.prov = l.why
	sp.bounding, sp.permitted, sp.effective = l.set, l.set, l.set
	_ = id // containerd writes the same spec for every user; execve decides
	return sp
}

// addedIn reports whether words name c in the normal way (any case, CAP_
// optional).
func addedIn(words []workload.Word, c capset.Cap) bool {
	for _, w := range words {
		if x, ok := Lenient(w.Text); ok && x == c {
			return true
		}
	}
	return false
}

// crio models CRI-O's SpecSetupCapabilities: the default set is used only
// when neither list holds ALL (any case); add ALL gives every capability the
// kernel has, drop ALL removes everything, then adds and then drops are
// applied, so the drop wins and add ALL + drop ALL is nothing. CAP_ is
// optional. An unknown name in either list makes CRI-O refuse the container.
// Ambient and inheritable sets are empty (add_inheritable_capabilities is
// off by default).
func (e *env) crio(id identity) spec {
	var sp spec
	all := e.kernel
	l := newList()
	addAll, dropAll := firstAll(e.w.CapAdd), firstAll(e.w.CapDrop)
	if addAll != nil {
		l.addSet(all, reason(FromAll, addAll))
	}
	prefixed := func(s string) string {
		if !strings.HasPrefix(strings.ToLower(s), "cap_") {
			return "CAP_" + strings.ToUpper(s)
		}
		return strings.ToUpper(s)
	}
	resolve := func(w workload.Word, list string) (capset.Cap, bool) {
		s := prefixed(w.Text)
		c, ok := exact(s)
		if list == "cap_add" {
			ok = ok && e.kernel.Has(c)
		}
		if !ok {
			msg := fmt.Sprintf("unknown capability %q to add", s)
			if list == "cap_drop" {
				msg = fmt.Sprintf("failed to drop cap %s invalid capability: %s", s, s)
			}
			sp.name(w, list, Rejected, s, msg)
			sp.refuse(StageCreate, msg, &w)
		}
		return c, ok
	}
	if dropAll != nil {
		l.clear()
		if addAll != nil {
			sp.note("CRI-O: cap_drop ALL comes after cap_add ALL, so the container starts from nothing")
		}
	}
	for i, w := range e.w.CapAdd {
		if strings.EqualFold(w.Text, "ALL") {
			continue
		}
		if c, ok := resolve(w, "cap_add"); ok {
			l.add(c, reason(FromAdd, &e.w.CapAdd[i]))
		}
	}
	if addAll == nil && dropAll == nil {
		l.addSet(e.defaults, reason(FromDefault, nil))
	}
	for _, w := range e.w.CapDrop {
		if strings.EqualFold(w.Text, "ALL") {
			continue
		}
		if c, ok := resolve(w, "cap_drop"); ok {
			if l.set.Has(c) && addedIn(e.w.CapAdd, c) {
				sp.note("CRI-O: %s is both added and dropped; the drop wins", c.Short())
			}
			l.drop(c)
		}
	}
	if e.w.Privileged {
		l.clear()
		l.addSet(all, reason(FromPrivileged, e.privilegedWord()))
	}
	sp.prov = l.why
	sp.bounding, sp.permitted, sp.effective = l.set, l.set, l.set
	_ = id
	return sp
}

// nerdctl models nerdctl run/create (containerd without CRI, nerdctl
// pkg/cmd/container generateCapOpts): names are upper-cased and get CAP_
// when missing (an unknown one is only warned about and reaches runc, which
// ignores it); ALL is matched in any case. drop ALL empties the set first;
// add ALL then gives every capability nerdctl holds, otherwise the adds
// are applied; the drops are applied last unless drop holds ALL. So the
// drop wins, and add ALL + drop ALL is every capability. privileged gives
// every capability nerdctl holds.
func (e *env) nerdctl(id identity) spec {
	var sp spec
	l := newList()
	l.addSet(e.defaults, reason(FromDefault, nil))
	if len(e.w.CapAdd) > 0 || len(e.w.CapDrop) > 0 {
		addAll, dropAll := firstAll(e.w.CapAdd), firstAll(e.w.CapDrop)
		if dropAll != nil {
			l.clear()
		}
		send := func(w workload.Word, list string) (capset.Cap, bool) {
			s := strings.ToUpper(w.Text)
			if !strings.HasPrefix(s, "CAP_") {
				s = "CAP_" + s
			}
			c, ok := e.runcKnows(s)
			if !ok {
				effect := "nothing is added"
				if list == "cap_drop" {
					effect = "nothing is dropped"
				}
				sp.name(w, list, Ignored, s, fmt.Sprintf("nerdctl warns \"unknown capability name %q\" and runc ignores it: %s", s, effect))
			}
			return c, ok
		}
		if addAll != nil {
			l.clear()
			l.addSet(e.host, reason(FromAll, addAll))
			if dropAll != nil {
				sp.note("nerdctl: cap_add ALL is applied after cap_drop ALL, so the container gets every capability")
			}
		} else {
			for i, w := range e.w.CapAdd {
				if c, ok := send(w, "cap_add"); ok {
					l.add(c, reason(FromAdd, &e.w.CapAdd[i]))
				}
			}
		}
		if dropAll == nil {
			for _, w := range e.w.CapDrop {
				if c, ok := send(w, "cap_drop"); ok {
					if l.set.Has(c) && addedIn(e.w.CapAdd, c) {
						sp.note("nerdctl: %s is both added and dropped; the drop wins", c.Short())
					}
					l.drop(c)
				}
			}
		}
	}
	if e.w.Privileged {
		l.clear()
		l.addSet(e.host, reason(FromPrivileged, e.privilegedWord()))
	}
	sp.prov = l.why
	sp.bounding, sp.permitted, sp.effective = l.set, l.set, l.set
	_ = id
	return sp
}
