package verify

import (
	"context"
	"errors"
	"fmt"

	"github.com/capdrop/capdrop/capset"
)

// Phase says why a set was run: to check the starting set, during the
// delta-debugging search, or to confirm the final set and its boundary (the
// final set with one capability fewer).
type Phase string

// The phases of a verification or minimization.
const (
	PhaseVerify  Phase = "verify"
	PhaseStart   Phase = "start"
	PhaseSearch  Phase = "search"
	PhaseConfirm Phase = "confirm"
)

// Oracle runs the user's check once with exactly the capabilities in s and
// reports whether it passed. An error means no verdict could be reached (the
// engine refused the request, the context was cancelled) and stops the
// search.
type Oracle func(ctx context.Context, s capset.Set, phase Phase) (bool, error)

// ErrStartFailed is returned by Minimize when the starting set does not pass:
// there is nothing to minimize from.
var ErrStartFailed = errors.New("the starting set does not pass the check")

// ErrFlaky is wrapped by Minimize's error when the starting set both passed
// and failed: a flaky check cannot drive a search.
var ErrFlaky = errors.New("the check is flaky")

// MinimizeOptions tune Minimize.
type MinimizeOptions struct {
	// Retries is how many extra times the starting set, the final set and
	// each boundary set (the final set minus one capability) are run. A set
	// that both passes and fails is reported as flaky, never trusted.
	Retries int
	// NoPrediction turns off the monotonicity shortcut: by default a set
	// that is a subset of a set that failed every time it ran is predicted
	// to fail without running it (taking capabilities away rarely makes a
	// workload work). Predictions never decide the result: the final set
	// and every boundary set are always really run.
	NoPrediction bool
}

// Observation is what runs of one set showed.
type Observation struct {
	Set    capset.Set
	Passes int
	Fails  int
}

// Flaky reports whether the set both passed and failed.
func (o Observation) Flaky() bool { return o.Passes > 0 && o.Fails > 0 }

// Passed reports whether the set passed every time it ran (at least once).
func (o Observation) Passed() bool { return o.Passes > 0 && o.Fails == 0 }

// Minimization is the outcome of Minimize.
type Minimization struct {
	Start capset.Set // the starting set
	Set   capset.Set // the final set
	// Passed is true when the final set passed every time it ran.
	Passed bool
	// OneMinimal is true when every set with one capability of Set fewer
	// failed every time it ran: each remaining capability is proven needed.
	OneMinimal bool
	// Flaky lists every set that both passed and failed.
	Flaky []Observation
	// Runs counts the oracle's runs, by phase.
	Runs, StartRuns, SearchRuns, ConfirmRuns int
	// Queries is how many sets the search asked about; Cached of them were
	// answered by an earlier run and Predicted by monotonicity.
	Queries, Cached, Predicted int
	// Restarts counts confirmations that found a smaller passing set, from
	// which the search went on (only a non-monotone or flaky check does
	// that).
	Restarts int
}

// minimizer holds the state of one search: every real observation, by set.
type minimizer struct {
	oracle Oracle
	opt    MinimizeOptions
	obs    map[capset.Set]*Observation
	order  []capset.Set // sets in the order first observed
	res    Minimization
}

// Minimize searches for a 1-minimal subset of start that still passes: one
// where taking away any single capability makes the check fail. It uses
// Zeller and Hildebrandt's ddmin ("Simplifying and Isolating
// Failure-Inducing Input", 2002) with "passes the check" as the property to
// keep, caches every set it ran, and by default predicts that subsets of a
// failing set fail. It first makes sure start passes (else ErrStartFailed),
// and at the end re-runs the final set and each of its boundary sets
// (Retries more times); if a boundary set turns out to pass, the search goes
// on from it, so the result is 1-minimal by real runs even for a check that
// is not monotone.
func Minimize(ctx context.Context, start capset.Set, oracle Oracle, opt MinimizeOptions) (Minimization, error) {
	m := &minimizer{oracle: oracle, opt: opt, obs: map[capset.Set]*Observation{}}
	m.res.Start = start
	m.res.Set = start
	if err := m.observe(ctx, start, PhaseStart, 1+opt.Retries); err != nil {
		return m.finish(), err
	}
	switch o := m.obs[start]; {
	case o.Flaky():
		return m.finish(), fmt.Errorf("%w: the starting set passed %d and failed %d of %d runs", ErrFlaky, o.Passes, o.Fails, o.Passes+o.Fails)
	case !o.Passed():
		return m.finish(), ErrStartFailed
	}
	c := start
	for {
		var err error
		if c, err = m.ddmin(ctx, c); err != nil {
			m.res.Set = c
			return m.finish(), err
		}
		m.res.Set = c
		smaller, err := m.confirm(ctx, c)
		if err != nil {
			return m.finish(), err
		}
		if smaller == nil {
			break
		}
		m.res.Restarts++
		c = *smaller
	}
	return m.finish(), nil
}

func (m *minimizer) finish() Minimization {
	m.res.Flaky = nil
	for _, s := range m.order {
		if o := m.obs[s]; o.Flaky() {
			m.res.Flaky = append(m.res.Flaky, *o)
		}
	}
	return m.res
}

// run asks the oracle once and records the observation.
func (m *minimizer) run(ctx context.Context, s capset.Set, phase Phase) error {
	pass, err := m.oracle(ctx, s, phase)
	if err != nil {
		return err
	}
	o := m.obs[s]
	if o == nil {
		o = &Observation{Set: s}
		m.obs[s] = o
		m.order = append(m.order, s)
	}
	if pass {
		o.Passes++
	} else {
		o.Fails++
	}
	m.res.Runs++
	switch phase {
	case PhaseStart:
		m.res.StartRuns++
	case PhaseSearch:
		m.res.SearchRuns++
	case PhaseConfirm:
		m.res.ConfirmRuns++
	}
	return nil
}

// observe runs s until it has been seen want times in all, stopping early
// once it has shown itself flaky.
func (m *minimizer) observe(ctx context.Context, s capset.Set, phase Phase, want int) error {
	for {
		o := m.obs[s]
		if o != nil && (o.Passes+o.Fails >= want || o.Flaky()) {
			return nil
		}
		if err := m.run(ctx, s, phase); err != nil {
			return err
		}
	}
}

// test answers the search's question "does s pass?": from an earlier run,
// by prediction, or by running it once. A flaky set counts as not passing.
func (m *minimizer) test(ctx context.Context, s capset.Set) (bool, error) {
	m.res.Queries++
	if o, ok := m.obs[s]; ok {
		m.res.Cached++
		return o.Passed(), nil
	}
	if !m.opt.NoPrediction && m.predictFail(s) {
		m.res.Predicted++
		return false, nil
	}
	if err := m.run(ctx, s, PhaseSearch); err != nil {
		return false, err
	}
	return m.obs[s].Passed(), nil
}

// predictFail reports whether s is a subset of a set that failed every time
// it ran.
func (m *minimizer) predictFail(s capset.Set) bool {
	for _, f := range m.order {
		if o := m.obs[f]; o.Fails > 0 && o.Passes == 0 && f.Contains(s) {
			return true
		}
	}
	return false
}

// ddmin is the search proper. c passes; it returns a subset of c that
// passes and whose every one-smaller subset did not pass (by run, cache or
// prediction).
func (m *minimizer) ddmin(ctx context.Context, c capset.Set) (capset.Set, error) {
	n := 2
	for c.Len() >= 2 {
		n = min(n, c.Len())
		chunks := split(c, n)
		reduced := false
		// Reduce to a subset: one chunk alone passes.
		for _, d := range chunks {
			ok, err := m.test(ctx, d)
			if err != nil {
				return c, err
			}
			if ok {
				c, n, reduced = d, 2, true
				break
			}
		}
		// Reduce to a complement: everything but one chunk passes. With two
		// chunks the complements are the chunks themselves (answered from
		// the cache).
		if !reduced {
			for _, d := range chunks {
				ok, err := m.test(ctx, c.Minus(d))
				if err != nil {
					return c, err
				}
				if ok {
					c, n, reduced = c.Minus(d), max(n-1, 2), true
					break
				}
			}
		}
		if reduced {
			continue
		}
		if n >= c.Len() {
			return c, nil // every one-smaller subset failed: 1-minimal
		}
		n = min(2*n, c.Len()) // increase granularity
	}
	if c.Len() == 1 {
		ok, err := m.test(ctx, capset.Empty)
		if err != nil {
			return c, err
		}
		if ok {
			c = capset.Empty
		}
	}
	return c, nil
}

// split cuts c into n chunks of nearly equal size, in capability order.
func split(c capset.Set, n int) []capset.Set {
	caps := c.Caps()
	out := make([]capset.Set, 0, n)
	start := 0
	for i := range n {
		end := start + (len(caps)-start)/(n-i)
		out = append(out, capset.Of(caps[start:end]...))
		start = end
	}
	return out
}

// confirm re-runs the final set c and each boundary set until each has been
// seen 1+Retries times. It returns a boundary set that passed every run
// (the search must go on from it), or nil.
func (m *minimizer) confirm(ctx context.Context, c capset.Set) (*capset.Set, error) {
	want := 1 + m.opt.Retries
	if err := m.observe(ctx, c, PhaseConfirm, want); err != nil {
		return nil, err
	}
	m.res.Passed = m.obs[c].Passed()
	m.res.OneMinimal = false
	if !m.res.Passed {
		return nil, nil // flaky final set: reported, not trusted
	}
	oneMinimal := true
	for _, x := range c.Caps() {
		b := c.Without(x)
		if err := m.observe(ctx, b, PhaseConfirm, want); err != nil {
			return nil, err
		}
		switch o := m.obs[b]; {
		case o.Passed():
			return &b, nil
		case o.Flaky():
			oneMinimal = false
		}
	}
	m.res.OneMinimal = oneMinimal
	return nil, nil
}

// VerifySet runs s 1+retries times and returns what the runs showed: it
// passed only if every run passed.
func VerifySet(ctx context.Context, s capset.Set, oracle Oracle, retries int) (Observation, error) {
	o := Observation{Set: s}
	for range 1 + retries {
		pass, err := oracle(ctx, s, PhaseVerify)
		if err != nil {
			return o, err
		}
		if pass {
			o.Passes++
		} else {
			o.Fails++
		}
	}
	return o, nil
}
