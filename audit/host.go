package audit

import (
	"fmt"
	"path"
	"strings"

	"github.com/capdrop/capdrop/workload"
)

// Host access: what a container reaches on its host besides capabilities.
// Each setting is judged by exactly one rule, so that removing it clears
// exactly one finding.

// engineSockets are where container engines listen. A container that can
// connect to one starts containers of its choosing, privileged ones
// included: root on the host. A read-only mount does not help (connect(2)
// on a socket ignores the mount's ro flag).
var engineSockets = []string{
	"/var/run/docker.sock", "/run/docker.sock",
	"/run/containerd/containerd.sock", "/var/run/containerd/containerd.sock",
	"/run/k3s/containerd/containerd.sock",
	"/var/run/crio/crio.sock", "/run/crio/crio.sock",
	"/run/podman/podman.sock", "/var/run/podman/podman.sock",
	"/var/run/cri-dockerd.sock", "/run/cri-dockerd.sock", "/var/run/dockershim.sock",
	"/run/buildkit/buildkitd.sock",
}

// socketNames are engine socket file names wherever they live (rootless
// engines keep theirs under /run/user/UID).
var socketNames = []string{"docker.sock", "containerd.sock", "crio.sock", "podman.sock", "cri-dockerd.sock",
	"dockershim.sock", "buildkitd.sock"}

// systemPaths are host directories whose writing is root on the host:
// the system's programs and configuration, root's and users' homes, the
// engines' and kubelet's state, kernel interfaces and devices.
var systemPaths = []string{
	"/etc", "/boot", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
	"/var/lib/docker", "/var/lib/containerd", "/var/lib/containers", "/var/lib/kubelet", "/var/lib/rancher",
	"/var/spool/cron", "/proc", "/sys", "/dev", "/run", "/var/run", "/etc/kubernetes",
}

// secretPaths are host paths whose reading alone gives away credentials
// or other processes: password hashes, SSH and kubelet keys, homes, the
// engines' state (every container's files), /proc of every host process.
var secretPaths = []string{
	"/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/etc/ssh", "/etc/kubernetes",
	"/var/lib/kubelet", "/var/lib/docker", "/var/lib/containerd", "/var/lib/containers", "/var/lib/rancher",
	"/proc", "/run/secrets", "/var/run/secrets", "/boot",
}

// harmlessDevices are files under /dev that are mounted for ordinary
// reasons and give nothing away.
var harmlessDevices = []string{"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/shm", "/dev/log"}

// HostAccess reports whether the rule id judges host access (host paths,
// engine sockets, host namespaces, devices, confinement turned off) rather
// than capabilities.
func HostAccess(id string) bool {
	switch id {
	case "CD030", "CD031", "CD032", "CD033", "CD034", "CD035", "CD036", "CD037",
		"CD038", "CD039", "CD040", "CD041", "CD042", "CD043", "CD044", "CD045":
		return true
	}
	return false
}

// hostClass is how bad a host path is to mount.
type hostClass int

const (
	hostOther     hostClass = iota // a host path nothing special is known about
	hostSecret                     // reading it gives secrets away (CD032 read-only)
	hostSystem                     // writing it is root on the host (CD031)
	hostEngineAPI                  // a container engine's socket (CD030)
)

// cleanHostPath normalises a bind mount's source for comparison: "~" and
// $HOME become /home/~ (some user's home), other expansions and relative
// paths stay relative (nothing is known about them).
func cleanHostPath(src string) string {
	switch {
	case src == "~" || strings.HasPrefix(src, "~/"):
		return path.Join("/home/~", strings.TrimPrefix(src, "~"))
	case strings.HasPrefix(src, "$HOME") || strings.HasPrefix(src, "${HOME}"):
		rest := strings.TrimPrefix(strings.TrimPrefix(src, "$HOME"), "${HOME}")
		return path.Join("/home/~", rest)
	case strings.HasPrefix(src, "/"):
		return path.Clean(src)
	}
	return src
}

// home reports whether p is a home directory, a directory of homes, or a
// dot-file or dot-directory of a home (.ssh, .kube, .aws, .bashrc): what
// holds a user's keys and what runs as the user when they log in. All of
// /root counts.
func home(p string) bool {
	if within(p, "/root") || p == "/home" {
		return true
	}
	rest, ok := strings.CutPrefix(p, "/home/")
	if !ok {
		return false
	}
	_, sub, deeper := strings.Cut(rest, "/")
	return !deeper || strings.HasPrefix(sub, ".")
}

// within reports whether p is dir or below it.
func within(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}

// classify grades a host path for a mount that is read-only or not.
func classify(src string, readOnly bool) hostClass {
	p := cleanHostPath(src)
	if !strings.HasPrefix(p, "/") {
		return hostOther
	}
	for _, s := range engineSockets {
		if within(s, p) {
			return hostEngineAPI // the socket, or a directory holding it
		}
	}
	for _, n := range socketNames {
		if path.Base(p) == n {
			return hostEngineAPI
		}
	}
	for _, d := range harmlessDevices {
		if within(p, d) {
			return hostOther
		}
	}
	switch {
	case home(p) && readOnly:
		return hostSecret
	case home(p):
		return hostSystem
	case within(p, "/home"):
		return hostOther // a project directory in someone's home
	}
	for _, s := range systemPaths {
		if within(s, p) || within(p, s) {
			// "/" and /var hold system paths; /etc/x is one.
			if !readOnly {
				return hostSystem
			}
			break
		}
	}
	for _, s := range secretPaths {
		if within(s, p) || within(p, s) {
			return hostSecret
		}
	}
	if readOnly && (p == "/etc" || p == "/sys" || within(p, "/dev")) {
		return hostSecret // all of /etc, all of /sys, raw devices
	}
	return hostOther
}

// socketIn names the engine socket a mounted directory holds, "" when the
// mount is the socket itself or holds none known.
func socketIn(src string) string {
	p := cleanHostPath(src)
	for _, s := range engineSockets {
		if s != p && within(s, p) {
			return s
		}
	}
	return ""
}

// mountRule is the rule that judges one host mount.
func mountRule(m workload.Mount) string {
	switch classify(m.Source, m.ReadOnly) {
	case hostEngineAPI:
		return "CD030"
	case hostSystem:
		return "CD031"
	case hostSecret:
		return "CD032"
	}
	if !m.ReadOnly {
		return "CD033"
	}
	return "CD034"
}

func describeMount(m workload.Mount) string {
	how := "writable"
	if m.ReadOnly {
		how = "read-only"
	}
	return fmt.Sprintf("the host's %s at %s (%s)", m.Source, m.Target, how)
}

func checkHostMounts(c *ctx) {
	for _, m := range c.w.Host.Mounts {
		if !m.HostPath() || m.Source == "" || mountRule(m) != c.rule.ID {
			continue
		}
		var why string
		switch c.rule.ID {
		case "CD030":
			why = "a process in it that can connect to a container engine's API starts a privileged container on the host, whatever the capabilities (a read-only mount does not stop connect)"
			if s := socketIn(m.Source); s != "" {
				why = "it holds the engine socket " + s + "; " + why
			}
		case "CD031":
			why = "root in the container can rewrite the host's system files, programs or engine state: root on the host"
		case "CD032":
			why = "the container reads host secrets (password hashes, keys, other containers' or processes' files)"
		case "CD033":
			why = "root in the container writes into the host's file system (set-user-ID files and device nodes included)"
		default:
			why = "the container reads files of the host outside its image"
		}
		c.report(c.at(&m.Pos), SeverityUnset, 0, dialectOf(c.w).removeMount(c.w, m),
			"%s mounts %s: %s", c.w.Name, describeMount(m), why)
	}
}

// namespaceRule maps each namespace to its rule.
var namespaceRule = map[string]string{"pid": "CD035", "network": "CD036", "ipc": "CD037", "uts": "CD038", "user": "CD039", "cgroup": "CD040"}

// hostNamespace reports whether a namespace setting shares the host's:
// "host", or (Podman, OCI) a path to the namespace of the host's init, or
// the host network namespace Docker's own OCI specs join
// (/var/run/docker/netns/default).
func hostNamespace(w *workload.Word) bool {
	if w == nil {
		return false
	}
	t := strings.TrimPrefix(w.Text, "ns:")
	return w.Text == "host" || strings.HasPrefix(t, "/proc/1/ns/") || strings.HasSuffix(t, "/docker/netns/default")
}

func namespaces(w workload.Workload) []struct {
	name string
	word *workload.Word
} {
	n := w.Host.Namespaces
	return []struct {
		name string
		word *workload.Word
	}{{"pid", n.PID}, {"network", n.Network}, {"ipc", n.IPC}, {"uts", n.UTS}, {"user", n.User}, {"cgroup", n.Cgroup}}
}

var namespaceWhy = map[string]string{
	"pid":     "it sees every host process and, with the capabilities to, signals, traces or enters them (/proc/PID/root is the host's file system)",
	"network": "it binds host ports, reaches services listening only on the host's loopback (engine APIs, kubelet, cloud metadata) and, with NET_RAW or NET_ADMIN, sniffs or reconfigures the host's network",
	"ipc":     "it shares System V IPC and POSIX shared memory with host processes, which can be read or corrupted",
	"uts":     "it shares the host's hostname and domain name (changing them needs SYS_ADMIN)",
	"user":    "it opts out of the engine's user-namespace remapping: root in the container is root on the host",
	"cgroup":  "it sees the host's cgroup hierarchy and its own place in it",
}

func checkHostNamespaces(c *ctx) {
	for _, ns := range namespaces(c.w) {
		if namespaceRule[ns.name] != c.rule.ID || !hostNamespace(ns.word) {
			continue
		}
		c.report(c.at(&ns.word.Pos), SeverityUnset, 0, dialectOf(c.w).removeNamespace(c.w, ns.name, *ns.word),
			"%s shares the host's %s namespace: %s", c.w.Name, ns.name, namespaceWhy[ns.name])
	}
}

func checkHostDevices(c *ctx) {
	for _, d := range c.w.Host.Devices {
		dev, _, _ := strings.Cut(d.Text, ":")
		c.report(c.at(&d.Pos), SeverityUnset, 0, dialectOf(c.w).removeDevice(c.w, d),
			"%s is given the host device %s: direct access to the kernel driver and whatever the device holds (a disk's file systems, memory, the host's terminals)", c.w.Name, dev)
	}
}

// secOptRule maps a security option to the rule that judges it ("" for
// options that weaken nothing).
func secOptRule(opt string) string {
	k, v := splitSecOpt(opt)
	switch {
	case k == "seccomp" && v == "unconfined":
		return "CD042"
	case k == "apparmor" && v == "unconfined":
		return "CD043"
	case k == "label" && (v == "disable" || v == "type:spc_t" || v == "type:unconfined_t"):
		return "CD044"
	case k == "systempaths" && v == "unconfined", k == "unmask" && unmasksProc(v):
		return "CD045"
	}
	return ""
}

// splitSecOpt splits "key=value" (or Docker's older "key:value").
func splitSecOpt(opt string) (string, string) {
	i := strings.IndexAny(opt, "=:")
	if i < 0 {
		return opt, ""
	}
	return opt[:i], opt[i+1:]
}

// unmasksProc reports whether a Podman unmask= list unmasks anything
// under /proc (ALL does).
func unmasksProc(v string) bool {
	for _, p := range strings.Split(v, ":") {
		if p == "ALL" || strings.HasPrefix(p, "/proc") {
			return true
		}
	}
	return false
}

var secOptWhy = map[string]string{
	"CD042": "every system call reaches the kernel, including the ones the default profile blocks (unshare, keyctl, bpf, userfaultfd, mount, …), which turns many kernel bugs into an escape",
	"CD043": "AppArmor no longer stops it from mounting, writing /proc and /sys, or tracing processes where its capabilities would allow it",
	"CD044": "SELinux no longer separates it from the host and other containers: host files mounted into it are not relabelled or confined",
	"CD045": "/proc/kcore, /proc/sysrq-trigger, /proc/sys and the other paths the runtime masks or makes read-only are open to it: root in the container can reboot the host or set kernel.core_pattern to run a program on the host",
}

func checkSecurityOpts(c *ctx) {
	for _, o := range c.w.Host.SecurityOpt {
		if secOptRule(o.Text) != c.rule.ID {
			continue
		}
		c.report(c.at(&o.Pos), SeverityUnset, 0, dialectOf(c.w).removeSecurityOpt(c.w, o),
			"%s sets %s: %s", c.w.Name, o.Text, secOptWhy[c.rule.ID])
	}
}
