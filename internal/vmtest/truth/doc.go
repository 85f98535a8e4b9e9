// Command truth is the kernel matrix's ground-truth workload: run as root,
// it needs exactly CAP_CHOWN and CAP_SETUID, and makes two advisory checks
// besides, which a profiler must classify as noise.
//
//	truth PEER_PID
//
// It chowns a new file to uid and gid 1234 (CAP_CHOWN), calls setuid(1234)
// on a throw-away thread (CAP_SETUID), reads /proc/PEER_PID/stat of a
// process of another uid (ptrace_may_access with PTRACE_MODE_NOAUDIT: a
// CAP_SYS_PTRACE probe, through security_capable, so every hook on
// cap_capable sees it with CAP_OPT_NOAUDIT), and maps accounted memory (the
// overcommit CAP_SYS_ADMIN probe, which kernels up to 6.12 make invisible to
// hooks on cap_capable by inlining it: docs/kernels.md).
//
// It is a binary of its own, linking nothing of capdrop, so that no
// package's initialisation adds checks of its own to the truth.
package main
