package fleet

import (
	"cmp"
	"slices"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/knowledge"
)

// CapTotal counts, for one capability, the containers in each state.
type CapTotal struct {
	Cap  capset.Cap
	Risk knowledge.Risk
	// Held counts containers holding it (any held state); Configured those
	// whose configuration asks for it.
	Held, Configured int
	// Used and Needed count holders seen using or needing it; Unused the
	// holders a profile or verify result knows about that never used it;
	// Unknown the holders nothing is known about.
	Used, Needed, Unused, Unknown int
	// Missing counts containers that need it but do not hold it; Dropped
	// and Added the containers the change took it from or gave it to.
	Missing, Dropped, Added int
	// After counts the holders if every recommendation were applied:
	// containers with a known need keep it only when they need it.
	After int
}

// GroupTotal sums up one group along a dimension.
type GroupTotal struct {
	Name       string
	Containers int
	// ByRisk counts held capabilities (cells) by risk: how many grants of
	// a critical, high, medium or low capability the group's containers
	// hold.
	ByRisk map[knowledge.Risk]int
	// Unused counts grants held but never used; Unknown grants nothing is
	// known about.
	Unused, Unknown int
	// Findings counts findings by severity.
	Findings map[string]int
}

// Totals are the fleet's sums.
type Totals struct {
	Containers int
	// Profiled counts containers with something known about their use.
	Profiled int
	// Grants counts held cells; Unused those held but never used (of
	// profiled containers), Unknown those of containers nothing is known
	// about, Needed and Used the others.
	Grants, Unused, Unknown, Used, Needed int
	// Missing counts needed-but-not-held cells.
	Missing int
	// Before and After count grants before the change (when compared) and
	// after the recommendations (containers with a known need keep only
	// it). Dropped and Added count the change's cells.
	Before, After, Dropped, Added int
	// CriticalHolders counts containers that hold a critical capability.
	CriticalHolders int
	// Caps has one entry per column, in column order.
	Caps []CapTotal
	// Findings counts findings by severity; UncertainFindings those the
	// audit made of a configuration it could not fully see.
	Findings          map[string]int
	UncertainFindings int
	// Uncertain counts containers whose configuration the audit could
	// not fully see; Partial those whose profile says it is partial.
	Uncertain, Partial int
}

// Totals computes the fleet's totals.
func (f *Fleet) Totals() Totals {
	t := Totals{Containers: len(f.Containers), Findings: map[string]int{}}
	idx := map[capset.Cap]int{}
	for i, cp := range f.Columns {
		idx[cp] = i
		t.Caps = append(t.Caps, CapTotal{Cap: cp, Risk: Risk(cp)})
	}
	for _, c := range f.Containers {
		if c.Known() {
			t.Profiled++
		}
		if c.Before != nil {
			t.Before += c.Before.Len()
		}
		critical := false
		rec, knows := c.Recommended()
		for cp, cell := range c.cellsMap() {
			ct := &t.Caps[idx[cp]]
			if cell.Configured {
				ct.Configured++
			}
			if cell.Added {
				ct.Added++
				t.Added++
			}
			if !cell.State.Holds() {
				switch cell.State {
				case Missing:
					ct.Missing++
					t.Missing++
				case Dropped:
					ct.Dropped++
					t.Dropped++
				}
				continue
			}
			ct.Held++
			t.Grants++
			critical = critical || ct.Risk == knowledge.Critical
			if !knows || rec.Has(cp) {
				ct.After++
				t.After++
			}
			switch cell.State {
			case Needed:
				ct.Needed++
				t.Needed++
			case Used:
				ct.Used++
				t.Used++
			case Unused:
				ct.Unused++
				t.Unused++
			default:
				ct.Unknown++
				t.Unknown++
			}
		}
		if critical {
			t.CriticalHolders++
		}
		for _, fd := range c.Findings {
			if fd.Severity != "" {
				t.Findings[fd.Severity]++
			}
			if fd.Uncertain {
				t.UncertainFindings++
			}
		}
		if len(c.Uncertain) > 0 {
			t.Uncertain++
		}
		if c.Usage != nil && c.Usage.Partial {
			t.Partial++
		}
	}
	return t
}

// Groups sums the fleet up by one dimension ("namespace", "host",
// "workload", "file"), the group with most critical grants first. Containers
// with no value along the dimension form the group "".
func (f *Fleet) Groups(dim string) []GroupTotal {
	byName := map[string]*GroupTotal{}
	var order []string
	for _, c := range f.Containers {
		name := c.Group.Get(dim)
		g := byName[name]
		if g == nil {
			g = &GroupTotal{Name: name, ByRisk: map[knowledge.Risk]int{}, Findings: map[string]int{}}
			byName[name] = g
			order = append(order, name)
		}
		g.Containers++
		for cp, cell := range c.cellsMap() {
			if !cell.State.Holds() {
				continue
			}
			g.ByRisk[Risk(cp)]++
			switch cell.State {
			case Unused:
				g.Unused++
			case Held, Bounding:
				g.Unknown++
			}
		}
		for _, fd := range c.Findings {
			if fd.Severity != "" {
				g.Findings[fd.Severity]++
			}
		}
	}
	out := make([]GroupTotal, 0, len(order))
	for _, n := range order {
		out = append(out, *byName[n])
	}
	slices.SortStableFunc(out, func(a, b GroupTotal) int {
		for r := knowledge.Critical; r >= knowledge.Low; r-- {
			if c := cmp.Compare(b.ByRisk[r], a.ByRisk[r]); c != 0 {
				return c
			}
		}
		return cmp.Compare(a.Name, b.Name)
	})
	return out
}

// GroupedBy reports the dimensions along which some container has a value,
// in Dimensions order.
func (f *Fleet) GroupedBy() []string {
	var out []string
	for _, d := range Dimensions {
		for _, c := range f.Containers {
			if c.Group.Get(d) != "" {
				out = append(out, d)
				break
			}
		}
	}
	return out
}
