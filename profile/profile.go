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
	// Cgroup is the cgroup (v2) id the workload's first process exec'd
	// in, when known. Mount-namespace inode numbers are reused once a
	// namespace dies; cgroup ids are not, so together they keep the checks
	// of an earlier, already-gone namespace with the same number (another
	// container that ran while the tracer waited) out of the profile.
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
	// Kernel is the kernel release.
	Kernel   string    `json:"kernel"`
	Started  time.Time `json:"started"`
	Duration float64   `json:"duration_seconds"`

	// Needed are the capabilities whose checks were granted and mattered:
	// the recommended set (canonical names, by number).
	Needed []string `json:"needed"`
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
	// Warnings say what may make the profile incomplete.
	Warnings []string `json:"warnings"`

	// Snippets apply the needed set, written by fix's dialects.
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
}

// SyscallCount is how many checks of a capability one syscall made.
type SyscallCount struct {
	Syscall string `json:"syscall"`
	Granted uint64 `json:"granted"`
	Denied  uint64 `json:"denied"`
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
}

// Info is what the tracer says about itself, for the document.
type Info struct {
	Mechanism trace.Mechanism
	// VMProbeDetection: the tracer recognises the overcommit probe on the
	// kernel stack.
	VMProbeDetection bool
	Kernel           string
	Counters         trace.Counters
	Started          time.Time
	Duration         time.Duration
}

// memorySyscalls may run the overcommit accounting, whose CAP_SYS_ADMIN
// check is advisory; used only when neither opts nor the stack tell (no
// kallsyms, or the stack of that check could not be read).
var memorySyscalls = map[int32]bool{9: true, 10: true, 12: true, 25: true, 59: true, 322: true,
	56: true, 57: true, 58: true, 435: true, 29: true, 30: true, 319: true, 77: true, 285: true, -1: true}

// procSyscalls read /proc files, where CAP_SYS_PTRACE is probed without
// audit; used only when opts are invisible.
var procSyscalls = map[int32]bool{0: true, 2: true, 4: true, 5: true, 6: true, 17: true, 19: true, 21: true,
	78: true, 89: true, 217: true, 257: true, 262: true, 267: true, 269: true, 332: true, 437: true, 439: true}

// enforcingNoaudit are noaudit checks whose answer is enforced: installing
// a seccomp filter without no_new_privs needs CAP_SYS_ADMIN.
func enforcingNoaudit(r trace.Record) bool {
	return r.Cap == capset.SYS_ADMIN && (r.Syscall == 317 /* seccomp */ || r.Syscall == 157 /* prctl */)
}

// classify returns why a record is noise ("" when it is not) and how that
// was recognised.
func classify(r trace.Record, info Info, dacOverride map[string]bool) (reason, from string) {
	switch {
	case r.Flags&trace.OtherCred != 0:
		return "other-cred", "cred"
	case r.Flags&trace.OptsKnown != 0 && r.Flags&trace.NoAudit != 0 && !enforcingNoaudit(r):
		return "noaudit", "opts"
	case r.Flags&trace.VMProbe != 0:
		return "overcommit-probe", "kernel-stack"
	case r.Flags&trace.OptsKnown == 0 && r.Cap == capset.SYS_ADMIN && memorySyscalls[r.Syscall] &&
		(!info.VMProbeDetection || r.Flags&trace.NoStack != 0):
		return "overcommit-probe", "syscall-heuristic"
	case r.Flags&trace.OptsKnown == 0 && r.Cap == capset.SYS_PTRACE && procSyscalls[r.Syscall]:
		return "ptrace-probe", "syscall-heuristic"
	case r.Flags&trace.SameID != 0:
		return "same-id", "syscall-arguments"
	case r.Flags&trace.NoSetgidBit != 0:
		return "fsetid-without-setgid", "syscall-arguments"
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

// SyscallName names an x86_64 syscall number ("ia32:N" for 32-bit ones,
// "-" outside a syscall).
func SyscallName(nr int32, flags trace.Flag) string {
	switch {
	case flags&trace.NoSyscall != 0 || nr < 0:
		return "-"
	case flags&trace.Compat != 0:
		return fmt.Sprintf("ia32:%d", nr)
	}
	if n, ok := syscallsX86_64[nr]; ok {
		return n
	}
	return fmt.Sprintf("syscall_%d", nr)
}

// Build classifies the records of the target's mount namespace (all
// records when target.MntNS is 0) into a profile.
func Build(target Target, recs []trace.Record, info Info) *Profile {
	p := &Profile{
		Version:     Version,
		Target:      target,
		Mechanism:   string(info.Mechanism),
		OptsVisible: info.Mechanism.OptsVisible(),
		Kernel:      info.Kernel,
		Started:     info.Started.UTC().Truncate(time.Millisecond),
		Duration:    info.Duration.Round(time.Millisecond).Seconds(),
		Overflow:    info.Counters.Overflow,
		Lost:        info.Counters.Lost,
		Counters:    info.Counters,
		Checks:      map[string]*CapChecks{},
		Needed:      []string{},
		Denied:      []string{},
		Noise:       []Noise{},
		Warnings:    []string{},
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
	for _, r := range mine {
		if r.Cap == capset.DAC_OVERRIDE && !r.Denied && r.Flags&trace.OtherCred == 0 {
			dacOverride[pairKey(r)] = true
		}
	}

	var needed, denied capset.Set
	type noiseKey struct {
		cap          capset.Cap
		reason, from string
	}
	noise := map[noiseKey]*Noise{}
	sys := map[capset.Cap]map[string]*SyscallCount{}
	cmds := map[capset.Cap]map[string]bool{}
	for _, r := range mine {
		name := r.Cap.Name()
		cc := p.Checks[name]
		if cc == nil {
			cc = &CapChecks{Capability: name}
			p.Checks[name] = cc
			sys[r.Cap] = map[string]*SyscallCount{}
			cmds[r.Cap] = map[string]bool{}
		}
		sn := SyscallName(r.Syscall, r.Flags)
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

		reason, from := classify(r, info, dacOverride)
		if reason == "" {
			if r.Denied {
				denied = denied.With(r.Cap)
			} else {
				needed = needed.With(r.Cap)
			}
			continue
		}
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
	denied = denied.Minus(needed)
	for _, c := range needed.Caps() {
		p.Checks[c.Name()].Needed = true
	}
	p.Needed = needed.Names()
	p.Denied = denied.Names()
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
	if m := info.Counters.Missing(); m > 0 {
		p.Warnings = append(p.Warnings, fmt.Sprintf("the trace is incomplete: %d checks or tasks were lost to full maps (overflow %d, tasks %d, kprobe pairs %d); profile again with larger maps",
			m, info.Counters.Overflow, info.Counters.TasksOverflow, info.Counters.PendingOverflow))
	}
	if p.NoauditFrom == "syscall-heuristic" {
		p.Warnings = append(p.Warnings, "this kernel's tracepoint hides cap_capable's opts and kallsyms is unreadable: advisory probes were told apart by syscall, a heuristic")
	}
	p.Snippets = fix.SnippetsFor(needed)
	return p
}

// NeededSet returns the needed capabilities as a set.
func (p *Profile) NeededSet() capset.Set {
	s, _ := capset.ParseSet(strings.Join(p.Needed, ","))
	return s
}

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
