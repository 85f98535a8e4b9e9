// Package audit judges configured containers: it computes what each one
// really gets (package merge), runs the rule catalogue over the result and
// the configuration as written, and returns findings with stable rule IDs,
// severities, positions and a fix in the source's own dialect.
//
// The rules are data (rules.yaml, embedded) with one check each in this
// package; policy presets decide which rules apply and at what severity.
// The package never prints and never exits.
package audit

import (
	"cmp"
	"fmt"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/merge"
	"github.com/capdrop/capdrop/source"
	"github.com/capdrop/capdrop/workload"
)

// Options configure an audit.
type Options struct {
	// Policy is the preset: PolicyDefault (the zero value), PolicyBaseline
	// or PolicyRestricted.
	Policy string
	// Merge describes the runtime installation (releases, the engine's
	// own capabilities).
	Merge merge.Options
	// Source tunes how Run and Stream read their inputs (exclusions, the
	// runtime to assume, the environment, size limits).
	Source source.Options
	// Disable lists rules not to report (--disable).
	Disable []string
	// Baseline holds accepted findings, not reported again (--baseline).
	Baseline *Baseline
}

// Finding is one rule violated by one workload.
type Finding struct {
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	// Pos is the most precise place to look: the offending word, else
	// the capability settings, else the workload's definition.
	Pos workload.Position `json:"position"`
	// Workload is the index of the workload in Report.Workloads.
	Workload int    `json:"workload"`
	Message  string `json:"message"`
	// Fix is the smallest change that fixes the finding, written in the
	// source's own dialect (compose keys, a securityContext block, docker
	// run flags, a LABEL RUN line, Quadlet keys, OCI JSON).
	Fix string `json:"fix"`
	// Caps are the capabilities the finding is about, if any.
	Caps capset.Set `json:"-"`
	// Uncertain is set when the workload's configuration is not fully
	// known (workload.Workload.Uncertain): the finding is about the
	// configuration as read, and the message says what capdrop could not
	// see.
	Uncertain bool `json:"uncertain,omitempty"`
	// Fingerprint identifies the finding across runs and unrelated edits
	// of its file (no line numbers), and tells apart containers that share
	// a name: SARIF's partialFingerprints and baselines use it.
	Fingerprint string `json:"fingerprint"`

	addsOnly string // CD022's message without the drop ALL part, which CD002 says
	hardened string // CD002's and CD012's fix when CD011 is folded in: it sets no_new_privs too
}

// Assessment is one workload with what it really gets.
type Assessment struct {
	Workload workload.Workload
	Result   merge.Result
}

// Report is the outcome of an audit.
type Report struct {
	Policy    string
	Workloads []Assessment
	// Findings are ordered by file, line, column and rule.
	Findings []Finding
}

// Max returns the highest severity among the findings, SeverityUnset when
// there are none.
func (r *Report) Max() Severity {
	m := SeverityUnset
	for _, f := range r.Findings {
		m = max(m, f.Severity)
	}
	return m
}

// Evaluate audits workloads read elsewhere (Run reads them from files and
// readers). It fails only for an unknown policy.
func Evaluate(ws []workload.Workload, opts Options) (*Report, error) {
	ev, err := newEvaluator(opts)
	if err != nil {
		return nil, err
	}
	rep := &Report{Policy: opts.policy()}
	rep.Workloads, rep.Findings = ev.evaluate(ws, 0)
	return rep, nil
}

// ctx is what a check sees: one workload, its computed result, and the rule
// being checked.
type ctx struct {
	w     workload.Workload
	res   merge.Result
	opts  Options
	index int
	rule  Rule
	level Severity
	out   []Finding
}

type checkFunc func(*ctx)

// report adds a finding for the current rule. sev overrides the rule's
// level only for rules whose severity comes from capability risk, and only
// when the policy keeps the rule's own severity.
func (c *ctx) report(pos workload.Position, sev Severity, caps capset.Set, fix, format string, args ...any) {
	level := c.level
	if c.rule.SeverityFrom == "risk" && sev != SeverityUnset && c.rule.Policies[c.opts.policy()] == "on" {
		level = sev
	}
	c.out = append(c.out, Finding{Rule: c.rule.ID, Severity: level, Pos: pos, Workload: c.index,
		Message: fmt.Sprintf(format, args...), Fix: fix, Caps: caps})
}

func (o Options) policy() string { return cmp.Or(o.Policy, PolicyDefault) }

// at returns the first known position among ps, else the workload's.
func (c *ctx) at(ps ...*workload.Position) workload.Position {
	for _, p := range ps {
		if p != nil && (p.Line > 0 || p.File != "") {
			q := *p
			if q.File == "" {
				q.File = c.w.Pos.File
			}
			return q
		}
	}
	return c.w.Pos
}
