package merge

import (
	"fmt"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/workload"
)

// oci models an OCI runtime spec run by runc: the five lists are used as
// written. runc matches names exactly ("CAP_" and upper case) against what
// the kernel has and ignores every other name with a warning. A spec
// without process.capabilities gives the process no capabilities at all
// (runc 1.1 applies empty sets).
func (e *env) oci() spec {
	var sp spec
	sp.prov = map[capset.Cap][]Reason{}
	x := e.w.Explicit
	if x == nil {
		sp.note("the spec has no process.capabilities: runc gives the process no capabilities")
		return sp
	}
	resolve := func(words []workload.Word, list string) capset.Set {
		var s capset.Set
		for i, w := range words {
			c, ok := e.runcKnows(w.Text)
			if !ok {
				msg := fmt.Sprintf("runc ignores %q (\"ignoring unknown or unavailable capabilities\")", w.Text)
				if p, err := capset.Parse(w.Text); err == nil && e.kernel.Has(p) {
					msg += fmt.Sprintf("; runc wants exactly %s", p.Name())
				}
				sp.name(w, list, Ignored, "", msg)
				continue
			}
			s = s.With(c)
			r := reason(FromExplicit, &words[i])
			if len(sp.prov[c]) == 0 {
				sp.prov[c] = []Reason{r}
			}
		}
		return s
	}
	sp.bounding = resolve(x.Bounding, "bounding")
	sp.effective = resolve(x.Effective, "effective")
	sp.permitted = resolve(x.Permitted, "permitted")
	sp.inheritable = resolve(x.Inheritable, "inheritable")
	sp.ambient = resolve(x.Ambient, "ambient")
	if e.w.Privileged {
		sp.note("privileged has no meaning in an OCI spec; the lists decide")
	}
	return sp
}
