package report

import (
	"bytes"
	"testing"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/verify"
)

func run(n int, phase verify.Phase, s capset.Set, pass bool, ms int64, reason string) verify.Trial {
	r := verify.Trial{N: n, Phase: phase, Set: s, Caps: s.Names(), Passed: pass, Result: "fail", Reason: reason, DurationMS: ms,
		Container: "capdrop-verify-0a1b2c3d-run" + string(rune('0'+n%10))}
	if pass {
		r.Result = "pass"
	}
	return r
}

func intp(i int) *int { return &i }

// sampleMinimized is a small minimization: from CHOWN, KILL, MKNOD, NET_RAW
// to CHOWN and MKNOD.
func sampleMinimized() *verify.Result {
	start := capset.Of(capset.CHOWN, capset.KILL, capset.MKNOD, capset.NET_RAW)
	final := capset.Of(capset.CHOWN, capset.MKNOD)
	runs := []verify.Trial{
		run(1, verify.PhaseStart, start, true, 2400, "exited with code 0"),
		run(2, verify.PhaseSearch, capset.Of(capset.CHOWN, capset.KILL), false, 2100, "exited with code 1, want 0"),
		run(3, verify.PhaseSearch, capset.Of(capset.MKNOD, capset.NET_RAW), false, 1900, "exited with code 1, want 0"),
		run(4, verify.PhaseSearch, capset.Of(capset.CHOWN, capset.MKNOD, capset.NET_RAW), true, 2000, "exited with code 0"),
		run(5, verify.PhaseSearch, final, true, 2050, "exited with code 0"),
		run(6, verify.PhaseConfirm, capset.Of(capset.MKNOD), false, 1800, "exited with code 1, want 0"),
	}
	for i := range runs {
		runs[i].ExitCode = intp(1)
		if runs[i].Passed {
			runs[i].ExitCode = intp(0)
		}
	}
	runs[4].Logs = "ok chown\nok mknod"
	runs[5].Logs = "FAILED chown\nok mknod"
	return &verify.Result{
		Passed: true, Set: final.Names(), Mask: final.Hex(), Minimized: true, OneMinimal: true,
		Start: start.Names(), StartFrom: "--cap-add", Removed: start.Minus(final).Names(),
		Target: &verify.Target{Kind: "run", Source: "docker run img /truth chown mknod", Image: "img",
			Notes: []string{"--name web left out: each trial gets its own name (capdrop-verify-…), so it never collides with the running container"}},
		Check: "exits with code 0", Runs: runs,
		Stats: verify.Stats{Runs: 6, Start: 1, Search: 4, Confirm: 1, Queries: 7, Cached: 1, Predicted: 1, AllSubsets: 16},
		Flaky: []verify.FlakySet{}, Unjudged: []int{},
		Message: "CAP_CHOWN,CAP_MKNOD is 1-minimal: it passes, and removing any one capability fails (6 runs; every subset would be 16)",
	}
}

// sampleFailed is a plain verification that failed an HTTP check.
func sampleFailed() *verify.Result {
	s := capset.Of(capset.CHOWN)
	r := run(1, verify.PhaseVerify, s, false, 5300, "exited with code 1 after 0.4s before the check passed")
	r.ExitCode = intp(1)
	r.Probe = "GET http://172.17.0.3:80/: connect: connection refused"
	r.Logs = "httpd: bind: Permission denied"
	return &verify.Result{
		Passed: false, Set: s.Names(), Mask: s.Hex(), Start: s.Names(), StartFrom: `profile p.json ("needed")`, Removed: []string{},
		Target: &verify.Target{Kind: "compose", Source: "service web in compose.yaml", Image: "web:1"},
		Check:  "HTTP GET http://CONTAINER:80/ answers below 400", Runs: []verify.Trial{r},
		Stats: verify.Stats{Runs: 1, Start: 1}, Flaky: []verify.FlakySet{}, Unjudged: []int{},
		Message: "the workload fails the check with CAP_CHOWN",
	}
}

// sampleFlaky is a verification with two runs that disagreed.
func sampleFlaky() *verify.Result {
	s := capset.Of(capset.NET_BIND_SERVICE)
	return &verify.Result{
		Passed: false, Set: s.Names(), Mask: s.Hex(), Start: s.Names(), StartFrom: "--cap-add", Removed: []string{},
		Target: &verify.Target{Kind: "image", Source: "image web:1", Image: "web:1"},
		Check:  "TCP port 80 accepts a connection",
		Runs: []verify.Trial{
			run(1, verify.PhaseVerify, s, true, 1200, "check passed after 0.5s"),
			run(2, verify.PhaseVerify, s, false, 30200, "the check did not pass within 30s (the timeout)"),
		},
		Stats:    verify.Stats{Runs: 2, Start: 2},
		Flaky:    []verify.FlakySet{{Set: s.Names(), Passes: 1, Fails: 1}},
		Unjudged: []int{},
		Message:  "flaky: the set passed 1 and failed 1 of 2 runs; not trusted",
	}
}

func TestVerifyText(t *testing.T) {
	for _, tc := range []struct {
		name string
		res  *verify.Result
		text Text
	}{
		{"verify-minimized.golden", sampleMinimized(), Text{}},
		{"verify-failed.golden", sampleFailed(), Text{}},
		{"verify-flaky.golden", sampleFlaky(), Text{}},
		{"verify-tty60.golden", sampleMinimized(), Text{Color: true, Width: 60}},
	} {
		var b bytes.Buffer
		if err := tc.text.Verify(&b, tc.res); err != nil {
			t.Fatal(err)
		}
		golden(t, tc.name, b.Bytes())
	}
}

func TestVerifyJSON(t *testing.T) {
	var b bytes.Buffer
	if err := JSON(&b, sampleMinimized()); err != nil {
		t.Fatal(err)
	}
	golden(t, "verify.json.golden", b.Bytes())
}
