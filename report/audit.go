package report

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/capdrop/capdrop/audit"
	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/internal/term"
	"github.com/capdrop/capdrop/merge"
	"github.com/capdrop/capdrop/workload"
)

// Audit is everything an audit report shows: the audit itself, the input
// errors met on the way, and how many files were read.
type Audit struct {
	Report *audit.Report
	Errors []*workload.Error
	// Files is the number of files read; Skipped the ones passed over as
	// not a known format.
	Files, Skipped int
	// Tool is capdrop's version, for SARIF.
	Tool string
	// SkippedBy counts the skipped files by why they were skipped.
	SkippedBy map[string]int
	// Cluster is set for an audit of a live cluster.
	Cluster *Cluster
}

// AuditVersion is the version of the JSON document; it changes only when a
// field changes meaning or disappears.
const AuditVersion = 1

// AuditDoc is the JSON document `capdrop audit -o json` prints. Its shape
// is documented in docs/audit.md and kept stable.
type AuditDoc struct {
	Version   int             `json:"version"`
	Policy    string          `json:"policy"`
	Workloads []AuditWorkload `json:"workloads"`
	Findings  []AuditFinding  `json:"findings"`
	Errors    []AuditError    `json:"errors"`
	// Cluster is present for an audit of a live cluster.
	Cluster *Cluster     `json:"cluster,omitempty"`
	Summary AuditSummary `json:"summary"`
}

// AuditWorkload is one container and the sets it really gets.
type AuditWorkload struct {
	File           string            `json:"file"`
	Line           int               `json:"line"`
	Column         int               `json:"column"`
	Kind           workload.Kind     `json:"kind"`
	Name           string            `json:"name"`
	Image          string            `json:"image,omitempty"`
	Runtime        workload.Runtime  `json:"runtime"`
	RuntimeVersion string            `json:"runtime_version"`
	Privileged     bool              `json:"privileged"`
	CapAdd         []string          `json:"cap_add"`
	CapDrop        []string          `json:"cap_drop"`
	User           string            `json:"user"`
	RunAsUser      *int64            `json:"run_as_user,omitempty"`
	Root           bool              `json:"root"`
	UserAssumed    bool              `json:"user_assumed"`
	UserReason     string            `json:"user_reason"`
	NoNewPrivs     bool              `json:"no_new_privs"`
	Sets           capset.SetNames   `json:"sets"`
	Why            []AuditWhy        `json:"why"`
	Names          []AuditName       `json:"names"`
	Refused        *AuditRefusal     `json:"refused"`
	Notes          []string          `json:"notes"`
	Attrs          map[string]string `json:"attrs,omitempty"`
	// Uncertain says what decides part of the configuration that capdrop
	// cannot see ("$@", an array, a variable without a value).
	Uncertain []AuditUncertain `json:"uncertain,omitempty"`
}

// AuditUncertain is one reason a workload's configuration is not fully
// known.
type AuditUncertain struct {
	Reason string `json:"reason"`
	Line   int    `json:"line,omitempty"`
	Column int    `json:"column,omitempty"`
}

// AuditWhy says why one capability is held.
type AuditWhy struct {
	Capability string        `json:"capability"`
	Reasons    []AuditReason `json:"reasons"`
}

// AuditReason is one cause: the source ("default", "cap_add", "all",
// "privileged", "image-label", "explicit") and the word that caused it.
type AuditReason struct {
	Source string `json:"source"`
	Text   string `json:"text,omitempty"`
	Line   int    `json:"line,omitempty"`
	Column int    `json:"column,omitempty"`
}

// AuditName is a name the runtime ignored, rejected or could not give.
type AuditName struct {
	Text    string `json:"text"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	List    string `json:"list"`
	Effect  string `json:"effect"`
	Sent    string `json:"sent,omitempty"`
	Message string `json:"message"`
}

// AuditRefusal is the runtime refusing the container.
type AuditRefusal struct {
	Stage   string `json:"stage"`
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
}

// AuditFinding is one finding.
type AuditFinding struct {
	Rule         string   `json:"rule"`
	Severity     string   `json:"severity"`
	Title        string   `json:"title"`
	File         string   `json:"file"`
	Line         int      `json:"line"`
	Column       int      `json:"column"`
	Workload     string   `json:"workload"`
	WorkloadIdx  int      `json:"workload_index"`
	Message      string   `json:"message"`
	Fix          string   `json:"fix"`
	Capabilities []string `json:"capabilities"`
	// Uncertain is true when the workload's configuration is not fully
	// known: the finding judges it as read.
	Uncertain bool `json:"uncertain,omitempty"`
}

// AuditError is an input error: a file (and place) capdrop could not read.
type AuditError struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Message string `json:"message"`
	// Warning is true for input that is fine but was not (wholly)
	// audited: a patch outside any build, a template nobody renders.
	Warning bool `json:"warning,omitempty"`
}

// AuditSummary counts what the audit saw.
type AuditSummary struct {
	Files     int            `json:"files"`
	Skipped   int            `json:"skipped"`
	SkippedBy map[string]int `json:"skipped_by,omitempty"`
	Workloads int            `json:"workloads"`
	Findings  map[string]int `json:"findings"`
	Errors    int            `json:"errors"`
	Warnings  int            `json:"warnings"`
}

func wordPos(w *workload.Word) (int, int) {
	if w == nil {
		return 0, 0
	}
	return w.Pos.Line, w.Pos.Col
}

// NewAuditDoc builds the JSON document.
func NewAuditDoc(a Audit) AuditDoc {
	doc := AuditDoc{Version: AuditVersion, Policy: a.Report.Policy, Workloads: []AuditWorkload{},
		Findings: []AuditFinding{}, Errors: []AuditError{}}
	for _, as := range a.Report.Workloads {
		doc.Workloads = append(doc.Workloads, NewAuditWorkload(as))
	}
	for _, f := range a.Report.Findings {
		doc.Findings = append(doc.Findings, NewAuditFinding(f, a.Report.Workloads[f.Workload].Workload.Name))
	}
	for _, e := range a.Errors {
		doc.Errors = append(doc.Errors, newAuditError(e))
	}
	doc.Cluster = a.Cluster
	doc.Summary = tallyOf(a).summary()
	return doc
}

// NewAuditWorkload is one workload's element of the JSON document.
func NewAuditWorkload(as audit.Assessment) AuditWorkload {
	w, r := as.Workload, as.Result
	aw := AuditWorkload{File: w.Pos.File, Line: w.Pos.Line, Column: w.Pos.Col, Kind: w.Kind, Name: w.Name,
		Image: w.Image, Runtime: r.Runtime, RuntimeVersion: r.Version.String(), Privileged: w.Privileged,
		CapAdd: nonNil(workload.Texts(w.CapAdd)), CapDrop: nonNil(workload.Texts(w.CapDrop)),
		User: cmp.Or(w.User, w.ImageUser), RunAsUser: w.RunAsUser, Root: r.Root, UserAssumed: r.UserAssumed,
		UserReason: r.User, NoNewPrivs: r.NoNewPrivs,
		Sets: r.Sets.Names(), Why: []AuditWhy{}, Names: []AuditName{}, Notes: nonNil(r.Notes), Attrs: w.Attrs}
	for _, u := range w.Uncertain {
		aw.Uncertain = append(aw.Uncertain, AuditUncertain{Reason: u.Reason, Line: u.Pos.Line, Column: u.Pos.Col})
	}
	for _, cw := range r.Why {
		x := AuditWhy{Capability: cw.Name, Reasons: []AuditReason{}}
		for _, rs := range cw.Reasons {
			ar := AuditReason{Source: string(rs.Source)}
			if rs.Word != nil {
				ar.Text = rs.Word.Text
				ar.Line, ar.Column = wordPos(rs.Word)
			}
			x.Reasons = append(x.Reasons, ar)
		}
		aw.Why = append(aw.Why, x)
	}
	for _, n := range r.Names {
		l, c := wordPos(&n.Word)
		aw.Names = append(aw.Names, AuditName{Text: n.Word.Text, Line: l, Column: c, List: n.List,
			Effect: string(n.Effect), Sent: n.Sent, Message: n.Message})
	}
	if ref := r.Refusal; ref != nil {
		l, c := wordPos(ref.Word)
		aw.Refused = &AuditRefusal{Stage: ref.Stage, Message: ref.Message, Hint: ref.Hint, Line: l, Column: c}
	}
	return aw
}

// NewAuditFinding is one finding's element of the JSON document; name is
// its workload's.
func NewAuditFinding(f audit.Finding, name string) AuditFinding {
	rule, _ := audit.RuleByID(f.Rule)
	return AuditFinding{Rule: f.Rule, Severity: f.Severity.String(), Title: rule.Title,
		File: f.Pos.File, Line: f.Pos.Line, Column: f.Pos.Col, Workload: name,
		WorkloadIdx: f.Workload, Message: f.Message, Fix: f.Fix, Capabilities: f.Caps.Names(), Uncertain: f.Uncertain}
}

func newAuditError(e *workload.Error) AuditError {
	return AuditError{File: e.Pos.File, Line: e.Pos.Line, Column: e.Pos.Col, Message: errText(e), Warning: e.Warning}
}

// tally counts what the summaries say, part by part as an audit streams
// in, or all at once (tallyOf).
type tally struct {
	files, skipped, workloads int
	skippedBy                 map[string]int
	bySeverity                map[audit.Severity]int
	byRule                    map[string]map[audit.Severity]int
	byFile                    map[string]int
	files_                    []string // files with findings, in order of first finding
	findings, errs, warns     int
	max                       audit.Severity
}

func tallyOf(a Audit) *tally {
	t := &tally{}
	t.add(len(a.Report.Workloads), a.Report.Findings, a.Errors, a.Files, a.Skipped, a.SkippedBy)
	return t
}

func (t *tally) add(workloads int, fs []audit.Finding, errs []*workload.Error, files, skipped int, skippedBy map[string]int) {
	if t.bySeverity == nil {
		t.bySeverity, t.byRule, t.byFile = map[audit.Severity]int{}, map[string]map[audit.Severity]int{}, map[string]int{}
	}
	t.workloads += workloads
	t.files += files
	t.skipped += skipped
	for why, n := range skippedBy {
		if t.skippedBy == nil {
			t.skippedBy = map[string]int{}
		}
		t.skippedBy[why] += n
	}
	for _, f := range fs {
		t.bySeverity[f.Severity]++
		t.findings++
		t.max = max(t.max, f.Severity)
		if t.byRule[f.Rule] == nil {
			t.byRule[f.Rule] = map[audit.Severity]int{}
		}
		t.byRule[f.Rule][f.Severity]++
		if t.byFile[f.Pos.File] == 0 {
			t.files_ = append(t.files_, f.Pos.File)
		}
		t.byFile[f.Pos.File]++
	}
	for _, e := range errs {
		if e.Warning {
			t.warns++
		} else {
			t.errs++
		}
	}
}

func (t *tally) summary() AuditSummary {
	counts := map[string]int{}
	for _, s := range audit.Severities {
		counts[s] = 0
	}
	for s, n := range t.bySeverity {
		counts[s.String()] = n
	}
	return AuditSummary{Files: t.files, Skipped: t.skipped, SkippedBy: t.skippedBy, Workloads: t.workloads,
		Findings: counts, Errors: t.errs, Warnings: t.warns}
}

func errText(e *workload.Error) string {
	if e.Err == nil {
		return "unknown error"
	}
	return e.Err.Error()
}

// AuditJSON writes the JSON document. It is the same text JSON(w,
// NewAuditDoc(a)) writes, streamed element by element: an audit of ten
// thousand files makes hundreds of megabytes, which must not be built and
// re-indented in memory at once.
func AuditJSON(w io.Writer, a Audit) error {
	doc := NewAuditDoc(a)
	jw := newJSONWriter(w)
	jw.begin(doc.Policy)
	jw.list("workloads", len(doc.Workloads), func(i int) any { return doc.Workloads[i] })
	jw.list("findings", len(doc.Findings), func(i int) any { return doc.Findings[i] })
	jw.list("errors", len(doc.Errors), func(i int) any { return doc.Errors[i] })
	if doc.Cluster != nil {
		jw.field("cluster", doc.Cluster, false)
	}
	jw.field("summary", doc.Summary, true)
	jw.end()
	return jw.bw.Flush()
}

// jsonWriter writes the audit document's layout piece by piece.
type jsonWriter struct {
	bw  *bufio.Writer
	buf bytes.Buffer
	enc *json.Encoder
}

func newJSONWriter(w io.Writer) *jsonWriter {
	jw := &jsonWriter{bw: bufio.NewWriterSize(w, 256<<10)}
	jw.enc = json.NewEncoder(&jw.buf)
	jw.enc.SetEscapeHTML(false)
	return jw
}

// value encodes v indented for its place in the document.
func (jw *jsonWriter) value(v any, indent string) []byte {
	jw.buf.Reset()
	jw.enc.SetIndent(indent, "  ")
	if err := jw.enc.Encode(v); err != nil {
		panic(err) // only plain structs, strings and numbers: cannot fail
	}
	return bytes.TrimSuffix(jw.buf.Bytes(), []byte("\n"))
}

func (jw *jsonWriter) begin(policy string) {
	jw.bw.WriteString("{\n")
	jw.field("version", AuditVersion, false)
	jw.field("policy", policy, false)
}

func (jw *jsonWriter) end() { jw.bw.WriteString("}\n") }

func (jw *jsonWriter) field(name string, v any, last bool) {
	fmt.Fprintf(jw.bw, "  %q: %s", name, jw.value(v, "  "))
	if !last {
		jw.bw.WriteString(",")
	}
	jw.bw.WriteString("\n")
}

// open, elem and close write a list element by element.
func (jw *jsonWriter) open(name string) { fmt.Fprintf(jw.bw, "  %q: [", name) }

func (jw *jsonWriter) elem(first bool, v []byte) {
	if !first {
		jw.bw.WriteString(",")
	}
	jw.bw.WriteString("\n    ")
	jw.bw.Write(v)
}

func (jw *jsonWriter) close(n int) {
	if n > 0 {
		jw.bw.WriteString("\n  ")
	}
	jw.bw.WriteString("],\n")
}

func (jw *jsonWriter) list(name string, n int, elem func(i int) any) {
	jw.open(name)
	for i := 0; i < n; i++ {
		jw.elem(i == 0, jw.value(elem(i), "    "))
	}
	jw.close(n)
}

// SeverityLabel colours a severity by its gravity.
func (t Text) SeverityLabel(s audit.Severity) string {
	name := strings.ToUpper(s.String())
	switch s {
	case audit.Critical:
		return t.pal().Magenta(name)
	case audit.High:
		return t.pal().Red(name)
	case audit.Medium:
		return t.pal().Yellow(name)
	}
	return t.pal().Green(name)
}

// AuditText writes the report for people: the findings first, one line
// each, grouped by file; then a summary by rule and by file, and what was
// read, skipped (and why) and warned about. AuditVerbose shows every
// workload with its sets and the fixes.
func (t Text) AuditText(w io.Writer, a Audit) error {
	var b strings.Builder
	file := "\x00"
	t.findingLines(&b, a.Report.Findings, &file)
	if len(a.Report.Findings) > 0 {
		b.WriteString("\n")
	}
	if a.Cluster != nil {
		t.clusterText(&b, a.Cluster)
	}
	b.WriteString(auditSummary(tallyOf(a), a.Report.Policy))
	_, err := io.WriteString(w, b.String())
	return err
}

// findingLines writes findings one line each, a file heading whenever the
// file changes from *file.
func (t Text) findingLines(b *strings.Builder, fs []audit.Finding, file *string) {
	p := t.pal()
	for _, f := range fs {
		if f.Pos.File != *file {
			if *file != "\x00" {
				b.WriteString("\n")
			}
			*file = f.Pos.File
			b.WriteString(p.Bold(*file) + "\n")
		}
		fmt.Fprintf(b, "  %-7s %-8s %s  %s\n", lineCol(f.Pos), t.SeverityLabel(f.Severity), p.Bold(f.Rule), f.Message)
	}
}

// AuditQuiet writes the findings alone, one line each, file:line:col
// first, as compilers and grep print them.
func (t Text) AuditQuiet(w io.Writer, a Audit) error {
	var b strings.Builder
	quietLines(&b, a.Report.Findings)
	_, err := io.WriteString(w, b.String())
	return err
}

func quietLines(b *strings.Builder, fs []audit.Finding) {
	for _, f := range fs {
		fmt.Fprintf(b, "%s: %s %s: %s\n", f.Pos, strings.ToUpper(f.Severity.String()), f.Rule, f.Message)
	}
}

func lineCol(p workload.Position) string {
	switch {
	case p.Line == 0:
		return "-"
	case p.Col == 0:
		return fmt.Sprintf("%d", p.Line)
	}
	return fmt.Sprintf("%d:%d", p.Line, p.Col)
}

// auditSummary counts the findings by rule and by file, then says what was
// read and skipped.
func auditSummary(t *tally, policy string) string {
	var b strings.Builder
	if t.findings > 0 {
		rules := make([]string, 0, len(t.byRule))
		for r := range t.byRule {
			rules = append(rules, r)
		}
		slices.Sort(rules)
		var parts []string
		for _, r := range rules {
			parts = append(parts, r+" "+severityCounts(t.byRule[r]))
		}
		b.WriteString("by rule: " + strings.Join(parts, ", ") + "\n")
		files := slices.Clone(t.files_)
		slices.SortStableFunc(files, func(x, y string) int { return cmp.Or(cmp.Compare(t.byFile[y], t.byFile[x]), cmp.Compare(x, y)) })
		parts = parts[:0]
		for i, f := range files {
			if i == 10 {
				parts = append(parts, fmt.Sprintf("%d more", len(files)-10))
				break
			}
			parts = append(parts, fmt.Sprintf("%s %d", f, t.byFile[f]))
		}
		b.WriteString("by file: " + strings.Join(parts, ", ") + "\n")
	}
	line := fmt.Sprintf("%s read", plural(t.files-t.skipped, "file", "files"))
	if t.skipped > 0 {
		whys := make([]string, 0, len(t.skippedBy))
		for why := range t.skippedBy {
			whys = append(whys, why)
		}
		slices.SortFunc(whys, func(x, y string) int { return cmp.Or(cmp.Compare(t.skippedBy[y], t.skippedBy[x]), cmp.Compare(x, y)) })
		var parts []string
		for _, why := range whys {
			parts = append(parts, fmt.Sprintf("%d %s", t.skippedBy[why], why))
		}
		line += fmt.Sprintf(", %d skipped", t.skipped)
		if len(parts) > 0 {
			line += " (" + strings.Join(parts, "; ") + ")"
		}
	}
	b.WriteString(line + "; " + t.line(policy) + "\n")
	return b.String()
}

func severityCounts(m map[audit.Severity]int) string {
	var parts []string
	total := 0
	for s := audit.Critical; s >= audit.Low; s-- {
		if m[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", m[s], s))
			total += m[s]
		}
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return fmt.Sprintf("%d (%s)", total, strings.Join(parts, ", "))
}

// AuditVerbose writes the whole report for people: workloads grouped by
// file, each with its computed sets, why they hold what they hold, and its
// findings with their fixes; then the summary.
func (t Text) AuditVerbose(w io.Writer, a Audit) error {
	var b strings.Builder
	file := "\x00"
	t.auditBlocks(&b, a.Report.Workloads, a.Report.Findings, 0, &file)
	if len(a.Report.Workloads) > 0 {
		b.WriteString("\n")
	}
	if a.Cluster != nil {
		t.clusterText(&b, a.Cluster)
	}
	b.WriteString(auditSummary(tallyOf(a), a.Report.Policy))
	_, err := io.WriteString(w, b.String())
	return err
}

// auditBlocks writes workloads (the first of which has index base in the
// audit) in file, line and column order with their findings, a file
// heading whenever the file changes from *file.
func (t Text) auditBlocks(b *strings.Builder, workloads []audit.Assessment, findings []audit.Finding, base int, file *string) {
	p := t.pal()
	width := t.wrapWidth()
	byWorkload := map[int][]audit.Finding{}
	for _, f := range findings {
		byWorkload[f.Workload-base] = append(byWorkload[f.Workload-base], f)
	}
	order := make([]int, len(workloads))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(i, j int) int {
		x, y := workloads[i].Workload.Pos, workloads[j].Workload.Pos
		return cmp.Or(cmp.Compare(x.File, y.File), cmp.Compare(x.Line, y.Line), cmp.Compare(x.Col, y.Col))
	})
	for _, i := range order {
		as := workloads[i]
		wl, r := as.Workload, as.Result
		if wl.Pos.File != *file {
			if *file != "\x00" {
				b.WriteString("\n")
			}
			*file = wl.Pos.File
			b.WriteString(p.Bold(*file) + "\n")
		}
		who := "root"
		if !r.Root {
			who = "non-root"
		}
		fmt.Fprintf(b, "\n  %s  %s  %s, %s, %s (%s)\n", p.Bold(wl.Name), wl.Pos, wl.Kind, runtimeLabel(r), who, r.User)
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
		for _, f := range byWorkload[i] {
			head := fmt.Sprintf("%s %s %s  ", t.SeverityLabel(f.Severity), p.Bold(f.Rule), f.Pos)
			b.WriteString(term.WrapHanging(head+f.Message, width, "    ", "      ") + "\n")
			lines := strings.Split(f.Fix, "\n")
			for k, l := range lines {
				lead := "        "
				if k == 0 {
					lead = "      fix: "
				} else {
					lead = "           "
				}
				b.WriteString(lead + p.Green(l) + "\n")
			}
		}
	}
}

// auditSets prints the five sets, grouping the sets that are equal.
func (t Text) auditSets(b *strings.Builder, r merge.Result) {
	type group struct {
		names []string
		set   capset.Set
	}
	var groups []group
	r.Sets.Each(func(name string, s capset.Set) {
		for i := range groups {
			if groups[i].set == s {
				groups[i].names = append(groups[i].names, name)
				return
			}
		}
		groups = append(groups, group{[]string{name}, s})
	})
	slices.SortStableFunc(groups, func(x, y group) int { return cmp.Compare(y.set.Len(), x.set.Len()) })
	for i, g := range groups {
		lead := "    sets  "
		if i > 0 {
			lead = "          "
		}
		text := fmt.Sprintf("%s: %s", strings.Join(g.names, ", "), summarizeWords(g.set))
		b.WriteString(term.WrapHanging(text, t.wrapWidth(), lead, "            ") + "\n")
	}
}

// auditWhy prints the capabilities grouped by the reason they are held.
func (t Text) auditWhy(b *strings.Builder, r merge.Result) {
	var keys []string
	caps := map[string]capset.Set{}
	for _, cw := range r.Why {
		for _, rs := range cw.Reasons {
			k := rs.String()
			if rs.Source == merge.FromDefault {
				k = fmt.Sprintf("default of %s", r.Runtime)
			}
			if _, ok := caps[k]; !ok {
				keys = append(keys, k)
			}
			caps[k] = caps[k].With(cw.Cap)
		}
	}
	for i, k := range keys {
		lead := "    why   "
		if i > 0 {
			lead = "          "
		}
		b.WriteString(term.WrapHanging(fmt.Sprintf("%s: %s", k, summarizeWords(caps[k])), t.wrapWidth(), lead, "            ") + "\n")
	}
}

// summarizeWords is Summarize with spaces between names, so long sets wrap,
// and the count when it is not already said.
func summarizeWords(s capset.Set) string {
	text := strings.ReplaceAll(Summarize(s), ",", " ")
	if s.Len() > 1 && !strings.Contains(text, "(") {
		text += fmt.Sprintf(" (%d)", s.Len())
	}
	return text
}

func runtimeLabel(r merge.Result) string {
	if r.Version.IsZero() {
		return string(r.Runtime)
	}
	return fmt.Sprintf("%s %s", r.Runtime, r.Version)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

// line is the summary's last clause: workloads, findings by severity,
// input errors and warnings, policy.
func (t *tally) line(policy string) string {
	var parts []string
	for s := audit.Critical; s >= audit.Low; s-- {
		if t.bySeverity[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", t.bySeverity[s], s))
		}
	}
	line := fmt.Sprintf("%s, %s", plural(t.workloads, "workload", "workloads"), plural(t.findings, "finding", "findings"))
	if len(parts) > 0 {
		line += " (" + strings.Join(parts, ", ") + ")"
	}
	if t.errs > 0 {
		line += ", " + plural(t.errs, "input error", "input errors")
	}
	if t.warns > 0 {
		line += ", " + plural(t.warns, "warning", "warnings")
	}
	return line + fmt.Sprintf("; policy %s", policy)
}
