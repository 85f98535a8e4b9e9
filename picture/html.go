package picture

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/fleet"
	"github.com/capdrop/capdrop/knowledge"
)

//go:embed page.tmpl
var pageTmpl string

//go:embed page.css
var pageCSS string

//go:embed page.js
var pageJS string

//go:embed detail.tmpl
var detailTmpl string

// boot marks the page as scripted before anything is drawn. The static
// matrix and the containers' details (the page without JavaScript) are in
// noscript elements: a browser that runs the script keeps them as text,
// unparsed, and the script parses one container's details when it is
// opened, and all of it only to print.
const boot = "document.documentElement.classList.add('js');"

var (
	page   = template.Must(template.New("page").Parse(pageTmpl))
	detail = template.Must(template.New("detail").Funcs(template.FuncMap{"join": strings.Join}).Parse(detailTmpl))
)

// HTMLOptions say how to draw the page.
type HTMLOptions struct {
	// Version is capdrop's version, written into the page.
	Version string
}

// HTML writes the fleet as one self-contained page: no request leaves it
// (its Content-Security-Policy forbids every one), its style and script
// are inline, and without JavaScript it is a complete static page.
func HTML(w io.Writer, f *fleet.Fleet, o HTMLOptions) error {
	v, err := newView(f, o)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	if err := page.Execute(bw, v); err != nil {
		return err
	}
	return bw.Flush()
}

type view struct {
	Title, Version, Generated string
	CSP                       string
	Boot                      template.JS
	CSS                       template.CSS
	JS                        template.JS
	Data                      template.JS
	Inputs, Errors, Warnings  []string
	T                         fleet.Totals
	ProfiledGrants            int
	Findings                  string
	FindingsTotal             int
	HasBefore                 bool
	Change                    []changeRow
	Groups                    []groupTable
	Legend                    []legendItem
	Dims                      []string
	Cols                      []col
	Rows                      []row
	Details                   []detailHTML
}

type detailHTML struct {
	Key  string
	HTML template.HTML
}

type changeRow struct {
	Label         string
	Grants, Risky int
}

type groupTable struct {
	Dim  string
	Rows []groupRow
}

type groupRow struct {
	fleet.GroupTotal
	FindingsText string
}

type legendItem struct {
	Code, Symbol, Words string
}

type col struct {
	Index  int
	Name   string
	Risk   knowledge.Risk
	Letter string
}

type row struct {
	Key, Name string
	Cells     template.HTML
}

// data is what the script reads: the matrix in a compact form, one letter
// per cell (fleet.Cell.Code).
type data struct {
	Cols   []dataCol            `json:"cols"`
	Rows   []dataRow            `json:"rows"`
	States map[string]dataState `json:"states"`
	Dims   []string             `json:"dims"`
	Group  string               `json:"group"`
}

type dataCol struct {
	Name string `json:"n"`
	Risk int    `json:"r"`
}

type dataRow struct {
	Key   string   `json:"k"`
	Name  string   `json:"n"`
	Image string   `json:"i,omitempty"`
	Group []string `json:"g"`
	Cells string   `json:"c"`
	// Held and Unused count cells; MaxRisk is the riskiest capability
	// held (0 for none).
	Held    int `json:"h"`
	Unused  int `json:"u"`
	MaxRisk int `json:"m"`
}

type dataState struct {
	Symbol string `json:"s"`
	Words  string `json:"w"`
}

func newView(f *fleet.Fleet, o HTMLOptions) (*view, error) {
	t := f.Totals()
	v := &view{Title: f.Title, Version: o.Version, Inputs: f.Inputs, Errors: f.Errors, Warnings: f.Warnings,
		T: t, HasBefore: f.HasBefore, Boot: boot, CSS: template.CSS(pageCSS), JS: template.JS(pageJS)}
	if v.Title == "" {
		v.Title = "capdrop report"
	}
	if !f.Generated.IsZero() {
		v.Generated = f.Generated.UTC().Format("2006-01-02 15:04 UTC")
	}
	v.ProfiledGrants = t.Unused + t.Used + t.Needed
	v.Findings, v.FindingsTotal = severities(t.Findings)
	for _, s := range fleet.States()[1:] {
		v.Legend = append(v.Legend, legendItem{string(s.Code()), Symbol(s), s.Words()})
	}
	used := f.GroupedBy()
	v.Dims = used
	for _, d := range used {
		if d == "workload" && len(used) > 1 {
			continue // as many groups as containers: no summary there
		}
		gt := groupTable{Dim: d}
		for _, g := range f.Groups(d) {
			text, _ := severities(g.Findings)
			gt.Rows = append(gt.Rows, groupRow{g, text})
		}
		if len(gt.Rows) > 1 {
			v.Groups = append(v.Groups, gt)
		}
	}
	v.Change = change(f, t)

	d := data{States: map[string]dataState{}, Dims: used}
	for _, s := range fleet.States() {
		d.States[string(s.Code())] = dataState{Symbol: Symbol(s), Words: s.Words()}
	}
	// Open grouped by namespace (or host) when every container has one and
	// there are several.
	for _, dim := range []string{"namespace", "host"} {
		gs := f.Groups(dim)
		if d.Group == "" && len(gs) > 1 && !slices.ContainsFunc(gs, func(g fleet.GroupTotal) bool { return g.Name == "" }) {
			d.Group = dim
		}
	}
	for i, cp := range f.Columns {
		r := fleet.Risk(cp)
		v.Cols = append(v.Cols, col{Index: i, Name: cp.Short(), Risk: r, Letter: riskLetter[r]})
		d.Cols = append(d.Cols, dataCol{Name: cp.Short(), Risk: int(r)})
	}
	var cells strings.Builder
	var codes []byte
	var dbuf bytes.Buffer
	for _, c := range f.Containers {
		cells.Reset()
		codes = codes[:0]
		dr := dataRow{Key: c.Key, Name: c.Name, Image: c.Image}
		for _, dim := range used {
			dr.Group = append(dr.Group, c.Group.Get(dim))
		}
		for _, cp := range f.Columns {
			cell := c.Cell(cp)
			codes = append(codes, cell.Code())
			cls := "s-" + string(cell.State.Code())
			if cell.State == fleet.None {
				cls = "s-"
			}
			if cell.Configured && cell.State != fleet.None {
				cls += " cfg"
			}
			fmt.Fprintf(&cells, `<td class="%s">%s</td>`, cls, Symbol(cell.State))
			if cell.State.Holds() {
				dr.Held++
				dr.MaxRisk = max(dr.MaxRisk, int(fleet.Risk(cp)))
			}
			if cell.State == fleet.Unused {
				dr.Unused++
			}
		}
		dr.Cells = string(codes)
		d.Rows = append(d.Rows, dr)
		v.Rows = append(v.Rows, row{Key: c.Key, Name: c.Name, Cells: template.HTML(cells.String())})
		dbuf.Reset()
		if err := detail.Execute(&dbuf, newDetail(c)); err != nil {
			return nil, err
		}
		v.Details = append(v.Details, detailHTML{c.Key, template.HTML(dbuf.String())})
	}
	js, err := json.Marshal(d) // escapes <, > and &: safe inside a script element
	if err != nil {
		return nil, err
	}
	v.Data = template.JS(js)
	v.CSP = "default-src 'none'; img-src data:; style-src " + hash(pageCSS) + "; script-src " + hash(boot) + " " + hash(pageJS) +
		"; form-action 'none'; base-uri 'none'"
	return v, nil
}

// hash is a CSP source for an inline element's exact text.
func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// severities writes finding counts, gravest first: "2 critical, 5 medium".
func severities(m map[string]int) (string, int) {
	var parts []string
	total := 0
	for _, s := range []string{"critical", "high", "medium", "low"} {
		if m[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", m[s], s))
			total += m[s]
		}
	}
	return strings.Join(parts, ", "), total
}

// change is the before/after table: the earlier state compared with, now,
// and after the recommendations (when any container's need is known).
func change(f *fleet.Fleet, t fleet.Totals) []changeRow {
	risky := func(cell func(c *fleet.Container, cp capset.Cap) bool) int {
		n := 0
		for _, c := range f.Containers {
			for _, cp := range f.Columns {
				if fleet.Risk(cp) >= knowledge.High && cell(c, cp) {
					n++
				}
			}
		}
		return n
	}
	var out []changeRow
	if f.HasBefore {
		out = append(out, changeRow{"before the change", t.Before, risky(func(c *fleet.Container, cp capset.Cap) bool {
			return c.Before != nil && c.Before.Has(cp)
		})})
	}
	now := changeRow{"now", t.Grants, risky(func(c *fleet.Container, cp capset.Cap) bool { return c.Cell(cp).State.Holds() })}
	if t.Profiled > 0 && t.After != t.Grants {
		out = append(out, now, changeRow{"after the recommendations", t.After, risky(func(c *fleet.Container, cp capset.Cap) bool {
			rec, ok := c.Recommended()
			return c.Cell(cp).State.Holds() && (!ok || rec.Has(cp))
		})})
	} else if f.HasBefore {
		out = append(out, now)
	}
	return out
}

// detailView is one container's drill-down.
type detailView struct {
	*fleet.Container
	Sets     []setRow
	Caps     []capRow
	Defaults string
	Snippet  *fleet.Snippet
	Need     string
}

type setRow struct{ Name, Caps string }

type capRow struct {
	Name, Risk, Symbol, Code, Words string
	Configured, Proven, Added       bool
	Why                             []string
	Evidence                        string
}

func newDetail(c *fleet.Container) detailView {
	d := detailView{Container: c}
	if c.Sets != nil {
		c.Sets.Each(func(name string, s capset.Set) {
			d.Sets = append(d.Sets, setRow{name, setText(s)})
		})
	}
	var defaults []string
	ev := map[capset.Cap]fleet.Evidence{}
	if c.Usage != nil {
		for _, e := range c.Usage.Evidence {
			ev[e.Cap] = e
		}
	}
	for _, cp := range fleet.SortByRisk(c.Caps()) {
		cell := c.Cell(cp)
		r := capRow{Name: cp.Short(), Risk: fleet.Risk(cp).String(), Symbol: Symbol(cell.State), Code: string(cell.State.Code()),
			Words: cell.State.Words(), Configured: cell.Configured, Proven: cell.Proven, Added: cell.Added}
		onlyDefault := len(c.Why[cp]) > 0
		for _, why := range c.Why[cp] {
			if why.Source != "default" {
				onlyDefault = false
			}
			w := why.Source
			if why.Text != "" {
				w += " " + why.Text
			}
			if why.At != "" && why.Source != "default" {
				w += " (" + why.At + ")"
			}
			r.Why = append(r.Why, w)
		}
		if e, ok := ev[cp]; ok {
			r.Evidence = evidence(e)
		}
		// Held only as a runtime default and nothing more to say: one line
		// for all of them keeps the page small.
		if onlyDefault && r.Evidence == "" && cell.State != fleet.Unused && !cell.Added {
			defaults = append(defaults, cp.Short())
			continue
		}
		d.Caps = append(d.Caps, r)
	}
	d.Defaults = strings.Join(defaults, " ")
	if s, ok := c.Snippet(); ok {
		d.Snippet = &s
	}
	d.Need = need(c)
	return d
}

// need says what the container should get and how that is known: a
// passing verify run, or a profile's needs and its uses not proven needed
// (which the profile recommends keeping until verify --minimize decides).
func need(c *fleet.Container) string {
	set, ok := c.Recommended()
	switch {
	case !ok:
		return ""
	case c.Proof != nil && c.Proof.Passed:
		s := setText(set) + " (verify passed"
		if c.Proof.OneMinimal {
			s += ", 1-minimal"
		}
		return s + fmt.Sprintf(", %d runs)", c.Proof.Runs)
	}
	u := c.Usage
	s := setText(set) + " (profile, not proven"
	if !u.Unproven.IsEmpty() {
		s = fmt.Sprintf("%s (profile: needed %s; used, not proven needed %s — verify --minimize keeps or removes these",
			setText(set), setText(u.Needed), setText(u.Unproven))
	}
	if u.Partial {
		s += "; the profile is partial"
	}
	return s + ")"
}

func setText(s capset.Set) string {
	if s.IsEmpty() {
		return "none"
	}
	return strings.Join(s.ShortNames(), " ")
}

// evidence says what the profile saw: counts, syscalls, commands.
func evidence(e fleet.Evidence) string {
	var b strings.Builder
	class := e.Class
	if class == "used" {
		class = "used, not proven needed"
	}
	fmt.Fprintf(&b, "%s: %d granted", class, e.Granted)
	if e.Denied > 0 {
		fmt.Fprintf(&b, ", %d denied", e.Denied)
	}
	if len(e.Syscalls) > 0 {
		sc := append([]fleet.SyscallCount(nil), e.Syscalls...)
		sort.SliceStable(sc, func(i, j int) bool { return sc[i].Granted+sc[i].Denied > sc[j].Granted+sc[j].Denied })
		var parts []string
		for i, s := range sc {
			if i == 5 {
				parts = append(parts, fmt.Sprintf("+%d more", len(sc)-5))
				break
			}
			parts = append(parts, fmt.Sprintf("%s ×%d", s.Syscall, s.Granted+s.Denied))
		}
		b.WriteString(" in " + strings.Join(parts, ", "))
	}
	if len(e.Commands) > 0 {
		b.WriteString(" by " + strings.Join(e.Commands, ", "))
	}
	if e.Pods > 0 {
		pods := "Pods"
		if e.Pods == 1 {
			pods = "Pod"
		}
		fmt.Fprintf(&b, "; %d %s", e.Pods, pods)
		if len(e.Nodes) > 0 {
			b.WriteString(" on " + strings.Join(e.Nodes, ", "))
		}
	}
	if len(e.Reasons) > 0 {
		if e.Class == "used" {
			b.WriteString("; not proven needed: ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(strings.Join(e.Reasons, "; "))
	}
	if len(e.Noise) > 0 {
		b.WriteString("; noise: " + strings.Join(e.Noise, ", "))
	}
	return b.String()
}
