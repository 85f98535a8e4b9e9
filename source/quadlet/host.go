package quadlet

import (
	"strings"

	"github.com/capdrop/capdrop/source/runargs"
	"github.com/capdrop/capdrop/workload"
)

// hostEntry reads one [Container] key that opens the container onto its
// host into w.Host, and reports whether key was one: Volume= and Mount=
// (podman's -v and --mount), Tmpfs=, AddDevice= (a leading "-" makes the
// device optional), Network=host, UserNS=host, SeccompProfile=unconfined,
// SecurityLabelDisable=true, SecurityLabelType=spc_t and Unmask=.
func hostEntry(w *workload.Workload, key, value string, pos workload.Position) bool {
	h := &w.Host
	word := &workload.Word{Text: value, Pos: pos}
	switch key {
	case "Volume":
		m := runargs.ParseVolume(specifiers(value), pos)
		if runargs.HostPathSource(m.Source) {
			m.Type = "bind"
		}
		h.Mounts = append(h.Mounts, m)
	case "Mount":
		m := runargs.ParseMount(value, pos)
		m.Source = specifiers(m.Source)
		h.Mounts = append(h.Mounts, m)
	case "Tmpfs":
		h.Mounts = append(h.Mounts, runargs.ParseTmpfs(value, pos))
	case "AddDevice":
		word.Text = strings.TrimPrefix(value, "-")
		h.Devices = append(h.Devices, *word)
	case "Network":
		// Network= may be given several times; host is the one that
		// matters, and a later one does not undo it in podman.
		if value == "host" || h.Namespaces.Network == nil {
			h.Namespaces.Network = word
		}
	case "UserNS":
		h.Namespaces.User = word
	case "RemapUsers":
		// Quadlet before Podman 4.5: RemapUsers=keep-id|auto|manual.
		if h.Namespaces.User == nil {
			if value == "manual" {
				word.Text = "private"
			}
			h.Namespaces.User = word
		}
	case "SeccompProfile":
		if value == "unconfined" {
			h.SecurityOpt = append(h.SecurityOpt, workload.Word{Text: "seccomp=unconfined", Pos: pos})
		}
	case "SecurityLabelDisable":
		if v, ok := systemdBool(value); ok && v {
			h.SecurityOpt = append(h.SecurityOpt, workload.Word{Text: "label=disable", Pos: pos})
		}
	case "SecurityLabelType":
		h.SecurityOpt = append(h.SecurityOpt, workload.Word{Text: "label=type:" + value, Pos: pos})
	case "Unmask":
		h.SecurityOpt = append(h.SecurityOpt, workload.Word{Text: "unmask=" + value, Pos: pos})
	default:
		return false
	}
	return true
}

// mergeHost adds what PodmanArgs= open onto the host after the keys'.
func mergeHost(h *workload.Host, more workload.Host) {
	n, m := &h.Namespaces, more.Namespaces
	for _, p := range []struct {
		dst **workload.Word
		src *workload.Word
	}{
		{&n.PID, m.PID}, {&n.Network, m.Network}, {&n.IPC, m.IPC}, {&n.UTS, m.UTS}, {&n.User, m.User}, {&n.Cgroup, m.Cgroup},
	} {
		if p.src != nil {
			*p.dst = p.src
		}
	}
	h.Mounts = append(h.Mounts, more.Mounts...)
	h.Devices = append(h.Devices, more.Devices...)
	h.SecurityOpt = append(h.SecurityOpt, more.SecurityOpt...)
}

// specifierDirs are the systemd specifiers that stand for directories
// (for system units; %h is the user's home, %t /run/user/UID for user
// units, which the socket names still give away).
var specifierDirs = map[string]string{"%h": "~", "%t": "/run", "%S": "/var/lib", "%C": "/var/cache", "%L": "/var/log", "%E": "/etc"}

// specifiers expands a leading directory specifier of a Volume= or Mount=
// source, so that %h/.ssh is judged as a home's dot-directory.
func specifiers(v string) string {
	if len(v) >= 2 {
		if dir, ok := specifierDirs[v[:2]]; ok {
			return dir + v[2:]
		}
	}
	return v
}
