package audit

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/capdrop/capdrop/internal/input"
	"github.com/capdrop/capdrop/workload"
)

// fingerprints gives every finding of ws (indexes from first) a
// fingerprint that survives unrelated edits and tells containers apart:
// the rule, the container's file, chart or overlay, kind and name, its
// ordinal among the containers of that file with the same kind and name,
// the capabilities the finding is about, and its ordinal among the
// container's findings of that rule. No line numbers.
func fingerprints(ws []Assessment, first int, fs []Finding) {
	ord := make([]int, len(ws))
	seen := map[string]int{}
	for i, a := range ws {
		k := identity(a.Workload)
		ord[i] = seen[k]
		seen[k]++
	}
	perRule := map[string]int{}
	for i := range fs {
		f := &fs[i]
		w := ws[f.Workload-first].Workload
		k := fmt.Sprintf("%d\x00%s", f.Workload, f.Rule)
		n := perRule[k]
		perRule[k]++
		h := sha256.Sum256([]byte(strings.Join([]string{f.Rule, identity(w), strconv.Itoa(ord[f.Workload-first]),
			f.Caps.Hex(), strconv.Itoa(n)}, "\x00")))
		f.Fingerprint = hex.EncodeToString(h[:16])
	}
}

// identity names a container for fingerprints: where it is defined (with
// the chart or overlay that rendered it), its kind and name.
func identity(w workload.Workload) string {
	return strings.Join([]string{filepath.ToSlash(w.Pos.File), w.Attrs["chart"], w.Attrs["overlay"], string(w.Kind), w.Name}, "\x00")
}

// ignore is an inline suppression: a comment "capdrop:ignore CD002,CD011
// reason" in the file.
type ignore struct {
	pos    workload.Position
	rules  []string
	reason string
}

// directive matches the suppression comment in any format that has
// comments: # (YAML, shell, Dockerfile, units, Makefiles), ; (units), //
// and <!-- --> (Markdown).
var directive = regexp.MustCompile(`(?:#|;|//|<!--)\s*capdrop:ignore\b([^\n]*)`)

var ruleID = regexp.MustCompile(`^CD\d{3}$`)

// ignores reads the suppression comments of a file.
func ignores(file string, data []byte) []ignore {
	var out []ignore
	line := 1
	last := 0
	for _, m := range directive.FindAllSubmatchIndex(data, -1) {
		line += strings.Count(string(data[last:m[0]]), "\n")
		last = m[0]
		rest := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(string(data[m[2]:m[3]])), "-->"))
		ig := ignore{pos: workload.Position{File: file, Line: line, Col: len([]rune(string(data[lineStart(data, m[0]):m[0]]))) + 1}}
		fields := strings.Fields(rest)
		i := 0
		for ; i < len(fields); i++ {
			ids := strings.Split(strings.TrimSuffix(fields[i], ","), ",")
			ok := true
			for _, id := range ids {
				ok = ok && ruleID.MatchString(strings.ToUpper(id))
			}
			if !ok {
				break
			}
			for _, id := range ids {
				ig.rules = append(ig.rules, strings.ToUpper(id))
			}
		}
		ig.reason = strings.TrimSpace(strings.Join(fields[i:], " "))
		out = append(out, ig)
	}
	return out
}

func lineStart(data []byte, off int) int {
	for off > 0 && data[off-1] != '\n' {
		off--
	}
	return off
}

// covers reports whether ig suppresses finding f of workload w: a comment
// on the finding's line or the line above it, or on the line of the
// container's definition or the line above it.
func (ig ignore) covers(f Finding, w workload.Workload) bool {
	if !slices.Contains(ig.rules, f.Rule) {
		return false
	}
	near := func(p workload.Position) bool {
		return p.File == ig.pos.File && (p.Line == ig.pos.Line || p.Line == ig.pos.Line+1)
	}
	return near(f.Pos) || near(w.Pos)
}

// suppressor applies --disable, the baseline and the inline comments.
type suppressor struct {
	disable  map[string]bool
	baseline map[string]bool
	files    map[string][]ignore
}

func newSuppressor(opts Options) *suppressor {
	s := &suppressor{disable: map[string]bool{}, baseline: map[string]bool{}, files: map[string][]ignore{}}
	for _, r := range opts.Disable {
		s.disable[strings.ToUpper(r)] = true
	}
	if opts.Baseline != nil {
		for _, e := range opts.Baseline.Findings {
			s.baseline[e.Fingerprint] = true
		}
	}
	return s
}

// ignoresOf reads (once) the suppression comments of a file; a file that
// cannot be read (standard input, a cluster's objects) has none.
func (s *suppressor) ignoresOf(file string) []ignore {
	if ig, ok := s.files[file]; ok {
		return ig
	}
	var ig []ignore
	if file != "" && !strings.HasPrefix(file, "<") {
		if data, err := input.ReadFile(file, 0); err == nil {
			ig = ignores(file, data)
		}
	}
	s.files[file] = ig
	return ig
}

// apply drops the suppressed findings of ws (indexes from first) and
// reports every inline suppression without a reason (CD013) among the
// files it read.
func (s *suppressor) apply(ws []Assessment, first int, fs []Finding, level func(string) (Severity, bool)) []Finding {
	var out []Finding
	reported := map[workload.Position]bool{}
	for _, f := range fs {
		w := ws[f.Workload-first].Workload
		if s.disable[f.Rule] || (f.Fingerprint != "" && s.baseline[f.Fingerprint]) {
			continue
		}
		suppressed := false
		for _, file := range []string{f.Pos.File, w.Pos.File} {
			for _, ig := range s.ignoresOf(file) {
				if !ig.covers(f, w) {
					continue
				}
				suppressed = true
				if ig.reason == "" && !reported[ig.pos] && !s.disable["CD013"] {
					reported[ig.pos] = true
					if sev, on := level("CD013"); on {
						out = append(out, Finding{Rule: "CD013", Severity: sev, Pos: ig.pos, Workload: f.Workload,
							Message: fmt.Sprintf("capdrop:ignore %s has no reason: say why the finding is accepted", strings.Join(ig.rules, ",")),
							Fix:     fmt.Sprintf("# capdrop:ignore %s <why this is accepted>", strings.Join(ig.rules, ","))})
					}
				}
			}
		}
		if !suppressed {
			out = append(out, f)
		}
	}
	return out
}

// Baseline is a set of accepted findings: `capdrop audit --baseline-write
// FILE` writes one, `--baseline FILE` reports only findings not in it.
type Baseline struct {
	Version  int             `json:"version"`
	Findings []BaselineEntry `json:"findings"`
}

// BaselineEntry is one accepted finding, by fingerprint; the rest is for
// people reading the file.
type BaselineEntry struct {
	Fingerprint string `json:"fingerprint"`
	Rule        string `json:"rule"`
	File        string `json:"file"`
	Workload    string `json:"workload"`
	Message     string `json:"message"`
}

// NewBaseline records the findings of a report.
func NewBaseline(r *Report) *Baseline {
	b := &Baseline{Version: 1, Findings: []BaselineEntry{}}
	for _, f := range r.Findings {
		b.Findings = append(b.Findings, BaselineEntry{Fingerprint: f.Fingerprint, Rule: f.Rule, File: f.Pos.File,
			Workload: r.Workloads[f.Workload].Workload.Name, Message: f.Message})
	}
	slices.SortFunc(b.Findings, func(x, y BaselineEntry) int {
		return cmp.Or(cmp.Compare(x.File, y.File), cmp.Compare(x.Workload, y.Workload), cmp.Compare(x.Rule, y.Rule), cmp.Compare(x.Fingerprint, y.Fingerprint))
	})
	return b
}

// ReadBaseline reads a baseline file.
func ReadBaseline(r io.Reader) (*Baseline, error) {
	var b Baseline
	dec := json.NewDecoder(r)
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	if b.Version != 1 {
		return nil, errors.New("baseline: unknown version (want 1)")
	}
	return &b, nil
}
