package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/internal/term"
	"github.com/capdrop/capdrop/knowledge"
)

// Mask is the JSON form of one decoded or encoded mask: the mask as 16 hex
// digits and the canonical names of its capabilities (unknown bits as
// "cap_41").
type Mask struct {
	Mask         string   `json:"mask"`
	Capabilities []string `json:"capabilities"`
}

// NewMask builds the JSON form of s.
func NewMask(s capset.Set) Mask { return Mask{Mask: s.Hex(), Capabilities: s.Names()} }

// ProcessSets is the JSON form of `capdrop decode --pid`.
type ProcessSets struct {
	PID     int             `json:"pid"`
	Command string          `json:"command"`
	Sets    capset.SetNames `json:"sets"`
	Hex     capset.SetHex   `json:"hex"`
}

// Decoded writes one mask as text: the mask, then one capability per line
// with its risk and whether Docker grants it by default.
func (t Text) Decoded(w io.Writer, s capset.Set) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %d capabilities\n", t.pal().Bold(s.Hex()), s.Len())
	tab := term.Table{}
	for _, c := range s.Caps() {
		risk := "unknown"
		if e, ok := knowledge.Lookup(c); ok {
			risk = t.RiskLabel(e.Risk)
		}
		tab.Row("  "+c.Name(), risk)
	}
	io.WriteString(w, b.String())
	return tab.Render(w)
}

// FiveSets writes the five sets of a process, one line per set.
func (t Text) FiveSets(w io.Writer, f capset.Sets) error {
	tab := term.Table{}
	f.Each(func(name string, set capset.Set) {
		tab.Row(t.pal().Bold(name), set.Hex(), Summarize(set))
	})
	return tab.Render(w)
}

// Summarize names a set compactly: "none", "ALL (41)", "ALL - SYS_ADMIN",
// or the short names of its members.
func Summarize(s capset.Set) string {
	switch {
	case s.IsEmpty():
		return "none"
	case s == capset.Known:
		return fmt.Sprintf("ALL (%d)", s.Len())
	case s.Contains(capset.Known) && s != capset.Known:
		return fmt.Sprintf("ALL + %s", strings.Join(s.Minus(capset.Known).ShortNames(), ","))
	}
	missing := capset.Known.Minus(s)
	if s.Minus(capset.Known).IsEmpty() && missing.Len() <= 4 && s.Len() > 20 {
		return "ALL - " + strings.Join(missing.ShortNames(), ",")
	}
	return strings.Join(s.ShortNames(), ",")
}
