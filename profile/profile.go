// Package profile turns the capability checks the tracer recorded into what
// a workload needs: the capabilities whose checks were granted and mattered,
// separated from the noise — checks only ever denied, advisory (noaudit)
// probes, set*id calls to ids already held, checks on other credentials
// (overlayfs acting as its mounter), DAC_READ_SEARCH asked before
// DAC_OVERRIDE — and the snippets that apply the result.
//
// The Profile document is capdrop's JSON contract for `profile -o json`,
// read back by verify and fix (docs/profile.md).
package profile

import (
	"fmt"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/fix"
	"github.com/capdrop/capdrop/trace"
)

// Version is the profile document's format version.
const Version = 1

// Target says what was profiled.
type Target struct {
	// Kind is "command", "container" or "docker".
	Kind string `json:"kind"`
	// Command is the command line (command and docker modes).
	Command []string `json:"command,omitempty"`
	// ContainerID, ContainerName and Image identify a container.
	ContainerID   string `json:"container_id,omitempty"`
	ContainerName string `json:"container_name,omitempty"`
	Image         string `json:"image,omitempty"`
	// PID is the host pid of the first process profiled.
	PID int `json:"pid,omitempty"`
	// MntNS is the mount-namespace inode the profile covers.
	MntNS uint32 `json:"mntns"`
	// Cgroup identifies the workload beside MntNS (trace.Key.Cgroup):
	// trace.MntNSID | its mount namespace's own id, or on a kernel without
	// one the cgroup (v2) id its first process exec'd in. Mount-namespace
	// inode numbers are reused once a namespace dies; these are not, so
	// together they keep the checks of an earlier, already-gone namespace
	// with the same number (another container or command that ran while
	// the tracer waited) out of the profile.
	Cgroup uint64 `json:"cgroup_id,omitempty"`
	// ExitCode is the workload's exit code, when it exited.
	ExitCode *int `json:"exit_code,omitempty"`
}

// Profile is the result of profiling a workload.
type Profile struct {
	Version int    `json:"version"`
	Target  Target `json:"target"`
	// Mechanism is how the tracer hooked cap_capable (trace.Mechanism).
	Mechanism string `json:"mechanism"`
	// OptsVisible says whether the mechanism saw cap_capable's opts, so
	// advisory checks were known from CAP_OPT_NOAUDIT.
	OptsVisible bool `json:"opts_visible"`
	// NoauditFrom says how advisory probes were told apart: "opts",
	// "kernel-stack" (the overcommit probe found on the stack; other
	// probes by syscall), or "syscall-heuristic".
	NoauditFrom string `json:"noaudit_from"`
	// Kernel is the kernel release, Arch the architecture (Go's name:
	// amd64, arm64) whose syscall names the document uses.
	Kernel   string    `json:"kernel"`
	Arch     string    `json:"arch"`
	Started  time.Time `json:"started"`
	Duration float64   `json:"duration_seconds"`

	// Needed are the capabilities the workload needs: a check of its own
	// credentials granted that mattered and is not a commonly tolerated use,
	// or a capability it kept or gained without a check (Kept).
	// Canonical names, by number.
	Needed []string `json:"needed"`
	// UsedNotProven are capabilities the workload used (granted checks that
	// mattered) in ways programs commonly survive losing — audit records,
	// see Tolerated — so the tracer cannot call them needs: `verify
	// --minimize --from` keeps those that are and removes the rest. The
	// recommended set until then is Needed plus UsedNotProven.
	UsedNotProven []Use `json:"used_not_proven"`
	// Kept are the capabilities kept or gained without a cap_capable check:
	// asked for by capset(2) (kept across a uid switch, or dropped to), or
	// given to a process that is not root by an exec (file capabilities,
	// ambient raises). Each is a need.
	Kept []Kept `json:"kept"`
	// Denied are the capabilities only ever denied to the workload (not
	// needs; if the workload failed, one of them may be why).
	Denied []string `json:"denied"`
	// Noise are groups of checks that are not needs, and why.
	Noise []Noise `json:"noise"`
	// Checks are all the workload's checks, per capability name.
	Checks map[string]*CapChecks `json:"checks"`

	// Overflow counts checks lost because the counts map was full, Lost the
	// events lost on the way to user space (trace.Counters).
	Overflow uint64         `json:"overflow"`
	Lost     uint64         `json:"lost"`
	Counters trace.Counters `json:"counters"`
	// Incomplete is set when the trace may lack checks, tasks or gains
	// (Counters.Missing): a need may be missing from Needed.
	Incomplete bool `json:"incomplete"`
	// Warnings say what may make the profile incomplete.
	Warnings []string `json:"warnings"`

	// Snippets apply the recommended set (needed plus used-not-proven),
	// written by fix's dialects.
	Snippets fix.Snippets `json:"snippets"`
}

// CapChecks are the checks of one capability.
type CapChecks struct {
	Capability string `json:"capability"`
	// Needed is true when some granted check of it counted as a need.
	Needed bool `json:"needed"`
	// Granted and Denied count every check of the capability by verdict,
	// noise included; Noise counts those classified as noise.
	Granted uint64 `json:"granted"`
	Denied  uint64 `json:"denied"`
	Noise   uint64 `json:"noise"`
	// Syscalls are the syscalls the checks happened in, most checks first.
	Syscalls []SyscallCount `json:"syscalls"`
	// Commands are the commands (comm) that made the checks.
	Commands []string `json:"commands"`
	// Evidence is one piece of what decided the capability's class: the
	// group of checks (syscall and command) with the most checks among
	// those that made it needed, used, denied or noise, or the capset or
	// exec that kept it.
	Evidence *Evidence `json:"evidence,omitempty"`
}

// Evidence is one group of identical checks, or one capset or exec, that
// shows a capability's class.
type Evidence struct {
	// Source is "check", "capset" or "exec".
	Source  string `json:"source"`
	Syscall string `json:"syscall"`
	Command string `json:"command"`
	// Count is how many checks (or calls, or execs) the group holds.
	Count uint64 `json:"count"`
	// Tag is the session of the checks (trace.Key.Tag).
	Tag uint32 `json:"-"`
}

// SyscallCount is how many checks of a capability one syscall made.
type SyscallCount struct {
	Syscall string `json:"syscall"`
	Granted uint64 `json:"granted"`
	Denied  uint64 `json:"denied"`
}

// Use is a capability used in a way programs commonly survive losing.
type Use struct {
	Capability string `json:"capability"`
	// Reason is a stable identifier: see Tolerated.
	Reason   string   `json:"reason"`
	Granted  uint64   `json:"granted"`
	Syscalls []string `json:"syscalls"`
	Commands []string `json:"commands"`
}

// Kept is what one source (capset or exec) kept or gained for the workload.
type Kept struct {
	// Source is "capset" or "exec".
	Source string `json:"source"`
	// Capabilities are those asked for (capset: effective, permitted and
	// inheritable together) or gained (exec).
	Capabilities []string `json:"capabilities"`
	Commands     []string `json:"commands"`
	// Count is how many calls or execs.
	Count uint64 `json:"count"`
}

// Noise is a group of checks of one capability that are not needs.
type Noise struct {
	Capability string `json:"capability"`
	// Reason is a stable identifier: see Reasons.
	Reason string `json:"reason"`
	// From says how it was recognised: "opts", "kernel-stack",
	// "syscall-arguments", "syscall-heuristic", "cred", "verdict".
	From     string   `json:"from"`
	Granted  uint64   `json:"granted"`
	Denied   uint64   `json:"denied"`
	Syscalls []string `json:"syscalls"`
	Commands []string `json:"commands"`
}

// Reasons explains each noise reason.
var Reasons = map[string]string{
	"other-cred":            "checked another task's credentials, not the workload's own (overlayfs acts with its mounter's; file_ns_capable with the opener's)",
	"noaudit":               "an advisory probe (CAP_OPT_NOAUDIT): the kernel asks, and carries on either way",
	"overcommit-probe":      "the memory-overcommit probe of CAP_SYS_ADMIN on mmap/brk/execve/fork: advisory",
	"ptrace-probe":          "a CAP_SYS_PTRACE probe from reading another process's /proc files: advisory",
	"same-id":               "a set*id call to ids the process already had: it succeeds without the capability",
	"dac-read-search-first": "the kernel asks DAC_READ_SEARCH before DAC_OVERRIDE for reads and searches; DAC_OVERRIDE granted the same access",
	"fsetid-without-setgid": "chmod asks CAP_FSETID when the caller is not in the file's group, but the answer only matters for a setgid bit, and this mode had none",
	"denied-only":           "only ever denied",
	"capset-setpcap":        "cap_capset() asks CAP_SETPCAP on every capset, but the answer only matters when the new inheritable set is not within the old inheritable and permitted sets, and it was",
}

// Tolerated explains each reason a granted use is "used, not yet proven
// needed".
var Tolerated = map[string]string{
	"audit-write":           "writing audit records (PAM, sudo, sshd, login tools): they carry on when the kernel refuses them",
	"signal-other-user":     "signalling a process of another user (stop and reload paths, init scripts): the sender usually carries on when refused, and the container's end stops the process anyway",
	"fchown-open-file":      "fchown of a file the process holds open, typically a pid, lease or log file it just created: daemons warn and carry on when refused",
	"read-other-users-file": "reading or searching another user's files as root (DAC_OVERRIDE granted after DAC_READ_SEARCH was refused, nothing else): helpers that look into a service's data directory before switching to its owner usually cope",
	"capset-as-root":        "asked for by capset(2) while still root, and never used in a check: root asking for a set only reduces what it has, and programs such as named ask for every capability of a list that they hold",
}

// tolerated returns why a granted, non-noise check is a use programs
// commonly survive losing ("" when it is not).
func tolerated(r trace.Record, sys string) string {
	switch {
	case r.Cap == capset.AUDIT_WRITE:
		return "audit-write"
	case r.Cap == capset.KILL && signalSyscalls[sys]:
		return "signal-other-user"
	case r.Cap == capset.CHOWN && sys == "fchown":
		return "fchown-open-file"
	}
	return ""
}

// Info is what the tracer says about itself, for the document.
type Info struct {
	Mechanism trace.Mechanism
	// VMProbeDetection: the tracer recognises the overcommit probe on the
	// kernel stack.
	VMProbeDetection bool
	Kernel           string
	// Arch is the architecture whose syscall numbers the records carry
	// (runtime.GOARCH when empty).
	Arch string
	// Gains are what the tracer saw kept or gained without a check.
	Gains    []trace.Gain
	Counters trace.Counters
	Started  time.Time
	Duration time.Duration
}

// memorySyscalls may run the overcommit accounting, whose CAP_SYS_ADMIN
// check is advisory; used only when neither opts nor the stack tell (no
// kallsyms, or the stack of that check could not be read). "-" is outside
// a syscall.
var memorySyscalls = names("mmap mprotect brk mremap execve execveat clone fork vfork clone3 shmget shmat memfd_create ftruncate fallocate -")

// procSyscalls read /proc files, where CAP_SYS_PTRACE is probed without
// audit; used only when opts are invisible.
var procSyscalls = names("read open stat fstat lstat pread64 readv access getdents readlink getdents64 openat newfstatat readlinkat faccessat statx openat2 faccessat2")

// signalSyscalls send signals to other processes.
var signalSyscalls = names("kill tkill tgkill rt_sigqueueinfo rt_tgsigqueueinfo pidfd_send_signal")

func names(s string) map[string]bool {
	m := map[string]bool{}
	for _, n := range strings.Fields(s) {
		m[n] = true
	}
	return m
}

// enforcingNoaudit are noaudit checks whose answer is enforced: installing
// a seccomp filter without no_new_privs needs CAP_SYS_ADMIN.
func enforcingNoaudit(r trace.Record, sys string) bool {
	return r.Cap == capset.SYS_ADMIN && (sys == "seccomp" || sys == "prctl")
}

// classify returns why a record is noise ("" when it is not) and how that
// was recognised.
func classify(r trace.Record, sys string, info Info, dacOverride map[string]bool) (reason, from string) {
	switch {
	case r.Flags&trace.OtherCred != 0:
		return "other-cred", "cred"
	case r.Flags&trace.OptsKnown != 0 && r.Flags&trace.NoAudit != 0 && !enforcingNoaudit(r, sys):
		return "noaudit", "opts"
	case r.Flags&trace.VMProbe != 0:
		return "overcommit-probe", "kernel-stack"
	case r.Flags&trace.OptsKnown == 0 && r.Cap == capset.SYS_ADMIN && memorySyscalls[sys] &&
		(!info.VMProbeDetection || r.Flags&trace.NoStack != 0):
		return "overcommit-probe", "syscall-heuristic"
	case r.Flags&trace.OptsKnown == 0 && r.Cap == capset.SYS_PTRACE && procSyscalls[sys]:
		return "ptrace-probe", "syscall-heuristic"
	case r.Flags&trace.SameID != 0:
		return "same-id", "syscall-arguments"
	case r.Flags&trace.NoSetgidBit != 0:
		return "fsetid-without-setgid", "syscall-arguments"
	case r.Cap == capset.SETPCAP && r.Flags&trace.CapsetInheritable != 0:
		return "capset-setpcap", "syscall-arguments"
	case r.Denied && r.Cap == capset.DAC_READ_SEARCH && dacOverride[pairKey(r)]:
		return "dac-read-search-first", "verdict"
	}
	return "", ""
}

// covers says whether a check's key is the workload's: its mount namespace
// and, when known, its cgroup (see Target.Cgroup).
func covers(mntns uint32, cgroup uint64, k trace.Key) bool {
	return k.MntNS == mntns && (cgroup == 0 || k.Cgroup == cgroup)
}

func pairKey(r trace.Record) string { return fmt.Sprintf("%s\x00%d", r.Comm, r.Syscall) }

// SyscallName names a syscall number of this machine's architecture (see
// ArchSyscallName).
func SyscallName(nr int32, flags trace.Flag) string {
	return ArchSyscallName(runtime.GOARCH, nr, flags)
}

// ArchSyscallName names a syscall number of an architecture (Go's name:
// amd64 or arm64); "compat:N" for 32-bit ones (i386 on amd64, arm on
// arm64), "-" outside a syscall, "syscall_N" for unknown numbers and
// architectures.
func ArchSyscallName(arch string, nr int32, flags trace.Flag) string {
	switch {
	case flags&trace.NoSyscall != 0 || nr < 0:
		return "-"
	case flags&trace.Compat != 0 && arch == "amd64":
		return fmt.Sprintf("ia32:%d", nr)
	case flags&trace.Compat != 0:
		return fmt.Sprintf("compat:%d", nr)
	}
	table := syscallsX86_64
	if arch == "arm64" {
		table = syscallsArm64
	} else if arch != "amd64" {
		table = nil
	}
	if n, ok := table[nr]; ok {
		return n
	}
	return fmt.Sprintf("syscall_%d", nr)
}

// Build classifies the records of the target's mount namespace (all
// records when target.MntNS is 0) into a profile.
func Build(target Target, recs []trace.Record, info Info) *Profile {
	p := &Profile{
		Version:       Version,
		Target:        target,
		Mechanism:     string(info.Mechanism),
		OptsVisible:   info.Mechanism.OptsVisible(),
		Kernel:        info.Kernel,
		Arch:          info.Arch,
		Started:       info.Started.UTC().Truncate(time.Millisecond),
		Duration:      info.Duration.Round(time.Millisecond).Seconds(),
		Overflow:      info.Counters.Overflow,
		Lost:          info.Counters.Lost,
		Counters:      info.Counters,
		Checks:        map[string]*CapChecks{},
		Needed:        []string{},
		Denied:        []string{},
		UsedNotProven: []Use{},
		Kept:          []Kept{},
		Noise:         []Noise{},
		Warnings:      []string{},
	}
	if p.Arch == "" {
		p.Arch = runtime.GOARCH
	}
	switch {
	case p.OptsVisible:
		p.NoauditFrom = "opts"
	case info.VMProbeDetection:
		p.NoauditFrom = "kernel-stack"
	default:
		p.NoauditFrom = "syscall-heuristic"
	}
	var mine []trace.Record
	for _, r := range recs {
		if target.MntNS == 0 || covers(target.MntNS, target.Cgroup, r.Key) {
			mine = append(mine, r)
		}
	}
	sort.Slice(mine, func(i, j int) bool { return lessRecord(mine[i], mine[j]) })

	// Granted, own-cred DAC_OVERRIDE accesses, to pair with a denied
	// DAC_READ_SEARCH asked first for the same access.
	dacOverride := map[string]bool{}
	// And their counts against the denied DAC_READ_SEARCH checks of the
	// same command and syscall: when every such DAC_OVERRIDE check follows
	// one, they were all reads or searches of another user's files.
	overrides, readDenied := map[string]uint64{}, map[string]uint64{}
	for _, r := range mine {
		if r.Cap == capset.DAC_OVERRIDE && !r.Denied && r.Flags&trace.OtherCred == 0 {
			dacOverride[pairKey(r)] = true
			overrides[pairKey(r)] += r.Count
		}
		if r.Cap == capset.DAC_READ_SEARCH && r.Denied && r.Flags&trace.OtherCred == 0 {
			readDenied[pairKey(r)] += r.Count
		}
	}
	onlyReads := func(r trace.Record) bool {
		return r.Cap == capset.DAC_OVERRIDE && overrides[pairKey(r)] <= readDenied[pairKey(r)]
	}

	var needed, denied, used capset.Set
	type noiseKey struct {
		cap          capset.Cap
		reason, from string
	}
	noise := map[noiseKey]*Noise{}
	uses := map[noiseKey]*Use{}
	sys := map[capset.Cap]map[string]*SyscallCount{}
	cmds := map[capset.Cap]map[string]bool{}
	// The biggest group of checks of each capability per class, for its
	// evidence.
	type classKey struct {
		cap   capset.Cap
		class string
	}
	best := map[classKey]*Evidence{}
	witness := func(c capset.Cap, class string, e Evidence) {
		k := classKey{c, class}
		if b := best[k]; b == nil || e.Count > b.Count {
			best[k] = &e
		}
	}
	for _, r := range mine {
		name := r.Cap.Name()
		cc := p.Checks[name]
		if cc == nil {
			cc = &CapChecks{Capability: name}
			p.Checks[name] = cc
			sys[r.Cap] = map[string]*SyscallCount{}
			cmds[r.Cap] = map[string]bool{}
		}
		sn := ArchSyscallName(p.Arch, r.Syscall, r.Flags)
		sc := sys[r.Cap][sn]
		if sc == nil {
			sc = &SyscallCount{Syscall: sn}
			sys[r.Cap][sn] = sc
		}
		if r.Denied {
			cc.Denied += r.Count
			sc.Denied += r.Count
		} else {
			cc.Granted += r.Count
			sc.Granted += r.Count
		}
		cmds[r.Cap][r.Comm] = true

		reason, from := classify(r, sn, info, dacOverride)
		ev := Evidence{Source: "check", Syscall: sn, Command: r.Comm, Count: r.Count, Tag: r.Tag}
		if reason == "" {
			why := tolerated(r, sn)
			if why == "" && !r.Denied && onlyReads(r) {
				why = "read-other-users-file"
			}
			switch {
			case r.Denied:
				denied = denied.With(r.Cap)
				witness(r.Cap, "denied", ev)
			case why != "":
				used = used.With(r.Cap)
				witness(r.Cap, "used", ev)
				k := noiseKey{cap: r.Cap, reason: why}
				u := uses[k]
				if u == nil {
					u = &Use{Capability: name, Reason: why}
					uses[k] = u
				}
				u.Granted += r.Count
				u.Syscalls = appendOnce(u.Syscalls, sn)
				u.Commands = appendOnce(u.Commands, r.Comm)
			default:
				needed = needed.With(r.Cap)
				witness(r.Cap, "needed", ev)
			}
			continue
		}
		witness(r.Cap, "noise", ev)
		cc.Noise += r.Count
		k := noiseKey{r.Cap, reason, from}
		n := noise[k]
		if n == nil {
			n = &Noise{Capability: name, Reason: reason, From: from}
			noise[k] = n
		}
		if r.Denied {
			n.Denied += r.Count
		} else {
			n.Granted += r.Count
		}
		n.Syscalls = appendOnce(n.Syscalls, sn)
		n.Commands = appendOnce(n.Commands, r.Comm)
	}
	// Capabilities kept or gained without a check are needs: a capset
	// asking for one the task lacks fails (a process that is no longer
	// root keeps them for later), and so does an exec whose file
	// capabilities are not all available. A capset by root only reduces
	// what it has: what it asks for and never uses is not proven needed.
	kept := map[trace.GainSource]*Kept{}
	var keptSet, rootAsked capset.Set
	rootCmds := map[capset.Cap][]string{}
	rootCount := map[capset.Cap]uint64{}
	for _, g := range info.Gains {
		if target.MntNS != 0 && !covers(target.MntNS, target.Cgroup, trace.Key{MntNS: g.MntNS, Cgroup: g.Cgroup}) {
			continue
		}
		if g.Failed {
			denied = denied.Union(g.Lacking)
			continue
		}
		gev := Evidence{Source: g.Source.String(), Syscall: "capset", Command: g.Comm, Count: g.Count, Tag: g.Tag}
		if g.Source == trace.GainExec {
			gev.Syscall = "execve"
		}
		if g.Source == trace.GainCapset && g.Root {
			rootAsked = rootAsked.Union(g.Caps)
			for _, c := range g.Caps.Caps() {
				rootCmds[c] = appendOnce(rootCmds[c], g.Comm)
				rootCount[c] += g.Count
				witness(c, "used", gev)
			}
			continue
		}
		for _, c := range g.Caps.Caps() {
			witness(c, "kept", gev)
		}
		k := kept[g.Source]
		if k == nil {
			k = &Kept{Source: g.Source.String()}
			kept[g.Source] = k
		}
		s, _ := capset.ParseSet(strings.Join(k.Capabilities, ","))
		k.Capabilities = s.Union(g.Caps).Names()
		k.Commands = appendOnce(k.Commands, g.Comm)
		k.Count += g.Count
		keptSet = keptSet.Union(g.Caps)
	}
	for _, src := range []trace.GainSource{trace.GainCapset, trace.GainExec} {
		if k := kept[src]; k != nil {
			sort.Strings(k.Commands)
			p.Kept = append(p.Kept, *k)
		}
	}
	needed = needed.Union(keptSet)
	for _, c := range rootAsked.Minus(needed).Minus(used).Caps() {
		used = used.With(c)
		uses[noiseKey{cap: c, reason: "capset-as-root"}] = &Use{Capability: c.Name(), Reason: "capset-as-root",
			Granted: rootCount[c], Syscalls: []string{"capset"}, Commands: rootCmds[c]}
	}
	used = used.Minus(needed)
	denied = denied.Minus(needed).Minus(used)
	for _, c := range needed.Caps() {
		if cc := p.Checks[c.Name()]; cc != nil {
			cc.Needed = true
		}
	}
	for name, cc := range p.Checks {
		c, _ := capset.Parse(name)
		classes := []string{"noise"}
		switch {
		case needed.Has(c):
			classes = []string{"needed", "kept"}
		case used.Has(c):
			classes = []string{"used"}
		case denied.Has(c):
			classes = []string{"denied"}
		}
		for _, class := range classes {
			if e := best[classKey{c, class}]; e != nil {
				cc.Evidence = e
				break
			}
		}
	}
	p.Needed = needed.Names()
	p.Denied = denied.Names()
	for _, c := range used.Caps() {
		for _, why := range sortedKeys(Tolerated) {
			if u := uses[noiseKey{cap: c, reason: why}]; u != nil {
				sort.Strings(u.Syscalls)
				sort.Strings(u.Commands)
				p.UsedNotProven = append(p.UsedNotProven, *u)
			}
		}
	}
	for c, m := range sys {
		cc := p.Checks[c.Name()]
		for _, sc := range m {
			cc.Syscalls = append(cc.Syscalls, *sc)
		}
		sort.Slice(cc.Syscalls, func(i, j int) bool {
			a, b := cc.Syscalls[i], cc.Syscalls[j]
			if a.Granted+a.Denied != b.Granted+b.Denied {
				return a.Granted+a.Denied > b.Granted+b.Denied
			}
			return a.Syscall < b.Syscall
		})
		for cmd := range cmds[c] {
			cc.Commands = append(cc.Commands, cmd)
		}
		sort.Strings(cc.Commands)
	}
	for _, n := range noise {
		sort.Strings(n.Syscalls)
		sort.Strings(n.Commands)
		p.Noise = append(p.Noise, *n)
	}
	sort.Slice(p.Noise, func(i, j int) bool {
		a, b := p.Noise[i], p.Noise[j]
		ca, _ := capset.Parse(a.Capability)
		cb, _ := capset.Parse(b.Capability)
		if ca != cb {
			return ca < cb
		}
		return a.Reason+a.From < b.Reason+b.From
	})
	if c := info.Counters; c.Missing() > 0 {
		p.Incomplete = true
		var lost []string
		for _, l := range []struct {
			n    uint64
			what string
		}{
			{c.Overflow, "checks not counted (counts map full)"},
			{c.TasksOverflow, "tasks not followed (tasks map full)"},
			{c.PendingOverflow, "kprobe calls not paired (map full)"},
			{c.GainsOverflow, "capsets or execs not recorded (gains map full)"},
		} {
			if l.n > 0 {
				lost = append(lost, fmt.Sprintf("%d %s", l.n, l.what))
			}
		}
		p.Warnings = append(p.Warnings, "the trace is incomplete, a need may be missing: "+strings.Join(lost, ", ")+"; profile again")
	}
	if m := info.Counters.Missed; m > 0 {
		p.Warnings = append(p.Warnings, fmt.Sprintf("the kernel skipped %d runs of the tracer's programs (a check, capset, exec, fork or exit of some task not seen, most likely not the workload's)", m))
	}
	if info.Counters.Lost > 0 {
		p.Warnings = append(p.Warnings, fmt.Sprintf("%d events were lost on the way to the live view; the counts, read from the kernel's maps, are complete", info.Counters.Lost))
	}
	if p.NoauditFrom == "syscall-heuristic" {
		p.Warnings = append(p.Warnings, "this kernel's tracepoint hides cap_capable's opts and kallsyms is unreadable: advisory probes were told apart by syscall, a heuristic")
	}
	p.Snippets = fix.SnippetsFor(needed.Union(used))
	return p
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// NeededSet returns the needed capabilities as a set.
func (p *Profile) NeededSet() capset.Set {
	s, _ := capset.ParseSet(strings.Join(p.Needed, ","))
	return s
}

// UsedSet returns the capabilities used but not proven needed.
func (p *Profile) UsedSet() capset.Set {
	var s capset.Set
	for _, u := range p.UsedNotProven {
		if c, err := capset.Parse(u.Capability); err == nil {
			s = s.With(c)
		}
	}
	return s
}

// RecommendedSet is what the profile recommends until verify has run:
// the needed capabilities and those used but not proven needed (the
// snippets apply it; `verify --minimize --from` starts from it).
func (p *Profile) RecommendedSet() capset.Set { return p.NeededSet().Union(p.UsedSet()) }

func appendOnce(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

func lessRecord(a, b trace.Record) bool {
	if a.Cap != b.Cap {
		return a.Cap < b.Cap
	}
	if a.Denied != b.Denied {
		return !a.Denied
	}
	if a.Syscall != b.Syscall {
		return a.Syscall < b.Syscall
	}
	if a.Comm != b.Comm {
		return a.Comm < b.Comm
	}
	return a.Flags < b.Flags
}
