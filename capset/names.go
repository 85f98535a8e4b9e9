package capset

// The capabilities known to this version of capdrop, numbered as in the kernel's
// include/uapi/linux/capability.h.
const (
	CHOWN              Cap = 0
	DAC_OVERRIDE       Cap = 1
	DAC_READ_SEARCH    Cap = 2
	FOWNER             Cap = 3
	FSETID             Cap = 4
	KILL               Cap = 5
	SETGID             Cap = 6
	SETUID             Cap = 7
	SETPCAP            Cap = 8
	LINUX_IMMUTABLE    Cap = 9
	NET_BIND_SERVICE   Cap = 10
	NET_BROADCAST      Cap = 11
	NET_ADMIN          Cap = 12
	NET_RAW            Cap = 13
	IPC_LOCK           Cap = 14
	IPC_OWNER          Cap = 15
	SYS_MODULE         Cap = 16
	SYS_RAWIO          Cap = 17
	SYS_CHROOT         Cap = 18
	SYS_PTRACE         Cap = 19
	SYS_PACCT          Cap = 20
	SYS_ADMIN          Cap = 21
	SYS_BOOT           Cap = 22
	SYS_NICE           Cap = 23
	SYS_RESOURCE       Cap = 24
	SYS_TIME           Cap = 25
	SYS_TTY_CONFIG     Cap = 26
	MKNOD              Cap = 27
	LEASE              Cap = 28
	AUDIT_WRITE        Cap = 29
	AUDIT_CONTROL      Cap = 30
	SETFCAP            Cap = 31
	MAC_OVERRIDE       Cap = 32
	MAC_ADMIN          Cap = 33
	SYSLOG             Cap = 34
	WAKE_ALARM         Cap = 35
	BLOCK_SUSPEND      Cap = 36
	AUDIT_READ         Cap = 37
	PERFMON            Cap = 38
	BPF                Cap = 39
	CHECKPOINT_RESTORE Cap = 40
)

// Last is the highest capability number capdrop has a name for.
const Last = CHECKPOINT_RESTORE

// names holds the canonical names, without the CAP_ prefix, indexed by number.
var names = [Last + 1]string{
	"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
	"SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
	"IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
	"SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
	"LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
	"WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
}

// byName maps an upper-case name without prefix to its capability.
var byName = func() map[string]Cap {
	m := make(map[string]Cap, len(names))
	for i, n := range names {
		m[n] = Cap(i)
	}
	return m
}()
