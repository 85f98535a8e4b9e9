package needs

import "github.com/capdrop/capdrop/capset"

// Combo is a set of operations whose needs are known: the ground truth a
// profile must recover exactly.
type Combo struct {
	Name string
	Ops  []string
}

// Combos are the combinations the tests prove and profile. Together they
// use every operation.
var Combos = []Combo{
	{"files", []string{"chown", "fowner"}},
	{"identity", []string{"setuid", "setgid"}},
	{"network", []string{"bind", "raw"}},
	{"fs-admin", []string{"chroot", "mknod", "setfcap"}},
	{"mount", []string{"mount"}},
	{"scheduling", []string{"nice", "mlock"}},
	{"signals-and-writes", []string{"kill", "dac-override"}},
	{"reads-and-setgid-bit", []string{"dac-read-search", "fsetid"}},
	{"net-admin", []string{"net-admin", "chown"}},
}

// Needs returns the capabilities the combination needs.
func (c Combo) Needs() capset.Set {
	s, err := Set(c.Ops...)
	if err != nil {
		panic("needs: bad combo " + c.Name + ": " + err.Error())
	}
	return s
}
