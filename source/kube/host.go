package kube

import (
	"path"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/capdrop/capdrop/source/internal/tree"
	"github.com/capdrop/capdrop/workload"
)

// podHost is what a pod spec opens onto the host for all its containers:
// host namespaces, volumes by name, and the pod-level confinement settings
// (fields and the legacy annotations).
type podHost struct {
	namespaces workload.Namespaces
	volumes    map[string]volume
	// seccomp, apparmor and selinux are the pod-level settings that turn
	// confinement off (nil when none does).
	seccomp, apparmor, selinux *workload.Word
	// annotations are the legacy seccomp and AppArmor annotations.
	annotations map[string]*yaml.Node
}

// volume is one entry of spec.volumes: hostPath volumes keep their path.
type volume struct {
	hostPath string
	pathType string
}

// Legacy annotations (seccomp's removed in Kubernetes 1.27, AppArmor's
// replaced by the field in 1.30 but still honoured).
const (
	seccompPodAnnotation       = "seccomp.security.alpha.kubernetes.io/pod"
	seccompContainerAnnotation = "container.seccomp.security.alpha.kubernetes.io/"
	apparmorAnnotation         = "container.apparmor.security.beta.kubernetes.io/"
)

// podHostOf reads the pod spec's host settings; meta is the pod's (or
// template's) metadata, for the annotations.
func (r *reader) podHostOf(spec, meta *yaml.Node, obj string) podHost {
	w := r.w
	ph := podHost{volumes: map[string]volume{}, annotations: map[string]*yaml.Node{}}
	on := func(key string) *workload.Word {
		n := w.Get(spec, key)
		if v, at := r.bool(n, obj, key); v != nil && *v {
			return &workload.Word{Text: "host", Pos: r.pos(at)}
		}
		return nil
	}
	ph.namespaces.PID = on("hostPID")
	ph.namespaces.Network = on("hostNetwork")
	ph.namespaces.IPC = on("hostIPC")
	ph.namespaces.User = on("hostUsers") // written out: no user namespace
	for _, v := range w.Items(w.Get(spec, "volumes")) {
		name, _ := tree.Scalar(w.Get(v, "name"))
		hp := w.Get(v, "hostPath")
		if name == "" || !tree.IsMap(hp) {
			continue
		}
		p, _ := tree.Scalar(w.Get(hp, "path"))
		t, _ := tree.Scalar(w.Get(hp, "type"))
		ph.volumes[name] = volume{hostPath: p, pathType: t}
	}
	if sc := w.Get(spec, "securityContext"); tree.IsMap(sc) {
		ph.seccomp, ph.apparmor, ph.selinux = r.confinement(sc)
	}
	if ann := w.Get(meta, "annotations"); tree.IsMap(ann) {
		for _, kv := range w.Pairs(ann) {
			k := kv.Key.Value
			if k == seccompPodAnnotation || strings.HasPrefix(k, seccompContainerAnnotation) || strings.HasPrefix(k, apparmorAnnotation) {
				ph.annotations[k] = kv.Value
			}
		}
	}
	return ph
}

// confinement reads a securityContext's seccompProfile, appArmorProfile
// and seLinuxOptions: each is nil when not written, a word in Docker's
// spelling when it turns confinement off, and a word with empty text when
// it keeps it (a container's RuntimeDefault overrides the pod's
// Unconfined).
func (r *reader) confinement(sc *yaml.Node) (seccomp, apparmor, selinux *workload.Word) {
	w := r.w
	profile := func(key, opt string) *workload.Word {
		t := w.Get(w.Get(sc, key), "type")
		if v, ok := tree.Scalar(t); ok {
			if v == "Unconfined" {
				return &workload.Word{Text: opt, Pos: r.pos(t)}
			}
			return &workload.Word{Text: "", Pos: r.pos(t)} // set, confined
		}
		return nil
	}
	seccomp = profile("seccompProfile", "seccomp=unconfined")
	apparmor = profile("appArmorProfile", "apparmor=unconfined")
	t := w.Get(w.Get(sc, "seLinuxOptions"), "type")
	if v, ok := tree.Scalar(t); ok {
		opt := ""
		if v == "spc_t" || v == "unconfined_t" {
			opt = "label=type:" + v
		}
		selinux = &workload.Word{Text: opt, Pos: r.pos(t)}
	}
	return
}

// containerHost is the host access of one container: the pod's
// namespaces, its own volumeMounts (hostPath volumes are bind mounts of
// the host path), and its confinement, the container's settings winning
// over the pod's and fields over the legacy annotations.
func (r *reader) containerHost(c, sc *yaml.Node, name string, ph podHost) workload.Host {
	w := r.w
	h := workload.Host{Namespaces: ph.namespaces}
	for _, vm := range w.Items(w.Get(c, "volumeMounts")) {
		vname, _ := tree.Scalar(w.Get(vm, "name"))
		target, _ := tree.Scalar(w.Get(vm, "mountPath"))
		ro := false
		if v, ok := tree.Scalar(w.Get(vm, "readOnly")); ok {
			ro, _ = tree.Bool(v)
		}
		m := workload.Mount{Type: "volume", Source: vname, Target: target, ReadOnly: ro, Pos: r.pos(vm)}
		if v, ok := ph.volumes[vname]; ok {
			m.Type, m.Source = "bind", v.hostPath
			if sub, ok := tree.Scalar(w.Get(vm, "subPath")); ok && sub != "" {
				m.Source = path.Join(v.hostPath, sub)
			}
			if v.pathType != "" {
				m.Options = append(m.Options, "type="+v.pathType)
			}
		}
		h.Mounts = append(h.Mounts, m)
	}
	var seccomp, apparmor, selinux *workload.Word
	if tree.IsMap(sc) {
		seccomp, apparmor, selinux = r.confinement(sc)
		if pm := w.Get(sc, "procMount"); pm != nil {
			if v, ok := tree.Scalar(pm); ok && v == "Unmasked" {
				h.SecurityOpt = append(h.SecurityOpt, workload.Word{Text: "systempaths=unconfined", Pos: r.pos(pm)})
			}
		}
	}
	annotation := func(key, value, opt string) *workload.Word {
		if n := ph.annotations[key]; n != nil {
			if v, ok := tree.Scalar(n); ok {
				if v == value {
					return &workload.Word{Text: opt, Pos: r.pos(n)}
				}
				return &workload.Word{Pos: r.pos(n)}
			}
		}
		return nil
	}
	first := func(ws ...*workload.Word) *workload.Word {
		for _, x := range ws {
			if x != nil {
				return x
			}
		}
		return nil
	}
	seccomp = first(seccomp, annotation(seccompContainerAnnotation+name, "unconfined", "seccomp=unconfined"),
		ph.seccomp, annotation(seccompPodAnnotation, "unconfined", "seccomp=unconfined"))
	apparmor = first(apparmor, annotation(apparmorAnnotation+name, "unconfined", "apparmor=unconfined"), ph.apparmor)
	selinux = first(selinux, ph.selinux)
	for _, x := range []*workload.Word{seccomp, apparmor, selinux} {
		if x != nil && x.Text != "" {
			h.SecurityOpt = append(h.SecurityOpt, *x)
		}
	}
	return h
}
