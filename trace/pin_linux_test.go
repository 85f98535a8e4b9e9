//go:build linux && (amd64 || arm64)

package trace

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/procfs"
)

// bpffsDir returns a fresh directory name on the BPF file system, removed
// (with whatever is pinned in it) when the test ends.
func bpffsDir(t *testing.T) string {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/bpf", &st); err != nil || st.Type != unix.BPF_FS_MAGIC {
		t.Skip("the BPF file system is not mounted on /sys/fs/bpf (mount -t bpf bpf /sys/fs/bpf)")
	}
	b := make([]byte, 6)
	rand.Read(b)
	dir := filepath.Join("/sys/fs/bpf", "capdrop-test-"+hex.EncodeToString(b))
	t.Cleanup(func() {
		if err := Unpin(dir); err != nil {
			t.Errorf("unpin %s: %v", dir, err)
		}
	})
	return dir
}

// startWorkload runs the test binary with ops in its own mount namespace
// (and pid namespace with newPID) and returns its pid and arguments once it
// exited.
func startWorkload(t *testing.T, newPID bool, ops ...string) (int, []string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.count=1")
	cmd.Env = append(os.Environ(), workloadEnv+"="+strings.Join(ops, " "), "CAPDROP_TRACE_DIR="+fixtures(t))
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	if newPID {
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID}
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("workload %v: %v\n%s", ops, err, out)
	}
	return cmd.Process.Pid, cmd.Args
}

func rootOfPID(t *testing.T, tr *Tracer, pid int) Root {
	t.Helper()
	roots, err := tr.Roots()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range roots {
		if int(r.PID) == pid {
			return r
		}
	}
	t.Fatalf("pid %d is not among the roots %+v", pid, roots)
	return Root{}
}

func chowns(t *testing.T, tr *Tracer, root Root) uint64 {
	t.Helper()
	return sum(recordsOf(t, tr, root), func(r Record) bool {
		return r.Cap == capset.CHOWN && !r.Denied && r.Tag == root.Tag
	})
}

func TestSessionTags(t *testing.T) {
	tr := open(t, firstWorking(t), Options{FollowNewMntNS: true, TagSessions: true})
	pid, args := startWorkload(t, false, "chown5")
	r := rootOfPID(t, tr, pid)
	if want := SessionTag(args); r.Tag != want {
		t.Errorf("tag of an exec with %q = %#x, want SessionTag's %#x", args, r.Tag, want)
	}
	if !slices.Equal(r.Args, args) || r.Truncated {
		t.Errorf("root args = %q (truncated %v), want %q", r.Args, r.Truncated, args)
	}
	// needs' chown makes two CAP_CHOWN checks.
	if n := chowns(t, tr, r); n != 10 {
		t.Errorf("CAP_CHOWN checks under the session's tag = %d, want 10", n)
	}
	// The init of a pid namespace (a container's entrypoint) is TagInit.
	pid2, _ := startWorkload(t, true, "chown5")
	r2 := rootOfPID(t, tr, pid2)
	if r2.Tag != TagInit {
		t.Errorf("tag of a pid namespace's init = %#x, want TagInit", r2.Tag)
	}
	if n := chowns(t, tr, r2); n != 10 {
		t.Errorf("CAP_CHOWN checks of the init session = %d, want 10", n)
	}
	if err := tr.DeleteRoot(r.PID); err != nil {
		t.Fatal(err)
	}
	roots, _ := tr.Roots()
	for _, x := range roots {
		if x.PID == r.PID {
			t.Errorf("root %d still in the roots map after DeleteRoot", r.PID)
		}
	}
}

func TestTagsOffByDefault(t *testing.T) {
	tr := open(t, firstWorking(t), Options{FollowNewMntNS: true})
	pid, _ := startWorkload(t, false, "chown")
	r := rootOfPID(t, tr, pid)
	if r.Tag != 0 || r.Args != nil {
		t.Errorf("without TagSessions: tag %#x args %q, want none", r.Tag, r.Args)
	}
}

// TestPinTakeOver: a pinned tracer keeps counting while no process holds
// it, and the next Open takes over the same maps with every count.
func TestPinTakeOver(t *testing.T) {
	dir := bpffsDir(t)
	opts := Options{FollowNewMntNS: true, TagSessions: true, PinPath: dir}
	tr := open(t, firstWorking(t), opts)
	if !tr.Pinned() || tr.TakenOver() || tr.PinError() != nil {
		t.Fatalf("first open: pinned %v, taken over %v, pin error %v", tr.Pinned(), tr.TakenOver(), tr.PinError())
	}
	since, restarts := tr.Since()
	if since.IsZero() || restarts != 0 {
		t.Fatalf("first open: since %v restarts %d", since, restarts)
	}
	ids := tr.ProgramIDs()
	sessions, err := tr.PinnedMap("sessions", &ebpf.MapSpec{Type: ebpf.Hash, KeySize: 4, ValueSize: 8, MaxEntries: 4})
	if err != nil {
		t.Fatal(err)
	}
	if err := sessions.Put(uint32(7), uint64(42)); err != nil {
		t.Fatal(err)
	}
	sessions.Close()
	pid1, _ := startWorkload(t, false, "chown5")
	tr.Close()

	// Nobody holds the tracer now: the kernel still counts.
	pid2, _ := startWorkload(t, false, "chown5")

	tr2 := open(t, tr.Mechanism(), opts)
	if !tr2.Pinned() || !tr2.TakenOver() {
		t.Fatalf("second open: pinned %v, taken over %v (%v)", tr2.Pinned(), tr2.TakenOver(), tr2.PinError())
	}
	since2, restarts2 := tr2.Since()
	if !since2.Equal(since) || restarts2 != 1 {
		t.Errorf("after the takeover: since %v restarts %d, want %v and 1", since2, restarts2, since)
	}
	ids2 := tr2.ProgramIDs()
	slices.Sort(ids2)
	for _, id := range ids {
		if _, found := slices.BinarySearch(ids2, id); !found && !slices.Contains(tr2.ProgramIDs(), id) {
			// Programs without a link of their own (none today) would
			// not be listed; every one of ours is attached by a link.
			t.Errorf("program %d of the first tracer is not among the taken-over ones %v", id, ids2)
		}
	}
	// Both workloads ran the same command; each root's keys are its own
	// (mount namespace and workload id). needs' chown makes two checks:
	// 2 workloads x 5 x 2.
	r1, r2 := rootOfPID(t, tr2, pid1), rootOfPID(t, tr2, pid2)
	recs, err := tr2.Records()
	if err != nil {
		t.Fatal(err)
	}
	n := sum(recs, func(r Record) bool {
		ours := (r.MntNS == r1.MntNS && r.Cgroup == r1.Cgroup) || (r.MntNS == r2.MntNS && r.Cgroup == r2.Cgroup)
		return ours && r.Tag == r1.Tag && r.Cap == capset.CHOWN && !r.Denied
	})
	if n != 20 {
		t.Errorf("%d CAP_CHOWN checks of the two workloads after the takeover, want 20 (10 counted while no process held the tracer)", n)
	}
	sessions2, err := tr2.PinnedMap("sessions", &ebpf.MapSpec{Type: ebpf.Hash, KeySize: 4, ValueSize: 8, MaxEntries: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer sessions2.Close()
	var v uint64
	if err := sessions2.Lookup(uint32(7), &v); err != nil || v != 42 {
		t.Errorf("the caller's pinned map after the takeover: %d, %v; want 42", v, err)
	}
	if _, err := tr2.PinnedMap("counts", &ebpf.MapSpec{Type: ebpf.Hash, KeySize: 4, ValueSize: 8, MaxEntries: 4}); err == nil {
		t.Error("PinnedMap handed out the tracer's own counts map")
	}

	// Unpinned and closed, the programs go.
	if err := Unpin(dir); err != nil {
		t.Fatal(err)
	}
	tr2.Close()
	// The kernel frees programs after an RCU grace period: wait for it.
	for _, id := range ids {
		deadline := time.Now().Add(10 * time.Second)
		for {
			p, err := ebpf.NewProgramFromID(ebpf.ProgramID(id))
			if err != nil {
				break
			}
			p.Close()
			if time.Now().After(deadline) {
				t.Errorf("program %d still loaded 10s after Unpin and Close", id)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// TestPinStaleObjectIsReplaced: pins another object left are not taken
// over but removed, and the reason said.
func TestPinStaleObjectIsReplaced(t *testing.T) {
	dir := bpffsDir(t)
	opts := Options{FollowNewMntNS: true, PinPath: dir}
	tr := open(t, firstWorking(t), opts)
	if !tr.Pinned() {
		t.Fatalf("the first tracer is not pinned: %v", tr.PinError())
	}
	m := tr.pin.m
	m.Object[0] ^= 0xff
	if err := tr.pin.meta.Put(uint32(0), m.marshal()); err != nil {
		t.Fatal(err)
	}
	tr.Close()
	tr2 := open(t, tr.Mechanism(), opts)
	if tr2.TakenOver() || !tr2.Pinned() {
		t.Errorf("taken over %v pinned %v, want a new pinned tracer", tr2.TakenOver(), tr2.Pinned())
	}
	if err := tr2.PinError(); err == nil || !strings.Contains(err.Error(), "another version") {
		t.Errorf("pin error = %v, want it to say the pins were another version's", err)
	}
}

// TestKeyMemoryCgroup: with KeyMemoryCgroup a root's cgroup is its memory
// cgroup's id, the inode number of that cgroup's directory.
func TestKeyMemoryCgroup(t *testing.T) {
	tr := open(t, firstWorking(t), Options{FollowNewMntNS: true, KeyMemoryCgroup: true})
	pid, _ := startWorkload(t, false, "chown")
	r := rootOfPID(t, tr, pid)
	cgs, err := procfs.ReadCgroup("", os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	dir, path := "", ""
	for _, c := range cgs {
		if slices.Contains(strings.Split(c.Controllers, ","), "memory") {
			dir, path = filepath.Join("/sys/fs/cgroup/memory", c.Path), c.Path
		}
	}
	if dir == "" {
		for _, c := range cgs {
			if c.Unified() {
				dir, path = filepath.Join("/sys/fs/cgroup", c.Path), c.Path
			}
		}
	}
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		t.Skipf("the test's memory cgroup %q: %v", dir, err)
	}
	if r.Cgroup != st.Ino {
		t.Errorf("root cgroup = %d, want the inode of %s: %d", r.Cgroup, dir, st.Ino)
	}
	// A hierarchy's root has no name of its own (the kernel's is "" or
	// "/"): the test runs there in the kernel matrix's guests.
	if want := filepath.Base(dir); r.CgroupName != want && path != "/" {
		t.Errorf("root cgroup name = %q, want %q", r.CgroupName, want)
	}
	if n := chowns(t, tr, r); n != 2 {
		t.Errorf("CAP_CHOWN checks under the memory cgroup's id = %d, want 2", n)
	}
}
