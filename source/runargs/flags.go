package runargs

// The option tables of `docker run`/`create` (Docker CLI 20.10 to 28),
// `podman run`/`create` (4.x, 5.x) and `nerdctl run`/`create` (1.x, 2.x).
// Knowing which options take a value is what finds the image correctly:
// in `docker run -e X -v a:b img cmd` the image is img, not X or a:b.
//
// The tables are the union over the three tools: an option one tool takes
// with a value is never a boolean in another, so one table serves all.

// valueFlags are the long options that take a value.
var valueFlags = set(
	"add-host", "annotation", "arch", "attach", "authfile",
	"blkio-weight", "blkio-weight-device",
	"cap-add", "cap-drop", "cert-dir", "cgroup-conf", "cgroup-parent", "cgroupns", "cgroups",
	"chrootdirs", "cidfile", "conmon-pidfile", "cosign-certificate-identity",
	"cosign-certificate-identity-regexp", "cosign-certificate-oidc-issuer",
	"cosign-certificate-oidc-issuer-regexp", "cosign-key",
	"cpu-count", "cpu-percent", "cpu-period", "cpu-quota", "cpu-rt-period", "cpu-rt-runtime",
	"cpu-shares", "cpus", "cpuset-cpus", "cpuset-mems", "creds",
	"decryption-key", "detach-keys", "device", "device-cgroup-rule",
	"device-read-bps", "device-read-iops", "device-write-bps", "device-write-iops",
	"dns", "dns-opt", "dns-option", "dns-search", "domainname",
	"entrypoint", "env", "env-file", "env-merge", "expose",
	"gidmap", "gpus", "group-add", "group-entry",
	"health-cmd", "health-interval", "health-log-destination", "health-max-log-count",
	"health-max-log-size", "health-on-failure", "health-retries", "health-start-interval",
	"health-start-period", "health-startup-cmd", "health-startup-interval",
	"health-startup-retries", "health-startup-success", "health-startup-timeout", "health-timeout",
	"hostname", "hostuser", "image-volume", "init-binary", "init-path", "io-maxbandwidth", "io-maxiops",
	"ip", "ip6", "ipc", "ipfs-address", "isolation", "kernel-memory",
	"label", "label-file", "link", "link-local-ip", "log-driver", "log-opt",
	"mac-address", "memory", "memory-reservation", "memory-swap", "memory-swappiness", "mount",
	"name", "net", "net-alias", "network", "network-alias",
	"oom-score-adj", "os", "passwd-entry", "personality", "pid", "pid-file", "pidfile", "pids-limit",
	"platform", "pod", "pod-id-file", "preserve-fd", "preserve-fds", "publish", "pull",
	"rdt-class", "requires", "restart", "retry", "retry-delay", "runtime",
	"sdnotify", "seccomp-policy", "secret", "security-opt", "shm-size", "shm-size-systemd",
	"stop-signal", "stop-timeout", "storage-opt", "subgidname", "subuidname", "sysctl", "systemd",
	"timeout", "tmpfs", "tz", "uidmap", "ulimit", "umask", "unsetenv", "user", "userns", "uts",
	"variant", "verify", "volume", "volume-driver", "volumes-from", "workdir",
)

// boolFlags are the long options that take no value (they accept an
// inline =true/=false).
var boolFlags = set(
	"detach", "disable-content-trust", "env-host", "help", "http-proxy", "init", "interactive",
	"no-healthcheck", "no-hosts", "oom-kill-disable", "passwd", "privileged", "publish-all",
	"quiet", "read-only", "read-only-tmpfs", "replace", "rm", "rmi", "rootfs", "sig-proxy",
	"tls-verify", "tty", "unsetenv-all", "use-api-socket",
)

// shorthands maps one-letter options to their long names.
var shorthands = map[byte]string{
	'a': "attach", 'c': "cpu-shares", 'd': "detach", 'e': "env", 'h': "hostname",
	'i': "interactive", 'l': "label", 'm': "memory", 'P': "publish-all", 'p': "publish",
	'q': "quiet", 't': "tty", 'u': "user", 'v': "volume", 'w': "workdir",
}

// Options accepted before the subcommand (`docker -H x run`), per tool.
var (
	globalValue = map[string]map[string]bool{
		"docker": set("host", "context", "config", "log-level", "tlscacert", "tlscert", "tlskey"),
		"podman": set("cgroup-manager", "conmon", "connection", "events-backend", "hooks-dir",
			"identity", "imagestore", "log-level", "module", "network-cmd-path", "network-config-dir",
			"cni-config-dir", "out", "root", "runroot", "runtime", "runtime-flag", "ssh",
			"storage-driver", "storage-opt", "tmpdir", "url", "volumepath", "db-backend"),
		"nerdctl": set("address", "host", "namespace", "snapshotter", "storage-driver", "cni-path",
			"cni-netconfpath", "data-root", "cgroup-manager", "hosts-dir", "host-gateway-ip",
			"bridge-ip", "global-dns", "global-dns-opts", "global-dns-search"),
	}
	globalShort = map[string]map[byte]string{
		"docker":  {'H': "host", 'c': "context", 'l': "log-level", 'D': "debug", 'v': "version"},
		"podman":  {'c': "connection", 'r': "remote"},
		"nerdctl": {'a': "address", 'H': "host", 'n': "namespace"},
	}
)

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// TakesValue reports whether the run option long (without dashes) takes a
// value; known is false for an option in no tool's table.
func TakesValue(long string) (takes, known bool) {
	switch {
	case valueFlags[long]:
		return true, true
	case boolFlags[long]:
		return false, true
	}
	return false, false
}
