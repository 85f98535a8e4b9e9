package profile

import (
	"strings"
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
		rec(capset.AUDIT_WRITE, false, 44, "sshd", 0, 2),
		rec(capset.SETPCAP, true, 126, "ntpd", trace.CapsetInheritable, 1),
		rec(capset.KILL, false, 62, "other", 0, 9),
	}
	recs[len(recs)-1].MntNS = 8 // another namespace: not this target's
	gains := []trace.Gain{
		{MntNS: 7, Source: trace.GainCapset, Comm: "ntpd", Caps: capset.Of(capset.NET_BIND_SERVICE, capset.SYS_TIME), Count: 1},
		{MntNS: 7, Source: trace.GainCapset, Failed: true, Comm: "ntpd", Caps: capset.Of(capset.SYS_NICE), Lacking: capset.Of(capset.SYS_NICE), Count: 1},
		{MntNS: 7, Source: trace.GainExec, Comm: "ping", Caps: capset.Of(capset.NET_RAW), Count: 3},
		{MntNS: 7, Source: trace.GainCapset, Root: true, Comm: "named", Caps: capset.Of(capset.CHOWN, capset.SYS_CHROOT), Count: 1},
		{MntNS: 8, Source: trace.GainExec, Comm: "other", Caps: capset.Of(capset.SYS_RAWIO), Count: 1},
	}
	code := 0
	return Build(Target{Kind: "command", Command: []string{"app", "--serve"}, PID: 42, MntNS: 7, ExitCode: &code}, recs,
		Info{Arch: "amd64", Mechanism: trace.TracepointBTF, VMProbeDetection: true, Kernel: "6.18.0", Gains: gains,
			Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Duration: 1500 * time.Millisecond})
}

func TestBuildClassifies(t *testing.T) {
	p := Sample()
	if got, want := p.NeededSet(), capset.Of(capset.CHOWN, capset.NET_BIND_SERVICE, capset.SYS_TIME, capset.NET_RAW); got != want {
		t.Errorf("needed = %s, want %s", got, want)
	}
	// CHOWN asked for by root's capset is needed all the same (a check
	// used it); SYS_CHROOT was only asked for. cat's DAC_OVERRIDE only
	// read another user's file.
	if got, want := p.UsedSet(), capset.Of(capset.DAC_OVERRIDE, capset.AUDIT_WRITE, capset.SYS_CHROOT); got != want || len(p.UsedNotProven) != 3 ||
		p.UsedNotProven[0].Reason != "read-other-users-file" || p.UsedNotProven[1].Reason != "capset-as-root" || p.UsedNotProven[2].Reason != "audit-write" {
		t.Errorf("used, not proven = %+v, want %s for read-other-users-file, capset-as-root and audit-write", p.UsedNotProven, want)
	}
	if got, want := p.RecommendedSet(), p.NeededSet().With(capset.AUDIT_WRITE).With(capset.SYS_CHROOT).With(capset.DAC_OVERRIDE); got != want {
		t.Errorf("recommended = %s, want %s", got, want)
	}
	if len(p.Kept) != 2 || p.Kept[0].Source != "capset" || p.Kept[1].Source != "exec" || p.Kept[1].Count != 3 {
		t.Errorf("kept = %+v, want a capset and an exec (3) entry", p.Kept)
	}
	if got, want := strings.Join(p.Denied, ","), "CAP_NET_ADMIN,CAP_SYS_NICE"; got != want {
		t.Errorf("denied = %s, want %s (the refused capset's lacking capability among them)", got, want)
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
		"CAP_SETPCAP":         "capset-setpcap ",
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
	if c := p.Checks["CAP_DAC_OVERRIDE"]; c.Granted != 4 || c.Noise != 3 || c.Needed {
		t.Errorf("CAP_DAC_OVERRIDE checks = %+v", c)
	}
}

func TestBuildOptsAndHeuristics(t *testing.T) {
	recs := []trace.Record{
		rec(capset.SYS_ADMIN, false, 9, "app", trace.OptsKnown|trace.NoAudit, 5),
		rec(capset.SYS_ADMIN, false, 317, "app", trace.OptsKnown|trace.NoAudit, 1), // seccomp: enforcing
		rec(capset.SYS_PTRACE, false, 257, "ps", trace.OptsKnown, 1),               // opts known: a real check
	}
	p := Build(Target{MntNS: 7}, recs, Info{Arch: "amd64", Mechanism: trace.Kprobe})
	if got, want := p.NeededSet(), capset.Of(capset.SYS_ADMIN, capset.SYS_PTRACE); got != want {
		t.Errorf("with opts: needed = %s, want %s", got, want)
	}
	recs = []trace.Record{
		rec(capset.SYS_ADMIN, false, 12, "app", 0, 5),
		rec(capset.SYS_PTRACE, false, 257, "ps", 0, 1),
		rec(capset.SYS_ADMIN, false, 165, "app", 0, 1), // mount: a need
	}
	p = Build(Target{MntNS: 7}, recs, Info{Arch: "amd64", Mechanism: trace.TracepointBTF})
	if got, want := p.NeededSet(), capset.Of(capset.SYS_ADMIN); got != want {
		t.Errorf("heuristics: needed = %s, want %s", got, want)
	}
	if p.NoauditFrom != "syscall-heuristic" || len(p.Warnings) == 0 {
		t.Errorf("heuristics not reported: %q %v", p.NoauditFrom, p.Warnings)
	}
}

func TestLossesWarn(t *testing.T) {
	p := Build(Target{}, nil, Info{Arch: "amd64", Mechanism: trace.TracepointBTF, VMProbeDetection: true,
		Counters: trace.Counters{Overflow: 3, Lost: 1}})
	if p.Overflow != 3 || p.Lost != 1 || len(p.Warnings) != 2 || !p.Incomplete {
		t.Errorf("overflow %d lost %d incomplete %v warnings %v", p.Overflow, p.Lost, p.Incomplete, p.Warnings)
	}
	if !strings.Contains(p.Warnings[0], "incomplete") || !strings.Contains(p.Warnings[0], "3 checks not counted") {
		t.Errorf("the incomplete trace's warning: %q", p.Warnings[0])
	}
	// Every loss of checks, tasks or gains makes the profile incomplete;
	// events lost on the way to the live view do not (the counts come from
	// the maps), nor do the kernel's skipped program runs, which are not
	// known to be the workload's: both are warned about.
	for _, c := range []trace.Counters{{TasksOverflow: 1}, {PendingOverflow: 1}, {GainsOverflow: 1}} {
		q := Build(Target{}, nil, Info{Arch: "amd64", Mechanism: trace.TracepointBTF, VMProbeDetection: true, Counters: c})
		if !q.Incomplete || len(q.Warnings) != 1 || !strings.Contains(q.Warnings[0], "a need may be missing") {
			t.Errorf("%+v: incomplete %v, warnings %q", c, q.Incomplete, q.Warnings)
		}
	}
	q := Build(Target{}, nil, Info{Arch: "amd64", Mechanism: trace.TracepointBTF, VMProbeDetection: true, Counters: trace.Counters{Lost: 5}})
	if q.Incomplete || len(q.Warnings) != 1 || !strings.Contains(q.Warnings[0], "live view") {
		t.Errorf("events lost to the live view only: incomplete %v, warnings %q", q.Incomplete, q.Warnings)
	}
	q = Build(Target{}, nil, Info{Arch: "amd64", Mechanism: trace.TracepointBTF, VMProbeDetection: true, Counters: trace.Counters{Missed: 3}})
	if q.Incomplete || len(q.Warnings) != 1 || !strings.Contains(q.Warnings[0], "skipped 3 runs") {
		t.Errorf("skipped program runs: incomplete %v, warnings %q", q.Incomplete, q.Warnings)
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
	info := Info{Arch: "amd64", Mechanism: trace.TracepointBTF, VMProbeDetection: true}
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

// A mount-namespace inode is reused once its namespace dies: checks of an
// earlier namespace with the same number but another cgroup (another
// container, gone before the target started) are not the target's.
func TestBuildKeepsOutAReusedMntNS(t *testing.T) {
	mine := rec(capset.CHOWN, false, 92, "app", 0, 1)
	mine.Cgroup = 100
	earlier := rec(capset.DAC_READ_SEARCH, false, 257, "app", 0, 3)
	earlier.Cgroup = 99
	p := Build(Target{MntNS: 7, Cgroup: 100}, []trace.Record{mine, earlier}, Info{Arch: "amd64", Mechanism: trace.TracepointBTF})
	if got, want := p.NeededSet(), capset.Of(capset.CHOWN); got != want {
		t.Errorf("needed = %s, want %s", got, want)
	}
	if _, ok := p.Checks["CAP_DAC_READ_SEARCH"]; ok {
		t.Error("a check of another cgroup in a reused mount namespace was counted")
	}
	// Without a known cgroup (cgroup v1 hosts report one id for all), the
	// mount namespace alone decides.
	if p := Build(Target{MntNS: 7}, []trace.Record{mine, earlier}, Info{Arch: "amd64", Mechanism: trace.TracepointBTF}); p.NeededSet() != capset.Of(capset.CHOWN, capset.DAC_READ_SEARCH) {
		t.Errorf("without a cgroup: needed = %s", p.NeededSet())
	}
}

// TestTolerated checks the uses programs commonly survive losing: they are
// "used, not yet proven needed", unless another use of the same
// capability is a need.
func TestTolerated(t *testing.T) {
	recs := []trace.Record{
		rec(capset.KILL, false, 62, "rsyslog.sh", 0, 1),  // kill: a stop path
		rec(capset.CHOWN, false, 93, "dnsmasq", 0, 4),    // fchown: its pid file
		rec(capset.AUDIT_WRITE, false, 46, "sudo", 0, 2), // sendmsg: an audit record
		rec(capset.FOWNER, false, 93, "app", 0, 1),       // fchown, but FOWNER: a need
		rec(capset.SETUID, false, 105, "rsyslogd", 0, 1), // a need
		rec(capset.DAC_OVERRIDE, false, 62, "x", 0, 1),   // kill asking DAC_OVERRIDE: not a signal rule
		rec(capset.NET_ADMIN, false, 62, "x", 0, 1),      // likewise
		rec(capset.KILL, true, 62, "rsyslog.sh", 0, 1),   // denied too: still used
		rec(capset.SYS_NICE, false, 62, "x", trace.OtherCred, 1),
	}
	p := Build(Target{MntNS: 7}, recs, Info{Arch: "amd64", Mechanism: trace.TracepointBTF})
	if got, want := p.NeededSet(), capset.Of(capset.FOWNER, capset.SETUID, capset.DAC_OVERRIDE, capset.NET_ADMIN); got != want {
		t.Errorf("needed = %s, want %s", got, want)
	}
	reasons := map[string]string{}
	for _, u := range p.UsedNotProven {
		reasons[u.Capability] = u.Reason
	}
	want := map[string]string{"CAP_KILL": "signal-other-user", "CAP_CHOWN": "fchown-open-file", "CAP_AUDIT_WRITE": "audit-write"}
	if len(reasons) != len(want) {
		t.Errorf("used, not proven: %+v, want %v", p.UsedNotProven, want)
	}
	for c, r := range want {
		if reasons[c] != r {
			t.Errorf("%s: reason %q, want %q", c, reasons[c], r)
		}
	}
	if len(p.Denied) != 0 {
		t.Errorf("denied %v: a used capability is not denied-only", p.Denied)
	}
	// A need of the same capability wins over a tolerated use.
	recs = append(recs, rec(capset.CHOWN, false, 260, "nginx", 0, 10))
	p = Build(Target{MntNS: 7}, recs, Info{Arch: "amd64", Mechanism: trace.TracepointBTF})
	if !p.NeededSet().Has(capset.CHOWN) || p.UsedSet().Has(capset.CHOWN) {
		t.Errorf("CHOWN with a chown of a path: needed %v, used %v", p.Needed, p.UsedSet())
	}
	if !strings.Contains(p.Snippets.DockerRun, "--cap-add=KILL") {
		t.Errorf("the snippets apply the recommended set, with KILL: %s", p.Snippets.DockerRun)
	}
}

// TestReadsOfOtherUsersFiles: DAC_OVERRIDE granted only after a refused
// DAC_READ_SEARCH for the same command and syscall (reads) is used, not
// proven needed; one more DAC_OVERRIDE check there (a write) makes it a
// need.
func TestReadsOfOtherUsersFiles(t *testing.T) {
	reads := []trace.Record{
		rec(capset.DAC_READ_SEARCH, true, 262, "pg_ctlcluster", 0, 6),
		rec(capset.DAC_OVERRIDE, false, 262, "pg_ctlcluster", 0, 6),
		rec(capset.DAC_OVERRIDE, false, 257, "pg_ctlcluster", trace.OtherCred, 40),
	}
	p := Build(Target{MntNS: 7}, reads, Info{Arch: "amd64", Mechanism: trace.TracepointBTF})
	if !p.NeededSet().IsEmpty() || p.UsedSet() != capset.Of(capset.DAC_OVERRIDE) || p.UsedNotProven[0].Reason != "read-other-users-file" {
		t.Errorf("reads: needed %v, used %+v", p.Needed, p.UsedNotProven)
	}
	write := append(reads, rec(capset.DAC_OVERRIDE, false, 262, "pg_ctlcluster", trace.InSetID, 1))
	p = Build(Target{MntNS: 7}, write, Info{Arch: "amd64", Mechanism: trace.TracepointBTF})
	if p.NeededSet() != capset.Of(capset.DAC_OVERRIDE) || !p.UsedSet().IsEmpty() {
		t.Errorf("a write too: needed %v, used %+v", p.Needed, p.UsedNotProven)
	}
}
