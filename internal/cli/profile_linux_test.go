//go:build linux

package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/internal/dockertest"
	"github.com/capdrop/capdrop/internal/needs"
	"github.com/capdrop/capdrop/internal/term"
	"github.com/capdrop/capdrop/knowledge"
	"github.com/capdrop/capdrop/profile"
)

var (
	capneedsOnce sync.Once
	capneedsBin  string
	capneedsImg  string
)

func capneeds(t *testing.T, withImage bool) (bin, image string) {
	t.Helper()
	capneedsOnce.Do(func() {
		// Built outside any test's TempDir: later tests reuse it.
		dir, err := os.MkdirTemp("", "capdrop-capneeds-")
		if err != nil {
			t.Fatal(err)
		}
		capneedsBin = filepath.Join(dir, "capneeds")
		cmd := exec.Command("go", "build", "-o", capneedsBin, "github.com/capdrop/capdrop/internal/needs/cmd/capneeds")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build capneeds: %v\n%s", err, out)
		}
	})
	if withImage && capneedsImg == "" {
		capneedsImg = dockertest.Image(t, map[string]string{"/capneeds": capneedsBin}, `RUN ["/capneeds", "prepare"]`)
	}
	return capneedsBin, capneedsImg
}

// runProfileJSON runs `capdrop profile -o json ARGS...` in-process and
// decodes the document.
func runProfileJSON(t *testing.T, args ...string) (*profile.Profile, string) {
	t.Helper()
	s, out, errOut := term.Test("")
	code := Main(context.Background(), append([]string{"profile", "-o", "json"}, args...), s)
	if code != 0 {
		t.Fatalf("capdrop profile %s: exit %d\nstderr:\n%s", strings.Join(args, " "), code, errOut)
	}
	var p profile.Profile
	if err := json.Unmarshal(out.Bytes(), &p); err != nil {
		t.Fatalf("decode the profile: %v\n%s", err, out)
	}
	return &p, errOut.String()
}

// TestProfileDockerRecoversTheTruth profiles each ground-truth combination
// (proved by internal/needs TestComboTruth) started from Docker's default
// set plus the extras it needs, and requires the needed set to be exactly
// the truth: nothing missing, nothing extra.
func TestProfileDockerRecoversTheTruth(t *testing.T) {
	dockertest.Require(t)
	_, image := capneeds(t, true)
	defaults := knowledge.MustDefault(knowledge.Docker)
	for _, c := range needs.Combos {
		t.Run(c.Name, func(t *testing.T) {
			truth := c.Needs()
			args := []string{"--docker", "--", "--label", dockertest.Label + "=1", "--network", "none"}
			for _, extra := range truth.Minus(defaults).Caps() {
				args = append(args, "--cap-add", strings.ToLower(extra.Short()))
			}
			for _, s := range needs.Sysctls(c.Ops...) {
				args = append(args, "--sysctl", s)
			}
			args = append(args, image, "/capneeds")
			args = append(args, c.Ops...)
			p, logs := runProfileJSON(t, args...)
			if p.Target.ExitCode == nil || *p.Target.ExitCode != 0 {
				t.Fatalf("the workload failed (exit %v):\n%s", p.Target.ExitCode, logs)
			}
			// The recommended set (needed, plus used but not proven: a
			// kill to another user's process is one) is exactly the truth,
			// and nothing labelled needed is outside it.
			if !truth.Contains(p.NeededSet()) {
				t.Errorf("needed = %s, beyond the truth %s", p.NeededSet(), truth)
			}
			if got := p.RecommendedSet(); got != truth {
				var extra []string
				for _, c := range got.Minus(truth).Caps() {
					if cc := p.Checks[c.Name()]; cc != nil {
						extra = append(extra, fmt.Sprintf("%+v", *cc))
					}
				}
				t.Errorf("recommended = %s, want exactly %s (missing %s, extra %s)\nextra checks: %s\nnoise: %+v",
					got, truth, truth.Minus(got), got.Minus(truth), extra, p.Noise)
			}
			if p.Target.MntNS == 0 || p.Target.ContainerID == "" {
				t.Errorf("target not identified: %+v", p.Target)
			}
			// runc's init checks with full capabilities before the exec:
			// none of it may be counted. It runs as comm "runc:[2:INIT]".
			for name, cc := range p.Checks {
				for _, cmd := range cc.Commands {
					if strings.HasPrefix(cmd, "runc") {
						t.Errorf("%s checks by %s were counted", name, cmd)
					}
				}
			}
			if p.Overflow != 0 || p.Lost != 0 {
				t.Errorf("losses: overflow %d, lost %d", p.Overflow, p.Lost)
			}
			if p.Mechanism == "" || p.Kernel == "" {
				t.Errorf("mechanism %q, kernel %q", p.Mechanism, p.Kernel)
			}
			// Docker mode removes what it created.
			left, _ := dockertest.DockerErr("ps", "-aq", "--filter", "id="+p.Target.ContainerID)
			if left != "" {
				t.Errorf("container %s left behind", left)
			}
		})
	}
}

// TestProfileCommandOnTheHost profiles the helper on the host as root
// (every capability granted), where only its own operations may count.
func TestProfileCommandOnTheHost(t *testing.T) {
	dockertest.Require(t) // root, for the tracer and the helper's operations
	bin, _ := capneeds(t, false)
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-dir", dir, "prepare").CombinedOutput(); err != nil {
		t.Fatalf("prepare: %v\n%s", err, out)
	}
	for _, ops := range [][]string{
		{"chown", "setuid", "raw"},
		{"mount", "dac-read-search", "nice"},
		{"kill", "mknod", "setfcap", "fsetid"},
	} {
		t.Run(strings.Join(ops, "+"), func(t *testing.T) {
			truth, _ := needs.Set(ops...)
			p, logs := runProfileJSON(t, append([]string{"--", bin, "-dir", dir}, ops...)...)
			if p.Target.ExitCode == nil || *p.Target.ExitCode != 0 {
				t.Fatalf("the helper failed: %s", logs)
			}
			if !truth.Contains(p.NeededSet()) {
				t.Errorf("needed = %s, beyond the truth %s", p.NeededSet(), truth)
			}
			if got := p.RecommendedSet(); got != truth {
				t.Errorf("recommended = %s, want exactly %s\nchecks: %s", got, truth, mustJSON(p.Checks))
			}
			if p.Target.Kind != "command" || p.Target.PID == 0 {
				t.Errorf("target %+v", p.Target)
			}
			self, _ := os.Readlink("/proc/self/ns/mnt")
			if strings.Contains(self, "["+itoa(p.Target.MntNS)+"]") {
				t.Errorf("the command ran in capdrop's own mount namespace %s", self)
			}
		})
	}
}

// TestProfileCommandNoise: as root, setuid(0) and setgid(0) ask for
// CAP_SETUID and CAP_SETGID although nothing changes; they are noise, not
// needs.
func TestProfileCommandNoise(t *testing.T) {
	dockertest.Require(t)
	perl, err := exec.LookPath("perl")
	if err != nil {
		t.Fatal("perl not installed")
	}
	p, logs := runProfileJSON(t, "--", perl, "-e", `use POSIX; POSIX::setuid(0) or die "setuid: $!"; POSIX::setgid(0) or die "setgid: $!"`)
	if p.Target.ExitCode == nil || *p.Target.ExitCode != 0 {
		t.Fatalf("perl failed: %s", logs)
	}
	if !p.NeededSet().IsEmpty() {
		t.Errorf("needed = %v, want none", p.Needed)
	}
	if p.NeededSet().Has(capset.SETUID) {
		t.Errorf("setuid(0) as root counted as a need: %s", mustJSON(p.Checks["CAP_SETUID"]))
	}
	found := false
	for _, n := range p.Noise {
		if n.Capability == "CAP_SETUID" && n.Reason == "same-id" {
			found = true
		}
	}
	if !found {
		t.Errorf("no same-id noise for CAP_SETUID: %s", mustJSON(p.Noise))
	}
}

func mustJSON(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

func itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

// TestProfileRunningContainer profiles a running container for a few
// seconds: its existing processes and a `docker exec` into it are followed
// (the exec from its exec: runc's setns init is not counted).
func TestProfileRunningContainer(t *testing.T) {
	dockertest.Require(t)
	_, image := capneeds(t, true)
	id := dockertest.Start(t, "--network", "none", image, "sh", "-c", "while true; do /capneeds chown; sleep 0.2; done")
	done := make(chan string, 1)
	go func() {
		time.Sleep(6 * time.Second) // the profiler is attached by then
		start := time.Now()
		out, err := dockertest.DockerErr("exec", id, "/capneeds", "raw")
		if err != nil {
			out += err.Error()
		}
		done <- fmt.Sprintf("%s (docker exec took %s)", out, time.Since(start))
	}()
	p, _ := runProfileJSON(t, "--container", id, "--duration", "20s")
	out := <-done
	if !strings.Contains(out, "capneeds: ok") {
		t.Fatalf("docker exec: %s", out)
	}
	t.Log(out)
	if got, want := p.NeededSet(), capset.Of(capset.CHOWN, capset.NET_RAW); got != want {
		t.Errorf("needed = %s, want %s\n%s", got, want, mustJSON(p.Checks))
	}
	if p.Target.Kind != "container" || !strings.HasPrefix(p.Target.ContainerID, id[:12]) {
		t.Errorf("target %+v", p.Target)
	}
	for name, cc := range p.Checks {
		for _, cmd := range cc.Commands {
			if strings.HasPrefix(cmd, "runc") {
				t.Errorf("%s checks by %s were counted", name, cmd)
			}
		}
	}
}

// TestVerifyMinimizesTheTruth closes the other half of the loop on the same
// ground truth as the profile: capdrop verify --minimize, started from
// Docker's 14 defaults plus the extras, finds exactly the set the helper
// needs, proves it 1-minimal, in far fewer runs than every subset, and
// leaves no container behind.
func TestVerifyMinimizesTheTruth(t *testing.T) {
	dockertest.Require(t)
	_, image := capneeds(t, true)
	ops := []string{"chown", "setuid", "bind", "net-admin"}
	truth, err := needs.Set(ops...)
	if err != nil {
		t.Fatal(err)
	}
	start := knowledge.MustDefault(knowledge.Docker).Union(truth)
	args := []string{"verify", "--minimize", "--cap-add", start.String(), "-o", "json", "--",
		"--label", dockertest.Label + "=1", "--network", "none"}
	for _, s := range needs.Sysctls(ops...) {
		args = append(args, "--sysctl", s)
	}
	args = append(append(args, image, "/capneeds"), ops...)
	s, out, errOut := term.Test("")
	code := Main(context.Background(), args, s)
	var res struct {
		Set        []string `json:"set"`
		Passed     bool     `json:"passed"`
		OneMinimal bool     `json:"one_minimal"`
		Message    string   `json:"message"`
		Runs       []struct {
			N         int      `json:"n"`
			Phase     string   `json:"phase"`
			Set       []string `json:"set"`
			Passed    bool     `json:"passed"`
			Reason    string   `json:"reason"`
			Logs      string   `json:"logs_tail"`
			Container string   `json:"container"`
		} `json:"runs"`
		Stats struct {
			Runs       int     `json:"runs"`
			AllSubsets float64 `json:"all_subsets"`
		} `json:"stats"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("capdrop %s: exit %d; decode: %v\n%s\n%s", strings.Join(args, " "), code, err, out, errOut)
	}
	got, err := capset.ParseSet(strings.Join(res.Set, ","))
	if code != 0 || err != nil || got != truth || !res.Passed || !res.OneMinimal {
		// The runs that failed although their set holds the truth come
		// first: the whole document is long and may be cut where shown.
		var odd []string
		for _, r := range res.Runs {
			if set, _ := capset.ParseSet(strings.Join(r.Set, ",")); !r.Passed && set.Contains(truth) {
				odd = append(odd, fmt.Sprintf("run %d (%s, %s): %s; logs: %s", r.N, r.Phase, strings.Join(r.Set, ","), r.Reason, r.Logs))
			}
		}
		t.Fatalf("exit %d: minimized to %v (passed %v, 1-minimal %v), want exactly %s: %s\nruns that failed with the truth: %s\n%s\n%s",
			code, res.Set, res.Passed, res.OneMinimal, truth, res.Message, strings.Join(odd, "\n"), errOut, out)
	}
	if all := 1 << start.Len(); res.Stats.Runs == 0 || res.Stats.Runs > 40 || res.Stats.AllSubsets != float64(all) {
		t.Errorf("%d runs for %d capabilities (all subsets %v, want %d): want at most 40", res.Stats.Runs, start.Len(), res.Stats.AllSubsets, all)
	}
	for _, r := range res.Runs {
		if left, _ := dockertest.DockerErr("ps", "-aq", "--filter", "id="+r.Container); left != "" {
			t.Errorf("container %s left behind", left)
		}
	}
	t.Logf("minimized %d → %d capabilities in %d runs; every subset: %d", start.Len(), truth.Len(), res.Stats.Runs, 1<<start.Len())
}
