package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/capdrop/capdrop/internal/term"
	"github.com/capdrop/capdrop/runlabel"
)

// Runlabel is what capdrop runlabel shows before it runs a label, or
// instead of running it.
type Runlabel struct {
	Command *runlabel.Command
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
	Notes      []string              `json:"notes"`
	Run        bool                  `json:"run"`
	Refused    []string              `json:"refused"`
}

// NewRunlabelDoc builds the JSON document.
func NewRunlabelDoc(r Runlabel) RunlabelDoc {
	c := r.Command
	img := c.Image
	if img.RepoTags == nil {
		img.RepoTags = []string{}
	}
	return RunlabelDoc{Version: RunlabelVersion, Image: img, Label: c.Label, LabelText: c.LabelText, Default: c.Default,
		Argv: c.Argv, Command: c.Text, Variables: nonNilOf(c.Vars), HostAccess: nonNilOf(c.Host), Notes: nonNilOf(c.Notes),
		Run: len(r.Refused) == 0, Refused: nonNilOf(r.Refused)}
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
	p := t.Palette
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
	b.WriteString(p.Bold(fmt.Sprintf("%-9s", "command")) + "  " + c.Text + "\n")
	for _, h := range c.Host {
		row("host", fmt.Sprintf("%s (column %d): %s", h.Option, h.Col, h.What))
	}
	for _, n := range c.Notes {
		row("note", n)
	}
	for _, why := range r.Refused {
		row("refused", p.Red(why))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
