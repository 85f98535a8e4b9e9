//go:build linux

package verify_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/engine"
	"github.com/capdrop/capdrop/internal/daemons"
	"github.com/capdrop/capdrop/internal/dockertest"
	"github.com/capdrop/capdrop/source/runargs"
	"github.com/capdrop/capdrop/verify"
)

// TestRefusesWorkersStayingRoot runs lighttpd the way some images' start
// scripts do — as www-data, and when that fails, again as root — with only
// an HTTP check. Without CAP_SETUID and CAP_SETGID it still answers, as
// root: the check passes, and verify must fail the candidate anyway,
// because its process ran more privileged than under the starting set.
func TestRefusesWorkersStayingRoot(t *testing.T) {
	img := daemons.Image(t)
	eng, err := engine.FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	s := verify.NewSession(eng, map[string]string{dockertest.Label: "1"})
	defer s.Cleanup(context.Background())
	args := []string{"--sysctl", daemons.Sysctl, img, "/cases/lighttpd-fallback.sh"}
	w, err := runargs.FromRunArgs(args)
	if err != nil {
		t.Fatal(err)
	}
	tg, err := verify.NewTarget(w, "run", runargs.Join(args))
	if err != nil {
		t.Fatal(err)
	}
	check := verify.Check{HTTP: &verify.HTTPProbe{Port: 80, Path: "/index.lighttpd.html"}}
	start := capset.Of(capset.SETUID, capset.SETGID, capset.NET_BIND_SERVICE)
	weaker := capset.Of(capset.NET_BIND_SERVICE)

	// Alone, with nothing to compare with, the weaker set passes the
	// HTTP check: the server answers, as root.
	alone := &verify.Runner{Session: s, Target: tg, Check: check}
	run, err := alone.Trial(ctx, weaker, verify.PhaseSearch)
	if err != nil {
		t.Fatal(err)
	}
	if !run.Passed {
		t.Fatalf("without a baseline, %s should pass the HTTP check (as root): %s\n%s", weaker, run.Reason, run.Logs)
	}

	// After the starting set's run (www-data), the same candidate fails.
	r := &verify.Runner{Session: s, Target: tg, Check: check}
	base, err := r.Trial(ctx, start, verify.PhaseStart)
	if err != nil {
		t.Fatal(err)
	}
	if !base.Passed || len(base.Escalations) != 0 {
		t.Fatalf("the starting set %s: passed %v, %s", start, base.Passed, base.Reason)
	}
	cand, err := r.Trial(ctx, weaker, verify.PhaseSearch)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("refused: %s\nstarting set's processes: %+v\ncandidate's: %+v", cand.Reason, base.Processes, cand.Processes)
	if cand.Passed || len(cand.Escalations) == 0 {
		t.Fatalf("%s passed (%s): its lighttpd ran as root", weaker, cand.Reason)
	}
	for _, want := range []string{"check passed", "ran more privileged than under the starting set", "lighttpd", "uid 0"} {
		if !strings.Contains(cand.Reason, want) {
			t.Errorf("the reason %q does not say %q", cand.Reason, want)
		}
	}

	// And minimization never proves it: the result keeps the switch.
	m := &verify.Runner{Session: s, Target: tg, Check: check}
	res, err := m.Minimize(ctx, start, "test", verify.MinimizeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := capset.ParseSet(strings.Join(res.Set, ","))
	if got != start || !res.OneMinimal {
		t.Errorf("minimized to %s (1-minimal %v), want %s: %s", got, res.OneMinimal, start, res.Message)
	}
}
