package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/capdrop/capdrop/audit"
	"github.com/capdrop/capdrop/internal/term"
	"github.com/capdrop/capdrop/runlabel"
)

// Runlabel is what capdrop runlabel shows before it runs a label, or
// instead of running it.
type Runlabel struct {
	Command *runlabel.Command
	// Audit is the audit of the container the command starts; nil when it
	// starts none.
	Audit *audit.Report
	// Refused lists why the command will not run (--strict, --fail-on);
	// empty when it may.
	Refused []string
}

// RunlabelVersion is the version of the JSON document; it changes only
// when a field changes meaning or disappears.
const RunlabelVersion = 1

// RunlabelDoc is the JSON document `capdrop runlabel -o json` prints. Its
// shape is documented in docs/runlabel.md and kept stable.
type RunlabelDoc struct {
	Version    int                   `json:"version"`
	Image      runlabel.Image        `json:"image"`
	Label      string                `json:"label"`
	LabelText  string                `json:"label_text"`
	Default    bool                  `json:"default"`
	Argv       []string              `json:"argv"`
	Command    string                `json:"command"`
	Variables  []runlabel.Var        `json:"variables"`
	HostAccess []runlabel.HostAccess `json:"host_access"`
	// Judged is the image the audit judged the container as: the one the
	// command names (null when the label was refused before that).
	Judged *runlabel.Judged `json:"judged"`
	Notes  []string         `json:"notes"`
	// Audit is capdrop audit's document for the one workload (its file is
	// "command": positions are columns of Command); null when the command
	// starts no container.
	Audit   *AuditDoc `json:"audit"`
	Run     bool      `json:"run"`
	Refused []string  `json:"refused"`
}

// NewRunlabelDoc builds the JSON document.
func NewRunlabelDoc(r Runlabel) RunlabelDoc {
	c := r.Command
	img := c.Image
	if img.RepoTags == nil {
		img.RepoTags = []string{}
	}
	doc := RunlabelDoc{Version: RunlabelVersion, Image: img, Label: c.Label, LabelText: c.LabelText, Default: c.Default,
		Argv: c.Argv, Command: c.Text, Variables: nonNilOf(c.Vars), HostAccess: nonNilOf(c.Host), Notes: nonNilOf(c.Notes),
		Run: len(r.Refused) == 0, Refused: nonNilOf(r.Refused)}
	if r.Audit != nil {
		a := NewAuditDoc(Audit{Report: r.Audit})
		doc.Audit = &a
		j := c.Judged
		doc.Judged = &j
	}
	if doc.Argv == nil {
		doc.Argv = []string{}
	}
	return doc
}

func nonNilOf[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// RunlabelJSON writes the JSON document.
func RunlabelJSON(w io.Writer, r Runlabel) error { return JSON(w, NewRunlabelDoc(r)) }

// RunlabelText writes, for people: the image, the label as the image
// carries it, the variables it used, the exact command, the options that
// reach into the host, notes, and why it will not run. Everything that
// comes from the image or the environment is quoted, control characters
// escaped, so a label cannot rewrite what the terminal shows.
func (t Text) RunlabelText(w io.Writer, r Runlabel) error {
	c := r.Command
	p := t.pal()
	width := t.wrapWidth()
	var b strings.Builder
	row := func(head, text string) {
		b.WriteString(term.WrapHanging(text, width, p.Bold(fmt.Sprintf("%-9s", head))+"  ", strings.Repeat(" ", 11)) + "\n")
	}
	img := runlabel.Quote(c.Image.Ref)
	if id := strings.TrimPrefix(c.Image.ID, "sha256:"); len(id) >= 12 {
		img += " (" + id[:12] + ")"
	}
	row("image", img)
	if c.Default {
		row("label", "none: the image has no "+runlabel.DefaultLabel+" label")
	} else {
		// Not wrapped: a line break inside quotes would misquote it.
		b.WriteString(p.Bold(fmt.Sprintf("%-9s", "label")) + "  " + c.Label + "=" + runlabel.Quote(c.LabelText) + "\n")
	}
	if len(c.Vars) > 0 {
		var vs []string
		for _, v := range c.Vars {
			if !v.Set {
				vs = append(vs, v.Name+" unset (empty)")
				continue
			}
			vs = append(vs, fmt.Sprintf("%s=%s (%s)", v.Name, runlabel.Quote(v.Value), v.From))
		}
		row("variables", strings.Join(vs, ", "))
	}
	// The command is never wrapped: it is shown exactly as it runs.
	if c.Text != "" {
		b.WriteString(p.Bold(fmt.Sprintf("%-9s", "command")) + "  " + c.Text + "\n")
	}
	for _, h := range c.Host {
		row("host", fmt.Sprintf("%s (column %d): %s", h.Option, h.Col, h.What))
	}
	for _, n := range c.Notes {
		row("note", n)
	}
	if r.Audit != nil {
		row("judged", judgedText(c.Judged))
		t.runlabelAudit(&b, r.Audit)
	}
	for _, why := range r.Refused {
		row("refused", p.Red(why))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// runlabelAudit writes the audit of the one container: the runtime and
// user, the sets and why, the findings with their fixes, and a count.
func (t Text) runlabelAudit(b *strings.Builder, rep *audit.Report) {
	p := t.pal()
	width := t.wrapWidth()
	for _, as := range rep.Workloads {
		r := as.Result
		who := "root"
		if !r.Root {
			who = "non-root"
		}
		b.WriteString(term.WrapHanging(fmt.Sprintf("%s, %s (%s)", runtimeLabel(r), who, r.User), width,
			p.Bold(fmt.Sprintf("%-9s", "audit"))+"  ", strings.Repeat(" ", 11)) + "\n")
		if r.Refusal != nil {
			b.WriteString(term.WrapHanging(fmt.Sprintf("refused at %s: %s", r.Refusal.Stage, r.Refusal.Message),
				width, "    "+p.Red("✗")+" ", "      ") + "\n")
		} else {
			t.auditSets(b, r)
			t.auditWhy(b, r)
		}
		for _, note := range r.Notes {
			b.WriteString(term.WrapHanging(note, width, "    note  ", "          ") + "\n")
		}
	}
	for _, f := range rep.Findings {
		head := fmt.Sprintf("%s %s %s  ", t.SeverityLabel(f.Severity), p.Bold(f.Rule), f.Pos)
		b.WriteString(term.WrapHanging(head+f.Message, width, "    ", "      ") + "\n")
		for k, l := range strings.Split(f.Fix, "\n") {
			lead := "           "
			if k == 0 {
				lead = "      fix: "
			}
			b.WriteString(lead + p.Green(l) + "\n")
		}
	}
	counts := map[audit.Severity]int{}
	for _, f := range rep.Findings {
		counts[f.Severity]++
	}
	var parts []string
	for s := audit.Critical; s >= audit.Low; s-- {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	line := plural(len(rep.Findings), "finding", "findings")
	if len(parts) > 0 {
		line += " (" + strings.Join(parts, ", ") + ")"
	}
	b.WriteString(p.Bold(fmt.Sprintf("%-9s", "findings")) + "  " + line + "; policy " + rep.Policy + "\n")
}

// judgedText says which image the audit judged and who it runs as.
func judgedText(j runlabel.Judged) string {
	switch {
	case j.Ref == "":
		return "no image capdrop can read in the command: judged as root"
	case !j.Present:
		return "image " + runlabel.Quote(j.Ref) + ", not on the engine: its USER is unknown, judged as root"
	}
	s := "image " + runlabel.Quote(j.Ref)
	if id := strings.TrimPrefix(j.ID, "sha256:"); len(id) >= 12 {
		s += " (" + id[:12] + ")"
	}
	if j.Labelled {
		s += ", the labelled image"
	} else {
		s += ", not the labelled image"
	}
	if j.User == "" {
		s += "; no USER (root)"
	} else {
		s += "; USER " + runlabel.Quote(j.User)
	}
	if j.Accounts != "" {
		s += "; names resolved in " + j.Accounts
	}
	return s
}
