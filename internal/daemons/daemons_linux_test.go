//go:build linux

package daemons

import (
	"context"
	"math"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/engine"
	"github.com/capdrop/capdrop/internal/dockertest"
	"github.com/capdrop/capdrop/knowledge"
	"github.com/capdrop/capdrop/profile"
	"github.com/capdrop/capdrop/source/runargs"
	"github.com/capdrop/capdrop/verify"
)

// run starts a case once with exactly set (docker run --cap-drop ALL) and
// reports whether its script passed, with the end of its output.
func run(t *testing.T, img string, c Case, set capset.Set) (bool, string) {
	t.Helper()
	args := []string{"run", "--rm", "--label", dockertest.Label + "=1", "--cap-drop", "ALL"}
	for _, n := range set.ShortNames() {
		args = append(args, "--cap-add", n)
	}
	args = append(args, "--sysctl", Sysctl, img, c.Script())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return err == nil, lines[len(lines)-1]
}

// TestTruth proves each case's Truth by brute force: the case passes with
// exactly its set, and fails with every set of one capability fewer, each
// run twice. It takes about ten minutes, so it runs only when asked:
// CAPDROP_DAEMON_PROOF=1 (a Truth is written down only after it passed).
func TestTruth(t *testing.T) {
	if os.Getenv("CAPDROP_DAEMON_PROOF") == "" {
		t.Skip("set CAPDROP_DAEMON_PROOF=1 to prove the ground truth by brute force (about ten minutes)")
	}
	img := Image(t)
	for _, c := range Cases {
		t.Run(c.Name, func(t *testing.T) {
			for i := 0; i < 2; i++ {
				if ok, why := run(t, img, c, c.Truth); !ok {
					t.Errorf("run %d with exactly %s failed: %s", i+1, c.Truth, why)
				}
				for _, x := range c.Truth.Caps() {
					if ok, why := run(t, img, c, c.Truth.Without(x)); ok {
						t.Errorf("run %d without %s passed: %s is not minimal (%s)", i+1, x, c.Truth, why)
					}
				}
			}
		})
	}
}

// TestProfileAndMinimize is the real-software measure of the profiler and
// of verify: for every case, `profile --docker` from the case's own
// configuration must label exactly the truth "needed" (recall and
// precision 1.0), and `verify --minimize` from the profile's recommended
// set (needed plus used-not-proven) must reach exactly the truth, proven
// 1-minimal. The figures are logged for docs/benchmarks.md.
func TestProfileAndMinimize(t *testing.T) {
	img := Image(t)
	eng, err := engine.FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	defaults := knowledge.MustDefault(knowledge.Docker)
	for _, c := range Cases {
		t.Run(c.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
			defer cancel()
			args := append([]string{"--label", dockertest.Label + "=1"}, c.RunArgs(img)...)
			w, err := runargs.FromRunArgs(args)
			if err != nil {
				t.Fatal(err)
			}
			var logs strings.Builder
			p, err := profile.Docker(ctx, eng, w, profile.Options{Stderr: &logs})
			if err != nil {
				t.Fatalf("profile: %v", err)
			}
			if p.Target.ExitCode == nil || *p.Target.ExitCode != 0 {
				t.Fatalf("the case failed under the profiler (exit %v):\n%s", p.Target.ExitCode, logs.String())
			}
			needed, rec := p.NeededSet(), p.RecommendedSet()
			if needed != c.Truth {
				t.Errorf("profile: needed %s, want exactly %s (missing %s, not needed %s)\nused, not proven: %+v\nkept: %+v",
					needed, c.Truth, c.Truth.Minus(needed), needed.Minus(c.Truth), p.UsedNotProven, p.Kept)
			}
			start := defaults
			for _, a := range c.Add {
				x, _ := capset.Parse(a)
				start = start.With(x)
			}
			s := verify.NewSession(eng, map[string]string{dockertest.Label: "1"})
			defer s.Cleanup(context.Background())
			tg, err := verify.NewTarget(w, "run", runargs.Join(args))
			if err != nil {
				t.Fatal(err)
			}
			r := &verify.Runner{Session: s, Target: tg, Timeout: 90 * time.Second}
			res, err := r.Minimize(ctx, rec, "profile", verify.MinimizeOptions{})
			if err != nil {
				t.Fatalf("minimize: %v", err)
			}
			got, _ := capset.ParseSet(strings.Join(res.Set, ","))
			if !res.Passed || !res.OneMinimal || got != c.Truth {
				t.Errorf("verify --minimize --from the profile: %s (passed %v, 1-minimal %v), want exactly %s: %s",
					got, res.Passed, res.OneMinimal, c.Truth, res.Message)
				for _, run := range res.Runs {
					t.Logf("run %d (%s) %s: %s; %s %s", run.N, run.Phase, strings.Join(run.Caps, ","), run.Reason, run.CredentialsFrom, run.Credentials)
				}
			}
			t.Logf("FIGURES case=%s kind=%q needed=%s used_not_proven=%s config=%d recommended=%d truth=%d runs=%d (start %d, search %d, confirm %d) credentials_unjudged=%d all_subsets_of_recommended=%.0f all_subsets_of_config=%.0f",
				c.Name, c.Kind, needed, p.UsedSet(), start.Len(), rec.Len(), c.Truth.Len(), res.Stats.Runs, res.Stats.Start, res.Stats.Search, res.Stats.Confirm, len(res.Unjudged),
				math.Exp2(float64(rec.Len())), math.Exp2(float64(start.Len())))
		})
	}
}
