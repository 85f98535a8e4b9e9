package audit

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/capdrop/capdrop/merge"
	"github.com/capdrop/capdrop/source"
	"github.com/capdrop/capdrop/workload"
)

// Result is everything an audit of some inputs found: the report (every
// workload with what it really gets, and the findings), the problems met
// reading the inputs, and how many files were read.
type Result struct {
	Report
	// Errors are the inputs, or the parts of them, that could not be read;
	// everything else was still audited.
	Errors []*workload.Error
	// Files counts the files read (whether or not they held workloads),
	// Skipped the ones passed over, SkippedBy why (source.Skip…).
	Files, Skipped int
	SkippedBy      map[string]int
}

// Part is what Stream hands over for one file: its workloads with what they
// get, their findings, and the errors met reading it. Finding.Workload
// counts from the first workload of the whole audit, as in Result.
type Part struct {
	Workloads []Assessment
	Findings  []Finding
	Errors    []*workload.Error
	// Files, Skipped and SkippedBy count like Result's.
	Files, Skipped int
	SkippedBy      map[string]int
}

// Run audits inputs — files, directories, readers (see source.Walk) — and
// returns the whole result, findings ordered by file, line, column and
// rule. Unreadable or malformed inputs are in Result.Errors, not an error:
// Run fails only for a bad policy or when ctx ends (then with ctx's cause).
func Run(ctx context.Context, inputs []source.Input, opts Options) (*Result, error) {
	res := &Result{Report: Report{Policy: opts.policy()}}
	err := Stream(ctx, inputs, opts, func(p Part) error {
		res.Workloads = append(res.Workloads, p.Workloads...)
		res.Findings = append(res.Findings, p.Findings...)
		res.Errors = append(res.Errors, p.Errors...)
		res.Files += p.Files
		res.Skipped += p.Skipped
		for why, n := range p.SkippedBy {
			if res.SkippedBy == nil {
				res.SkippedBy = map[string]int{}
			}
			res.SkippedBy[why] += n
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sortFindings(res.Findings)
	return res, nil
}

// Stream audits inputs like Run, but hands the parts over as soon as they
// are audited, in input order, and keeps nothing: each file's workloads
// are judged and handed over ChunkSize at a time (a file's errors and
// counts come with its first part), so memory stays proportional to the
// largest file's workloads as written, not to everything the audit says
// about them. It stops at emit's first error and returns it.
func Stream(ctx context.Context, inputs []source.Input, opts Options, emit func(Part) error) error {
	ev, err := newEvaluator(opts)
	if err != nil {
		return err
	}
	n := 0
	return source.Walk(ctx, inputs, opts.Source, func(r source.Result) error {
		p := Part{Errors: r.Errors, Files: r.Files, Skipped: r.Skipped, SkippedBy: r.SkippedBy}
		ws := r.Workloads
		for first := true; first || len(ws) > 0; first = false {
			chunk := ws[:min(len(ws), ChunkSize)]
			ws = ws[len(chunk):]
			p.Workloads, p.Findings = ev.evaluate(chunk, n)
			n += len(chunk)
			if err := emit(p); err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return context.Cause(ctx)
			}
			p = Part{}
			clear(chunk) // the workloads as read are not needed any more
		}
		return nil
	})
}

// ChunkSize is how many workloads Stream judges and hands over at once.
const ChunkSize = 512

// evaluator runs the rules a policy turns on.
type evaluator struct {
	opts  Options
	rules []active
	sup   *suppressor
}

type active struct {
	rule  Rule
	level Severity
	check checkFunc
}

func newEvaluator(opts Options) (*evaluator, error) {
	policy := opts.policy()
	if !slices.Contains(Policies, policy) {
		return nil, fmt.Errorf("unknown policy %q (want one of %v)", policy, Policies)
	}
	ev := &evaluator{opts: opts, sup: newSuppressor(opts)}
	for _, r := range Rules() {
		if lvl, ok := r.Level(policy); ok {
			ev.rules = append(ev.rules, active{r, lvl, checks[r.ID]})
		}
	}
	return ev, nil
}

// evaluate judges workloads whose indexes start at first.
func (ev *evaluator) evaluate(ws []workload.Workload, first int) ([]Assessment, []Finding) {
	as := make([]Assessment, 0, len(ws))
	var fs []Finding
	for i, w := range ws {
		res := merge.Compute(w, ev.opts.Merge)
		as = append(as, Assessment{Workload: w, Result: res})
		c := &ctx{w: w, res: res, opts: ev.opts, index: first + i}
		for _, a := range ev.rules {
			c.rule, c.level = a.rule, a.level
			a.check(c)
		}
		c.out = fold(w, c.out)
		uncertain(w, c.out)
		rendered(w, c.out)
		fs = append(fs, c.out...)
	}
	fingerprints(as, first, fs)
	fs = ev.sup.apply(as, first, fs, func(id string) (Severity, bool) {
		r, ok := RuleByID(id)
		if !ok {
			return SeverityUnset, false
		}
		return r.Level(ev.opts.policy())
	})
	sortFindings(fs)
	return as, fs
}

func sortFindings(fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(a.Pos.File, b.Pos.File), cmp.Compare(a.Pos.Line, b.Pos.Line),
			cmp.Compare(a.Pos.Col, b.Pos.Col), cmp.Compare(a.Rule, b.Rule))
	})
}
