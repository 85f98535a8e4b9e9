// Package kube reads Kubernetes manifests, YAML or JSON, multi-document
// and List: every container, init container and ephemeral container of a
// Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob,
// ReplicationController or PodTemplate (and any other kind that embeds a
// pod template at spec.template, or a pod spec whose containers name their
// images at spec.podSpec) becomes a workload.Workload, with the
// pod-level securityContext applied under the container-level one, and
// what each container opens onto the host: the pod's host namespaces, the
// hostPath volumes it mounts, seccomp and AppArmor profiles and SELinux
// types that turn confinement off (fields and legacy annotations), and
// procMount: Unmasked.
//
// Documents that are not Kubernetes objects (no apiVersion and kind) are
// passed over silently; objects of a workload kind whose structure is
// broken are reported.
package kube

import (
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/capdrop/capdrop/source/internal/tree"
	"github.com/capdrop/capdrop/workload"
)

// templatePaths are where each kind keeps its pod spec.
var templatePaths = map[string][]string{
	"Pod":                   {"spec"},
	"PodTemplate":           {"template", "spec"},
	"Deployment":            {"spec", "template", "spec"},
	"StatefulSet":           {"spec", "template", "spec"},
	"DaemonSet":             {"spec", "template", "spec"},
	"ReplicaSet":            {"spec", "template", "spec"},
	"ReplicationController": {"spec", "template", "spec"},
	"Job":                   {"spec", "template", "spec"},
	"CronJob":               {"spec", "jobTemplate", "spec", "template", "spec"},
}

// Parse reads a manifest file: JSON when isJSON, YAML otherwise. runtime
// is the runtime whose rules apply (containerd when empty).
func Parse(file string, data []byte, isJSON bool, runtime workload.Runtime) ([]workload.Workload, []*workload.Error) {
	var docs []tree.Doc
	var errs []*workload.Error
	if isJSON {
		var e *workload.Error
		docs, e = tree.ParseJSON(file, data)
		if e != nil {
			errs = append(errs, e)
		}
	} else {
		docs, errs = tree.SplitYAML(file, data)
	}
	ws, more := FromDocs(file, docs, runtime)
	return ws, append(errs, more...)
}

// IsObject reports whether a document's root is a Kubernetes object: a
// mapping with scalar apiVersion and kind.
func IsObject(root *yaml.Node) bool {
	w := tree.NewWalker(0)
	_, okA := tree.Scalar(w.Get(root, "apiVersion"))
	_, okK := tree.Scalar(w.Get(root, "kind"))
	return okA && okK
}

// FromDocs reads parsed documents.
func FromDocs(file string, docs []tree.Doc, runtime workload.Runtime) ([]workload.Workload, []*workload.Error) {
	return Read(file, docs, Options{Runtime: runtime})
}

// Options tune Read.
type Options struct {
	// Runtime is the runtime whose rules apply (containerd when empty).
	Runtime workload.Runtime
	// Locate, when set, gives the place a node came from: for documents
	// rendered from a Helm template or built by Kustomize, the template,
	// values or patch file and line that wrote it. nil means the node's
	// own line and column in file.
	Locate func(n *yaml.Node) workload.Position
	// Attrs are added to every workload's Attrs (the chart, the overlay).
	Attrs map[string]string
}

// Read reads parsed documents. An object of a workload kind whose pod
// template is missing, has no containers, or has a container without an
// image, and any object holding a strategic-merge directive ($patch,
// $setElementOrder, $retainKeys, $deleteFromPrimitiveList), is partial (a
// patch or a fragment): it gives a warning, not a workload with defaults.
// Other kinds count as workloads only when spec.template.spec holds
// containers with images (an Argo Rollout does; an Argo CD ApplicationSet,
// whose spec.template.spec is an Application, does not).
func Read(file string, docs []tree.Doc, opts Options) ([]workload.Workload, []*workload.Error) {
	runtime := opts.Runtime
	if runtime == "" {
		runtime = workload.Containerd
	}
	r := &reader{file: file, runtime: runtime, locate: opts.Locate, attrs: opts.Attrs}
	for _, d := range docs {
		r.w = tree.WalkerFor(d)
		r.object(d.Root, 0)
		if r.w.Err != nil {
			r.errorf(d.Root, "%w", r.w.Err)
		}
	}
	return r.out, r.errs
}

type reader struct {
	file    string
	runtime workload.Runtime
	locate  func(n *yaml.Node) workload.Position
	attrs   map[string]string
	w       *tree.Walker
	out     []workload.Workload
	errs    []*workload.Error
}

func (r *reader) pos(n *yaml.Node) workload.Position {
	if r.locate != nil {
		return r.locate(n)
	}
	return workload.Position{File: r.file, Line: n.Line, Col: n.Column}
}

// partial reports an object that is only part of one: a patch or a
// fragment, audited only where a build puts it together.
func (r *reader) partial(n *yaml.Node, obj, format string, args ...any) {
	r.errs = append(r.errs, workload.Warnf(r.pos(n), "%s is partial (%s): a patch or fragment, audited only as part of the build that uses it", obj, fmt.Sprintf(format, args...)))
}

func (r *reader) ptr(n *yaml.Node) *workload.Position {
	p := r.pos(n)
	return &p
}

func (r *reader) errorf(n *yaml.Node, format string, args ...any) {
	r.errs = append(r.errs, &workload.Error{Pos: r.pos(n), Err: fmt.Errorf(format, args...)})
}

func (r *reader) object(n *yaml.Node, depth int) {
	w := r.w
	n = w.Resolve(n)
	if !tree.IsMap(n) || depth > 8 {
		return
	}
	kind, okK := tree.Scalar(w.Get(n, "kind"))
	if _, okA := tree.Scalar(w.Get(n, "apiVersion")); !okA || !okK {
		return // not a Kubernetes object
	}
	if kind == "List" || strings.HasSuffix(kind, "List") {
		items := w.Get(n, "items")
		if items != nil && !tree.IsSeq(items) {
			r.errorf(items, "%s: items must be a list", kind)
			return
		}
		for _, it := range w.Items(items) {
			r.object(it, depth+1)
		}
		return
	}
	path, known := templatePaths[kind]
	if !known {
		switch {
		case r.hasImages(w.Path(n, "spec", "template", "spec")):
			// Other kinds that embed a pod template (Argo Rollouts,
			// OpenShift DeploymentConfig, …) — but only a real one: a
			// custom resource's spec.template.spec may be anything (an
			// ApplicationSet's is an Application).
			path = templatePaths["Deployment"]
		case r.hasImages(w.Path(n, "spec", "podSpec")):
			// Custom resources whose controller runs a pod from
			// spec.podSpec (KuberhealthyCheck, the Jenkins operator's
			// Jenkins, Seldon's Server and ServerConfig, Grove's PodClique).
			// Without images it is an override merged into pods built
			// elsewhere, which are not this object's to describe.
			path = []string{"spec", "podSpec"}
		default:
			return
		}
	}
	meta := w.Get(n, "metadata")
	name, _ := tree.Scalar(w.Get(meta, "name"))
	if name == "" {
		if g, ok := tree.Scalar(w.Get(meta, "generateName")); ok {
			name = g + "*"
		}
	}
	ns, _ := tree.Scalar(w.Get(meta, "namespace"))
	obj := kind + "/" + name
	if d := r.directive(n, 0); d != nil {
		r.partial(d, obj, "a strategic-merge %s directive", d.Value)
		return
	}
	cur := n
	for _, k := range path {
		next := w.Get(cur, k)
		if tree.IsNull(next) {
			r.partial(cur, obj, "no %s", strings.Join(path, "."))
			return
		}
		if !tree.IsMap(next) {
			r.errorf(next, "%s: %s must be a mapping", obj, k)
			return
		}
		cur = next
	}
	// The pod's metadata (for its annotations) is beside its spec.
	podMeta := meta
	if len(path) > 1 && path[len(path)-1] == "spec" {
		podMeta = w.Path(n, append(append([]string{}, path[:len(path)-1]...), "metadata")...)
	} else if len(path) > 1 {
		podMeta = nil // spec.podSpec: the controller builds the pod's metadata
	}
	r.podSpec(cur, obj, ns, podMeta)
}

// containerGroups are the lists of a pod spec that hold containers.
var containerGroups = []struct {
	key  string
	kind workload.Kind
}{
	{"initContainers", workload.KubeInitContainer},
	{"containers", workload.KubeContainer},
	{"ephemeralContainers", workload.KubeEphemeral},
}

// hasImages reports whether spec is a pod spec: a containers list whose
// every item is a mapping with an image.
func (r *reader) hasImages(spec *yaml.Node) bool {
	list := r.w.Get(spec, "containers")
	items := r.w.Items(list)
	if !tree.IsSeq(list) || len(items) == 0 {
		return false
	}
	for _, c := range items {
		if img, ok := tree.Scalar(r.w.Get(c, "image")); !ok || img == "" {
			return false
		}
	}
	return true
}

// directive returns the first key of n that is a strategic-merge patch
// directive, or nil.
func (r *reader) directive(n *yaml.Node, depth int) *yaml.Node {
	if depth > 64 {
		return nil
	}
	switch n = r.w.Resolve(n); {
	case tree.IsMap(n):
		for _, p := range r.w.Pairs(n) {
			k := p.Key.Value
			if k == "$patch" || k == "$retainKeys" || strings.HasPrefix(k, "$setElementOrder/") || strings.HasPrefix(k, "$deleteFromPrimitiveList/") {
				return p.Key
			}
			if d := r.directive(p.Value, depth+1); d != nil {
				return d
			}
		}
	case tree.IsSeq(n):
		for _, it := range r.w.Items(n) {
			if d := r.directive(it, depth+1); d != nil {
				return d
			}
		}
	}
	return nil
}

// podCtx is the pod-level securityContext, inherited by every container.
type podCtx struct {
	runAsUser    *int64
	runAsUserPos *yaml.Node
	runAsNonRoot *bool
	host         podHost
}

func (r *reader) podSpec(spec *yaml.Node, obj, ns string, meta *yaml.Node) {
	w := r.w
	var pc podCtx
	pc.host = r.podHostOf(spec, meta, obj)
	if sc := w.Get(spec, "securityContext"); !tree.IsNull(sc) {
		if !tree.IsMap(sc) {
			r.errorf(sc, "%s: securityContext must be a mapping", obj)
		} else {
			pc.runAsUser, pc.runAsUserPos = r.int64(w.Get(sc, "runAsUser"), obj, "runAsUser")
			pc.runAsNonRoot, _ = r.bool(w.Get(sc, "runAsNonRoot"), obj, "runAsNonRoot")
		}
	}
	attrs := map[string]string{"object": obj}
	for k, v := range r.attrs {
		attrs[k] = v
	}
	if ns != "" {
		attrs["namespace"] = ns
	}
	for _, k := range []string{"hostPID", "hostIPC", "hostNetwork", "hostUsers"} {
		if v, ok := tree.Scalar(w.Get(spec, k)); ok {
			attrs[k] = v
		}
	}
	// A pod spec without containers, or with a container that has no
	// image, is a patch or a fragment: the API server would refuse it.
	if tree.IsNull(w.Get(spec, "containers")) || (tree.IsSeq(w.Get(spec, "containers")) && len(w.Items(w.Get(spec, "containers"))) == 0) {
		r.partial(spec, obj, "the pod spec has no containers")
		return
	}
	for _, group := range containerGroups {
		list := w.Get(spec, group.key)
		if !tree.IsSeq(list) {
			continue
		}
		for _, c := range w.Items(list) {
			if !tree.IsMap(c) {
				continue
			}
			if img, ok := tree.Scalar(w.Get(c, "image")); !ok || img == "" {
				name, _ := tree.Scalar(w.Get(c, "name"))
				r.partial(c, obj, "%s %q has no image", strings.TrimSuffix(group.key, "s"), name)
				return
			}
		}
	}
	for _, group := range containerGroups {
		list := w.Get(spec, group.key)
		if tree.IsNull(list) {
			continue
		}
		if !tree.IsSeq(list) {
			r.errorf(list, "%s: %s must be a list", obj, group.key)
			continue
		}
		for _, c := range w.Items(list) {
			r.container(c, group.kind, obj, attrs, pc)
		}
	}
}

func (r *reader) container(c *yaml.Node, kind workload.Kind, obj string, attrs map[string]string, pc podCtx) {
	w := r.w
	if !tree.IsMap(c) {
		r.errorf(c, "%s: a container must be a mapping", obj)
		return
	}
	name, _ := tree.Scalar(w.Get(c, "name"))
	image, _ := tree.Scalar(w.Get(c, "image"))
	wl := workload.Workload{
		Pos: r.pos(c), Kind: kind, Name: obj + "/" + name, Image: image, Runtime: r.runtime,
		CapAdd: []workload.Word{}, CapDrop: []workload.Word{},
		RunAsUser: pc.runAsUser, RunAsNonRoot: pc.runAsNonRoot,
		Attrs: map[string]string{"container": name},
	}
	for k, v := range attrs {
		wl.Attrs[k] = v
	}
	userNode := pc.runAsUserPos
	capsAt := c
	if sc := w.Get(c, "securityContext"); !tree.IsNull(sc) {
		if !tree.IsMap(sc) {
			r.errorf(sc, "%s/%s: securityContext must be a mapping", obj, name)
		} else {
			capsAt = sc
			where := obj + "/" + name
			if v, n := r.int64(w.Get(sc, "runAsUser"), where, "runAsUser"); v != nil {
				wl.RunAsUser, userNode = v, n
			}
			if v, _ := r.bool(w.Get(sc, "runAsNonRoot"), where, "runAsNonRoot"); v != nil {
				wl.RunAsNonRoot = v
			}
			if v, n := r.bool(w.Get(sc, "privileged"), where, "privileged"); v != nil {
				wl.Privileged, wl.PrivilegedPos = *v, r.ptr(n)
			}
			wl.AllowPrivilegeEscalation, _ = r.bool(w.Get(sc, "allowPrivilegeEscalation"), where, "allowPrivilegeEscalation")
			if caps := w.Get(sc, "capabilities"); !tree.IsNull(caps) {
				if !tree.IsMap(caps) {
					r.errorf(caps, "%s: capabilities must be a mapping", where)
				} else {
					capsAt = caps
					wl.CapAdd = r.words(w.Get(caps, "add"), where, "capabilities.add")
					wl.CapDrop = r.words(w.Get(caps, "drop"), where, "capabilities.drop")
				}
			}
		}
	}
	wl.CapsPos = r.ptr(capsAt)
	wl.Host = r.containerHost(c, w.Get(c, "securityContext"), name, pc.host)
	if wl.RunAsUser != nil {
		wl.User = strconv.FormatInt(*wl.RunAsUser, 10)
		wl.UserPos = r.ptr(userNode)
	}
	r.out = append(r.out, wl)
}

func (r *reader) words(n *yaml.Node, where, what string) []workload.Word {
	out := []workload.Word{}
	if n == nil {
		return out
	}
	if !tree.IsSeq(n) {
		if n.Tag != "!!null" {
			r.errorf(n, "%s: %s must be a list", where, what)
		}
		return out
	}
	for _, it := range r.w.Items(n) {
		s, ok := tree.Scalar(it)
		if !ok {
			r.errorf(it, "%s: %s items must be strings", where, what)
			continue
		}
		out = append(out, workload.Word{Text: s, Pos: r.pos(it)})
	}
	return out
}

func (r *reader) int64(n *yaml.Node, where, what string) (*int64, *yaml.Node) {
	s, ok := tree.Scalar(n)
	if !ok {
		if n != nil && n.Tag != "!!null" {
			r.errorf(n, "%s: %s must be an integer", where, what)
		}
		return nil, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n.Tag != "!!int" {
		r.errorf(n, "%s: %s must be an integer, not %q", where, what, s)
		return nil, nil
	}
	return &v, n
}

func (r *reader) bool(n *yaml.Node, where, what string) (*bool, *yaml.Node) {
	s, ok := tree.Scalar(n)
	if !ok {
		if n != nil && n.Tag != "!!null" {
			r.errorf(n, "%s: %s must be true or false", where, what)
		}
		return nil, nil
	}
	v, ok := tree.Bool(s)
	if !ok || (n.Tag != "!!bool" && n.Style != 0) { // Kubernetes rejects a quoted "true"
		r.errorf(n, "%s: %s must be true or false, not %q", where, what, s)
		return nil, nil
	}
	return &v, n
}
