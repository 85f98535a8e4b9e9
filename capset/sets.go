package capset

// Sets are the five capability sets the kernel keeps for every thread, as
// /proc/<pid>/status shows them.
type Sets struct {
	Inheritable Set
	Permitted   Set
	Effective   Set
	Bounding    Set
	Ambient     Set
}

// SetNames is the JSON form of Sets used throughout capdrop's output: each set
// as the list of canonical names ("CAP_CHOWN", …).
type SetNames struct {
	Effective   []string `json:"effective"`
	Permitted   []string `json:"permitted"`
	Inheritable []string `json:"inheritable"`
	Bounding    []string `json:"bounding"`
	Ambient     []string `json:"ambient"`
}

// SetHex is Sets as 16-digit hex masks, the form /proc shows.
type SetHex struct {
	Effective   string `json:"effective"`
	Permitted   string `json:"permitted"`
	Inheritable string `json:"inheritable"`
	Bounding    string `json:"bounding"`
	Ambient     string `json:"ambient"`
}

// Names returns the name-list form of s.
func (s Sets) Names() SetNames {
	return SetNames{s.Effective.Names(), s.Permitted.Names(), s.Inheritable.Names(), s.Bounding.Names(), s.Ambient.Names()}
}

// Hex returns the mask form of s.
func (s Sets) Hex() SetHex {
	return SetHex{s.Effective.Hex(), s.Permitted.Hex(), s.Inheritable.Hex(), s.Bounding.Hex(), s.Ambient.Hex()}
}

// Each calls f for the five sets in the order /proc/<pid>/status lists them,
// with their lower-case names.
func (s Sets) Each(f func(name string, set Set)) {
	f("inheritable", s.Inheritable)
	f("permitted", s.Permitted)
	f("effective", s.Effective)
	f("bounding", s.Bounding)
	f("ambient", s.Ambient)
}
