// Package container tells which container a process belongs to, from the
// cgroup paths in /proc/<pid>/cgroup: Docker, containerd's CRI plugin
// (Kubernetes), CRI-O and Podman, on cgroup v1 and v2, with the cgroupfs and
// systemd drivers, rootful and rootless.
//
// It is a package of its own, not part of procfs, because it interprets
// runtime naming conventions rather than a /proc file format, and because
// the same paths reach capdrop by other roads (the eBPF profiler knows a
// cgroup, not a pid). It only reads strings: it never talks to an engine.
package container

import (
	"strings"

	"github.com/capdrop/capdrop/procfs"
	"github.com/capdrop/capdrop/workload"
)

// Ref identifies a container by what its cgroup path says.
type Ref struct {
	// Runtime is the engine that runs the container. A bare ID under
	// kubepods is taken as containerd's CRI plugin, the common case; an
	// engine that knows the ID may correct it.
	Runtime workload.Runtime `json:"runtime"`
	// ID is the full 64-hex-digit container ID.
	ID string `json:"id"`
	// PodUID is the Kubernetes pod UID (with dashes) when the container
	// runs in a pod.
	PodUID string `json:"pod_uid,omitempty"`
}

// ShortID is the 12-digit form of the ID that docker ps shows.
func (r Ref) ShortID() string {
	if len(r.ID) > 12 {
		return r.ID[:12]
	}
	return r.ID
}

// FromCgroups attributes a process by its cgroup lines. The unified (v2)
// line is tried first, then the others in file order; the first path that
// names a container wins.
func FromCgroups(cgs []procfs.Cgroup) (Ref, bool) {
	for _, c := range cgs {
		if c.Unified() {
			if r, ok := FromPath(c.Path); ok {
				return r, true
			}
		}
	}
	for _, c := range cgs {
		if !c.Unified() {
			if r, ok := FromPath(c.Path); ok {
				return r, true
			}
		}
	}
	return Ref{}, false
}

// FromPath attributes one cgroup path such as
//
//	/docker/<id>                                          Docker, cgroupfs
//	/system.slice/docker-<id>.scope                       Docker, systemd
//	/kubepods/burstable/pod<uid>/<id>                     containerd CRI, cgroupfs
//	/kubepods.slice/…/kubepods-burstable-pod<uid>.slice/cri-containerd-<id>.scope
//	/kubepods.slice/…/crio-<id>.scope                     CRI-O (crio-conmon-<id> is its monitor, not the container)
//	/machine.slice/libpod-<id>.scope                      Podman (libpod-conmon-<id> is its monitor)
//	/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-<id>.scope   rootless Podman
//
// When containers nest (Docker in Docker, a pod running an engine), the
// outermost one is returned: the one the host's runtime knows.
func FromPath(path string) (Ref, bool) {
	var pod string
	inKubepods := false
	prev := ""
	for path != "" {
		var seg string
		seg, path, _ = strings.Cut(path, "/")
		if seg == "" {
			continue
		}
		name := strings.TrimSuffix(seg, ".scope")
		if r, ok := fromSegment(name, prev, inKubepods); ok {
			r.PodUID = pod
			return r, true
		}
		if strings.HasPrefix(seg, "kubepods") {
			inKubepods = true
			if uid, ok := podUID(seg); ok {
				pod = uid
			}
		} else if inKubepods {
			if uid, ok := podSegment(seg); ok {
				pod = uid
			}
		}
		prev = seg
	}
	return Ref{}, false
}

// The prefixes of systemd scope names and cgroupfs directories that hold a
// container's ID, and the monitors that share the prefix but are not the
// container.
var prefixes = []struct {
	prefix  string
	not     string
	runtime workload.Runtime
}{
	{"docker-", "", workload.Docker},
	{"cri-containerd-", "", workload.Containerd},
	{"crio-", "crio-conmon-", workload.CRIO},
	{"libpod-", "libpod-conmon-", workload.Podman},
}

func fromSegment(name, prev string, inKubepods bool) (Ref, bool) {
	for _, p := range prefixes {
		if strings.HasPrefix(name, p.prefix) && (p.not == "" || !strings.HasPrefix(name, p.not)) {
			if id := name[len(p.prefix):]; isID(id) {
				return Ref{Runtime: p.runtime, ID: id}, true
			}
		}
	}
	if !isID(name) {
		return Ref{}, false
	}
	switch {
	case prev == "docker":
		return Ref{Runtime: workload.Docker, ID: name}, true
	case inKubepods:
		return Ref{Runtime: workload.Containerd, ID: name}, true
	}
	return Ref{}, false
}

// podUID finds the pod UID in a kubepods segment: "pod<uid>" (cgroupfs) or
// "kubepods-<qos>-pod<uid_with_underscores>.slice" (systemd).
func podUID(seg string) (string, bool) {
	i := strings.LastIndex(seg, "pod")
	if i < 0 || (i > 0 && seg[i-1] != '-') {
		return "", false
	}
	uid := strings.TrimSuffix(seg[i+3:], ".slice")
	uid = strings.ReplaceAll(uid, "_", "-")
	return uid, isUUID(uid)
}

// podSegment reports a cgroupfs pod directory, "pod<uid>".
func podSegment(seg string) (string, bool) {
	if !strings.HasPrefix(seg, "pod") {
		return "", false
	}
	uid := seg[3:]
	return uid, isUUID(uid)
}

// isID reports a full container ID: 64 lower-case hex digits.
func isID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// isUUID reports the 8-4-4-4-12 hex form of a Kubernetes UID.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
}
