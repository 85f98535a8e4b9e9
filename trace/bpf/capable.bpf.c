// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * capdrop's capability-check tracer.
 *
 * Every capability check ends in the commoncap cap_capable(). This object has
 * one program per way of hooking it — the capability:cap_capable tracepoint
 * (Linux >= 6.14) as tp_btf or raw_tp, fexit on cap_capable, kprobe +
 * kretprobe on cap_capable — and user space loads exactly one of them, the
 * first its feature probes accept. All of them feed record() below.
 *
 * Only checks made by tracked tasks are recorded. A task becomes tracked when
 * it execs as a "root" (in a mount namespace other than its parent's, or in
 * the target mount namespace), or when a tracked task forks it; it stops
 * being tracked when it exits. So a container runtime's own init, which runs
 * in the container's namespaces with full capabilities until it execs the
 * entrypoint, is never counted: counting starts at that exec.
 *
 * Checks are aggregated in the kernel: a per-CPU hash counts checks per key
 * (root mount namespace, capability, verdict, syscall, command, flags), and
 * only a key's first check sends an event to user space. Map overflow and
 * lost events are counted, never dropped silently.
 */
#include "kernel.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char _license[] SEC("license") = "Dual MIT/GPL";

#define CACHE_SLOTS 256 /* entries of the per-CPU count cache */

#define CAP_OPT_NOAUDIT (1 << 1)
#define CAP_OPT_INSETID (1 << 2)

#define CAP_FSETID 4
#define CAP_SETGID 6
#define CAP_SETUID 7
#define CAP_SETPCAP 8
#define CAP_SYS_ADMIN 21

/* capset(2) header versions: version 1 carries one 32-bit word per set,
 * versions 2 and 3 two. */
#define CAPSET_V1 0x19980330

/* Syscall numbers the classification needs, per architecture. */
#if defined(__TARGET_ARCH_x86)
#define NR_SETUID 105
#define NR_SETGID 106
#define NR_SETREUID 113
#define NR_SETREGID 114
#define NR_SETRESUID 117
#define NR_SETRESGID 119
#define NR_SETFSUID 122
#define NR_SETFSGID 123
#define NR_CHMOD 90
#define NR_FCHMOD 91
#define NR_FCHMODAT 268
#define NR_CAPSET 126
#elif defined(__TARGET_ARCH_arm64)
#define NR_SETREGID 143
#define NR_SETGID 144
#define NR_SETREUID 145
#define NR_SETUID 146
#define NR_SETRESUID 147
#define NR_SETRESGID 149
#define NR_SETFSUID 151
#define NR_SETFSGID 152
#define NR_CHMOD -100 /* arm64 has only fchmodat */
#define NR_FCHMOD 52
#define NR_FCHMODAT 53
#define NR_CAPSET 91
#endif
#define NR_FCHMODAT2 452

/* Flags of a key. Keep in sync with trace.Flag. */
enum flag {
	F_OPTS_KNOWN = 1 << 0,  /* the mechanism sees cap_capable's opts */
	F_NOAUDIT = 1 << 1,     /* CAP_OPT_NOAUDIT: an advisory probe */
	F_INSETID = 1 << 2,     /* CAP_OPT_INSETID */
	F_OTHER_CRED = 1 << 3,  /* the checked cred is not the task's own (real_cred) */
	F_COMPAT = 1 << 4,      /* a 32-bit (ia32) syscall */
	F_NO_SYSCALL = 1 << 5,  /* not in a syscall, or the frame is unknown */
	F_SAME_ID = 1 << 6,     /* set*id to ids the task already has */
	F_VM_PROBE = 1 << 7,    /* called from the overcommit accounting */
	F_NO_SGID = 1 << 8,     /* CAP_FSETID asked by a chmod whose mode has no setgid bit */
	F_NO_STACK = 1 << 9,    /* the kernel stack could not be read to look for the overcommit probe */
	F_CAPSET_INH = 1 << 10, /* CAP_SETPCAP asked by capset whose new inheritable set is within the old inheritable and permitted sets */
};

/* Counters. Keep in sync with trace.Counters. */
enum counter {
	C_COUNTS_FULL,  /* checks not counted: the counts map was full */
	C_EVENTS_LOST,  /* first-seen or root events the ring buffer dropped */
	C_TRACK_FULL,   /* tasks not followed: the tracked map was full */
	C_ARGS_FULL,    /* kprobe entries lost: the args map was full */
	C_ROOTS_FULL,   /* roots not recorded: the roots map was full */
	C_GAINS_FULL,   /* capset or exec gains not recorded: the gains map was full */
	C_MAX,
};

enum event_type {
	EV_KEY = 1,
	EV_ROOT = 2,
};

struct key {
	__u64 cgroup;   /* the root's workload_id: its mount namespace's own id, else its cgroup (v2) id */
	__u32 mntns;    /* mount namespace inode of the root task at its exec */
	__s32 syscall;  /* syscall number (x86_64, or ia32 with F_COMPAT), -1 */
	__u8 cap;
	__u8 denied;
	__u16 flags;
	__u32 tag;      /* the session: see session_tag (0 unless tag_sessions) */
	char comm[16];
};

struct task_info {
	__u64 cgroup;
	__u32 mntns;
	__u32 root;     /* tgid of the root task */
	char comm[16];  /* the command, as of the task's last exec */
	__u64 amb0;     /* the root's ambient set at its exec: what the runtime gave */
	__u32 tag;      /* the root's session tag */
	__u32 pad;
};

/* Capabilities the workload keeps or gains without a cap_capable check:
 * what a capset(2) asks for (cap_capset() compares the new sets with the
 * old by subset tests), and what an execve gives a process that is not
 * root (file capabilities, and ambient capabilities raised by prctl). */
enum gain_source {
	G_CAPSET = 1,
	G_EXEC = 2,
};

struct gain_key {
	__u64 cgroup;
	__u32 mntns;
	__u8 source;   /* enum gain_source */
	__u8 failed;   /* a capset that cap_capset refused */
	__u8 root;     /* a capset by a task whose effective uid was 0 */
	__u8 pad;
	char comm[16];
	__u32 tag;
	__u32 pad2;
};

struct gain {
	__u64 caps;    /* capset: effective | permitted | inheritable asked for; exec: gained */
	__u64 lacking; /* a refused capset: what the task lacked for it */
	__u64 count;
};

/* The arguments of a root's exec kept for its session: the first
 * ARGS_MAX - 1 bytes of its argument area ("arg0\0arg1\0..."). */
#define ARGS_MAX 256 /* the mask in session_tag is ARGS_MAX - 1 */

struct root {
	__u32 pid;
	__u32 ppid;
	__u32 mntns;
	__u32 tag;     /* the session tag (0 unless tag_sessions) */
	__u64 cgroup;
	char comm[16];
	char cgroup_name[128]; /* leaf name of the task's memory cgroup */
	char cgroup_parent[128]; /* its parent's name (a Pod's cgroup, for the kubelet's) */
	__u32 args_len;        /* the length of the whole argument area */
	__u32 pad;
	char args[ARGS_MAX];   /* its first ARGS_MAX bytes (with tag_sessions) */
};

/* Ring-buffer records: a key seen for the first time, or a new root. */
struct key_event {
	__u32 type; /* EV_KEY */
	__u32 pid;
	struct key key;
};

struct root_event {
	__u32 type; /* EV_ROOT */
	__u32 pid;
	struct root root;
};

struct settings {
	__u32 target_mntns;     /* when set: only roots in it, only its checks */
	__u32 follow_new_mntns; /* before a target is known: any new-mntns exec */
	__u32 tag_sessions;     /* tag each root's session (see session_tag) */
	__u32 key_memcg;        /* key by the root's memory cgroup (see add_root) */
};

struct args {
	__u64 cred; /* const struct cred * */
	__s32 cap;
	__u32 opts;
};

/* A capset between the kprobe and the kretprobe on cap_capset. */
struct capset_args {
	__u64 caps;
	__u64 lacking;
	__u64 root;
};

/* Set by the loader before loading. */
volatile const __u64 vm_probe_lo = 0;  /* [lo, hi): security_vm_enough_memory_mm */
volatile const __u64 vm_probe_hi = 0;
volatile const __u64 vm_probe2_lo = 0; /* [lo, hi): cap_vm_enough_memory */
volatile const __u64 vm_probe2_hi = 0;
volatile const __u32 cache_mask = CACHE_SLOTS - 1; /* slots used: a power of two <= CACHE_SLOTS, minus one */
volatile const __u64 thread_size = 16384; /* x86_64 THREAD_SIZE, for kernels without bpf_task_pt_regs */

/* Tracked tasks. Every capability check asks whether its task is tracked,
 * so the answer must be cheap: a direct-mapped array indexed by the low bits
 * of the tid (an array lookup the verifier inlines: no helper call, no
 * hashing) holds each tracked task, and only a task whose slot is held by
 * another live tracked task goes to the hash map tracked, with the slot
 * marked so lookups of its other tids consult the hash. */
#define TRACK_SLOTS 65536

struct track_slot {
	__u32 tid;      /* 0: free */
	__u32 overflow; /* some tid of this slot may be in the tracked hash */
	struct task_info info;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TRACK_SLOTS);
	__type(key, __u32);            /* tid & (TRACK_SLOTS - 1) */
	__type(value, struct track_slot);
} track_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);            /* tid */
	__type(value, struct task_info);
} tracked SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct key);
	__type(value, __u64);
} counts SEC(".maps");

/* A per-CPU direct-mapped cache in front of counts. A repeated key, the
 * common case in a loop, costs an array index and a compare instead of a
 * hash lookup. A slot only ever holds a key already in counts (its first
 * check went through counts); its n is the checks counted since, flushed
 * into counts when the slot is taken by another key, and added by user
 * space (Records) for slots still holding counts when it reads. */
struct slot {
	struct key k;
	__u64 n;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CACHE_SLOTS);
	__type(key, __u32);
	__type(value, struct slot);
} cache SEC(".maps");

/* Reading counts and cache is two steps, and a slot flushed in between
 * would move its checks from a part not yet read into one already read:
 * lost to that read, or counted twice in the other order. So a slot
 * changes key only inside a per-CPU sequence count (odd while it
 * changes), by which user space sees whether its read was torn and reads
 * again; and while user space reads, cache_ctl's frozen makes a new key
 * go straight to counts without taking a slot, so the read settles. */
struct cache_seq {
	__u64 seq;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cache_seq);
} cache_seqs SEC(".maps");

struct cache_ctl {
	__u32 frozen;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cache_ctl);
} cache_ctls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);            /* root tgid */
	__type(value, struct root);
} roots SEC(".maps");

/* Room to build a root event in (too big for the stack). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct root_event);
} root_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, C_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct settings);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);            /* tid, between kprobe and kretprobe */
	__type(value, struct args);
} pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct gain_key);
	__type(value, struct gain);
} gains SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);            /* tid, between kprobe and kretprobe on cap_capset */
	__type(value, struct capset_args);
} pending_capset SEC(".maps");

/* Unused pointers so bpf2go emits Go types for these structs. */
const struct key_event *unused_key_event __attribute__((unused));
const struct root_event *unused_root_event __attribute__((unused));
const struct settings *unused_config __attribute__((unused));
const struct slot *unused_slot __attribute__((unused));
const struct track_slot *unused_track_slot __attribute__((unused));
const struct gain_key *unused_gain_key __attribute__((unused));
const struct gain *unused_gain __attribute__((unused));
const struct cache_seq *unused_cache_seq __attribute__((unused));
const struct cache_ctl *unused_cache_ctl __attribute__((unused));

/* The task's user register frame, read through a pointer the verifier
 * does not type (kernels before 5.15): field by field with probe reads. */
#if defined(__TARGET_ARCH_x86)
#define REG(regs, field) ({ __u64 __v = 0; bpf_probe_read_kernel(&__v, sizeof(__v), &(regs)->field); __v; })
/* The syscall's arguments: rdi, rsi, rdx. */
#define ARG0(regs) REG(regs, di)
#define ARG1(regs) REG(regs, si)
#define ARG2(regs) REG(regs, dx)
#else
#define REG(regs, field) ({ __u64 __v = 0; bpf_core_read(&__v, sizeof(__v), &(regs)->field); __v; })
/* The syscall's arguments: x0, x1, x2 (x0 is overwritten only on return). */
#define ARG0(regs) REG(regs, regs[0])
#define ARG1(regs) REG(regs, regs[1])
#define ARG2(regs) REG(regs, regs[2])
#endif

static __always_inline void count(__u32 c)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &c);
	if (v)
		(*v)++;
}

static __always_inline struct track_slot *track_slot_of(__u32 tid)
{
	__u32 i = tid & (TRACK_SLOTS - 1);
	return bpf_map_lookup_elem(&track_slots, &i);
}

/* tracked_get returns the task's info when it is tracked. */
static __always_inline struct task_info *tracked_get(__u32 tid)
{
	struct track_slot *s = track_slot_of(tid);
	if (!s)
		return 0;
	if (s->tid == tid)
		return &s->info;
	if (!s->overflow)
		return 0;
	return bpf_map_lookup_elem(&tracked, &tid);
}

/* tracked_put tracks a task: in its slot when the slot is free or its own,
 * else in the hash. 0 on success. */
static __always_inline long tracked_put(__u32 tid, const struct task_info *ti)
{
	struct track_slot *s = track_slot_of(tid);
	if (!s)
		return -1;
	if (s->tid == 0 || s->tid == tid) {
		if (s->overflow)
			bpf_map_delete_elem(&tracked, &tid); /* never in both */
		s->info = *ti;
		asm volatile("" ::: "memory"); /* the info before the tid that makes it visible */
		s->tid = tid;
		return 0;
	}
	s->overflow = 1;
	return bpf_map_update_elem(&tracked, &tid, ti, BPF_ANY);
}

/* tracked_del stops tracking a task. */
static __always_inline void tracked_del(__u32 tid)
{
	struct track_slot *s = track_slot_of(tid);
	if (!s)
		return;
	if (s->tid == tid)
		s->tid = 0;
	else if (s->overflow)
		bpf_map_delete_elem(&tracked, &tid);
}

static __always_inline struct settings *cfg(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&config, &zero);
}

/* The task's user register frame before 5.15 (no bpf_task_pt_regs):
 * task_pt_regs() is the top of the task's kernel stack (neither x86_64 nor
 * arm64 pads above it). The user-mode check in frame() rejects a wrong
 * guess instead of reporting a wrong syscall. */
static __always_inline struct pt_regs *user_regs_fallback(struct task_struct *task)
{
	void *stack = BPF_CORE_READ(task, stack);
	if (!stack)
		return 0;
#if defined(__TARGET_ARCH_x86)
	return (struct pt_regs *)(stack + thread_size) - 1;
#else
	return (struct pt_regs *)(stack + thread_size - bpf_core_type_size(struct pt_regs));
#endif
}

/* Where the task is: in a native syscall (returns 0), a 32-bit compat one
 * (1), or neither (-1); *nr is the syscall number. frame_btf reads a frame
 * from bpf_task_pt_regs with plain loads, frame_probe one from the
 * fallback with probe reads. */
#if defined(__TARGET_ARCH_x86)
static __always_inline int frame_of(__u64 cs, __u64 orig, __s32 *nr)
{
	*nr = (__s32)orig;
	if ((cs & 0xffff) == 0x33)
		return 0;
	if ((cs & 0xffff) == 0x23)
		return 1;
	return -1;
}
static __always_inline int frame_btf(struct pt_regs *regs, __s32 *nr)
{
	return frame_of(regs->cs, regs->orig_ax, nr);
}
static __always_inline int frame_probe(struct pt_regs *regs, __s32 *nr)
{
	return frame_of(REG(regs, cs), REG(regs, orig_ax), nr);
}
#else
/* pstate: mode bits 0-3 are 0 (EL0t) for user mode; bit 4 is AArch32.
 * syscallno is -1 outside a syscall. */
static __always_inline int frame_of(__u64 pstate, __s32 no, __s32 *nr)
{
	*nr = no;
	if (no < 0 || (pstate & 0xf) != 0)
		return -1;
	return (pstate & 0x10) ? 1 : 0;
}
static __always_inline int frame_btf(struct pt_regs *regs, __s32 *nr)
{
	return frame_of(regs->pstate, regs->syscallno, nr);
}
static __always_inline int frame_probe(struct pt_regs *regs, __s32 *nr)
{
	__s32 no = -1;
	bpf_core_read(&no, sizeof(no), &regs->syscallno);
	return frame_of(REG(regs, pstate), no, nr);
}
#endif

static __always_inline bool id_noop(__u32 r, __u32 e, __u32 s, __u32 fs,
				    __u64 a0, __u64 a1, __u64 a2, int nargs)
{
	/* A set*id call that cannot change anything: all the task's ids are
	 * the same and every id argument is that id or -1. */
	if (r != e || r != s || r != fs)
		return false;
	if ((__u32)a0 != r && (__u32)a0 != (__u32)-1)
		return false;
	if (nargs > 1 && (__u32)a1 != r && (__u32)a1 != (__u32)-1)
		return false;
	if (nargs > 2 && (__u32)a2 != r && (__u32)a2 != (__u32)-1)
		return false;
	return true;
}

static __always_inline bool same_id(const struct cred *cred, int cap, int nr, struct pt_regs *regs)
{
	__u64 a0, a1, a2;
	int n;
	bool uid;

	switch (nr) {
	case NR_SETUID:
	case NR_SETFSUID:
		n = 1, uid = true;
		break;
	case NR_SETGID:
	case NR_SETFSGID:
		n = 1, uid = false;
		break;
	case NR_SETREUID:
		n = 2, uid = true;
		break;
	case NR_SETREGID:
		n = 2, uid = false;
		break;
	case NR_SETRESUID:
		n = 3, uid = true;
		break;
	case NR_SETRESGID:
		n = 3, uid = false;
		break;
	default:
		return false;
	}
	a0 = ARG0(regs);
	a1 = ARG1(regs);
	a2 = ARG2(regs);
	if (cap == CAP_SETUID && uid)
		return id_noop(BPF_CORE_READ(cred, uid.val), BPF_CORE_READ(cred, euid.val),
			       BPF_CORE_READ(cred, suid.val), BPF_CORE_READ(cred, fsuid.val), a0, a1, a2, n);
	if (cap == CAP_SETGID && !uid)
		return id_noop(BPF_CORE_READ(cred, gid.val), BPF_CORE_READ(cred, egid.val),
			       BPF_CORE_READ(cred, sgid.val), BPF_CORE_READ(cred, fsgid.val), a0, a1, a2, n);
	return false;
}

/* chmod asks CAP_FSETID whenever the caller is not in the file's group, but
 * the answer only matters when the new mode has the setgid bit. */
static __always_inline bool chmod_without_sgid(int nr, struct pt_regs *regs)
{
	__u64 mode;

	switch (nr) {
	case NR_CHMOD:  /* chmod(path, mode) */
	case NR_FCHMOD: /* fchmod(fd, mode) */
		mode = ARG1(regs);
		break;
	case NR_FCHMODAT:  /* fchmodat(dfd, path, mode) */
	case NR_FCHMODAT2: /* fchmodat2(dfd, path, mode, flags) */
		mode = ARG2(regs);
		break;
	default:
		return false;
	}
	return !(mode & 02000);
}

static __always_inline __u64 cred_caps(const kernel_cap_t *p)
{
	__u64 v = 0;
	bpf_probe_read_kernel(&v, sizeof(v), p);
	return v;
}

/* gain records capabilities a tracked task kept or gained without a
 * cap_capable check. */
static __always_inline void gain(const struct task_info *ti, __u8 source, bool failed, bool root,
				 __u64 caps, __u64 lacking)
{
	struct gain_key k;
	__builtin_memset(&k, 0, sizeof(k));
	k.cgroup = ti->cgroup;
	k.mntns = ti->mntns;
	k.tag = ti->tag;
	k.source = source;
	k.failed = failed;
	k.root = root;
	__builtin_memcpy(k.comm, ti->comm, sizeof(k.comm));
	struct gain *g = bpf_map_lookup_elem(&gains, &k);
	if (!g) {
		struct gain zero = {};
		bpf_map_update_elem(&gains, &k, &zero, BPF_NOEXIST);
		g = bpf_map_lookup_elem(&gains, &k);
		if (!g) {
			count(C_GAINS_FULL);
			return;
		}
	}
	g->caps |= caps;
	g->lacking |= lacking;
	g->count++;
}

/* capset_lacking returns what a capset(E, P, I) lacks to pass cap_capset's
 * tests against the old credentials (0: it passes). capped is whether
 * cap_capable(CAP_SETPCAP) refused. */
static __always_inline __u64 capset_lacking(const struct cred *old, __u64 e, __u64 p, __u64 i, bool capped)
{
	__u64 oi = cred_caps(&old->cap_inheritable), op = cred_caps(&old->cap_permitted),
	      ob = cred_caps(&old->cap_bset);
	__u64 lack = (p & ~op) | (e & ~p) | (i & ~(oi | ob));
	if (capped && (i & ~(oi | op)))
		lack |= 1ULL << CAP_SETPCAP;
	return lack;
}

/* capset_user reads the sets a capset(2) in progress asks for from its
 * user-space arguments (header, data). */
static __always_inline bool capset_user(struct pt_regs *regs, __u64 *e, __u64 *p, __u64 *i)
{
	__u32 hdr[2] = {}, data[6] = {};
	void *h = (void *)ARG0(regs), *d = (void *)ARG1(regs);
	if (bpf_probe_read_user(hdr, sizeof(hdr), h))
		return false;
	int words = hdr[0] == CAPSET_V1 ? 1 : 2;
	if (bpf_probe_read_user(data, words == 1 ? 12 : 24, d))
		return false;
	*e = data[0];
	*p = data[1];
	*i = data[2];
	if (words == 2) {
		*e |= (__u64)data[3] << 32;
		*p |= (__u64)data[4] << 32;
		*i |= (__u64)data[5] << 32;
	}
	return true;
}

#define VM_PROBE_FRAMES 12

/* vm_probe looks for the overcommit accounting among the callers on the
 * kernel stack: 1 found, 0 not there, -1 the stack could not be read (the
 * helper's per-CPU callchain buffers are in use, e.g. by a perf session
 * sampling on this CPU). Between the tracepoint and its caller sit the BPF
 * program, bpf_trace_run and the tracepoint's own frames, so look deep
 * enough. */
static __always_inline int vm_probe(void *ctx)
{
	__u64 ips[VM_PROBE_FRAMES] = {};
	long n;

	if (!vm_probe_lo && !vm_probe2_lo)
		return 0;
	n = bpf_get_stack(ctx, ips, sizeof(ips), 0);
	if (n <= 0)
		return -1;
#pragma unroll
	for (int i = 0; i < VM_PROBE_FRAMES; i++) {
		if (ips[i] >= vm_probe_lo && ips[i] < vm_probe_hi)
			return 1;
		if (ips[i] >= vm_probe2_lo && ips[i] < vm_probe2_hi)
			return 1;
	}
	return 0;
}

static __always_inline __u32 slot_of(const struct key *k)
{
	const __u64 *w = (const __u64 *)k;
	__u64 h = w[0] ^ (w[1] * 0x9E3779B97F4A7C15ULL) ^ (w[2] * 0xC2B2AE3D27D4EB4FULL) ^ w[3] ^ (w[4] << 1);
	h ^= h >> 29;
	h *= 0xBF58476D1CE4E5B9ULL;
	h ^= h >> 32;
	return (__u32)h & cache_mask & (CACHE_SLOTS - 1);
}

static __always_inline bool same_key(const struct key *a, const struct key *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;
	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3] && x[4] == y[4];
}

/* flush moves a slot's counts into the counts map. */
static __always_inline void flush(struct slot *s)
{
	if (!s->n)
		return;
	__u64 *v = bpf_map_lookup_elem(&counts, &s->k);
	if (v)
		*v += s->n;
	else
		count(C_COUNTS_FULL);
	s->n = 0;
}

/* take gives slot s to key k (already in counts), flushing the key it
 * held, inside the CPU's sequence count; not while user space reads. */
static __always_inline void take(struct slot *s, const struct key *k)
{
	__u32 zero = 0;
	struct cache_ctl *ctl = bpf_map_lookup_elem(&cache_ctls, &zero);
	if (!ctl || ctl->frozen)
		return;
	struct cache_seq *q = bpf_map_lookup_elem(&cache_seqs, &zero);
	if (!q)
		return;
	__sync_fetch_and_add(&q->seq, 1); /* odd: the slot is changing */
	flush(s);
	s->k = *k;
	__sync_fetch_and_add(&q->seq, 1);
}

/* record counts one capability check of the current task. */
static __always_inline int record(void *ctx, const struct cred *cred, int cap, int ret,
				  __u32 opts, bool opts_known)
{
	/* On >= 5.15 the task is read through its BTF pointer, which gives
	 * the tid too: one helper call where the tid and the task took two.
	 * Most checks are not a tracked task's and end at tracked_get. */
	struct task_struct *bt = 0;
	__u32 tid;
	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_task_pt_regs)) {
		bt = bpf_get_current_task_btf();
		tid = bt->pid;
	} else {
		tid = (__u32)bpf_get_current_pid_tgid();
	}
	struct task_info *ti = tracked_get(tid);
	if (!ti)
		return 0;
	struct settings *c = cfg();
	if (c && c->target_mntns && ti->mntns != c->target_mntns)
		return 0;

	struct key k;
	__builtin_memset(&k, 0, sizeof(k));
	k.cgroup = ti->cgroup;
	k.mntns = ti->mntns;
	k.tag = ti->tag;
	k.cap = cap;
	k.denied = ret != 0;
	if (opts_known) {
		k.flags |= F_OPTS_KNOWN;
		if (opts & CAP_OPT_NOAUDIT)
			k.flags |= F_NOAUDIT;
		if (opts & CAP_OPT_INSETID)
			k.flags |= F_INSETID;
	}

	/* The task's own credentials are its real_cred. While overlayfs acts
	 * as its mounter (override_creds), current->cred is the mounter's and
	 * differs from real_cred; file_ns_capable passes the opener's cred.
	 * Either way the check is not about the task's own capabilities. */
	const struct cred *real, *eff;
	struct pt_regs *regs;
	int mode = -1;
	__s32 nr = -1;
	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_task_pt_regs)) {
		/* >= 5.15: BTF pointers, read with plain loads. */
		struct task_struct *t = bt;
		real = t->real_cred;
		eff = t->cred;
		regs = (struct pt_regs *)bpf_task_pt_regs(t);
		mode = frame_btf(regs, &nr);
	} else {
		struct task_struct *t = (struct task_struct *)bpf_get_current_task();
		real = BPF_CORE_READ(t, real_cred);
		eff = BPF_CORE_READ(t, cred);
		regs = user_regs_fallback(t);
		if (regs)
			mode = frame_probe(regs, &nr);
	}
	if (real != cred || eff != cred)
		k.flags |= F_OTHER_CRED;
	if (mode == 0) {
		k.syscall = nr;
	} else if (mode == 1) {
		k.syscall = nr;
		k.flags |= F_COMPAT;
	} else {
		k.syscall = -1;
		k.flags |= F_NO_SYSCALL;
	}
	if ((cap == CAP_SETUID || cap == CAP_SETGID) && mode == 0 && !(k.flags & F_OTHER_CRED) &&
	    same_id(cred, cap, k.syscall, regs))
		k.flags |= F_SAME_ID;
	if (cap == CAP_FSETID && mode == 0 && chmod_without_sgid(k.syscall, regs))
		k.flags |= F_NO_SGID;
	/* cap_capset() asks CAP_SETPCAP on every capset, but the answer only
	 * matters when the new inheritable set is not within the old
	 * inheritable and permitted sets. The tracepoint's mechanisms also
	 * take the capset itself from here (fexit and kprobe hook
	 * cap_capset). */
	if (cap == CAP_SETPCAP && mode == 0 && k.syscall == NR_CAPSET && !(k.flags & F_OTHER_CRED)) {
		__u64 e, p, i;
		if (capset_user(regs, &e, &p, &i)) {
			__u64 oi = cred_caps(&cred->cap_inheritable), op = cred_caps(&cred->cap_permitted);
			if (!(i & ~(oi | op)))
				k.flags |= F_CAPSET_INH;
			if (!opts_known) {
				__u64 lack = capset_lacking(cred, e, p, i, ret != 0);
				gain(ti, G_CAPSET, lack != 0, BPF_CORE_READ(cred, euid.val) == 0, e | p | i, lack);
			}
		}
	}
	if (cap == CAP_SYS_ADMIN && !opts_known) {
		int vm = vm_probe(ctx);
		if (vm > 0)
			k.flags |= F_VM_PROBE;
		else if (vm < 0)
			k.flags |= F_NO_STACK;
	}
	__builtin_memcpy(k.comm, ti->comm, sizeof(k.comm));

	__u32 idx = slot_of(&k);
	struct slot *s = bpf_map_lookup_elem(&cache, &idx);
	if (s && same_key(&s->k, &k)) {
		s->n++;
		return 0;
	}

	__u64 *v = bpf_map_lookup_elem(&counts, &k);
	if (v) {
		(*v)++;
		goto cached;
	}
	__u64 one = 1;
	long err = bpf_map_update_elem(&counts, &k, &one, BPF_NOEXIST);
	if (err) {
		/* Another CPU may have inserted the key meanwhile. */
		v = bpf_map_lookup_elem(&counts, &k);
		if (v) {
			(*v)++;
			goto cached;
		}
		count(C_COUNTS_FULL);
		return 0;
	}
	if (s)
		take(s, &k);
	struct key_event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		count(C_EVENTS_LOST);
		return 0;
	}
	ev->type = EV_KEY;
	ev->pid = tid;
	__builtin_memcpy(&ev->key, &k, sizeof(k));
	bpf_ringbuf_submit(ev, 0);
	return 0;

cached:
	/* The key is in counts: let the slot hold it from now on. */
	if (s)
		take(s, &k);
	return 0;
}

/* --- The capability:cap_capable tracepoint (Linux >= 6.14): no opts. --- */

SEC("tp_btf/cap_capable")
int BPF_PROG(cap_tp_btf, const struct cred *cred, struct user_namespace *target_ns,
	     const struct user_namespace *capable_ns, int cap, int ret)
{
	return record(ctx, cred, cap, ret, 0, false);
}

SEC("raw_tp/cap_capable")
int BPF_PROG(cap_raw_tp, const struct cred *cred, struct user_namespace *target_ns,
	     const struct user_namespace *capable_ns, int cap, int ret)
{
	return record(ctx, cred, cap, ret, 0, false);
}

/* --- fexit on cap_capable(cred, targ_ns, cap, opts) (Linux >= 5.5). --- */

SEC("fexit/cap_capable")
int BPF_PROG(cap_fexit, const struct cred *cred, struct user_namespace *targ_ns, int cap,
	     unsigned int opts, int ret)
{
	return record(ctx, cred, cap, ret, opts, true);
}

/* --- kprobe + kretprobe on cap_capable. --- */

SEC("kprobe/cap_capable")
int BPF_KPROBE(cap_kprobe, const struct cred *cred, struct user_namespace *targ_ns, int cap,
	       unsigned int opts)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	if (!tracked_get(tid))
		return 0;
	struct args a = {.cred = (__u64)cred, .cap = cap, .opts = opts};
	if (bpf_map_update_elem(&pending, &tid, &a, BPF_ANY))
		count(C_ARGS_FULL);
	return 0;
}

SEC("kretprobe/cap_capable")
int BPF_KRETPROBE(cap_kretprobe, int ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	/* Most checks are not a tracked task's: the inlined array lookup
	 * says so without the hash lookup of pending. */
	if (!tracked_get(tid))
		return 0;
	struct args *a = bpf_map_lookup_elem(&pending, &tid);
	if (!a)
		return 0;
	struct args copy = *a;
	bpf_map_delete_elem(&pending, &tid);
	return record(ctx, (const struct cred *)copy.cred, copy.cap, ret, copy.opts, true);
}

/* --- cap_capset(new, old, effective, inheritable, permitted): what a
 * capset(2) asks for, for fexit and kprobe (the tracepoint's mechanisms take
 * it from the CAP_SETPCAP check capset makes; see record). --- */

static __always_inline struct task_info *tracked_target(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct task_info *ti = tracked_get(tid);
	if (!ti)
		return 0;
	struct settings *c = cfg();
	if (c && c->target_mntns && ti->mntns != c->target_mntns)
		return 0;
	return ti;
}

SEC("fexit/cap_capset")
int BPF_PROG(capset_fexit, struct cred *new, const struct cred *old, const kernel_cap_t *effective,
	     const kernel_cap_t *inheritable, const kernel_cap_t *permitted, int ret)
{
	struct task_info *ti = tracked_target();
	if (!ti)
		return 0;
	__u64 e = cred_caps(effective), p = cred_caps(permitted), i = cred_caps(inheritable);
	__u64 lack = 0;
	if (ret) {
		/* Whether CAP_SETPCAP was refused is not known here: count a
		 * growing inheritable set as lacking it only when the rest passes. */
		lack = capset_lacking(old, e, p, i, false);
		if (!lack)
			lack = 1ULL << CAP_SETPCAP;
	}
	gain(ti, G_CAPSET, ret != 0, BPF_CORE_READ(old, euid.val) == 0, e | p | i, lack);
	return 0;
}

SEC("kprobe/cap_capset")
int BPF_KPROBE(capset_kprobe, struct cred *new, const struct cred *old, const kernel_cap_t *effective,
	       const kernel_cap_t *inheritable, const kernel_cap_t *permitted)
{
	if (!tracked_target())
		return 0;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 e = cred_caps(effective), p = cred_caps(permitted), i = cred_caps(inheritable);
	struct capset_args a = {.caps = e | p | i, .lacking = capset_lacking(old, e, p, i, false),
				.root = BPF_CORE_READ(old, euid.val) == 0};
	if (bpf_map_update_elem(&pending_capset, &tid, &a, BPF_ANY))
		count(C_ARGS_FULL);
	return 0;
}

SEC("kretprobe/cap_capset")
int BPF_KRETPROBE(capset_kretprobe, int ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct capset_args *a = bpf_map_lookup_elem(&pending_capset, &tid);
	if (!a)
		return 0;
	struct capset_args copy = *a;
	bpf_map_delete_elem(&pending_capset, &tid);
	struct task_info *ti = tracked_target();
	if (!ti)
		return 0;
	if (ret && !copy.lacking)
		copy.lacking = 1ULL << CAP_SETPCAP;
	gain(ti, G_CAPSET, ret != 0, copy.root, copy.caps, ret ? copy.lacking : 0);
	return 0;
}

/* --- Following the tasks of interest. --- */

static __always_inline __u32 mntns_of(struct task_struct *t)
{
	return BPF_CORE_READ(t, nsproxy, mnt_ns, ns.inum);
}

/* Session tags. A root whose pid in its own pid namespace is 1 is a
 * container's entrypoint: TAG_INIT. Any other root (an exec into the
 * container: a probe, a hook, `kubectl exec`) is tagged with the FNV-1a
 * hash of the first ARGS_MAX - 1 bytes of its arguments, moved above TAG_INIT,
 * so every exec of the same command line shares a tag (user space hashes
 * a probe's command the same way to know it). */
#define TAG_INIT 1

static __always_inline __u32 vpid_of(struct task_struct *p)
{
	struct pid *pid = BPF_CORE_READ(p, thread_pid);
	if (!pid)
		return 0;
	unsigned int level = BPF_CORE_READ(pid, level);
	if (level > 32)
		return 0;
	int nr = 0;
	bpf_core_read(&nr, sizeof(nr), &pid->numbers[level].nr);
	return nr;
}

static __always_inline __u32 session_tag(struct task_struct *p, struct root *r)
{
	struct mm_struct *mm = BPF_CORE_READ(p, mm);
	__u64 start = BPF_CORE_READ(mm, arg_start), end = BPF_CORE_READ(mm, arg_end);
	__u32 len = end > start ? (end - start > 0xffff ? 0xffff : end - start) : 0;
	r->args_len = len;
	/* At most ARGS_MAX - 1 bytes: a mask the verifier can bound. */
	__u32 n = len < ARGS_MAX - 1 ? len : ARGS_MAX - 1;
	/* In asm, so the compiler keeps the mask the verifier needs. */
	asm volatile("%[n] &= 255" : [n] "+r"(n));
	if (n && bpf_probe_read_user(r->args, n, (void *)start))
		n = 0;
	if (vpid_of(p) == 1)
		return TAG_INIT;
	__u32 h = 2166136261u;
	for (int i = 0; i < ARGS_MAX; i++) {
		if (i >= n)
			break;
		h ^= (__u8)r->args[i];
		h *= 16777619u;
	}
	return h <= TAG_INIT ? h + TAG_INIT + 1 : h;
}

static __always_inline void add_root(struct task_struct *p, __u32 tid, struct task_info *ti, bool tag)
{
	__u32 zero = 0;
	struct root_event *ev = bpf_map_lookup_elem(&root_scratch, &zero);
	if (!ev)
		return;
	__builtin_memset(ev, 0, sizeof(*ev));
	ev->type = EV_ROOT;
	ev->pid = tid;
	struct root *r = &ev->root;
	r->pid = tid;
	r->ppid = BPF_CORE_READ(p, real_parent, tgid);
	r->mntns = ti->mntns;
	r->cgroup = ti->cgroup;
	if (tag)
		ti->tag = r->tag = session_tag(p, r);
	struct settings *c = cfg();
	bpf_get_current_comm(r->comm, sizeof(r->comm));
	if (bpf_core_enum_value_exists(enum cgroup_subsys_id, memory_cgrp_id)) {
		int id = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
		struct css_set *cs = BPF_CORE_READ(p, cgroups);
		struct cgroup_subsys_state *css = 0;
		if (cs && id >= 0 && id < 16) {
			bpf_core_read(&css, sizeof(css), &cs->subsys[id]);
			struct kernfs_node *kn = BPF_CORE_READ(css, cgroup, kn);
			const char *name = BPF_CORE_READ(kn, name);
			if (name)
				bpf_probe_read_kernel_str(r->cgroup_name, sizeof(r->cgroup_name), name);
			/* The parent's name tells a kubelet's container (in its
			 * Pod's cgroup, pod<UID>) from another runtime's, where
			 * the node's cgroup hierarchy is not readable. */
			struct kernfs_node *pkn = 0;
			if (bpf_core_field_exists(((struct kernfs_node___rcu *)0)->__parent))
				pkn = BPF_CORE_READ((struct kernfs_node___rcu *)kn, __parent);
			else if (bpf_core_field_exists(((struct kernfs_node___old *)0)->parent))
				pkn = BPF_CORE_READ((struct kernfs_node___old *)kn, parent);
			if (pkn) {
				const char *pname = BPF_CORE_READ(pkn, name);
				if (pname)
					bpf_probe_read_kernel_str(r->cgroup_parent, sizeof(r->cgroup_parent), pname);
			}
			/* With key_memcg the workload is its memory cgroup, by the
			 * id of its kernfs node (never reused): on cgroup v1 the
			 * cgroup v2 id is the same for every container, and a
			 * dead container's mount namespace inode is reused. */
			__u64 id = BPF_CORE_READ(kn, id);
			if (c && c->key_memcg && id)
				ti->cgroup = r->cgroup = id;
		}
	}
	if (bpf_map_update_elem(&roots, &tid, r, BPF_ANY))
		count(C_ROOTS_FULL);
	if (bpf_ringbuf_output(&events, ev, sizeof(*ev), 0))
		count(C_EVENTS_LOST);
}

/* exec_gain records the capabilities an exec gave a tracked task that is
 * not root (neither its real nor its effective uid is 0): file
 * capabilities, and ambient ones the workload raised itself (all but those
 * the runtime gave its root). A process whose real or effective uid is 0
 * gets its capabilities from being root (the kernel's rule for root, which
 * also covers a setuid program run by root), not from the file. */
static __always_inline void exec_gain(const struct task_info *ti, struct task_struct *p)
{
	struct settings *c = cfg();
	if (c && c->target_mntns && ti->mntns != c->target_mntns)
		return;
	const struct cred *cr = BPF_CORE_READ(p, cred);
	if (!cr || BPF_CORE_READ(cr, euid.val) == 0 || BPF_CORE_READ(cr, uid.val) == 0)
		return;
	__u64 gained = cred_caps(&cr->cap_permitted) & ~ti->amb0;
	if (gained)
		gain(ti, G_EXEC, false, false, gained, 0);
}

/* Set in a workload id that is a mount namespace's own id. */
#define ID_MNTNS (1ULL << 63)

/* workload_id tells a root's workload from others with the same mount
 * namespace inode, which the kernel reuses once a namespace dies: the
 * namespace's own id, which it never reuses, marked by ID_MNTNS; on a
 * kernel without one, the task's cgroup (v2) id. (The cgroup id alone is
 * not enough: on a host whose containers use cgroup v1 only, every task
 * is in the v2 root cgroup, and so is every command run outside a
 * container; a workload would take in the checks of an earlier one whose
 * namespace had the same inode.) */
static __always_inline __u64 workload_id(struct task_struct *p)
{
	struct mnt_namespace *ns = BPF_CORE_READ(p, nsproxy, mnt_ns);
	__u64 id = 0;
	if (ns && bpf_core_field_exists(((struct mnt_namespace___id *)0)->ns.ns_id))
		id = BPF_CORE_READ((struct mnt_namespace___id *)ns, ns.ns_id);
	else if (ns && bpf_core_field_exists(((struct mnt_namespace___seq *)0)->seq))
		id = BPF_CORE_READ((struct mnt_namespace___seq *)ns, seq);
	return id ? ID_MNTNS | id : bpf_get_current_cgroup_id();
}

SEC("raw_tp/sched_process_exec")
int BPF_PROG(track_exec, struct task_struct *p, int old_pid, struct linux_binprm *bprm)
{
	__u32 tid = BPF_CORE_READ(p, pid);
	struct task_info *ti = tracked_get(tid);
	if (ti) {
		bpf_get_current_comm(ti->comm, sizeof(ti->comm));
		exec_gain(ti, p);
		return 0;
	}
	if ((__u32)old_pid != tid) {
		/* A non-leader thread exec'd and took the leader's pid. */
		__u32 old = old_pid;
		ti = tracked_get(old);
		if (ti) {
			struct task_info copy = *ti;
			bpf_get_current_comm(copy.comm, sizeof(copy.comm));
			tracked_del(old);
			if (tracked_put(tid, &copy))
				count(C_TRACK_FULL);
			exec_gain(&copy, p);
			return 0;
		}
	}
	struct settings *c = cfg();
	if (!c)
		return 0;
	__u32 mntns = mntns_of(p);
	if (c->target_mntns) {
		if (mntns != c->target_mntns)
			return 0;
	} else if (c->follow_new_mntns) {
		if (mntns == mntns_of(BPF_CORE_READ(p, real_parent)))
			return 0;
	} else {
		return 0;
	}
	struct task_info n = {.cgroup = workload_id(p), .mntns = mntns, .root = tid};
	bpf_get_current_comm(n.comm, sizeof(n.comm));
	const struct cred *cr = BPF_CORE_READ(p, cred);
	if (cr)
		n.amb0 = cred_caps(&cr->cap_ambient);
	/* The tag is known before the task is tracked: its first check
	 * counts under its session. */
	add_root(p, tid, &n, c->tag_sessions != 0);
	if (tracked_put(tid, &n)) {
		count(C_TRACK_FULL);
		return 0;
	}
	exec_gain(&n, p);
	return 0;
}

SEC("raw_tp/sched_process_fork")
int BPF_PROG(track_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptid = (__u32)bpf_get_current_pid_tgid();
	struct task_info *ti = tracked_get(ptid);
	if (!ti)
		return 0;
	struct task_info copy = *ti;
	__u32 ctid = BPF_CORE_READ(child, pid);
	if (tracked_put(ctid, &copy))
		count(C_TRACK_FULL);
	return 0;
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(track_exit, struct task_struct *p)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	tracked_del(tid);
	bpf_map_delete_elem(&pending, &tid);
	bpf_map_delete_elem(&pending_capset, &tid);
	return 0;
}
