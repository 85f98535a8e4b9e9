package verify

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/capdrop/capdrop/capset"
)

// Result is the document `capdrop verify -o json` prints (docs/verify.md).
// Its shape is stable: fields may be added, never renamed or removed.
type Result struct {
	// Passed is true when Set passed the check every time it ran.
	Passed bool `json:"passed"`
	// Set is the verified set (after minimization, the minimal set), as
	// canonical names: what `capdrop fix --from` writes.
	Set  []string `json:"set"`
	Mask string   `json:"mask"`
	// Minimized is true for `verify --minimize`.
	Minimized bool `json:"minimized"`
	// OneMinimal is true when minimization proved, by real runs, that
	// taking away any one capability of Set makes the check fail.
	OneMinimal bool `json:"one_minimal"`
	// Start is the set verification started from, and StartFrom where it
	// came from ("--cap-add", "profile p.json", "the configuration").
	Start     []string `json:"start"`
	StartFrom string   `json:"start_from"`
	// Removed is Start minus Set: what the workload was shown not to need.
	Removed []string `json:"removed"`
	Target  *Target  `json:"target"`
	Check   string   `json:"check"`
	// Runs lists every trial in order.
	Runs  []Trial `json:"runs"`
	Stats Stats   `json:"stats"`
	// Flaky lists the sets that both passed and failed.
	Flaky []FlakySet `json:"flaky"`
	// Unjudged lists (by n) the passing runs of a minimization's candidate
	// sets that the check alone judged: their processes' credentials could
	// not be compared with the starting set's (see Trial.Credentials), so
	// a process left as root where it should have dropped would not have
	// failed them. Empty for a plain verify, which has nothing to compare
	// with.
	Unjudged []int `json:"credentials_unjudged"`
	// Message is the conclusion in one sentence.
	Message string `json:"message"`
}

// Stats counts the work done.
type Stats struct {
	Runs    int `json:"runs"`
	Start   int `json:"start_runs"`
	Search  int `json:"search_runs"`
	Confirm int `json:"confirm_runs"`
	// Queries is how many sets the search considered; Cached were answered
	// by an earlier run, Predicted by monotonicity, without running.
	Queries   int `json:"queries"`
	Cached    int `json:"cached"`
	Predicted int `json:"predicted"`
	Restarts  int `json:"restarts"`
	// AllSubsets is 2^len(start): what trying every subset would cost.
	AllSubsets float64 `json:"all_subsets"`
}

// FlakySet is a set that both passed and failed.
type FlakySet struct {
	Set    []string `json:"set"`
	Passes int      `json:"passes"`
	Fails  int      `json:"fails"`
}

func (r *Runner) newResult(start capset.Set, from string) *Result {
	return &Result{
		Start: start.Names(), StartFrom: from, Target: r.Target, Check: r.Check.String(),
		Flaky: []FlakySet{}, Removed: []string{}, Unjudged: []int{},
	}
}

func (res *Result) setFinal(s capset.Set, start capset.Set) {
	res.Set = s.Names()
	res.Mask = s.Hex()
	res.Removed = start.Minus(s).Names()
}

// Verify runs set 1+retries times; it passes only if every run passes. The
// returned Result is filled as far as the runs went, also with an error.
func (r *Runner) Verify(ctx context.Context, set capset.Set, from string, retries int) (*Result, error) {
	res := r.newResult(set, from)
	res.setFinal(set, set)
	first := len(r.runs)
	r.base = first
	o, err := VerifySet(ctx, set, r.Oracle(), retries)
	res.Runs = r.runs[first:]
	res.Stats.Runs = len(res.Runs)
	res.Stats.Start = len(res.Runs)
	if err != nil {
		res.Message = "interrupted: " + err.Error()
		return res, err
	}
	res.Passed = o.Passed()
	switch {
	case o.Flaky():
		res.Flaky = append(res.Flaky, FlakySet{Set: set.Names(), Passes: o.Passes, Fails: o.Fails})
		res.Message = fmt.Sprintf("flaky: the set passed %d and failed %d of %d runs; not trusted", o.Passes, o.Fails, o.Passes+o.Fails)
	case res.Passed:
		res.Message = fmt.Sprintf("the workload passes the check with %s", setWords(set))
	default:
		res.Message = fmt.Sprintf("the workload fails the check with %s", setWords(set))
	}
	return res, nil
}

// Minimize first checks that start passes, then searches for a 1-minimal
// set (see the package function Minimize). A starting set that fails or is
// flaky is a verdict in the Result (Passed false), not an error.
func (r *Runner) Minimize(ctx context.Context, start capset.Set, from string, opt MinimizeOptions) (*Result, error) {
	res := r.newResult(start, from)
	res.Minimized = true
	first := len(r.runs)
	r.base = first
	m, err := Minimize(ctx, start, r.Oracle(), opt)
	res.Runs = r.runs[first:]
	res.setFinal(m.Set, start)
	res.Passed = m.Passed
	res.OneMinimal = m.OneMinimal
	res.Stats = Stats{
		Runs: m.Runs, Start: m.StartRuns, Search: m.SearchRuns, Confirm: m.ConfirmRuns,
		Queries: m.Queries, Cached: m.Cached, Predicted: m.Predicted, Restarts: m.Restarts,
		AllSubsets: math.Exp2(float64(start.Len())),
	}
	for _, f := range m.Flaky {
		res.Flaky = append(res.Flaky, FlakySet{Set: f.Set.Names(), Passes: f.Passes, Fails: f.Fails})
	}
	switch {
	case errors.Is(err, ErrStartFailed):
		res.Passed = false
		res.Message = fmt.Sprintf("the starting set (%s) fails the check: nothing to minimize from; fix the check or start from a larger set", setWords(start))
		return res, nil
	case errors.Is(err, ErrFlaky):
		res.Passed = false
		res.Message = "the check is flaky: " + err.Error() + "; a flaky check cannot be minimized against"
		return res, nil
	case err != nil:
		res.Passed = false
		res.Message = fmt.Sprintf("interrupted after %d runs: %v", len(res.Runs), err)
		return res, err
	}
	for _, t := range res.Runs {
		if t.Passed && t.Phase != PhaseStart && t.Credentials != "" {
			res.Unjudged = append(res.Unjudged, t.N)
		}
	}
	switch {
	case !m.Passed:
		res.Message = fmt.Sprintf("flaky: the final set %s failed on a confirmation run; not trusted", setWords(m.Set))
	case !m.OneMinimal:
		res.Message = fmt.Sprintf("%s passes, but some boundary runs were flaky: not every capability is proven needed", setWords(m.Set))
	default:
		res.Message = fmt.Sprintf("%s is 1-minimal: it passes, and removing any one capability fails (%d runs; every subset would be %.0f)", setWords(m.Set), m.Runs, res.Stats.AllSubsets)
	}
	if n := len(res.Unjudged); n > 0 && m.Passed {
		res.Message += fmt.Sprintf("; %d passing %s judged by the check alone, %s processes' credentials not compared with the starting set's (see credentials_unjudged)",
			n, plural(n, "run was", "runs were"), plural(n, "its", "their"))
	}
	return res, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
