//go:build linux && (amd64 || arm64)

package trace

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/internal/needs"
)

// cgroupEnv, set for a workload, names the cgroup directory it runs in:
// the test binary moves itself there, takes a mount namespace of its own
// and execs itself again, the exec the tracer roots it at (as a container
// runtime starts a container's first process inside its cgroup).
const cgroupEnv = "CAPDROP_TRACE_CGROUP"

// mntnsEnv, set with cgroupEnv, names a mount namespace (a /proc/PID/ns/mnt)
// the workload joins instead of taking one of its own.
const mntnsEnv = "CAPDROP_TRACE_MNTNS"

// intoCgroup is the first stage of a workload with cgroupEnv set; it
// returns only on failure, or in the second stage.
func intoCgroup() error {
	cg := os.Getenv(cgroupEnv)
	if cg == "" || os.Getenv("CAPDROP_TRACE_STAGE") != "" {
		return nil
	}
	if err := os.WriteFile(filepath.Join(cg, "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
		return fmt.Errorf("join cgroup %s: %w", cg, err)
	}
	runtime.LockOSThread()
	if ns := os.Getenv(mntnsEnv); ns != "" {
		// setns refuses a thread sharing its file system attributes
		// (CLONE_FS) with others, as a Go program's threads do.
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			return fmt.Errorf("unshare CLONE_FS: %w", err)
		}
		fd, err := unix.Open(ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s: %w", ns, err)
		}
		if err := unix.Setns(fd, unix.CLONE_NEWNS); err != nil {
			return fmt.Errorf("join the mount namespace %s: %w", ns, err)
		}
		unix.Close(fd)
	} else if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("unshare: %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	return syscall.Exec(self, []string{self, "-test.run=^$"}, append(os.Environ(), "CAPDROP_TRACE_STAGE=1"))
}

// chownOnCPU chowns once (two CAP_CHOWN checks) on a thread bound to CPU
// cpu, so that the checks go through that CPU's count cache.
func chownOnCPU(cpu int) error {
	return throwaway(func() error {
		var set unix.CPUSet
		set.Set(cpu)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			return fmt.Errorf("bind to CPU %d: %w", cpu, err)
		}
		return needs.Run(os.Getenv("CAPDROP_TRACE_DIR"), "chown")
	})
}

// serve prints "ready", then for each line read, a CPU number, chowns once
// on that CPU and prints "done", until standard input ends.
func serve() error {
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		cpu, err := strconv.Atoi(in.Text())
		if err != nil {
			return err
		}
		if err := chownOnCPU(cpu); err != nil {
			return err
		}
		fmt.Println("done")
	}
	return in.Err()
}

// testCgroupBase returns where the test makes its cgroups, each a memory
// cgroup of its own as a container's is: the memory hierarchy (cgroup v1),
// else the unified one with the memory controller enabled for its children
// (the kernel matrix's guests run in the unified hierarchy's root, where
// nothing enabled it).
func testCgroupBase(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/sys/fs/cgroup/memory/cgroup.procs"); err == nil {
		return "/sys/fs/cgroup/memory"
	}
	const base = "/sys/fs/cgroup"
	ctl, err := os.ReadFile(filepath.Join(base, "cgroup.controllers"))
	if err != nil || !slices.Contains(strings.Fields(string(ctl)), "memory") {
		t.Skipf("no memory cgroup hierarchy: no /sys/fs/cgroup/memory, and the unified hierarchy's controllers are %q (%v)", ctl, err)
	}
	sub, err := os.ReadFile(filepath.Join(base, "cgroup.subtree_control"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(strings.Fields(string(sub)), "memory") {
		if err := os.WriteFile(filepath.Join(base, "cgroup.subtree_control"), []byte("+memory"), 0); err != nil {
			t.Skipf("enable the memory controller for %s's children: %v", base, err)
		}
		// Runs after the cgroups' own removal (cleanups run last first).
		t.Cleanup(func() { _ = os.WriteFile(filepath.Join(base, "cgroup.subtree_control"), []byte("-memory"), 0) })
	}
	return base
}

// testCgroup makes a cgroup under base, removed when t ends unless the
// test removed it first, and returns its directory and id (its inode).
func testCgroup(t *testing.T, base string) (string, uint64) {
	t.Helper()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	dir := filepath.Join(base, "capdrop-trace-"+hex.EncodeToString(b))
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

// countsOf reads the counts map: every key with its per-CPU counts.
func countsOf(t *testing.T, tr *Tracer) map[capableKey][]uint64 {
	t.Helper()
	out := map[capableKey][]uint64{}
	var (
		k   capableKey
		per []uint64
	)
	it := tr.maps["counts"].Iterate()
	for it.Next(&k, &per) {
		out[k] = slices.Clone(per)
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// gainsOf reads the gains map: every key with its per-CPU values.
func gainsOf(t *testing.T, tr *Tracer) map[capableGainKey][]capableGain {
	t.Helper()
	out := map[capableGainKey][]capableGain{}
	var (
		k   capableGainKey
		per []capableGain
	)
	it := tr.maps["gains"].Iterate()
	for it.Next(&k, &per) {
		out[k] = slices.Clone(per)
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// heldOn returns, per CPU, the key and checks of the count cache's one slot
// (the tracer is opened with CacheSlots 1).
func heldOn(t *testing.T, tr *Tracer) []capableSlot {
	t.Helper()
	var per []capableSlot
	if err := tr.maps["cache"].Lookup(uint32(0), &per); err != nil {
		t.Fatal(err)
	}
	return per
}

func total(per []uint64) uint64 {
	var n uint64
	for _, v := range per {
		n += v
	}
	return n
}

// TestPruneCgroups runs, on every mechanism, workloads each in a memory
// cgroup of its own, as containers are (the tracer keyed by memory cgroup,
// as the agent opens it, and targeting the one mount namespace the
// workloads share, so that no other workload on the machine takes part):
// two that stay live (servers) and
// five that end, the last of them chowning on a thread bound to one CPU so
// that a slot of the count cache (one slot a CPU here) still holds checks
// of it. LiveCgroups must name the live ones and none of the ended ones.
// With the cache frozen (no slot changes key; the live servers idle), a
// PruneCgroups of the ended ones must delete exactly their count and gain
// keys but those a cache slot holds checks of, which it must leave and
// report as held; everything else, the live ones' keys and every other
// workload's, must be there with the same per-CPU counts. Then the live
// servers chown on each CPU where a slot held an ended workload's key:
// taking the slot flushes the held checks into the counts map, which must
// find their key (no check counted lost), and a second PruneCgroups must
// delete just those keys. The live ones' counts are exact throughout, and
// once they end LiveCgroups no longer names them. In "collisions", with
// the first mechanism that works, every slot of the direct-mapped table of
// tracked tasks is taken by a tid no task can have, so that the workloads'
// tasks are all in the overflow hash (where LiveCgroups must find them too).
func TestPruneCgroups(t *testing.T) {
	for _, m := range Mechanisms {
		t.Run(string(m), func(t *testing.T) { testPruneCgroups(t, m, false) })
	}
	t.Run("collisions", func(t *testing.T) { testPruneCgroups(t, firstWorking(t), true) })
}

func testPruneCgroups(t *testing.T, m Mechanism, collide bool) {
	requireRoot(t)
	dir := fixtures(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The workloads share one mount namespace, a holder's, which the
	// tracer targets: it follows no other workload (on a shared machine,
	// other tests' containers would take the cache's slots), while each
	// is keyed by its own memory cgroup, as the agent keys containers.
	holder := exec.Command(self, "-test.run=^$")
	holder.Env = append(os.Environ(), workloadEnv+"=pause")
	holder.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	hold, err := holder.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hold.Close(); _ = holder.Wait() })
	nsPath := fmt.Sprintf("/proc/%d/ns/mnt", holder.Process.Pid)
	ns, err := MntNS(holder.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	tr := open(t, m, Options{TargetMntNS: ns, KeyMemoryCgroup: true, CacheSlots: 1})
	if collide {
		slots := tr.maps["track_slots"]
		for i := uint32(0); i < trackSlots; i++ {
			if err := slots.Put(i, capableTrackSlot{Tid: i | 1<<30}); err != nil {
				t.Fatal(err)
			}
		}
	}
	base := testCgroupBase(t)
	var cpus unix.CPUSet
	if err := unix.SchedGetaffinity(0, &cpus); err != nil {
		t.Fatal(err)
	}
	pin := -1
	for i := 0; pin < 0 && i < 1024; i++ {
		if cpus.IsSet(i) {
			pin = i
		}
	}
	command := func(cg string, ops ...string) *exec.Cmd {
		cmd := exec.Command(self, "-test.run=^$")
		cmd.Env = append(os.Environ(), workloadEnv+"="+strings.Join(ops, " "), "CAPDROP_TRACE_DIR="+dir, cgroupEnv+"="+cg, mntnsEnv+"="+nsPath)
		return cmd
	}
	// idOf checks that the workload of pid is keyed by its memory cgroup.
	idOf := func(pid int, want uint64) {
		t.Helper()
		r := rootOfPID(t, tr, pid)
		if r.Cgroup != want {
			t.Fatalf("workload %d: keyed by %d, want the id of its memory cgroup, %d", pid, r.Cgroup, want)
		}
	}

	// The live ones: each kept (or gained) a capability across a uid
	// switch and chowned, then waits.
	type server struct {
		cg    uint64
		cmd   *exec.Cmd
		in    io.WriteCloser
		out   *bufio.Scanner
		chown uint64 // CAP_CHOWN checks made
	}
	var live []*server
	for i := 0; i < 2; i++ {
		cgDir, cg := testCgroup(t, base)
		cmd := command(cgDir, "keepcaps", "chown", "serve")
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		s := &server{cg: cg, cmd: cmd, in: in, out: bufio.NewScanner(out), chown: 2}
		t.Cleanup(func() { s.in.Close(); _ = s.cmd.Wait() })
		if !s.out.Scan() || s.out.Text() != "ready" {
			t.Fatalf("live workload %d did not start: %q %v", i, s.out.Text(), s.out.Err())
		}
		idOf(cmd.Process.Pid, cg)
		live = append(live, s)
		if collide {
			var (
				tid  uint32
				info capableTaskInfo
				n    int
			)
			for it := tr.maps["tracked"].Iterate(); it.Next(&tid, &info); {
				if info.Cgroup == cg {
					n++
				}
			}
			if n == 0 {
				t.Fatalf("no task of the live workload in cgroup %d is in the overflow hash", cg)
			}
		}
	}
	ask := func(s *server, cpu int) {
		t.Helper()
		fmt.Fprintln(s.in, cpu)
		if !s.out.Scan() || s.out.Text() != "done" {
			t.Fatalf("live workload in cgroup %d did not answer: %q %v", s.cg, s.out.Text(), s.out.Err())
		}
		s.chown += 2
	}
	checkLive := func(when string) {
		t.Helper()
		recs, err := tr.Records()
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range live {
			n := sum(recs, func(r Record) bool { return r.Cgroup == s.cg && r.Cap == capset.CHOWN && !r.Denied })
			if n != s.chown {
				t.Errorf("%s: the live workload in cgroup %d has %d CAP_CHOWN checks, want %d", when, s.cg, n, s.chown)
			}
		}
	}
	checkLive("started")

	// The ended ones, each cgroup removed once its workload has exited as
	// a container's is. Between them they make count keys and gains of
	// every source.
	ended := map[uint64]bool{}
	run := func(i int, ops ...string) (cgDir string) {
		t.Helper()
		cgDir, cg := testCgroup(t, base)
		cmd := command(cgDir, ops...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("workload %d %v: %v\n%s", i, ops, err, out)
		}
		idOf(cmd.Process.Pid, cg)
		ended[cg] = true
		return cgDir
	}
	for i, ops := range [][]string{
		{"chown5", "raw"},
		{"keepcaps", "chown"},
		{"capset-fail", "filecap"},
		{"raw", "chown5", "sameuid"},
	} {
		if err := os.Remove(run(i, ops...)); err != nil {
			t.Fatalf("remove the cgroup of ended workload %d: %v", i, err)
		}
	}
	// The last one chowns last on CPU pin, so that the cache slot there
	// holds checks of it. Then the cache is frozen: no slot changes key
	// while the test compares the maps before and after pruning (nothing
	// in an ended cgroup runs, and the live servers wait), so what
	// PruneCgroups must leave is known.
	// A check the process makes after its chown on that CPU (the Go
	// runtime's overcommit probe as another of its threads maps memory
	// there) takes the slot: then the held path would go untested, so the
	// last workload runs again, in a new cgroup, up to five times.
	for attempt := 0; ; attempt++ {
		if err := os.Remove(run(4+attempt, "keepcaps", "filecap", fmt.Sprintf("chown-on-cpu=%d", pin))); err != nil {
			t.Fatalf("remove the cgroup of the last ended workload: %v", err)
		}
		holds := false
		for _, s := range heldOn(t, tr) {
			holds = holds || (s.N != 0 && ended[s.K.Cgroup])
		}
		if holds || attempt == 4 {
			break
		}
		t.Logf("attempt %d: a later check took CPU %d's cache slot from the last workload's chown; again", attempt+1, pin)
	}

	c, err := tr.Counters()
	if err != nil {
		t.Fatal(err)
	}
	liveSet, err := tr.LiveCgroups()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range live {
		if !liveSet[s.cg] {
			t.Errorf("LiveCgroups lacks cgroup %d, whose workload runs", s.cg)
		}
	}
	for cg := range ended {
		if !liveSet[cg] {
			continue
		}
		// The one way: the kernel skipped a track_exit (reported as
		// missed), leaving an exited task's entry.
		if c.Missed == 0 {
			t.Errorf("LiveCgroups names cgroup %d, whose workload ended, and the kernel skipped no run of the tracer", cg)
		} else {
			t.Logf("LiveCgroups names ended cgroup %d: the kernel skipped %d runs of the tracer", cg, c.Missed)
		}
	}

	ctl := tr.maps["cache_ctls"]
	if err := ctl.Put(uint32(0), capableCacheCtl{Frozen: 1}); err != nil {
		t.Fatal(err)
	}
	before, gainsBefore, slots := countsOf(t, tr), gainsOf(t, tr), heldOn(t, tr)
	mine := map[uint64]bool{} // the live workloads', idle meanwhile
	for _, s := range live {
		mine[s.cg] = true
	}
	held := map[capableKey]int{} // key -> CPU whose slot holds checks of it
	for cpu, s := range slots {
		if s.N != 0 && ended[s.K.Cgroup] {
			held[s.K] = cpu
			if _, ok := before[s.K]; !ok {
				t.Errorf("CPU %d's cache slot holds %d checks of %+v, which is not in the counts map", cpu, s.N, s.K)
			}
		}
	}
	var endedKeys, endedGains int
	for k := range before {
		if ended[k.Cgroup] {
			endedKeys++
		}
	}
	for k := range gainsBefore {
		if ended[k.Cgroup] {
			endedGains++
		}
	}
	if len(held) == 0 {
		t.Errorf("no cache slot holds checks of an ended workload, although the last one chowned on CPU %d last: the held keys went untested (slots %+v)", pin, slots)
	}
	if endedGains == 0 {
		t.Error("the ended workloads left no gains to prune")
	}
	p, err := tr.PruneCgroups(ended)
	if err != nil {
		t.Fatal(err)
	}
	after, gainsAfter := countsOf(t, tr), gainsOf(t, tr)
	if err := ctl.Put(uint32(0), capableCacheCtl{}); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: pruned %+v of %d count keys and %d gain keys of %d ended workloads; %d held in the cache", m, p, endedKeys, endedGains, len(ended), len(held))
	if want := (Pruned{Records: endedKeys - len(held), Gains: endedGains, Held: len(held)}); p != want {
		t.Errorf("PruneCgroups = %+v, want %+v", p, want)
	}
	for k, per := range before {
		_, ok := held[k]
		switch got, there := after[k]; {
		case ended[k.Cgroup] && ok && !slices.Equal(got, per):
			t.Errorf("held key %+v: counts %v, was %v", k, got, per)
		case ended[k.Cgroup] && !ok && there:
			t.Errorf("key %+v of an ended workload is still in the counts map, and no cache slot holds it", k)
		case !ended[k.Cgroup] && !there:
			t.Errorf("key %+v of cgroup %d, not ended, was deleted", k, k.Cgroup)
		case mine[k.Cgroup] && !slices.Equal(got, per):
			t.Errorf("key %+v of live cgroup %d: counts %v, were %v", k, k.Cgroup, got, per)
		}
	}
	for k, per := range gainsBefore {
		switch got, there := gainsAfter[k]; {
		case ended[k.Cgroup] && there:
			t.Errorf("gain %+v of an ended workload is still in the gains map", k)
		case !ended[k.Cgroup] && !there:
			t.Errorf("gain %+v of cgroup %d, not ended, was deleted", k, k.Cgroup)
		case mine[k.Cgroup] && !slices.Equal(got, per):
			t.Errorf("gain %+v of live cgroup %d changed: %+v, was %+v", k, k.Cgroup, got, per)
		}
	}
	var liveGains int
	for _, s := range live {
		for k := range gainsAfter {
			if k.Cgroup == s.cg {
				liveGains++
			}
		}
	}
	if liveGains < len(live) {
		t.Errorf("%d gain keys of the %d live workloads, want at least one each (keepcaps)", liveGains, len(live))
	}
	checkLive("after the first prune")

	// The live servers take the slots that held ended workloads' checks:
	// the flush must find each key (the test's live keys differ: another
	// cgroup), and the held checks land in it.
	cpusHeld := map[int]bool{}
	for _, cpu := range held {
		cpusHeld[cpu] = true
	}
	for cpu := range cpusHeld {
		for _, s := range live {
			ask(s, cpu)
		}
	}
	now := countsOf(t, tr)
	for k, cpu := range held {
		if got, want := total(now[k]), total(before[k])+slots[cpu].N; got != want {
			t.Errorf("held key %+v: %d checks once flushed, want %d (%d in the map, %d held on CPU %d)", k, got, want, total(before[k]), slots[cpu].N, cpu)
		}
	}
	for cpu, s := range heldOn(t, tr) {
		if s.N != 0 && ended[s.K.Cgroup] {
			t.Errorf("CPU %d's cache slot still holds %d checks of an ended workload after a live one chowned there", cpu, s.N)
		}
	}
	p2, err := tr.PruneCgroups(ended)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Pruned{Records: len(held)}); p2 != want {
		t.Errorf("the second PruneCgroups = %+v, want %+v", p2, want)
	}
	for k := range countsOf(t, tr) {
		if ended[k.Cgroup] {
			t.Errorf("key %+v of an ended workload is still in the counts map after the second prune", k)
		}
	}
	checkLive("after the second prune")
	if c, err := tr.Counters(); err != nil {
		t.Fatal(err)
	} else if c.Missing() != 0 {
		t.Errorf("losses: %+v (a flush that found its key pruned counts as an overflow)", c)
	}

	// The live ones end: no longer live.
	for _, s := range live {
		s.in.Close()
		if err := s.cmd.Wait(); err != nil {
			t.Fatalf("live workload in cgroup %d: %v", s.cg, err)
		}
	}
	liveSet, err = tr.LiveCgroups()
	if err != nil {
		t.Fatal(err)
	}
	c, _ = tr.Counters()
	for _, s := range live {
		if liveSet[s.cg] && c.Missed == 0 {
			t.Errorf("LiveCgroups names cgroup %d after its workload ended", s.cg)
		}
	}
}
