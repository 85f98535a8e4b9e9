package profile

import (
	"testing"
	"time"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/trace"
)

func rec(c capset.Cap, denied bool, nr int32, comm string, f trace.Flag, n uint64) trace.Record {
	return trace.Record{Key: trace.Key{MntNS: 7, Cap: c, Denied: denied, Syscall: nr, Comm: comm, Flags: f}, Count: n}
}

// Sample is a profile with one record of every kind of noise, used by the
// renderer's golden tests too.
func Sample() *Profile {
	recs := []trace.Record{
		rec(capset.CHOWN, false, 260, "app", 0, 2),
		rec(capset.SETUID, false, 105, "app", trace.SameID, 1),
		rec(capset.SYS_ADMIN, false, 9, "app", trace.VMProbe, 20),
		rec(capset.DAC_OVERRIDE, false, 257, "app", trace.OtherCred, 3),
		rec(capset.DAC_READ_SEARCH, true, 257, "cat", 0, 1),
		rec(capset.DAC_OVERRIDE, false, 257, "cat", 0, 1),
		rec(capset.NET_ADMIN, true, 54, "app", 0, 4),
		rec(capset.FSETID, false, 268, "app", trace.NoSetgidBit, 1),
		rec(capset.KILL, false, 62, "other", 0, 9),
	}
	recs[len(recs)-1].MntNS = 8 // another namespace: not this target's
	code := 0
	return Build(Target{Kind: "command", Command: []string{"app", "--serve"}, PID: 42, MntNS: 7, ExitCode: &code}, recs,
		Info{Mechanism: trace.TracepointBTF, VMProbeDetection: true, Kernel: "6.18.0",
			Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Duration: 1500 * time.Millisecond})
}

func TestBuildClassifies(t *testing.T) {
	p := Sample()
	if got, want := p.NeededSet(), capset.Of(capset.CHOWN, capset.DAC_OVERRIDE); got != want {
		t.Errorf("needed = %s, want %s", got, want)
	}
	if len(p.Denied) != 1 || p.Denied[0] != "CAP_NET_ADMIN" {
		t.Errorf("denied = %v, want [CAP_NET_ADMIN]", p.Denied)
	}
	reasons := map[string]string{}
	for _, n := range p.Noise {
		reasons[n.Capability] += n.Reason + " "
	}
	want := map[string]string{
		"CAP_SETUID":          "same-id ",
		"CAP_SYS_ADMIN":       "overcommit-probe ",
		"CAP_DAC_OVERRIDE":    "other-cred ",
		"CAP_DAC_READ_SEARCH": "dac-read-search-first ",
		"CAP_FSETID":          "fsetid-without-setgid ",
	}
	for c, r := range want {
		if reasons[c] != r {
			t.Errorf("noise of %s = %q, want %q", c, reasons[c], r)
		}
	}
	if _, ok := p.Checks["CAP_KILL"]; ok {
		t.Error("a record of another mount namespace was counted")
	}
	if p.NoauditFrom != "kernel-stack" || p.OptsVisible {
		t.Errorf("noaudit_from %q, opts_visible %v", p.NoauditFrom, p.OptsVisible)
	}
	if c := p.Checks["CAP_DAC_OVERRIDE"]; c.Granted != 4 || c.Noise != 3 || !c.Needed {
		t.Errorf("CAP_DAC_OVERRIDE checks = %+v", c)
	}
}

func TestBuildOptsAndHeuristics(t *testing.T) {
	recs := []trace.Record{
		rec(capset.SYS_ADMIN, false, 9, "app", trace.OptsKnown|trace.NoAudit, 5),
		rec(capset.SYS_ADMIN, false, 317, "app", trace.OptsKnown|trace.NoAudit, 1), // seccomp: enforcing
		rec(capset.SYS_PTRACE, false, 257, "ps", trace.OptsKnown, 1),               // opts known: a real check
	}
	p := Build(Target{MntNS: 7}, recs, Info{Mechanism: trace.Kprobe})
	if got, want := p.NeededSet(), capset.Of(capset.SYS_ADMIN, capset.SYS_PTRACE); got != want {
		t.Errorf("with opts: needed = %s, want %s", got, want)
	}
	recs = []trace.Record{
		rec(capset.SYS_ADMIN, false, 12, "app", 0, 5),
		rec(capset.SYS_PTRACE, false, 257, "ps", 0, 1),
		rec(capset.SYS_ADMIN, false, 165, "app", 0, 1), // mount: a need
	}
	p = Build(Target{MntNS: 7}, recs, Info{Mechanism: trace.TracepointBTF})
	if got, want := p.NeededSet(), capset.Of(capset.SYS_ADMIN); got != want {
		t.Errorf("heuristics: needed = %s, want %s", got, want)
	}
	if p.NoauditFrom != "syscall-heuristic" || len(p.Warnings) == 0 {
		t.Errorf("heuristics not reported: %q %v", p.NoauditFrom, p.Warnings)
	}
}

func TestLossesWarn(t *testing.T) {
	p := Build(Target{}, nil, Info{Mechanism: trace.TracepointBTF, VMProbeDetection: true,
		Counters: trace.Counters{Overflow: 3, Lost: 1}})
	if p.Overflow != 3 || p.Lost != 1 || len(p.Warnings) != 1 {
		t.Errorf("overflow %d lost %d warnings %v", p.Overflow, p.Lost, p.Warnings)
	}
	if len(p.Needed) != 0 || p.Needed == nil || p.Snippets.DockerRun != "--cap-drop=ALL" {
		t.Errorf("empty profile: needed %#v, docker %q", p.Needed, p.Snippets.DockerRun)
	}
}

func TestSyscallName(t *testing.T) {
	for _, c := range []struct {
		nr   int32
		f    trace.Flag
		want string
	}{
		{260, 0, "fchownat"}, {41, 0, "socket"}, {-1, trace.NoSyscall, "-"}, {5, trace.Compat, "ia32:5"},
		{9999, 0, "syscall_9999"}, {462, 0, "mseal"},
	} {
		if got := SyscallName(c.nr, c.f); got != c.want {
			t.Errorf("SyscallName(%d, %s) = %q, want %q", c.nr, c.f, got, c.want)
		}
	}
}

// A SYS_ADMIN check in mmap whose stack the tracer could not read is judged
// by syscall even where stack detection works; one in a syscall that never
// runs the overcommit accounting stays a need.
func TestUnreadableStackFallsBackToSyscall(t *testing.T) {
	info := Info{Mechanism: trace.TracepointBTF, VMProbeDetection: true}
	p := Build(Target{}, []trace.Record{
		rec(capset.SYS_ADMIN, false, 9, "app", trace.NoStack, 1),
		rec(capset.SYS_ADMIN, false, 165, "app", trace.NoStack, 1),
	}, info)
	if len(p.Needed) != 1 || p.Needed[0] != "CAP_SYS_ADMIN" {
		t.Fatalf("needed %v, want only the mount's CAP_SYS_ADMIN", p.Needed)
	}
	noise := Build(Target{}, []trace.Record{rec(capset.SYS_ADMIN, false, 9, "app", trace.NoStack, 1)}, info)
	if len(noise.Needed) != 0 || len(noise.Noise) == 0 {
		t.Errorf("mmap with an unreadable stack: needed %v noise %v", noise.Needed, noise.Noise)
	}
	if noise := Build(Target{}, []trace.Record{rec(capset.SYS_ADMIN, false, 9, "app", 0, 1)}, info); len(noise.Needed) != 1 {
		t.Errorf("mmap whose stack was read and showed no probe must stay a need: %v", noise.Needed)
	}
}
