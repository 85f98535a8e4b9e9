package procfs

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/capdrop/capdrop/capset"
)

func pidsOf(s *Snapshot) []int {
	var out []int
	for _, p := range s.Processes {
		out = append(out, p.Pid)
	}
	return out
}

func find(t *testing.T, s *Snapshot, pid int) *Process {
	t.Helper()
	for i := range s.Processes {
		if s.Processes[i].Pid == pid {
			return &s.Processes[i]
		}
	}
	t.Fatalf("pid %d not in the scan (%v)", pid, pidsOf(s))
	return nil
}

// The fixture tree holds kernel threads (one with a Kthread line, one
// without whose stat flags say PF_KTHREAD), a usermode-helper process with
// ppid 2 that is not a kernel thread, a process whose threads differ, a
// malformed status and a process that vanished.
func TestScanFixtureTree(t *testing.T) {
	s, err := Scan("testdata/proc", Options{Threads: ThreadsQuick, Cmdline: true, Cgroups: true, UserNS: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []int{1, 15, 400, 500, 700, 701, 1000, 1001, 1100, 1200, 1300, 1400}
	if got := pidsOf(s); !slices.Equal(got, want) {
		t.Errorf("pids %v, want %v", got, want)
	}
	if s.KernelThreads != 2 || s.Vanished != 1 || s.Denied != 0 {
		t.Errorf("kernel threads %d (want 2), vanished %d (want 1), denied %d", s.KernelThreads, s.Vanished, s.Denied)
	}
	if len(s.Errors) != 1 || !strings.Contains(s.Errors[0].Error(), filepath.Join("testdata/proc", "2000", "status")) || !errors.Is(s.Errors[0], ErrMalformed) {
		t.Errorf("errors %v, want one naming 2000/status", s.Errors)
	}
	if w := s.Warning(); w == nil || !strings.Contains(w.Error(), "2000/status") {
		t.Errorf("warning %v", w)
	}

	dockerd := find(t, s, 400)
	if len(dockerd.DivergentThreads) != 1 || dockerd.DivergentThreads[0].TID != 402 || !dockerd.DivergentThreads[0].Sets.Effective.IsEmpty() || dockerd.DivergentThreads[0].Name != "dockerd-drop" {
		t.Errorf("dockerd threads %+v, want only 402 with an empty effective set", dockerd.DivergentThreads)
	}
	if got := find(t, s, 1000).Cmdline; !slices.Equal(got, []string{"nginx: master process nginx -g daemon off;"}) {
		t.Errorf("cmdline %q", got)
	}
	if got := find(t, s, 15).Cmdline; !slices.Equal(got, []string{"/sbin/modprobe", "-q", "--", "net-pf-10"}) {
		t.Errorf("cmdline %q", got)
	}
	a, b := find(t, s, 1000).Cgroups, find(t, s, 1001).Cgroups
	if len(a) != 5 || &a[0] != &b[0] {
		t.Errorf("processes with the same cgroup file should share one parsed copy: %p %p", a, b)
	}
	if p := find(t, s, 1); p.UserNS != 0 || p.ForeignUserNS {
		t.Errorf("fixtures have no ns/user: got inode %d foreign %v", p.UserNS, p.ForeignUserNS)
	}
}

func TestScanOptions(t *testing.T) {
	s, err := Scan("testdata/proc", Options{
		PIDs:    []int{1, 2, 1000, 1001, 2500, 9999, 1000},
		Exclude: []int{1},
		Keep:    func(st *Status) bool { return !st.Sets.Effective.IsEmpty() },
		Workers: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := pidsOf(s); !slices.Equal(got, []int{1000}) {
		t.Errorf("pids %v, want [1000]: 1 excluded, 2 a kernel thread, 1001 not kept, 2500 and 9999 gone", got)
	}
	if p := find(t, s, 1000); p.Cgroups != nil || p.Cmdline != nil || p.DivergentThreads != nil {
		t.Error("files not asked for were read")
	}
	if s.Vanished != 2 {
		t.Errorf("vanished %d, want 2", s.Vanished)
	}
	if _, err := Scan("testdata/no-such-proc", Options{}); err == nil {
		t.Error("an unreadable root must fail the scan")
	}
}

// capget and prctl(PR_CAPBSET_READ) are an independent path to the truth
// that /proc/<pid>/status prints.
func kernelSetsOfThisThread(t *testing.T) capset.Sets {
	t.Helper()
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		t.Fatal(err)
	}
	join := func(lo, hi uint32) capset.Set { return capset.Set(uint64(hi)<<32 | uint64(lo)) }
	var s capset.Sets
	s.Effective = join(data[0].Effective, data[1].Effective)
	s.Permitted = join(data[0].Permitted, data[1].Permitted)
	s.Inheritable = join(data[0].Inheritable, data[1].Inheritable)
	for c := capset.Cap(0); c < 64; c++ {
		r, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0)
		if err != nil {
			break // past the kernel's last capability
		}
		if r == 1 {
			s.Bounding = s.Bounding.With(c)
		}
		amb, err := unix.PrctlRetInt(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_IS_SET, uintptr(c), 0, 0)
		if err == nil && amb == 1 {
			s.Ambient = s.Ambient.With(c)
		}
	}
	return s
}

func TestScanLiveMatchesCapget(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	want := kernelSetsOfThisThread(t)
	s, err := Scan("", Options{PIDs: []int{os.Getpid()}, Cgroups: true, UserNS: true, Cmdline: true})
	if err != nil {
		t.Fatal(err)
	}
	p := find(t, s, os.Getpid())
	if p.Sets != want {
		t.Errorf("scan says %+v\ncapget/prctl say %+v", p.Sets, want)
	}
	if p.UID[1] != os.Geteuid() || p.PPid != os.Getppid() || len(p.Cgroups) == 0 || len(p.Cmdline) == 0 || p.Cmdline[0] != os.Args[0] {
		t.Errorf("identity: euid %d ppid %d cgroups %v cmdline %q", p.UID[1], p.PPid, p.Cgroups, p.Cmdline)
	}
	if p.UserNS == 0 || p.ForeignUserNS {
		t.Errorf("user namespace inode %d foreign %v: want the host's", p.UserNS, p.ForeignUserNS)
	}
}

// A thread that lowers its own effective set is reported, with exactly the
// sets the kernel gives it, and the other threads are not; in both modes.
func TestScanLiveDivergentThread(t *testing.T) {
	for _, mode := range []ThreadMode{ThreadsQuick, ThreadsFull} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) { testDivergentThread(t, mode) })
	}
}

func testDivergentThread(t *testing.T, mode ThreadMode) {
	before := kernelSetsOfThisThread(t)
	if !before.Effective.Has(capset.CHOWN) {
		t.Skip("needs CAP_CHOWN in the effective set (run as root)")
	}
	var done sync.WaitGroup
	skip := ""
	done.Go(func() {
		runtime.LockOSThread()
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			t.Error(err)
			return
		}
		tid := unix.Gettid()
		if tid == os.Getpid() {
			runtime.UnlockOSThread()
			skip = "this goroutine runs on the main thread, whose sets are the process's"
			return
		}
		data[0].Effective &^= 1 << capset.CHOWN
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			t.Error(err)
			return
		}
		defer func() { // raise it again (it is still permitted), then free the thread
			data[0].Effective |= 1 << capset.CHOWN
			if err := unix.Capset(&hdr, &data[0]); err == nil {
				runtime.UnlockOSThread()
			}
		}()
		want := kernelSetsOfThisThread(t)
		s, err := Scan("", Options{PIDs: []int{os.Getpid()}, Threads: mode})
		if err != nil {
			t.Error(err)
			return
		}
		var got []Thread
		for _, p := range s.Processes {
			got = p.DivergentThreads
		}
		i := slices.IndexFunc(got, func(th Thread) bool { return th.TID == tid })
		if i < 0 {
			t.Errorf("thread %d dropped CHOWN but is not reported; reported %+v", tid, got)
			return
		}
		if got[i].Sets != want || got[i].Sets.Effective.Has(capset.CHOWN) {
			t.Errorf("thread %d: scan says %+v, kernel says %+v", tid, got[i].Sets, want)
		}
		if len(got) != 1 {
			t.Errorf("only thread %d differs from the leader; reported %+v", tid, got)
		}
	})
	done.Wait()
	if skip != "" {
		t.Skip(skip)
	}
}

// A thread that drops a capability from its bounding set only (what a Go
// program calling PR_CAPBSET_DROP does: it acts on the calling thread) is
// found by ThreadsFull; ThreadsQuick, which compares only what capget
// returns, does not see it, as documented.
func TestScanLiveBoundingOnlyThread(t *testing.T) {
	if !kernelSetsOfThisThread(t).Effective.Has(capset.SETPCAP) {
		t.Skip("needs CAP_SETPCAP to drop from the bounding set (run as root)")
	}
	var done sync.WaitGroup
	skip := ""
	done.Go(func() {
		runtime.LockOSThread() // never unlocked: this thread dies with the goroutine
		tid := unix.Gettid()
		if tid == os.Getpid() {
			skip = "this goroutine runs on the main thread"
			return
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(capset.SYS_BOOT), 0, 0, 0); err != nil {
			t.Error(err)
			return
		}
		found := func(mode ThreadMode) bool {
			s, err := Scan("", Options{PIDs: []int{os.Getpid()}, Threads: mode})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range s.Processes {
				for _, th := range p.DivergentThreads {
					if th.TID == tid {
						return !th.Sets.Bounding.Has(capset.SYS_BOOT)
					}
				}
			}
			return false
		}
		if !found(ThreadsFull) {
			t.Errorf("ThreadsFull misses thread %d without SYS_BOOT in its bounding set", tid)
		}
		if found(ThreadsQuick) {
			t.Errorf("ThreadsQuick is documented not to see bounding-only differences, yet found thread %d", tid)
		}
	})
	done.Wait()
	if skip != "" {
		t.Skip(skip)
	}
}

// Processes come and go all the time; a scan must never turn that into
// errors.
func TestScanLiveWhileProcessesExit(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	churn := exec.Command(sh, "-c", "while :; do /bin/true & /bin/true; done")
	if err := churn.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { churn.Process.Kill(); churn.Wait() }()
	deadline := time.Now().Add(2 * time.Second)
	scans, vanished := 0, 0
	for time.Now().Before(deadline) {
		s, err := Scan("", Options{Threads: ThreadsQuick, Cmdline: true, Cgroups: true, UserNS: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Errors) > 0 {
			t.Fatalf("scan %d: %v", scans, s.Errors)
		}
		scans++
		vanished += s.Vanished
	}
	t.Logf("%d scans, %d processes vanished mid-scan without an error", scans, vanished)
}

// Run as an ordinary user, the scan cannot read other users' user
// namespaces: that is counted and summarised in one warning, and those
// processes are still listed.
func TestScanUnprivilegedReportsPermissionOnce(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a copy of the test as nobody")
	}
	dir, err := os.MkdirTemp("", "capdrop-scan")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "procfs.test")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestScanChild$")
	cmd.Env = append(os.Environ(), "CAPDROP_SCAN_CHILD=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var r childResult
	_, line, _ := strings.Cut(string(out), "RESULT ")
	line, _, _ = strings.Cut(line, "\n")
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		t.Fatalf("child output %q: %v", out, err)
	}
	if r.Processes < 2 || r.Denied == 0 || r.Errors != 0 {
		t.Errorf("as nobody: %+v; want processes listed, some denied, no errors", r)
	}
	if strings.Contains(r.Warning, "\n") || !strings.Contains(r.Warning, "permission denied for "+strconv.Itoa(r.Denied)+" processes") {
		t.Errorf("warning %q: want one sentence counting %d processes", r.Warning, r.Denied)
	}
}

type childResult struct {
	Processes, Denied, Errors int
	Warning                   string
}

func TestScanChild(t *testing.T) {
	if os.Getenv("CAPDROP_SCAN_CHILD") != "1" {
		t.Skip("helper for TestScanUnprivilegedReportsPermissionOnce")
	}
	s, err := Scan("", Options{Threads: ThreadsQuick, Cmdline: true, Cgroups: true, UserNS: true})
	if err != nil {
		t.Fatal(err)
	}
	r := childResult{Processes: len(s.Processes), Denied: s.Denied, Errors: len(s.Errors)}
	if w := s.Warning(); w != nil {
		r.Warning = w.Error()
	}
	b, _ := json.Marshal(r)
	os.Stdout.Write([]byte("\nRESULT " + string(b) + "\n"))
}

// BenchmarkScan measures a scan of this machine's processes with what
// capdrop ps reads (status, cgroup, user namespace, threads).
// scripts/bench-ps compares the whole command with pscap.
func BenchmarkScan(b *testing.B) {
	for b.Loop() {
		if _, err := Scan("", Options{Cgroups: true, UserNS: true, Threads: ThreadsQuick}); err != nil {
			b.Fatal(err)
		}
	}
}

// A process in a user namespace of its own holds its capabilities only over
// that namespace: the scan says so, and says the opposite of itself.
func TestScanLiveUserNamespace(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep")
	}
	cmd := exec.Command(sleep, "30")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}},
	}
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot create a user namespace here: %v", err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	// The child runs once the kernel shows its own user namespace.
	var s *Snapshot
	for range 50 {
		s, err = Scan("", Options{PIDs: []int{cmd.Process.Pid, os.Getpid()}, UserNS: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Processes) == 2 && s.Processes[0].UserNS != s.Processes[1].UserNS {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	self, child := find(t, s, os.Getpid()), find(t, s, cmd.Process.Pid)
	if self.ForeignUserNS || self.UserNS != s.InitUserNS && s.InitUserNS != 0 {
		t.Errorf("the test process: user namespace %d foreign %v (initial %d)", self.UserNS, self.ForeignUserNS, s.InitUserNS)
	}
	if !child.ForeignUserNS || child.UserNS == 0 || child.UserNS == self.UserNS {
		t.Errorf("the child: user namespace %d foreign %v; the test's is %d", child.UserNS, child.ForeignUserNS, self.UserNS)
	}
}
