package merge

import (
	"fmt"
	"strings"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/workload"
)

// podmanWord is a name after containers/common normalised it.
type podmanWord struct {
	all  bool
	cap  capset.Cap
	word workload.Word
}

// podman models containers/common MergeCapabilities and Podman's
// securityConfigureGenerator. Names are upper-cased with CAP_ optional; an
// unknown name, the same capability in both lists, and add ALL with drop ALL
// are refused. drop ALL gives exactly the added capabilities; add ALL gives
// Podman's own bounding set minus the drops; otherwise the default set
// (containers.conf) minus drops plus adds. The result is silently limited
// to Podman's own bounding set. The image label io.containers.capabilities,
// when it asks only for capabilities the container would have anyway,
// replaces the set. A non-root user gets its added capabilities in the
// effective, permitted, inheritable and ambient sets, which no other runtime
// does.
func (e *env) podman(id identity) spec {
	var sp spec
	hostBnd := e.host
	normalize := func(words []workload.Word, list string) ([]podmanWord, bool) {
		var out []podmanWord
		ok := true
		for _, w := range words {
			s := strings.ToUpper(w.Text)
			if s == "ALL" {
				out = append(out, podmanWord{all: true, word: w})
				continue
			}
			if !strings.HasPrefix(s, "CAP_") {
				s = "CAP_" + s
			}
			c, known := exact(s)
			if !known || !e.kernel.Has(c) {
				msg := fmt.Sprintf("%q: unknown capability", s)
				sp.name(w, list, Rejected, s, msg)
				sp.refuse(StageCreate, msg, &w)
				ok = false
				continue
			}
			out = append(out, podmanWord{cap: c, word: w})
		}
		return out, ok
	}
	find := func(ws []podmanWord, c capset.Cap) *podmanWord {
		for i := range ws {
			if !ws[i].all && ws[i].cap == c {
				return &ws[i]
			}
		}
		return nil
	}
	hasAll := func(ws []podmanWord) *workload.Word {
		for i := range ws {
			if ws[i].all {
				return &ws[i].word
			}
		}
		return nil
	}

	if u := e.w.Host.Namespaces.User; u != nil && !e.w.Rootless {
		if mode, _, _ := strings.Cut(u.Text, ":"); mode == "keep-id" || mode == "nomap" {
			sp.refuseHint(StageCreate, mode+" is only supported in rootless mode",
				"Podman run as root refuses this user namespace mode", u)
			return sp
		}
	}
	l := newList()
	if e.w.Privileged {
		l.addSet(hostBnd, reason(FromPrivileged, e.privilegedWord()))
	} else {
		drops, okd := normalize(e.w.CapDrop, "cap_drop")
		adds, oka := normalize(e.w.CapAdd, "cap_add")
		if !okd || !oka {
			return sp
		}
		addAll, dropAll := hasAll(adds), hasAll(drops)
		switch {
		case len(e.w.CapAdd) == 0 && len(e.w.CapDrop) == 0:
			l.addSet(e.defaults, reason(FromDefault, nil))
		case dropAll != nil && addAll != nil:
			sp.refuse(StageCreate, "adding all caps and removing all caps not allowed", addAll)
			return sp
		case dropAll != nil:
			for i := range adds {
				l.add(adds[i].cap, reason(FromAdd, &adds[i].word))
			}
		default:
			base, src, srcWord := e.defaults, FromDefault, (*workload.Word)(nil)
			if addAll != nil {
				base, src, srcWord = hostBnd, FromAll, addAll
			} else {
				for _, a := range adds {
					if d := find(drops, a.cap); d != nil {
						sp.name(d.word, "cap_drop", Rejected, d.cap.Name(), fmt.Sprintf("capability %q cannot be dropped and added", a.cap.Name()))
						sp.refuse(StageCreate, fmt.Sprintf("capability %q cannot be dropped and added", a.cap.Name()), &d.word)
						return sp
					}
				}
			}
			for _, c := range base.Caps() {
				if find(drops, c) == nil {
					l.add(c, reason(src, srcWord))
				}
			}
			if addAll == nil {
				for i := range adds {
					l.add(adds[i].cap, reason(FromAdd, &adds[i].word))
				}
			}
		}
		for _, c := range l.set.Minus(hostBnd).Caps() {
			for _, r := range l.why[c] {
				if r.Word != nil {
					sp.name(*r.Word, "cap_add", Unavailable, c.Name(), fmt.Sprintf("Podman's own bounding set lacks %s, so it silently leaves it out", c.Name()))
				}
			}
		}
		l.keepOnly(hostBnd)
		e.podmanLabel(&sp, l)
		if sp.refusal != nil {
			return sp
		}
	}
	sp.prov = l.why
	sp.bounding = l.set
	if e.w.Rootless {
		sp.note("rootless Podman: the container's capabilities are held in the user namespace of the user running Podman, not over the host")
	}
	if id.root {
		sp.permitted, sp.effective = l.set, l.set
		return sp
	}
	// Non-root: the added capabilities (within Podman's bounding set)
	// become effective, permitted, inheritable and ambient.
	adds, _ := normalize(e.w.CapAdd, "cap_add")
	user := newList()
	for i := range adds {
		if adds[i].all {
			user.addSet(hostBnd, reason(FromAll, &adds[i].word))
			continue
		}
		if hostBnd.Has(adds[i].cap) {
			user.add(adds[i].cap, reason(FromAdd, &adds[i].word))
		}
	}
	for c, rs := range user.why {
		if _, ok := sp.prov[c]; !ok {
			sp.prov[c] = rs
		}
	}
	sp.permitted, sp.effective, sp.inheritable, sp.ambient = user.set, user.set, user.set, user.set
	if !user.set.IsEmpty() {
		sp.note("Podman: a non-root user gets its added capabilities as ambient capabilities, so they are effective")
	}
	return sp
}

// podmanLabel applies the image label io.containers.capabilities: an empty
// label empties the set; a label naming only capabilities the container
// would get anyway replaces the set; a label asking for more is ignored
// (Podman logs an error and keeps the set).
func (e *env) podmanLabel(sp *spec, l *list) {
	words := e.w.ImageCaps
	if words == nil {
		return
	}
	if len(words) == 0 || (len(words) == 1 && strings.TrimSpace(words[0].Text) == "") {
		l.clear()
		sp.note("Podman: the image label io.containers.capabilities is empty, so the container gets no capabilities")
		return
	}
	label := newList()
	for i, w := range words {
		s := strings.ToUpper(w.Text)
		if s == "ALL" {
			label.addSet(e.host, reason(FromImageLabel, &words[i]))
			continue
		}
		if !strings.HasPrefix(s, "CAP_") {
			s = "CAP_" + s
		}
		c, ok := exact(s)
		if !ok || !e.kernel.Has(c) {
			msg := fmt.Sprintf("capabilities requested by user or image are not valid: %q: unknown capability", s)
			sp.name(w, "image-label", Rejected, s, msg)
			sp.refuse(StageCreate, msg, &words[i])
			return
		}
		label.add(c, reason(FromImageLabel, &words[i]))
	}
	if extra := label.set.Minus(l.set); !extra.IsEmpty() {
		sp.note("Podman ignores the image label io.containers.capabilities: it asks for %s, which the container is not allowed by default", extra)
		for _, c := range extra.Caps() {
			for _, r := range label.why[c] {
				sp.name(*r.Word, "image-label", Ignored, c.Name(), fmt.Sprintf("Capabilities requested by user or image are not allowed by default: %q; Podman ignores the whole label", c.Name()))
			}
		}
		return
	}
	*l = *label
	sp.note("Podman: the image label io.containers.capabilities sets the container's capabilities")
}
