package vmtest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/internal/dockertest"
	"github.com/capdrop/capdrop/internal/vmtest"
	"github.com/capdrop/capdrop/profile"
	"github.com/capdrop/capdrop/trace"
)

// otherID is the uid of the peer process whose /proc files the workload
// reads.
const otherID = 1234

// The tracer end to end on each kernel of the matrix: capdrop's profiler
// (package profile, on the tracer) profiles a ground-truth workload, and the
// needed set must be exactly the truth, whatever mechanism the kernel offers.

const workloadEnv = "CAPDROP_VMTEST_WORKLOAD"

func TestMain(m *testing.M) {
	switch os.Getenv(workloadEnv) {
	case "":
		os.Exit(m.Run())
	case "peer":
		// A process of another uid, for the workload's /proc probe: it
		// lives until its stdin closes.
		if err := syscall.Setresgid(otherID, otherID, otherID); err != nil {
			os.Exit(1)
		}
		if err := syscall.Setresuid(otherID, otherID, otherID); err != nil {
			os.Exit(1)
		}
		fmt.Println("ready")
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
	fmt.Fprintln(os.Stderr, "unknown workload", os.Getenv(workloadEnv))
	os.Exit(2)
}

// wantNeeded is what the ground-truth workload (./truth) needs; its other
// checks are noise.
var wantNeeded = []string{"CAP_CHOWN", "CAP_SETUID"}

// truthBinary is the workload: in a guest the harness put it in /bin; on a
// host it is built.
func truthBinary(t *testing.T) string {
	t.Helper()
	if vmtest.InGuest() {
		path, err := exec.LookPath("truth")
		if err != nil {
			t.Fatalf("the guest has no truth workload: %v", err)
		}
		return path
	}
	return dockertest.BuildStatic(t, "github.com/capdrop/capdrop/internal/vmtest/truth")
}

func TestGuestProfile(t *testing.T) {
	if os.Geteuid() != 0 {
		mustRun(t, "needs root to load BPF programs")
	}
	want := strings.Split(vmtest.Param("mechanisms"), ",")
	if !vmtest.InGuest() {
		// On a host, take what the kernel offers.
		want = nil
		for _, m := range trace.Mechanisms {
			if tr, err := trace.Open(trace.Options{Mechanisms: []trace.Mechanism{m}}); err == nil {
				tr.Close()
				want = append(want, string(m))
			}
		}
		if len(want) == 0 {
			t.Skip("no tracing mechanism works on this kernel")
		}
	}
	argv := []string{truthBinary(t), fmt.Sprint(startPeer(t))}

	// The mechanism the probe picks must be the kernel's best; then every
	// mechanism that must work here profiles the same truth.
	doc := profileTruth(t, argv, nil)
	if doc.Mechanism != want[0] {
		t.Errorf("the probe picked %s, want %s (the first of %s)", doc.Mechanism, want[0], strings.Join(want, ","))
	}
	vmtest.Report(t, "mechanism", doc.Mechanism)
	vmtest.Report(t, "needed", strings.Join(doc.Needed, ","))
	vmtest.Report(t, "noaudit_from", doc.NoauditFrom)
	var forced []string
	for _, m := range want {
		t.Run(m, func(t *testing.T) {
			doc := profileTruth(t, argv, []trace.Mechanism{trace.Mechanism(m)})
			if doc.Mechanism != m {
				t.Fatalf("mechanism %s, want %s", doc.Mechanism, m)
			}
			if !t.Failed() {
				forced = append(forced, m)
			}
		})
	}
	vmtest.Report(t, "profiled", strings.Join(forced, "+"))

	// Every profile has ended: nothing of the tracer may stay in the kernel.
	// Only a guest is checked: on a shared host, other tests' tracers come
	// and go (trace's TestCloseDetaches checks by program ID there).
	if vmtest.InGuest() {
		left := tracerPrograms(t)
		for deadline := time.Now().Add(10 * time.Second); len(left) > 0 && time.Now().Before(deadline); left = tracerPrograms(t) {
			time.Sleep(50 * time.Millisecond) // programs are freed after an RCU grace period
		}
		if len(left) > 0 {
			t.Errorf("after the profiles ended, the tracer's programs are still loaded: %v", left)
		}
		vmtest.Report(t, "detached", "yes")
	}

	t.Run("overflow", func(t *testing.T) {
		doc, err := profile.Command(context.Background(), argv, profile.Options{MaxKeys: 2, Duration: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if doc.Overflow == 0 || doc.Counters.Overflow == 0 {
			t.Errorf("a workload with more kinds of checks than the map's 2 keys, yet overflow %d (counters %+v)", doc.Overflow, doc.Counters)
		}
		if len(doc.Warnings) == 0 {
			t.Error("an overflowed profile carries no warning")
		}
		vmtest.Report(t, "overflow", fmt.Sprint(doc.Overflow))
	})
}

// profileTruth profiles the truth workload and checks the document against
// the truth.
func profileTruth(t *testing.T, argv []string, mechs []trace.Mechanism) *profile.Profile {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	doc, err := profile.Command(ctx, argv, profile.Options{Mechanisms: mechs, Stderr: os.Stderr})
	if err != nil {
		t.Fatalf("profile: %v", err)
	}
	if doc.Target.ExitCode == nil || *doc.Target.ExitCode != 0 {
		t.Fatalf("the workload failed (exit %v)", doc.Target.ExitCode)
	}
	t.Logf("%s: needed %v, noaudit from %s, noise %+v", doc.Mechanism, doc.Needed, doc.NoauditFrom, doc.Noise)
	for _, name := range doc.Needed {
		if c := doc.Checks[name]; c != nil {
			t.Logf("%s: %s granted %d, denied %d, noise %d, in %+v by %v", doc.Mechanism, name, c.Granted, c.Denied, c.Noise, c.Syscalls, c.Commands)
		}
	}
	if !slices.Equal(doc.Needed, wantNeeded) {
		t.Errorf("%s: needed %v, want exactly %v", doc.Mechanism, doc.Needed, wantNeeded)
	}
	m := trace.Mechanism(doc.Mechanism)
	if doc.OptsVisible != m.OptsVisible() {
		t.Errorf("opts_visible %v for %s", doc.OptsVisible, m)
	}
	// The /proc probe is noise; where opts are visible, known from them.
	ptrace := capset.SYS_PTRACE.Name()
	found := false
	for _, n := range doc.Noise {
		if n.Capability != ptrace {
			continue
		}
		found = true
		if m.OptsVisible() && (n.From != "opts" || n.Reason != "noaudit") {
			t.Errorf("%s: the CAP_SYS_PTRACE probe is noise %q from %q, want noaudit from opts", m, n.Reason, n.From)
		}
	}
	if !found {
		t.Errorf("%s: the CAP_SYS_PTRACE probe of /proc/PID/stat is not among the noise %+v", m, doc.Noise)
	}
	if m.OptsVisible() && doc.NoauditFrom != "opts" {
		t.Errorf("%s sees opts, but noaudit_from is %q", m, doc.NoauditFrom)
	}
	if c := doc.Counters; c.Missing() != 0 || doc.Lost != 0 {
		t.Errorf("%s: losses %+v, lost %d", m, c, doc.Lost)
	}
	return doc
}

// startPeer starts a process of uid 1234 that lives until the test ends.
// The test's own process starts it before profiling, so it is not profiled.
func startPeer(t *testing.T) int {
	t.Helper()
	self, _ := os.Executable()
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(os.Environ(), workloadEnv+"=peer")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	line := make([]byte, 6)
	if _, err := io.ReadFull(stdout, line); err != nil || string(line) != "ready\n" {
		t.Fatalf("peer: %q, %v", line, err)
	}
	return cmd.Process.Pid
}

// tracerPrograms lists the loaded BPF programs named like the tracer's.
func tracerPrograms(t *testing.T) []string {
	t.Helper()
	var names []string
	var id ebpf.ProgramID
	for {
		next, err := ebpf.ProgramGetNextID(id)
		if errors.Is(err, os.ErrNotExist) {
			return names
		}
		if err != nil {
			t.Fatalf("list BPF programs: %v", err)
		}
		id = next
		p, err := ebpf.NewProgramFromID(id)
		if err != nil {
			continue // gone meanwhile
		}
		info, err := p.Info()
		p.Close()
		if err != nil {
			continue
		}
		if strings.HasPrefix(info.Name, "cap_") || strings.HasPrefix(info.Name, "track_") {
			names = append(names, fmt.Sprintf("%s (id %d)", info.Name, id))
		}
	}
}
