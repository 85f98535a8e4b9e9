//go:build linux && (amd64 || arm64)

package agent_test

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/capdrop/capdrop/agent"
	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/trace"
)

// The test binary doubles as a container's process: with
// CAPDROP_AGENT_CONTAINER=CGROUP FILE it moves itself into the cgroup
// directory CGROUP, takes a mount namespace of its own and execs itself
// again (the exec the tracer roots a container at), which chowns FILE
// once; with CAPDROP_AGENT_SERVE set too it then chowns FILE again for each
// line read on stdin, answering each with a line, until stdin ends.
const containerEnv = "CAPDROP_AGENT_CONTAINER"

// cacheSlots is the count cache's size a CPU in TestRetentionOnTheKernel.
const cacheSlots = 4

func TestMain(m *testing.M) {
	if arg := os.Getenv(containerEnv); arg != "" {
		if err := container(arg); err != nil {
			fmt.Fprintln(os.Stderr, "container:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func container(arg string) error {
	cg, file, ok := strings.Cut(arg, " ")
	if !ok {
		return fmt.Errorf("%s=%q: want CGROUP FILE", containerEnv, arg)
	}
	if os.Getenv("CAPDROP_AGENT_STAGE") == "" {
		if err := os.WriteFile(filepath.Join(cg, "cgroup.procs"), []byte(fmt.Sprint(os.Getpid())), 0); err != nil {
			return err
		}
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			return fmt.Errorf("unshare: %w", err)
		}
		self, err := os.Executable()
		if err != nil {
			return err
		}
		return syscall.Exec(self, []string{self, "-test.run=^$"}, append(os.Environ(), "CAPDROP_AGENT_STAGE=1"))
	}
	uid := 1234
	if err := os.Chown(file, uid, uid); err != nil {
		return err
	}
	if os.Getenv("CAPDROP_AGENT_SERVE") == "" {
		return nil
	}
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		uid++
		if err := os.Chown(file, uid, uid); err != nil {
			return err
		}
		fmt.Println("done")
	}
	return in.Err()
}

// cgroupBase is where the test makes its containers' cgroups: the memory
// hierarchy (cgroup v1) or the unified one.
// nodeTracer opens the tracer as the agent does on a node (o plus
// following new mount namespaces, session tags, keys by memory cgroup),
// closed when t ends, its events drained; it skips without root or where
// the kernel has no tracer, unless the kernel matrix expects one.
func nodeTracer(t *testing.T, o trace.Options) *trace.Tracer {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_BPF, CAP_PERFMON) to load BPF programs")
	}
	o.FollowNewMntNS, o.TagSessions, o.KeyMemoryCgroup = true, true, true
	tr, err := trace.Open(o)
	if err != nil {
		if os.Getenv("CAPDROP_EXPECT_MECHANISMS") != "" {
			t.Fatal(err)
		}
		t.Skipf("no tracer on this kernel: %v", err)
	}
	t.Cleanup(func() { tr.Close() })
	go func() {
		for range tr.Events() {
		}
	}()
	return tr
}

func cgroupBase(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/sys/fs/cgroup/memory/cgroup.procs"); err == nil {
		return "/sys/fs/cgroup/memory"
	}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return "/sys/fs/cgroup"
	}
	t.Skip("no cgroup memory hierarchy at /sys/fs/cgroup/memory and no unified hierarchy at /sys/fs/cgroup")
	return ""
}

// newCgroup makes a cgroup named like a container ID (64 hex digits), and
// removes it when t ends.
func newCgroup(t *testing.T, base string) (string, uint64) {
	t.Helper()
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	dir := filepath.Join(base, hex.EncodeToString(b))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(dir) })
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	return dir, st.Ino
}

// chowns returns the CAP_CHOWN checks counted per cgroup, and the count
// keys per cgroup.
func chowns(t *testing.T, tr *trace.Tracer) (map[uint64]uint64, map[uint64]int) {
	t.Helper()
	recs, err := tr.Records()
	if err != nil {
		t.Fatal(err)
	}
	n, keys := map[uint64]uint64{}, map[uint64]int{}
	for _, r := range recs {
		keys[r.Cgroup]++
		if r.Cap == capset.CHOWN && !r.Denied {
			n[r.Cgroup] += r.Count
		}
	}
	return n, keys
}

// TestRetentionOnTheKernel runs 80 short containers (each its own cgroup
// and mount namespace, one chown) through the node's tracer and an agent
// pruning with a retention of a minute on a clock the test moves, beside
// one container that lives throughout. Every ended container's checks are
// all there until its retention is over, then gone from the agent's
// sessions store and from the kernel's counts map but for the keys a slot
// of the per-CPU count cache still holds checks of (shrunk here to 4 slots
// a CPU so that they are displaced): those go at a later pass, so what
// ended containers keep in the maps is bounded by the cache, not by the
// containers run. The live one loses nothing, and no check is counted
// lost.
func TestRetentionOnTheKernel(t *testing.T) {
	tr := nodeTracer(t, trace.Options{CacheSlots: cacheSlots})
	base := cgroupBase(t)
	store := &agent.MemoryStore{}
	c := &clock{t: time.Now()}
	a, err := agent.New(tr, store, agent.Info{Node: "n1", TracingSince: c.t, Retention: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	agent.SetClock(a, c.now)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := func(name string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	// The live container.
	liveDir, live := newCgroup(t, base)
	srv := exec.Command(self, "-test.run=^$")
	srv.Env = append(os.Environ(), containerEnv+"="+liveDir+" "+file("live"), "CAPDROP_AGENT_SERVE=1")
	stdin, err := srv.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	srv.Stderr = os.Stderr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); _ = srv.Wait() }()
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || lines.Text() != "ready" {
		t.Fatalf("the live container did not start: %q %v", lines.Text(), lines.Err())
	}
	got, _ := chowns(t, tr)
	perChown := got[live]
	if perChown == 0 {
		t.Fatalf("no CAP_CHOWN check counted for the live container (cgroup %d)", live)
	}

	const batches, per = 4, 20
	var ended []uint64
	sessions := func() int {
		saved, _, _ := store.Load()
		n := 0
		for _, s := range saved {
			for _, cg := range ended {
				if s.Cgroup == cg {
					n++
				}
			}
		}
		return n
	}
	maxKept, maxLeft := 0, 0
	for b := 0; b < batches; b++ {
		var batch []uint64
		for i := 0; i < per; i++ {
			cgDir, cg := newCgroup(t, base)
			cmd := exec.Command(self, "-test.run=^$")
			cmd.Env = append(os.Environ(), containerEnv+"="+cgDir+" "+file(fmt.Sprintf("f%d-%d", b, i)))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("container %d/%d: %v\n%s", b, i, err, out)
			}
			if err := os.Remove(cgDir); err != nil {
				t.Fatal(err)
			}
			batch = append(batch, cg)
		}
		// Seen ended now: kept, every check there.
		if err := a.Prune(); err != nil {
			t.Fatal(err)
		}
		got, _ := chowns(t, tr)
		for _, cg := range batch {
			if n := got[cg]; n != perChown {
				t.Fatalf("batch %d: cgroup %d has %d CAP_CHOWN checks before its retention is over, want %d", b, cg, n, perChown)
			}
		}
		ended = append(ended, batch...)
		maxKept = max(maxKept, sessions())
		// A retention later: pruned.
		c.t = c.t.Add(time.Minute)
		if err := a.Prune(); err != nil {
			t.Fatal(err)
		}
		if n := sessions(); n != 0 {
			t.Errorf("batch %d: %d sessions of ended containers left after their retention", b, n)
		}
		_, keys := chowns(t, tr)
		left := 0
		for _, cg := range ended {
			left += keys[cg]
		}
		maxLeft = max(maxLeft, left)
		// The live container: still live, nothing lost, and it goes on.
		fmt.Fprintln(stdin, "chown")
		if !lines.Scan() || lines.Text() != "done" {
			t.Fatalf("the live container did not answer: %q %v", lines.Text(), lines.Err())
		}
		got, _ = chowns(t, tr)
		if n, want := got[live], perChown*uint64(b+2); n != want {
			t.Fatalf("batch %d: the live container's CAP_CHOWN checks = %d, want %d", b, n, want)
		}
	}
	if limit := cacheSlots * runtime.NumCPU(); maxLeft > limit {
		t.Errorf("up to %d count keys of ended containers were left after their retention, more than the count cache holds (%d)", maxLeft, limit)
	}
	if maxKept > per {
		t.Errorf("at most %d sessions of ended containers were kept at once, want at most one batch (%d)", maxKept, per)
	}
	r, err := a.Report()
	if err != nil {
		t.Fatal(err)
	}
	if r.Pruning.Totals.Containers < batches*per || r.Pruning.Totals.Records < batches*per {
		t.Errorf("pruned totals %+v, want at least the %d containers and one count each", r.Pruning.Totals, batches*per)
	}
	if r.Counters.Overflow != 0 {
		t.Errorf("the counts map reported %d lost checks: a pruned key's cache flush found it gone", r.Counters.Overflow)
	}
	saved, _, _ := store.Load()
	found := false
	for _, s := range saved {
		found = found || s.Cgroup == live
	}
	if !found {
		t.Errorf("the live container's session is gone from the store")
	}
	got, _ = chowns(t, tr)
	t.Logf("%d containers pruned (%d count keys, %d sessions); at most %d count keys of ended containers left in the cache; the live one kept its %d checks",
		r.Pruning.Totals.Containers, r.Pruning.Totals.Records, r.Pruning.Totals.Sessions, maxLeft, got[live])
}
