/* SPDX-License-Identifier: (MIT OR GPL-2.0) */
/*
 * The few kernel types capable.bpf.c reads, declared by hand instead of a
 * multi-megabyte vmlinux.h. Structs marked preserve_access_index are
 * relocated at load time against the running kernel's BTF (CO-RE), so only
 * field names matter here, never offsets or the order of fields.
 */
#ifndef CAPDROP_KERNEL_H
#define CAPDROP_KERNEL_H

/* Tells libbpf's bpf_tracing.h to use the kernel's pt_regs field names. */
#define __VMLINUX_H__

typedef unsigned char __u8;
typedef signed char __s8;
typedef unsigned short __u16;
typedef short __s16;
typedef unsigned int __u32;
typedef int __s32;
typedef unsigned long long __u64;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef _Bool bool;
#define true 1
#define false 0

enum bpf_map_type {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PERCPU_HASH = 5,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_RINGBUF = 27,
};

enum {
	BPF_ANY = 0,
	BPF_NOEXIST = 1,
	BPF_EXIST = 2,
};

/* Helper IDs are tested with bpf_core_enum_value_exists: the relocation
 * says whether the running kernel knows the helper, and the verifier drops
 * the branch that calls it when it does not. */
enum bpf_func_id {
	BPF_FUNC_task_pt_regs = 175,
};

#if defined(__TARGET_ARCH_x86)
/* x86_64's struct pt_regs: the user-visible register frame, whose layout is
 * fixed ABI (ptrace's user_regs_struct has the same order), so it is read at
 * fixed offsets without relocation. From 6.9 cs and ss sit in unions with
 * the FRED fields; the low 16 bits are the selector either way. */
struct pt_regs {
	unsigned long r15, r14, r13, r12, bp, bx, r11, r10, r9, r8;
	unsigned long ax, cx, dx, si, di, orig_ax, ip, cs, flags, sp, ss;
};
#elif defined(__TARGET_ARCH_arm64)
/* arm64's user-visible frame (kprobe programs see their context as this). */
struct user_pt_regs {
	__u64 regs[31];
	__u64 sp;
	__u64 pc;
	__u64 pstate;
};

/* arm64's kernel struct pt_regs begins with the user frame and then holds
 * the syscall number; the fields after it changed across releases, so it
 * is relocated (CO-RE), and its size comes from the kernel's BTF. */
struct pt_regs {
	union {
		struct user_pt_regs user_regs;
		struct {
			__u64 regs[31];
			__u64 sp;
			__u64 pc;
			__u64 pstate;
		};
	};
	__u64 orig_x0;
	__s32 syscallno;
} __attribute__((preserve_access_index));
#else
#error "capable.bpf.c is built for x86 and arm64 only"
#endif

typedef struct { unsigned int val; } kuid_t;
typedef struct { unsigned int val; } kgid_t;

/* A capability set: a u64 from 6.3, two u32 (low word first) before; read
 * as 8 bytes either way (both architectures are little-endian). */
typedef struct { __u64 val; } kernel_cap_t;

struct cred {
	kuid_t uid;
	kgid_t gid;
	kuid_t suid;
	kgid_t sgid;
	kuid_t euid;
	kgid_t egid;
	kuid_t fsuid;
	kgid_t fsgid;
	kernel_cap_t cap_inheritable;
	kernel_cap_t cap_permitted;
	kernel_cap_t cap_effective;
	kernel_cap_t cap_bset;
	kernel_cap_t cap_ambient;
} __attribute__((preserve_access_index));

struct ns_common {
	unsigned int inum;
} __attribute__((preserve_access_index));

struct mnt_namespace {
	struct ns_common ns;
} __attribute__((preserve_access_index));

/* A mount namespace's own id, which the kernel never reuses (unlike its
 * inode number): ns_common's ns_id since Linux 6.18, mnt_namespace's seq
 * before. */
struct ns_common___id {
	__u64 ns_id;
} __attribute__((preserve_access_index));

struct mnt_namespace___id {
	struct ns_common___id ns;
} __attribute__((preserve_access_index));

struct mnt_namespace___seq {
	__u64 seq;
} __attribute__((preserve_access_index));

struct nsproxy {
	struct mnt_namespace *mnt_ns;
} __attribute__((preserve_access_index));

struct kernfs_node {
	const char *name;
	__u64 id;
} __attribute__((preserve_access_index));

/* A kernfs node's parent: `parent` until Linux 6.15, `__parent` (read
 * under RCU) since; the flavours let one object read either. */
struct kernfs_node___old {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

struct kernfs_node___rcu {
	struct kernfs_node *__parent;
} __attribute__((preserve_access_index));

struct cgroup {
	struct kernfs_node *kn;
} __attribute__((preserve_access_index));

struct cgroup_subsys_state {
	struct cgroup *cgroup;
} __attribute__((preserve_access_index));

struct css_set {
	struct cgroup_subsys_state *subsys[16];
} __attribute__((preserve_access_index));

enum cgroup_subsys_id {
	memory_cgrp_id = 4,
};

struct mm_struct {
	unsigned long arg_start;
	unsigned long arg_end;
} __attribute__((preserve_access_index));

struct pid_namespace;

struct upid {
	int nr;
	struct pid_namespace *ns;
} __attribute__((preserve_access_index));

struct pid {
	unsigned int level;
	struct upid numbers[1];
} __attribute__((preserve_access_index));

struct task_struct {
	int pid;
	int tgid;
	void *stack;
	struct task_struct *real_parent;
	const struct cred *real_cred;
	const struct cred *cred;
	struct nsproxy *nsproxy;
	struct css_set *cgroups;
	struct mm_struct *mm;
	struct pid *thread_pid;
} __attribute__((preserve_access_index));

struct user_namespace;
struct linux_binprm;

#endif
