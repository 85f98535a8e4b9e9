package report

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/internal/term"
	"github.com/capdrop/capdrop/knowledge"
)

// CapEntry is the JSON form of one knowledge-base entry (capdrop caps and
// explain -o json). Defaults maps every baseline ID (docker, containerd,
// crio, podman, runc, baseline, restricted) to whether it holds the
// capability.
type CapEntry struct {
	knowledge.Entry
	Defaults map[string]bool `json:"defaults"`
}

// NewCapEntry builds the JSON form of e.
func NewCapEntry(e knowledge.Entry) CapEntry {
	d := map[string]bool{}
	for _, b := range knowledge.Baselines() {
		d[b.ID] = b.Caps.Has(e.Cap)
	}
	return CapEntry{Entry: e, Defaults: d}
}

// CapsJSON writes entries as a JSON array.
func CapsJSON(w io.Writer, entries []knowledge.Entry) error {
	out := make([]CapEntry, len(entries))
	for i, e := range entries {
		out[i] = NewCapEntry(e)
	}
	return JSON(w, out)
}

// RiskLabel colours a risk level by its gravity.
func (t Text) RiskLabel(r knowledge.Risk) string {
	s := r.String()
	switch r {
	case knowledge.Critical:
		return t.pal().Magenta(s)
	case knowledge.High:
		return t.pal().Red(s)
	case knowledge.Medium:
		return t.pal().Yellow(s)
	default:
		return t.pal().Green(s)
	}
}

var runtimeHeaders = map[string]string{
	knowledge.Docker: "DOCKER", knowledge.Containerd: "CONTAINERD", knowledge.CRIO: "CRIO",
	knowledge.Podman: "PODMAN", knowledge.Runc: "RUNC",
}

// CapsTable writes the capability table. With runtime set, only that
// runtime's default column is shown, its members are marked with "*", and a
// closing line gives the set's size and mask.
func (t Text) CapsTable(w io.Writer, entries []knowledge.Entry, runtime string) error {
	tab := term.Table{MaxWidth: t.Width}
	cols := knowledge.RuntimeIDs
	if runtime != "" {
		cols = []string{runtime}
	}
	head := []string{"NR", "CAPABILITY", "RISK"}
	for _, id := range cols {
		head = append(head, runtimeHeaders[id])
	}
	tab.Row(append(head, "SUMMARY")...)
	var def capset.Set
	if runtime != "" {
		def, _ = knowledge.Default(runtime)
	}
	for _, e := range entries {
		name := e.Name
		if runtime != "" {
			if def.Has(e.Cap) {
				name = t.pal().Bold("*" + name)
			} else {
				name = " " + name
			}
		}
		row := []string{strconv.Itoa(e.Number), name, t.RiskLabel(e.Risk)}
		for _, id := range cols {
			mark := ""
			if s, _ := knowledge.Default(id); s.Has(e.Cap) {
				mark = "yes"
			}
			row = append(row, mark)
		}
		tab.Row(append(row, e.Summary)...)
	}
	if err := tab.Render(w); err != nil {
		return err
	}
	if runtime != "" {
		b := baselineByID(runtime)
		_, err := fmt.Fprintf(w, "\n* %s default: %d capabilities, mask %s\n  %s\n", b.Title, b.Caps.Len(), b.Caps.Hex(),
			term.Wrap(b.Note, t.wrapWidth()-2, "  ")[2:])
		return err
	}
	return nil
}

func baselineByID(id string) knowledge.Baseline {
	for _, b := range knowledge.Baselines() {
		if b.ID == id {
			return b
		}
	}
	return knowledge.Baseline{ID: id, Title: id}
}

// Explain writes the full entries, one after the other, in sections.
func (t Text) Explain(w io.Writer, entries []knowledge.Entry) error {
	p := t.pal()
	width := t.wrapWidth()
	var b strings.Builder
	for i, e := range entries {
		if i > 0 {
			b.WriteString("\n")
		}
		rootEq := ""
		if e.RootEquivalent {
			rootEq = ", " + p.Red("root-equivalent")
		}
		fmt.Fprintf(&b, "%s (%d) — risk %s%s — since Linux %s\n", p.Bold(e.Name), e.Number, t.RiskLabel(e.Risk), rootEq, e.Since)
		b.WriteString(term.Wrap(e.Summary, width, "  ") + "\n")
		section := func(title string) { b.WriteString("\n" + p.Bold(title) + "\n") }
		para := func(title, text string) {
			section(title)
			b.WriteString(term.Wrap(text, width, "  ") + "\n")
		}
		list := func(title string, items []string) {
			section(title)
			for _, it := range items {
				b.WriteString(term.WrapHanging(it, width, "  - ", "    ") + "\n")
			}
		}
		para("What it allows", e.Description)
		para("Risk: "+e.Risk.String(), e.RiskReason)
		list("Escalation paths", e.Escalation)
		list("Needed when", e.NeededWhen)
		list("Checked by", e.CheckedBy)
		para("Dropping it", e.Advice)
		section("In default sets")
		var in, out []string
		for _, bl := range knowledge.Baselines() {
			if bl.Caps.Has(e.Cap) {
				in = append(in, bl.ID)
			} else {
				out = append(out, bl.ID)
			}
		}
		fmt.Fprintf(&b, "  held by:     %s\n  not held by: %s\n", orNone(in), orNone(out))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
