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
#define CAP_SYS_ADMIN 21

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
};

/* Counters. Keep in sync with trace.Counters. */
enum counter {
	C_COUNTS_FULL,  /* checks not counted: the counts map was full */
	C_EVENTS_LOST,  /* first-seen or root events the ring buffer dropped */
	C_TRACK_FULL,   /* tasks not followed: the tracked map was full */
	C_ARGS_FULL,    /* kprobe entries lost: the args map was full */
	C_ROOTS_FULL,   /* roots not recorded: the roots map was full */
	C_MAX,
};

enum event_type {
	EV_KEY = 1,
	EV_ROOT = 2,
};

struct key {
	__u64 cgroup;   /* cgroup (v2) id of the root task at its exec */
	__u32 mntns;    /* mount namespace inode of the root task at its exec */
	__s32 syscall;  /* syscall number (x86_64, or ia32 with F_COMPAT), -1 */
	__u8 cap;
	__u8 denied;
	__u16 flags;
	__u32 pad;
	char comm[16];
};

struct task_info {
	__u64 cgroup;
	__u32 mntns;
	__u32 root;     /* tgid of the root task */
	char comm[16];  /* the command, as of the task's last exec */
};

struct root {
	__u32 pid;
	__u32 ppid;
	__u32 mntns;
	__u32 pad;
	__u64 cgroup;
	char comm[16];
	char cgroup_name[128]; /* leaf name of the task's memory cgroup */
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
};

struct args {
	__u64 cred; /* const struct cred * */
	__s32 cap;
	__u32 opts;
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

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);            /* root tgid */
	__type(value, struct root);
} roots SEC(".maps");

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

/* Unused pointers so bpf2go emits Go types for these structs. */
const struct key_event *unused_key_event __attribute__((unused));
const struct root_event *unused_root_event __attribute__((unused));
const struct settings *unused_config __attribute__((unused));
const struct slot *unused_slot __attribute__((unused));
const struct track_slot *unused_track_slot __attribute__((unused));

/* Reads a field of the fixed-layout pt_regs (no relocation). */
#define REG(regs, field) ({ __u64 __v = 0; bpf_probe_read_kernel(&__v, sizeof(__v), &(regs)->field); __v; })

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
 * task_pt_regs() is the top of the task's kernel stack (x86_64 has no
 * padding above it). The cs check in record() rejects a wrong guess instead
 * of reporting a wrong syscall. */
static __always_inline struct pt_regs *user_regs_fallback(struct task_struct *task)
{
	void *stack = BPF_CORE_READ(task, stack);
	if (!stack)
		return 0;
	return (struct pt_regs *)(stack + thread_size) - 1;
}

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

	switch (nr) {
	case 105: /* setuid */
	case 122: /* setfsuid */
	case 106: /* setgid */
	case 123: /* setfsgid */
		n = 1;
		break;
	case 113: /* setreuid */
	case 114: /* setregid */
		n = 2;
		break;
	case 117: /* setresuid */
	case 119: /* setresgid */
		n = 3;
		break;
	default:
		return false;
	}
	a0 = REG(regs, di);
	a1 = REG(regs, si);
	a2 = REG(regs, dx);
	if (cap == CAP_SETUID && (nr == 105 || nr == 122 || nr == 113 || nr == 117))
		return id_noop(BPF_CORE_READ(cred, uid.val), BPF_CORE_READ(cred, euid.val),
			       BPF_CORE_READ(cred, suid.val), BPF_CORE_READ(cred, fsuid.val), a0, a1, a2, n);
	if (cap == CAP_SETGID && (nr == 106 || nr == 123 || nr == 114 || nr == 119))
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
	case 90: /* chmod(path, mode) */
	case 91: /* fchmod(fd, mode) */
		mode = REG(regs, si);
		break;
	case 268: /* fchmodat(dfd, path, mode) */
	case 452: /* fchmodat2(dfd, path, mode, flags) */
		mode = REG(regs, dx);
		break;
	default:
		return false;
	}
	return !(mode & 02000);
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

/* record counts one capability check of the current task. */
static __always_inline int record(void *ctx, const struct cred *cred, int cap, int ret,
				  __u32 opts, bool opts_known)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
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
	__u64 cs = 0, orig = 0;
	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_task_pt_regs)) {
		/* >= 5.15: BTF pointers, read with plain loads (no helper calls). */
		struct task_struct *t = bpf_get_current_task_btf();
		real = t->real_cred;
		eff = t->cred;
		regs = (struct pt_regs *)bpf_task_pt_regs(t);
		cs = regs->cs & 0xffff;
		orig = regs->orig_ax;
	} else {
		struct task_struct *t = (struct task_struct *)bpf_get_current_task();
		real = BPF_CORE_READ(t, real_cred);
		eff = BPF_CORE_READ(t, cred);
		regs = user_regs_fallback(t);
		if (regs) {
			cs = REG(regs, cs) & 0xffff;
			orig = REG(regs, orig_ax);
		}
	}
	if (real != cred || eff != cred)
		k.flags |= F_OTHER_CRED;
	if (cs == 0x33) {
		k.syscall = (__s32)orig;
	} else if (cs == 0x23) {
		k.syscall = (__s32)orig;
		k.flags |= F_COMPAT;
	} else {
		k.syscall = -1;
		k.flags |= F_NO_SYSCALL;
	}
	if ((cap == CAP_SETUID || cap == CAP_SETGID) && cs == 0x33 && !(k.flags & F_OTHER_CRED) &&
	    same_id(cred, cap, k.syscall, regs))
		k.flags |= F_SAME_ID;
	if (cap == CAP_FSETID && cs == 0x33 && chmod_without_sgid(k.syscall, regs))
		k.flags |= F_NO_SGID;
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
	if (s) {
		flush(s);
		s->k = k;
	}
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
	if (s) {
		flush(s);
		s->k = k;
	}
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
	struct args *a = bpf_map_lookup_elem(&pending, &tid);
	if (!a)
		return 0;
	struct args copy = *a;
	bpf_map_delete_elem(&pending, &tid);
	return record(ctx, (const struct cred *)copy.cred, copy.cap, ret, copy.opts, true);
}

/* --- Following the tasks of interest. --- */

static __always_inline __u32 mntns_of(struct task_struct *t)
{
	return BPF_CORE_READ(t, nsproxy, mnt_ns, ns.inum);
}

static __always_inline void add_root(struct task_struct *p, __u32 tid, struct task_info *ti)
{
	struct root r;
	__builtin_memset(&r, 0, sizeof(r));
	r.pid = tid;
	r.ppid = BPF_CORE_READ(p, real_parent, tgid);
	r.mntns = ti->mntns;
	r.cgroup = ti->cgroup;
	bpf_get_current_comm(r.comm, sizeof(r.comm));
	if (bpf_core_enum_value_exists(enum cgroup_subsys_id, memory_cgrp_id)) {
		int id = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
		struct css_set *cs = BPF_CORE_READ(p, cgroups);
		struct cgroup_subsys_state *css = 0;
		if (cs && id >= 0 && id < 16) {
			bpf_core_read(&css, sizeof(css), &cs->subsys[id]);
			const char *name = BPF_CORE_READ(css, cgroup, kn, name);
			if (name)
				bpf_probe_read_kernel_str(r.cgroup_name, sizeof(r.cgroup_name), name);
		}
	}
	if (bpf_map_update_elem(&roots, &tid, &r, BPF_ANY))
		count(C_ROOTS_FULL);
	struct root_event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		count(C_EVENTS_LOST);
		return;
	}
	ev->type = EV_ROOT;
	ev->pid = tid;
	__builtin_memcpy(&ev->root, &r, sizeof(r));
	bpf_ringbuf_submit(ev, 0);
}

SEC("raw_tp/sched_process_exec")
int BPF_PROG(track_exec, struct task_struct *p, int old_pid, struct linux_binprm *bprm)
{
	__u32 tid = BPF_CORE_READ(p, pid);
	struct task_info *ti = tracked_get(tid);
	if (ti) {
		bpf_get_current_comm(ti->comm, sizeof(ti->comm));
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
	struct task_info n = {.cgroup = bpf_get_current_cgroup_id(), .mntns = mntns, .root = tid};
	bpf_get_current_comm(n.comm, sizeof(n.comm));
	if (tracked_put(tid, &n)) {
		count(C_TRACK_FULL);
		return 0;
	}
	add_root(p, tid, &n);
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
	return 0;
}
