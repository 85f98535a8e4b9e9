package oci

import (
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/capdrop/capdrop/source/internal/tree"
	"github.com/capdrop/capdrop/source/runargs"
	"github.com/capdrop/capdrop/workload"
)

// configHost reads what an OCI config opens onto the host. runc runs the
// process in the host's namespace of every type linux.namespaces does not
// list (or joins the one at an entry's path), applies no seccomp filter
// without linux.seccomp, and masks nothing without maskedPaths and
// readonlyPaths; bind mounts and linux.devices are the host's. A missing
// user namespace is not recorded: almost every container runs that way,
// and it only matters against an engine that remaps users.
func (r *reader) configHost(root *yaml.Node) workload.Host {
	w := r.w
	var h workload.Host
	for _, m := range w.Items(w.Get(root, "mounts")) {
		dst, _ := tree.Scalar(w.Get(m, "destination"))
		src, _ := tree.Scalar(w.Get(m, "source"))
		typ, _ := tree.Scalar(w.Get(m, "type"))
		mt := workload.Mount{Type: "other", Source: src, Target: dst, Pos: r.pos(m)}
		for _, o := range w.Items(w.Get(m, "options")) {
			s, _ := tree.Scalar(o)
			switch s {
			case "ro":
				mt.ReadOnly = true
			case "bind", "rbind":
				mt.Type = "bind"
			default:
				mt.Options = append(mt.Options, s)
			}
		}
		switch typ {
		case "bind":
			mt.Type = "bind"
		case "tmpfs":
			mt.Type = "tmpfs"
		}
		if mt.Type == "bind" && engineManaged(src) {
			// The engine's own per-container files (resolv.conf, hosts,
			// hostname, shm, secrets, service-account tokens): in the
			// spec of every container it starts, not asked for by anyone.
			mt.Type = "volume"
			mt.Options = append(mt.Options, "engine-managed")
		}
		h.Mounts = append(h.Mounts, mt)
	}
	linux := w.Get(root, "linux")
	if !tree.IsMap(linux) {
		return h // not a Linux container
	}
	nsList := w.Get(linux, "namespaces")
	at := linux
	if nsList != nil {
		at = nsList
	}
	listed := map[string]*yaml.Node{}
	for _, ns := range w.Items(nsList) {
		if t, ok := tree.Scalar(w.Get(ns, "type")); ok {
			listed[t] = ns
		}
	}
	n := &h.Namespaces
	for _, e := range []struct {
		typ string
		dst **workload.Word
	}{{"pid", &n.PID}, {"network", &n.Network}, {"ipc", &n.IPC}, {"uts", &n.UTS}, {"cgroup", &n.Cgroup}, {"user", &n.User}} {
		ns, ok := listed[e.typ]
		switch {
		case !ok && e.typ != "user":
			*e.dst = &workload.Word{Text: "host", Pos: r.pos(at)}
		case ok:
			if p, has := tree.Scalar(w.Get(ns, "path")); has && p != "" {
				*e.dst = &workload.Word{Text: p, Pos: r.pos(w.Get(ns, "path"))}
			}
		}
	}
	for _, d := range w.Items(w.Get(linux, "devices")) {
		if p, ok := tree.Scalar(w.Get(d, "path")); ok {
			h.Devices = append(h.Devices, workload.Word{Text: p, Pos: r.pos(d)})
		}
	}
	if sc := w.Get(linux, "seccomp"); sc == nil || sc.Tag == "!!null" {
		h.SecurityOpt = append(h.SecurityOpt, workload.Word{Text: "seccomp=unconfined", Pos: r.pos(linux)})
	}
	if len(w.Items(w.Get(linux, "maskedPaths"))) == 0 && len(w.Items(w.Get(linux, "readonlyPaths"))) == 0 {
		h.SecurityOpt = append(h.SecurityOpt, workload.Word{Text: "systempaths=unconfined", Pos: r.pos(linux)})
	}
	proc := w.Get(root, "process")
	if n := w.Get(proc, "apparmorProfile"); n != nil {
		if s, _ := tree.Scalar(n); s == "unconfined" {
			h.SecurityOpt = append(h.SecurityOpt, workload.Word{Text: "apparmor=unconfined", Pos: r.pos(n)})
		}
	}
	if n := w.Get(proc, "selinuxLabel"); n != nil {
		if s, _ := tree.Scalar(n); strings.Contains(s, ":spc_t:") || strings.Contains(s, ":unconfined_t:") {
			t := "spc_t"
			if strings.Contains(s, ":unconfined_t:") {
				t = "unconfined_t"
			}
			h.SecurityOpt = append(h.SecurityOpt, workload.Word{Text: "label=type:" + t, Pos: r.pos(n)})
		}
	}
	return h
}

// inspectModes are the HostConfig fields that name a namespace mode.
var inspectModes = []struct{ key, ns string }{
	{"PidMode", "pid"}, {"NetworkMode", "network"}, {"IpcMode", "ipc"}, {"UTSMode", "uts"},
	{"UsernsMode", "user"}, {"CgroupnsMode", "cgroup"},
}

// inspectHost reads what a docker or podman inspect record's HostConfig
// opens onto the host: namespace modes, Binds and Mounts, Devices and
// SecurityOpt.
func (r *reader) inspectHost(hc *yaml.Node) workload.Host {
	w := r.w
	var h workload.Host
	n := &h.Namespaces
	dst := map[string]**workload.Word{"pid": &n.PID, "network": &n.Network, "ipc": &n.IPC, "uts": &n.UTS, "user": &n.User, "cgroup": &n.Cgroup}
	for _, m := range inspectModes {
		node := w.Get(hc, m.key)
		if s, ok := tree.Scalar(node); ok && s != "" {
			*dst[m.ns] = &workload.Word{Text: s, Pos: r.pos(node)}
		}
	}
	for _, b := range w.Items(w.Get(hc, "Binds")) {
		if s, ok := tree.Scalar(b); ok {
			m := runargs.ParseVolume(s, r.pos(b))
			if strings.HasPrefix(m.Source, "/") {
				m.Type = "bind"
			}
			h.Mounts = append(h.Mounts, m)
		}
	}
	for _, it := range w.Items(w.Get(hc, "Mounts")) {
		m := workload.Mount{Type: "other", Pos: r.pos(it)}
		m.Source, _ = tree.Scalar(w.Get(it, "Source"))
		m.Target, _ = tree.Scalar(w.Get(it, "Target"))
		if t, ok := tree.Scalar(w.Get(it, "Type")); ok && slices.Contains([]string{"bind", "volume", "tmpfs"}, t) {
			m.Type = t
		}
		if ro, ok := tree.Scalar(w.Get(it, "ReadOnly")); ok {
			m.ReadOnly, _ = tree.Bool(ro)
		}
		h.Mounts = append(h.Mounts, m)
	}
	for _, d := range w.Items(w.Get(hc, "Devices")) {
		p, _ := tree.Scalar(w.Get(d, "PathOnHost"))
		if p == "" {
			continue
		}
		text := p
		if c, _ := tree.Scalar(w.Get(d, "PathInContainer")); c != "" {
			text += ":" + c
		}
		if perm, _ := tree.Scalar(w.Get(d, "CgroupPermissions")); perm != "" {
			text += ":" + perm
		}
		h.Devices = append(h.Devices, workload.Word{Text: text, Pos: r.pos(d)})
	}
	for _, o := range w.Items(w.Get(hc, "SecurityOpt")) {
		if s, ok := tree.Scalar(o); ok {
			if v, ok := runargs.SecurityOpt(s); ok {
				h.SecurityOpt = append(h.SecurityOpt, workload.Word{Text: v, Pos: r.pos(o)})
			}
		}
	}
	return h
}

// engineStateDirs are where engines keep the files they bind into each of
// their containers.
var engineStateDirs = []string{
	"/var/lib/docker/containers/", "/var/lib/kubelet/pods/",
	"/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/", "/run/containerd/io.containerd.grpc.v1.cri/sandboxes/",
	"/var/lib/containers/storage/overlay-containers/", "/var/run/containers/storage/overlay-containers/",
	"/run/containers/storage/overlay-containers/",
}

// engineManaged reports whether a bind mount's source is an engine's own
// per-container state.
func engineManaged(src string) bool {
	for _, d := range engineStateDirs {
		if strings.HasPrefix(src, d) {
			return true
		}
	}
	return strings.HasPrefix(src, "/run/user/") && strings.Contains(src, "/containers/overlay-containers/")
}
