package inventory

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/knowledge"
)

// Mismatch is one way a container's live sets differ from what its
// configuration asked for.
type Mismatch struct {
	Kind    string     // one of the Mismatch* kinds
	Caps    capset.Set // the capabilities concerned
	Message string     // one sentence for people
}

// The kinds of Mismatch.
const (
	// MismatchAddNotHeld: cap_add names capabilities the bounding set does
	// not have (the engine does not know them, or lacks them itself).
	MismatchAddNotHeld = "add-not-held"
	// MismatchDropStillHeld: cap_drop names capabilities the bounding set
	// still has.
	MismatchDropStillHeld = "drop-still-held"
	// MismatchAddNotEffective: the process runs as a non-root user, so what
	// cap_add (or privileged) granted is only in the bounding set.
	MismatchAddNotEffective = "add-not-effective"
	// MismatchPrivilegedPartial: a privileged container lacks capabilities
	// the kernel has.
	MismatchPrivilegedPartial = "privileged-partial"
)

// summarize fills what the container view shows about c's main process.
func summarize(c *Container, kernel, host capset.Set) {
	if c.Main == nil {
		return
	}
	sets := c.Main.Sets
	if def, ok := knowledge.Default(string(c.Runtime)); ok {
		c.Default = string(c.Runtime)
		c.Beyond = sets.Bounding.Minus(def)
	}
	c.Riskiest = Riskiest(sets.Bounding)
	switch {
	case c.Config != nil && c.Config.kube:
		c.Mismatches = kubeMismatches(c, host)
	case c.Config != nil:
		c.Mismatches = mismatches(c.Config, c.Main, kernel)
	}
}

// Riskiest returns the capabilities of s the knowledge base rates high or
// critical, riskiest first (then by number).
func Riskiest(s capset.Set) []capset.Cap {
	type rated struct {
		c    capset.Cap
		risk knowledge.Risk
	}
	var rs []rated
	for _, c := range s.Caps() {
		if e, ok := knowledge.Lookup(c); ok && e.Risk >= knowledge.High {
			rs = append(rs, rated{c, e.Risk})
		}
	}
	slices.SortStableFunc(rs, func(a, b rated) int { return cmp.Compare(b.risk, a.risk) })
	out := make([]capset.Cap, len(rs))
	for i, r := range rs {
		out[i] = r.c
	}
	return out
}

// configSet turns a cap_add or cap_drop list into a set; ALL becomes all.
// Names the engine would have refused are left out.
func configSet(words []string, all capset.Set) (set capset.Set, hasAll bool) {
	for _, w := range words {
		if capset.IsAll(w) {
			hasAll = true
			set = set.Union(all)
			continue
		}
		if c, err := capset.Parse(w); err == nil {
			set = set.With(c)
		}
	}
	return set, hasAll
}

// mismatches compares the main process's live sets with the Docker
// configuration: Docker ignores cap_drop when privileged, and a capability
// both added and dropped is added.
func mismatches(cfg *Config, p *Process, kernel capset.Set) []Mismatch {
	var out []Mismatch
	bnd, eff := p.Sets.Bounding, p.Sets.Effective
	add, addAll := configSet(cfg.CapAdd, kernel)
	drop, _ := configSet(cfg.CapDrop, kernel)
	if cfg.Privileged {
		if missing := kernel.Minus(bnd); !missing.IsEmpty() {
			out = append(out, Mismatch{MismatchPrivilegedPartial, missing,
				fmt.Sprintf("privileged, but the bounding set lacks %s (the engine does not know them, or does not hold them itself)", list(missing))})
		}
	} else {
		if notHeld := add.Minus(bnd); !addAll && !notHeld.IsEmpty() {
			out = append(out, Mismatch{MismatchAddNotHeld, notHeld,
				fmt.Sprintf("cap_add asks for %s, but the bounding set does not have it", list(notHeld))})
		}
		if held := drop.Minus(add).Intersect(bnd); !held.IsEmpty() {
			out = append(out, Mismatch{MismatchDropStillHeld, held,
				fmt.Sprintf("cap_drop asks to drop %s, but the bounding set still has it", list(held))})
		}
	}
	granted := add.Intersect(bnd)
	if cfg.Privileged {
		granted = bnd
	}
	if p.EUID != 0 {
		if lost := granted.Minus(eff); !lost.IsEmpty() {
			what := "cap_add"
			if cfg.Privileged {
				what = "privileged"
			}
			out = append(out, Mismatch{MismatchAddNotEffective, lost,
				fmt.Sprintf("runs as uid %d: what %s grants (%s) is only in the bounding set, not effective", p.EUID, what, list(lost))})
		}
	}
	return out
}

// list names a set compactly for a message.
func list(s capset.Set) string {
	if s.Len() > 6 {
		return fmt.Sprintf("%d capabilities", s.Len())
	}
	return strings.Join(s.ShortNames(), ", ")
}
