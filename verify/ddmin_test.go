package verify

import (
	"context"
	"errors"
	"hash/fnv"
	"math/rand/v2"
	"testing"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/knowledge"
)

// start16 is Docker's 14 defaults plus NET_ADMIN and SYS_NICE: the starting
// set of the ground-truth minimization on the real engine.
var start16 = knowledge.MustDefault(knowledge.Docker).With(capset.NET_ADMIN).With(capset.SYS_NICE)

// countingOracle wraps a pure verdict function, counting real runs per set.
type countingOracle struct {
	verdict func(capset.Set) bool
	runs    map[capset.Set]int
	total   int
}

func newOracle(verdict func(capset.Set) bool) *countingOracle {
	return &countingOracle{verdict: verdict, runs: map[capset.Set]int{}}
}

func (o *countingOracle) run(_ context.Context, s capset.Set, _ Phase) (bool, error) {
	o.runs[s]++
	o.total++
	return o.verdict(s), nil
}

// assertOneMinimal checks the result against the verdict function itself,
// by brute force: the set passes and every one-smaller set fails.
func assertOneMinimal(t *testing.T, verdict func(capset.Set) bool, got capset.Set) {
	t.Helper()
	if !verdict(got) {
		t.Fatalf("result %v does not pass", got)
	}
	for _, c := range got.Caps() {
		if verdict(got.Without(c)) {
			t.Fatalf("result %v is not 1-minimal: it still passes without %v", got, c)
		}
	}
}

func TestMinimizeMonotone(t *testing.T) {
	d := knowledge.MustDefault(knowledge.Docker)
	cases := []struct {
		name    string
		need    capset.Set
		maxRuns int // search + confirmation, Retries 0
	}{
		{"nothing", capset.Empty, 6},
		{"one", capset.Of(capset.CHOWN), 10},
		{"one at the end", capset.Of(capset.SETFCAP), 12},
		{"two", capset.Of(capset.NET_ADMIN, capset.SYS_NICE), 16},
		{"ground truth", capset.Of(capset.CHOWN, capset.NET_BIND_SERVICE, capset.NET_ADMIN, capset.SYS_CHROOT, capset.SYS_NICE, capset.MKNOD), 28},
		{"nine", capset.Of(capset.CHOWN, capset.DAC_OVERRIDE, capset.FOWNER, capset.NET_BIND_SERVICE, capset.NET_RAW, capset.SYS_CHROOT, capset.MKNOD, capset.NET_ADMIN, capset.SYS_NICE), 36},
		{"everything", start16, 48},
		{"the defaults", d, 48},
	}
	for _, tc := range cases {
		for _, noPred := range []bool{false, true} {
			name := tc.name
			if noPred {
				name += "/no prediction"
			}
			t.Run(name, func(t *testing.T) {
				verdict := func(s capset.Set) bool { return s.Contains(tc.need) }
				o := newOracle(verdict)
				m, err := Minimize(context.Background(), start16, o.run, MinimizeOptions{NoPrediction: noPred})
				if err != nil {
					t.Fatal(err)
				}
				if m.Set != tc.need {
					t.Fatalf("got %v, want %v", m.Set, tc.need)
				}
				assertOneMinimal(t, verdict, m.Set)
				if !m.Passed || !m.OneMinimal || len(m.Flaky) != 0 || m.Restarts != 0 {
					t.Errorf("passed %v, 1-minimal %v, flaky %v, restarts %d", m.Passed, m.OneMinimal, m.Flaky, m.Restarts)
				}
				if m.Runs != o.total || m.StartRuns+m.SearchRuns+m.ConfirmRuns != m.Runs {
					t.Errorf("run counts %+v disagree with the oracle's %d", m, o.total)
				}
				for s, n := range o.runs {
					if n > 1 {
						t.Errorf("set %v ran %d times with Retries 0: the cache failed", s, n)
					}
				}
				limit := tc.maxRuns
				if noPred {
					limit = 2*tc.maxRuns + 12
				}
				if m.Runs > limit {
					t.Errorf("%d runs, want at most %d (every subset would be %d)", m.Runs, limit, 1<<start16.Len())
				}
				if noPred && m.Predicted != 0 {
					t.Errorf("predicted %d sets with prediction off", m.Predicted)
				}
				t.Logf("%d caps needed of %d: %d runs (%d search, %d confirm), %d queries, %d cached, %d predicted; 2^%d = %d subsets",
					tc.need.Len(), start16.Len(), m.Runs, m.SearchRuns, m.ConfirmRuns, m.Queries, m.Cached, m.Predicted, start16.Len(), 1<<start16.Len())
			})
		}
	}
}

// TestMinimizeAllSubsetsOf8 runs every possible needed set of an 8-capability
// start (256 cases) and checks the exact answer and the run bound each time.
func TestMinimizeAllSubsetsOf8(t *testing.T) {
	start := capset.Of(capset.Known.Caps()[:8]...)
	worst := 0
	for bits := range 1 << 8 {
		var need capset.Set
		for i, c := range start.Caps() {
			if bits&(1<<i) != 0 {
				need = need.With(c)
			}
		}
		o := newOracle(func(s capset.Set) bool { return s.Contains(need) })
		m, err := Minimize(context.Background(), start, o.run, MinimizeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if m.Set != need || !m.OneMinimal {
			t.Fatalf("need %v: got %v (1-minimal %v)", need, m.Set, m.OneMinimal)
		}
		worst = max(worst, m.Runs)
	}
	if worst > 24 {
		t.Errorf("worst case %d runs for 8 capabilities; want at most 24 (2^8 = 256)", worst)
	}
	t.Logf("worst case over all 256 needed sets of 8: %d runs", worst)
}

// randomVerdict is a deterministic, non-monotone check: whether a set passes
// is a hash of the set and a seed, except that start always passes.
func randomVerdict(seed uint64, start capset.Set, passRate float64) func(capset.Set) bool {
	return func(s capset.Set) bool {
		if s == start {
			return true
		}
		h := fnv.New64a()
		var b [16]byte
		for i := range 8 {
			b[i] = byte(uint64(s) >> (8 * i))
			b[8+i] = byte(seed >> (8 * i))
		}
		h.Write(b[:])
		return float64(h.Sum64()%1000) < passRate*1000
	}
}

// TestMinimizeNonMonotone: for checks where taking a capability away can make
// the workload work again, the result must still be 1-minimal by the check
// itself; the prediction may mislead the search, but the confirmation of the
// boundary catches it and the search goes on.
func TestMinimizeNonMonotone(t *testing.T) {
	start := capset.Of(capset.Known.Caps()[:10]...)
	restarts := 0
	for seed := range uint64(300) {
		for _, noPred := range []bool{false, true} {
			verdict := randomVerdict(seed, start, 0.3)
			o := newOracle(verdict)
			m, err := Minimize(context.Background(), start, o.run, MinimizeOptions{NoPrediction: noPred})
			if err != nil {
				t.Fatal(err)
			}
			assertOneMinimal(t, verdict, m.Set)
			if !m.Passed || !m.OneMinimal {
				t.Fatalf("seed %d: passed %v 1-minimal %v", seed, m.Passed, m.OneMinimal)
			}
			if noPred && m.Restarts != 0 {
				t.Fatalf("seed %d: without prediction ddmin's own result must already be 1-minimal, yet it restarted", seed)
			}
			restarts += m.Restarts
		}
	}
	if restarts == 0 {
		t.Error("no case needed a restart after confirmation: the test does not exercise that path")
	}
	t.Logf("%d restarts after a confirmation found a smaller passing set", restarts)
}

// TestMinimizeNonMonotoneExample is a hand-made case: the workload works with
// CHOWN alone, or with CHOWN, FOWNER and KILL together, but not with CHOWN
// and FOWNER (having FOWNER makes it take a path that then needs KILL).
func TestMinimizeNonMonotoneExample(t *testing.T) {
	start := capset.Of(capset.CHOWN, capset.FOWNER, capset.KILL, capset.SETUID)
	verdict := func(s capset.Set) bool {
		if !s.Has(capset.CHOWN) {
			return false
		}
		return !s.Has(capset.FOWNER) || s.Has(capset.KILL)
	}
	for _, noPred := range []bool{false, true} {
		m, err := Minimize(context.Background(), start, newOracle(verdict).run, MinimizeOptions{NoPrediction: noPred})
		if err != nil {
			t.Fatal(err)
		}
		assertOneMinimal(t, verdict, m.Set)
		if m.Set != capset.Of(capset.CHOWN) {
			t.Errorf("no prediction %v: got %v, want CAP_CHOWN", noPred, m.Set)
		}
	}
}

// flakyOracle answers from a script of verdicts per set, then from a
// default function.
type flakyOracle struct {
	script map[capset.Set][]bool
	def    func(capset.Set) bool
	runs   int
}

func (f *flakyOracle) run(_ context.Context, s capset.Set, _ Phase) (bool, error) {
	f.runs++
	if q := f.script[s]; len(q) > 0 {
		f.script[s] = q[1:]
		return q[0], nil
	}
	return f.def(s), nil
}

func TestMinimizeFlaky(t *testing.T) {
	a, b, c := capset.CHOWN, capset.SETUID, capset.KILL
	start := capset.Of(a, b, c)
	need := func(s capset.Set) bool { return s.Contains(capset.Of(a, b)) }

	t.Run("flaky start", func(t *testing.T) {
		f := &flakyOracle{script: map[capset.Set][]bool{start: {true, false}}, def: need}
		m, err := Minimize(context.Background(), start, f.run, MinimizeOptions{Retries: 2})
		if !errors.Is(err, ErrFlaky) {
			t.Fatalf("err %v, want ErrFlaky", err)
		}
		if len(m.Flaky) != 1 || m.Flaky[0].Set != start || m.Flaky[0].Passes != 1 || m.Flaky[0].Fails != 1 {
			t.Errorf("flaky %+v", m.Flaky)
		}
		if f.runs != 2 {
			t.Errorf("%d runs: it should stop as soon as the start set shows itself flaky", f.runs)
		}
	})

	t.Run("start fails", func(t *testing.T) {
		f := &flakyOracle{def: func(capset.Set) bool { return false }}
		m, err := Minimize(context.Background(), start, f.run, MinimizeOptions{Retries: 1})
		if !errors.Is(err, ErrStartFailed) {
			t.Fatalf("err %v, want ErrStartFailed", err)
		}
		if f.runs != 2 || m.StartRuns != 2 || m.Passed {
			t.Errorf("runs %d, %+v", f.runs, m)
		}
	})

	t.Run("flaky final set", func(t *testing.T) {
		// {a,b} passes in the search, then fails on the confirmation run.
		f := &flakyOracle{script: map[capset.Set][]bool{capset.Of(a, b): {true, false}}, def: need}
		m, err := Minimize(context.Background(), start, f.run, MinimizeOptions{Retries: 1})
		if err != nil {
			t.Fatal(err)
		}
		if m.Set != capset.Of(a, b) || m.Passed || m.OneMinimal {
			t.Errorf("set %v passed %v 1-minimal %v: a final set that failed once must not pass", m.Set, m.Passed, m.OneMinimal)
		}
		if len(m.Flaky) != 1 || m.Flaky[0].Set != capset.Of(a, b) {
			t.Errorf("flaky %+v", m.Flaky)
		}
	})

	t.Run("flaky boundary", func(t *testing.T) {
		// {a} fails in the search but passes once on confirmation: the final
		// set still passes, yet b is not proven needed.
		f := &flakyOracle{script: map[capset.Set][]bool{capset.Of(a): {false, true}}, def: need}
		m, err := Minimize(context.Background(), start, f.run, MinimizeOptions{Retries: 1, NoPrediction: true})
		if err != nil {
			t.Fatal(err)
		}
		if m.Set != capset.Of(a, b) || !m.Passed || m.OneMinimal {
			t.Errorf("set %v passed %v 1-minimal %v", m.Set, m.Passed, m.OneMinimal)
		}
		if len(m.Flaky) != 1 || m.Flaky[0].Set != capset.Of(a) {
			t.Errorf("flaky %+v", m.Flaky)
		}
	})

	t.Run("retries 0 still runs predicted boundaries", func(t *testing.T) {
		o := newOracle(need)
		m, err := Minimize(context.Background(), start16, o.run, MinimizeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range m.Set.Caps() {
			if o.runs[m.Set.Without(x)] == 0 {
				t.Errorf("boundary set %v was never really run", m.Set.Without(x))
			}
		}
		if o.runs[m.Set] == 0 {
			t.Error("final set never run")
		}
	})

	t.Run("retries", func(t *testing.T) {
		o := newOracle(need)
		m, err := Minimize(context.Background(), start, o.run, MinimizeOptions{Retries: 2})
		if err != nil {
			t.Fatal(err)
		}
		if o.runs[start] != 3 || o.runs[m.Set] != 3 {
			t.Errorf("start ran %d, final ran %d times; want 3 each with Retries 2", o.runs[start], o.runs[m.Set])
		}
		for _, x := range m.Set.Caps() {
			if n := o.runs[m.Set.Without(x)]; n != 3 {
				t.Errorf("boundary %v ran %d times, want 3", m.Set.Without(x), n)
			}
		}
	})
}

func TestMinimizeErrorStops(t *testing.T) {
	boom := errors.New("engine gone")
	calls := 0
	oracle := func(_ context.Context, s capset.Set, _ Phase) (bool, error) {
		calls++
		if calls == 4 {
			return false, boom
		}
		return s.Has(capset.CHOWN), nil
	}
	_, err := Minimize(context.Background(), start16, oracle, MinimizeOptions{})
	if !errors.Is(err, boom) || calls != 4 {
		t.Fatalf("err %v after %d calls", err, calls)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = Minimize(ctx, start16, func(ctx context.Context, _ capset.Set, _ Phase) (bool, error) {
		return false, ctx.Err()
	}, MinimizeOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestVerifySet(t *testing.T) {
	f := &flakyOracle{script: map[capset.Set][]bool{capset.Of(capset.CHOWN): {true, false, true}}, def: func(capset.Set) bool { return true }}
	o, err := VerifySet(context.Background(), capset.Of(capset.CHOWN), f.run, 2)
	if err != nil {
		t.Fatal(err)
	}
	if o.Passes != 2 || o.Fails != 1 || !o.Flaky() || o.Passed() {
		t.Errorf("%+v", o)
	}
}

func TestSplit(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		s := capset.Set(r.Uint64()) & capset.Known
		if s.Len() == 0 {
			continue
		}
		n := 1 + r.IntN(s.Len())
		chunks := split(s, n)
		var union capset.Set
		total := 0
		for _, c := range chunks {
			if c.Len() == 0 || c.Intersect(union) != 0 {
				t.Fatalf("split(%v, %d): empty or overlapping chunk %v", s, n, c)
			}
			if d := c.Len() - s.Len()/n; d < 0 || d > 1 {
				t.Fatalf("split(%v, %d): unbalanced chunk %v", s, n, c)
			}
			union |= c
			total += c.Len()
		}
		if union != s || total != s.Len() || len(chunks) != n {
			t.Fatalf("split(%v, %d) = %v", s, n, chunks)
		}
	}
}
