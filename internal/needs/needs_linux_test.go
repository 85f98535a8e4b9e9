//go:build linux

package needs_test

import (
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/internal/dockertest"
	"github.com/capdrop/capdrop/internal/needs"
)

// TestMain holds the main thread for the main goroutine, as capneeds does,
// so the operations run here in-process never run on it.
func TestMain(m *testing.M) {
	runtime.LockOSThread()
	os.Exit(m.Run())
}

var (
	imageOnce sync.Once
	image     string
)

// Image returns the test image: busybox plus capneeds at /capneeds, with
// its fixtures prepared at build time (as root with Docker's default set).
func testImage(t *testing.T) string {
	t.Helper()
	imageOnce.Do(func() {
		bin := dockertest.BuildStatic(t, "github.com/capdrop/capdrop/internal/needs/cmd/capneeds")
		image = dockertest.Image(t, map[string]string{"/capneeds": bin}, `RUN ["/capneeds", "prepare"]`)
	})
	if image == "" {
		t.Fatal("no test image")
	}
	return image
}

// run runs capneeds with ops in a container holding exactly caps, and
// returns its exit code and output.
func run(t *testing.T, caps capset.Set, ops []string) (int, string) {
	t.Helper()
	args := []string{"run", "--rm", "--label", dockertest.Label + "=1", "--network", "none", "--cap-drop=all"}
	for _, c := range caps.Caps() {
		args = append(args, "--cap-add="+c.Short())
	}
	for _, s := range needs.Sysctls(ops...) {
		args = append(args, "--sysctl", s)
	}
	args = append(args, testImage(t), "/capneeds")
	args = append(args, ops...)
	out, err := dockertest.DockerErr(args...)
	if err != nil {
		if strings.Contains(err.Error(), "exit status 1") {
			return 1, out + err.Error()
		}
		t.Fatalf("docker %s: %v", strings.Join(args, " "), err)
	}
	return 0, out
}

// TestComboTruth proves each combination's needs on a real engine: it
// succeeds with exactly its set, and fails, naming the operation, with any
// one capability of it removed.
func TestComboTruth(t *testing.T) {
	dockertest.Require(t)
	for _, c := range needs.Combos {
		t.Run(c.Name, func(t *testing.T) {
			set := c.Needs()
			if code, out := run(t, set, c.Ops); code != 0 {
				t.Fatalf("with exactly %s: exit %d\n%s", set, code, out)
			}
			for _, missing := range set.Caps() {
				code, out := run(t, set.Without(missing), c.Ops)
				if code == 0 {
					t.Errorf("without %s the workload still succeeds", missing)
					continue
				}
				if !strings.Contains(out, "(needs "+missing.Name()+")") {
					t.Errorf("without %s the workload failed, but not naming it:\n%s", missing, out)
				}
			}
		})
	}
}

func TestOpsEachNeedOneKnownCapability(t *testing.T) {
	seen := map[string]bool{}
	for _, o := range needs.All() {
		if seen[o.Name] {
			t.Errorf("operation %s twice", o.Name)
		}
		seen[o.Name] = true
		if !o.Cap.Known() {
			t.Errorf("%s needs unknown %s", o.Name, o.Cap)
		}
	}
	if len(seen) < 10 {
		t.Errorf("%d operations, want at least 10 kinds", len(seen))
	}
	used := map[string]bool{}
	for _, c := range needs.Combos {
		for _, op := range c.Ops {
			if _, ok := needs.Lookup(op); !ok {
				t.Errorf("combo %s: unknown op %s", c.Name, op)
			}
			used[op] = true
		}
	}
	for name := range seen {
		if !used[name] {
			t.Errorf("operation %s is in no combo", name)
		}
	}
	if err := needs.Run("/nonexistent", "no-such-op"); err == nil || !strings.Contains(err.Error(), "unknown operation") {
		t.Errorf("unknown op: %v", err)
	}
}

// TestThrowawayThreadsLeaveTheProcess runs the operations that change one
// thread's credentials or priority, in this process, many times, and checks
// after each that the process as /proc/self/status describes it (its main
// thread, as the kernel's process events do) is still root: a run of the
// helper must never be seen as uid 1234 one time and as root the next.
func TestThrowawayThreadsLeaveTheProcess(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the operations need CAP_SETUID, CAP_SETGID and CAP_SYS_NICE")
	}
	dir := t.TempDir()
	for i := range 500 {
		if err := needs.Run(dir, "setuid", "setgid", "nice"); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		status, err := os.ReadFile("/proc/self/status")
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(status), "\n") {
			if k, v, _ := strings.Cut(l, ":"); k == "Uid" || k == "Gid" {
				if f := strings.Fields(v); len(f) != 4 || f[0] != "0" || f[1] != "0" || f[2] != "0" || f[3] != "0" {
					t.Fatalf("after run %d the process's %s line is %q, want root's: an operation ran on the main thread", i, k, v)
				}
			}
		}
	}
}
