// Package trace watches the kernel's capability checks with eBPF.
//
// Every capability check ends in the commoncap cap_capable(). The tracer hooks
// it with the first mechanism the running kernel accepts — the
// capability:cap_capable tracepoint (Linux ≥ 6.14) as a BTF-typed or raw
// tracepoint, fexit on cap_capable, or a kprobe and kretprobe on it — and
// aggregates the checks in the kernel: a per-CPU hash counts checks per Key
// (the root task's mount namespace and cgroup, capability, verdict, syscall,
// command, flags), and only the first check of each key is streamed to user
// space. Map overflow and lost events are counted and reported in Counters.
//
// Only tasks of interest are recorded. A task becomes tracked when it execs
// as a root — in the target mount namespace, or (before a target is known)
// in a mount namespace other than its parent's — or when a tracked task forks
// it. So a container runtime's init, which runs in the container's
// namespaces with full capabilities before it execs the entrypoint, is never
// counted.
//
// Capabilities can also be kept or gained without any cap_capable check:
// capset(2) is judged by cap_capset() with subset tests, and an execve gives
// file capabilities. The tracer records what each capset asked for (from
// the CAP_SETPCAP check capset makes, with the tracepoint; by hooking
// cap_capset, with fexit and kprobe) and what each exec gave a process that
// is not root, per workload and command (Gains).
//
// The tracer runs on Linux on amd64 and arm64 (a BPF object for each is
// embedded); elsewhere Open fails with ErrPlatform.
//
// The tracer needs CAP_BPF and CAP_PERFMON (Linux ≥ 5.8), or CAP_SYS_ADMIN.
// Unless Options.PinPath asks for it, nothing is pinned: when the process
// ends, even by SIGKILL, the kernel detaches every program. With PinPath the
// maps and links are pinned on the BPF file system, the kernel goes on
// counting after the process ends, and the next Open with the same PinPath
// takes them over (Unpin removes them).
package trace

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/capdrop/capdrop/capset"
)

// Mechanism is how the tracer hooks cap_capable.
type Mechanism string

// The mechanisms, in the order the tracer tries them.
const (
	// TracepointBTF is the capability:cap_capable tracepoint (Linux ≥ 6.14)
	// as a tp_btf program. It does not see cap_capable's opts.
	TracepointBTF Mechanism = "tp_btf"
	// RawTracepoint is the same tracepoint as a raw_tp program.
	RawTracepoint Mechanism = "raw_tp"
	// Fexit is an fexit program on cap_capable (Linux ≥ 5.5 with BTF and
	// trampolines). It sees opts, so advisory (noaudit) checks are known.
	Fexit Mechanism = "fexit"
	// Kprobe is a kprobe and a kretprobe on cap_capable. It sees opts.
	Kprobe Mechanism = "kprobe"
)

// Mechanisms lists every mechanism in the order they are tried.
var Mechanisms = []Mechanism{TracepointBTF, RawTracepoint, Fexit, Kprobe}

// OptsVisible reports whether the mechanism sees cap_capable's opts
// argument (CAP_OPT_NOAUDIT, CAP_OPT_INSETID).
func (m Mechanism) OptsVisible() bool { return m == Fexit || m == Kprobe }

// ParseMechanism accepts a mechanism name.
func ParseMechanism(s string) (Mechanism, error) {
	for _, m := range Mechanisms {
		if string(m) == s {
			return m, nil
		}
	}
	names := make([]string, len(Mechanisms))
	for i, m := range Mechanisms {
		names[i] = string(m)
	}
	return "", fmt.Errorf("unknown tracing mechanism %q (one of %s)", s, strings.Join(names, ", "))
}

// Flag describes a check beyond its capability and verdict.
type Flag uint16

// The flags of a Key; the values are the BPF program's.
const (
	// OptsKnown: the mechanism saw opts, so NoAudit and InSetID are
	// meaningful.
	OptsKnown Flag = 1 << 0
	// NoAudit: the caller passed CAP_OPT_NOAUDIT, an advisory probe.
	NoAudit Flag = 1 << 1
	// InSetID: the caller passed CAP_OPT_INSETID (a set*id syscall).
	InSetID Flag = 1 << 2
	// OtherCred: the checked credentials are not the task's own (overlayfs
	// acting as its mounter, file_ns_capable on an opener's cred).
	OtherCred Flag = 1 << 3
	// Compat: the syscall is a 32-bit (ia32) one; Syscall is its i386 number.
	Compat Flag = 1 << 4
	// NoSyscall: the check did not happen in a syscall of the task, or the
	// register frame could not be found; Syscall is -1.
	NoSyscall Flag = 1 << 5
	// SameID: a set*id syscall whose arguments are the ids the task already
	// has, so the check could not matter.
	SameID Flag = 1 << 6
	// VMProbe: the check came from the overcommit accounting
	// (security_vm_enough_memory_mm), found on the kernel stack, an advisory
	// probe. Set only when opts are invisible.
	VMProbe Flag = 1 << 7
	// NoSetgidBit: CAP_FSETID asked by a chmod whose new mode has no setgid
	// bit; the kernel asks whenever the caller is not in the file's group,
	// but the answer only decides whether a setgid bit is kept.
	NoSetgidBit Flag = 1 << 8
	// NoStack: a CAP_SYS_ADMIN check (opts invisible) whose kernel stack
	// could not be read to look for the overcommit probe; user space falls
	// back to judging it by syscall.
	NoStack Flag = 1 << 9
	// CapsetInheritable: the CAP_SETPCAP check cap_capset() makes on every
	// capset(2), for a call whose new inheritable set stays within the old
	// inheritable and permitted sets, where the answer does not matter.
	CapsetInheritable Flag = 1 << 10
)

var flagNames = []struct {
	f    Flag
	name string
}{
	{OptsKnown, "opts"}, {NoAudit, "noaudit"}, {InSetID, "insetid"}, {OtherCred, "other-cred"},
	{Compat, "compat"}, {NoSyscall, "no-syscall"}, {SameID, "same-id"}, {VMProbe, "vm-probe"},
	{NoSetgidBit, "no-setgid-bit"}, {NoStack, "no-stack"}, {CapsetInheritable, "capset-inheritable"},
}

// String lists the flags by name, joined by "|".
func (f Flag) String() string {
	var parts []string
	for _, n := range flagNames {
		if f&n.f != 0 {
			parts = append(parts, n.name)
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, "|")
}

// MntNSID marks a Key.Cgroup or Root.Cgroup that is a mount namespace's
// own id.
const MntNSID = 1 << 63

// Key identifies a group of identical checks.
type Key struct {
	// Cgroup tells the root's workload from others with the same MntNS
	// (the kernel reuses a dead namespace's inode number): MntNSID | the
	// mount namespace's own id, which the kernel never reuses (ns_id, seq
	// before Linux 6.18); on a kernel whose BTF shows neither, the cgroup
	// (v2) id of the root task at its exec, which fails to tell workloads
	// apart on hosts whose containers use cgroup v1 only.
	Cgroup uint64
	// MntNS is the mount-namespace inode of the root task at its exec.
	MntNS uint32
	// Syscall is the number of the syscall the task was in (of the
	// tracer's architecture: x86_64 or arm64; i386's with Compat), or -1.
	Syscall int32
	// Cap is the capability checked.
	Cap capset.Cap
	// Denied is the verdict: false when cap_capable granted the check.
	Denied bool
	// Flags says more about the check.
	Flags Flag
	// Comm is the task's command name (at most 15 bytes) as of its last
	// exec (a name a thread gives itself later with PR_SET_NAME is not
	// seen; user space's Track reads it from /proc).
	Comm string
	// Tag identifies the session the task belongs to: a hash of the
	// arguments of the exec that made its root, so that a container's
	// entrypoint, each exec probe and each exec session are told apart
	// (Options.TagSessions; 0 otherwise).
	Tag uint32
}

// Record is a key and how many checks it counted.
type Record struct {
	Key
	Count uint64
}

// GainSource says how a workload kept or gained capabilities without a
// cap_capable check.
type GainSource uint8

// The sources of a Gain; the values are the BPF program's.
const (
	// GainCapset: capset(2) asked for the capabilities (as libcap's
	// cap_set_proc does, for example to keep some across a switch to
	// another uid with PR_SET_KEEPCAPS). cap_capset() checks the new sets
	// against the old with subset tests, not with cap_capable().
	GainCapset GainSource = 1
	// GainExec: an execve gave a process that is not root the
	// capabilities, from the file's capabilities or from ambient ones the
	// workload raised (PR_CAP_AMBIENT_RAISE) before it.
	GainExec GainSource = 2
)

func (g GainSource) String() string {
	switch g {
	case GainCapset:
		return "capset"
	case GainExec:
		return "exec"
	}
	return fmt.Sprintf("gain-%d", uint8(g))
}

// Gain is what the tasks of one workload and command kept or gained
// through one source, summed over every time it happened.
type Gain struct {
	Cgroup uint64
	MntNS  uint32
	Source GainSource
	// Failed: a capset that cap_capset() refused.
	Failed bool
	// Root: a capset by a task whose effective uid was 0. Root asking for
	// a set only reduces what it has (some programs ask for every
	// capability of a list they hold); a task that is no longer root asks
	// to keep capabilities across its switch to another uid.
	Root bool
	Comm string
	// Caps: for a capset, the effective, permitted and inheritable sets it
	// asked for together (every capability in them had to be held for it
	// to succeed); for an exec, the permitted capabilities it gave.
	Caps capset.Set
	// Lacking: for a refused capset, what the task lacked.
	Lacking capset.Set
	Count   uint64
	// Tag is the session's (Key.Tag).
	Tag uint32
}

// Root is a task that became tracked by its exec, rather than by being
// forked from a tracked task.
type Root struct {
	PID  uint32
	PPID uint32
	// MntNS is the mount namespace it exec'd in.
	MntNS uint32
	// Cgroup is its workload's id besides MntNS (see Key.Cgroup).
	Cgroup uint64
	// Comm is its command name after the exec.
	Comm string
	// Tag is its session tag (Options.TagSessions): TagInit for a
	// process that is its pid namespace's init, else SessionTag of Args.
	Tag uint32
	// Args are its exec's arguments as far as the tracer read them
	// (ArgsMax bytes; Truncated says there were more), with TagSessions.
	Args      []string
	Truncated bool
	// CgroupName is the leaf name of its memory cgroup (v1 or v2), which
	// holds the container ID for Docker, containerd and Podman;
	// CgroupParent the name of that cgroup's parent (pod<UID>, or the
	// systemd driver's kubepods-…-pod<UID>.slice, for the kubelet's).
	CgroupName   string
	CgroupParent string
}

// Event is what the tracer streams: a key seen for the first time, or a
// new root.
type Event struct {
	// Key is set for a key's first check; PID is the task that made it.
	Key *Key
	// Root is set for a new root.
	Root *Root
	PID  uint32
}

// Counters are the tracer's losses. None is ever dropped silently: a
// profile reports them all.
type Counters struct {
	// Overflow counts checks not counted because the counts map was full.
	Overflow uint64 `json:"overflow"`
	// Lost counts events the ring buffer dropped (first-seen keys for the
	// live view, and roots; the final counts come from the map and do not
	// depend on them).
	Lost uint64 `json:"lost"`
	// TasksOverflow counts tasks not followed because the tracked map was
	// full: their checks are missing.
	TasksOverflow uint64 `json:"tasks_overflow"`
	// PendingOverflow counts kprobe entries lost because the map pairing
	// kprobe and kretprobe was full: those checks are missing.
	PendingOverflow uint64 `json:"pending_overflow"`
	// RootsOverflow counts roots not recorded in the roots map.
	RootsOverflow uint64 `json:"roots_overflow"`
	// GainsOverflow counts capsets and execs not recorded because the
	// gains map was full: capabilities kept or gained may be missing.
	GainsOverflow uint64 `json:"gains_overflow"`
	// Missed counts runs of the tracer's programs the kernel skipped (a
	// program already running on that CPU, a kprobe missed), for any task:
	// a check, capset, exec, fork or exit not seen, most likely of a task
	// not followed. It is not part of Missing: Linux 7.3 skips a few runs
	// of the tp_btf program even in an idle guest whose workload's counts
	// are exact (the kernel matrix), so it is reported, not taken as a loss.
	Missed uint64 `json:"missed"`
}

// Missing is the number of checks or tasks the trace lacks (Missed aside).
func (c Counters) Missing() uint64 {
	return c.Overflow + c.TasksOverflow + c.PendingOverflow + c.GainsOverflow
}

// Pruned is what Tracer.PruneCgroups deleted from the kernel's maps:
// count keys (Records) and gain keys (Gains), and the count keys it left
// for a later call because a per-CPU cache slot still held checks of them
// (Held).
type Pruned struct {
	Records int `json:"records"`
	Gains   int `json:"gains"`
	Held    int `json:"held"`
}

// TagInit is the session tag of a root that is its pid namespace's init:
// a container's entrypoint.
const TagInit = 1

// ArgsMax is how many bytes of a root's arguments the tracer reads and
// hashes into its session tag.
const ArgsMax = 255

// SessionTag is the tag the tracer gives a root exec'd with args (not a pid
// namespace's init): the 32-bit FNV-1a hash of the first ArgsMax bytes of
// its argument area, each argument followed by a NUL, moved above TagInit.
func SessionTag(args []string) uint32 {
	h := uint32(2166136261)
	n := 0
	for _, a := range args {
		for _, c := range []byte(a + "\x00") {
			if n == ArgsMax {
				break
			}
			h ^= uint32(c)
			h *= 16777619
			n++
		}
	}
	if h <= TagInit {
		h += TagInit + 1
	}
	return h
}

// splitArgs splits an argument area read by the tracer (the first ArgsMax
// bytes of a total of total) into arguments.
func splitArgs(b []byte, total int) (args []string, truncated bool) {
	truncated = total > len(b)
	if i := len(b); !truncated && i > 0 && b[i-1] == 0 {
		b = b[:i-1]
	}
	if len(b) == 0 {
		return nil, truncated
	}
	for _, a := range bytes.Split(b, []byte{0}) {
		args = append(args, string(a))
	}
	return args, truncated
}

// Options configure a Tracer.
type Options struct {
	// Mechanisms to try, in order; empty means all (Mechanisms).
	Mechanisms []Mechanism
	// MaxKeys is the size of the counts map (default 16384).
	MaxKeys int
	// MaxTasks is the size of the overflow table of followed tasks
	// (default 65536): tasks live in a 65,536-slot table indexed by the low
	// bits of their tid, and only those whose slot another followed task
	// holds go to this one.
	MaxTasks int
	// CacheSlots is the number of entries of the per-CPU cache in front of
	// the counts map: a power of two from 1 to 256 (0 means 256). Tests
	// shrink it to force evictions.
	CacheSlots int
	// TargetMntNS, when set, makes only execs in that mount namespace roots
	// and records only checks of tasks rooted there.
	TargetMntNS uint32
	// FollowNewMntNS makes any exec in a mount namespace other than the
	// parent's a root, until SetTarget names the target (for workloads whose
	// namespace is not known before they start: containers, commands
	// started in their own mount namespace).
	FollowNewMntNS bool
	// TagSessions gives every root a session tag (Key.Tag, Gain.Tag,
	// Root.Tag) and records its arguments in Root.Args.
	TagSessions bool
	// KeyMemoryCgroup keys each root's checks (Key.Cgroup, Gain.Cgroup,
	// Root.Cgroup) by the id of its memory cgroup (v1 or v2) instead of
	// its cgroup v2 id: on cgroup v1 the cgroup v2 id is the same for
	// every container, and mount namespace inodes are reused once a
	// container is gone, while a cgroup's id never is.
	KeyMemoryCgroup bool
	// PinPath, when set, is a directory on the BPF file system where the
	// tracer's maps and links are pinned, or taken over from there when a
	// tracer with the same object is already pinned (Tracer.Pinned,
	// Tracer.TakenOver). Options other than PinPath are then those of the
	// pinned tracer.
	PinPath string
}

// Attempt is one mechanism the tracer tried, and why it failed.
type Attempt struct {
	Mechanism Mechanism
	Err       error
}

// ErrUnsupported is wrapped by errors that mean the kernel offers no way to
// trace capability checks.
var ErrUnsupported = errors.New("cannot trace capability checks on this kernel")

// UnsupportedError lists every mechanism tried and why each failed.
type UnsupportedError struct {
	Attempts []Attempt
}

func (e *UnsupportedError) Error() string {
	var b strings.Builder
	b.WriteString(ErrUnsupported.Error())
	b.WriteString(": ")
	for i, a := range e.Attempts {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s: %v", a.Mechanism, a.Err)
	}
	return b.String()
}

// Unwrap makes errors.Is(err, ErrUnsupported) true.
func (e *UnsupportedError) Unwrap() error { return ErrUnsupported }

// ErrPrivilege is wrapped by errors that mean the process lacks the
// capabilities the tracer needs.
var ErrPrivilege = errors.New("not privileged enough to trace with eBPF")

// PrivilegeError names the capabilities that are missing.
type PrivilegeError struct {
	// Missing are the capabilities to add: CAP_BPF and CAP_PERFMON (or
	// CAP_SYS_ADMIN on kernels before 5.8).
	Missing capset.Set
	// Detail says where it was found.
	Detail string
}

func (e *PrivilegeError) Error() string {
	return fmt.Sprintf("%v: missing %s in the effective set (%s); run as root, or grant CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN before Linux 5.8)",
		ErrPrivilege, strings.Join(e.Missing.Names(), " and "), e.Detail)
}

// Unwrap makes errors.Is(err, ErrPrivilege) true.
func (e *PrivilegeError) Unwrap() error { return ErrPrivilege }

// NeededPrivileges checks an effective set against what the tracer needs:
// CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN (which also covers kernels older
// than 5.8, where the two did not exist). It returns the missing ones.
func NeededPrivileges(eff capset.Set) capset.Set {
	if eff.Has(capset.SYS_ADMIN) {
		return capset.Empty
	}
	return capset.Of(capset.BPF, capset.PERFMON).Minus(eff)
}
