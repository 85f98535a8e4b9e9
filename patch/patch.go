// Package patch turns cluster profiles into patches a platform team can
// merge: per workload, a strategic-merge patch (usable as a kustomize patch,
// or with kubectl patch) whose every profiled container drops ALL, adds
// exactly the capabilities its profile recommends, and sets
// allowPrivilegeEscalation: false.
//
// capabilities.add and capabilities.drop are atomic lists in the
// Kubernetes API: a strategic merge replaces them whole. So a patch always
// carries both lists complete (an empty add is written as add: [], or the
// old list would stay); containers without a usable profile are left out
// of it, which leaves them as they are (containers merge by name).
//
// Recommend reads; only Apply writes, and only after the API server
// accepted the same patch in a server-side dry run. A workload that Helm,
// Argo CD, Flux or an operator manages would get the patch reverted at the
// next sync: Recommend says so, and Apply leaves it alone — its patch
// belongs in git (capdrop fix).
package patch

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/cluster"
	"github.com/capdrop/capdrop/clusterprofile"
	"github.com/capdrop/capdrop/evidence"
	"github.com/capdrop/capdrop/merge"
	"github.com/capdrop/capdrop/workload"
)

// Version is the JSON document's format version.
const Version = 1

// FieldManager names capdrop in the objects it patches.
const FieldManager = "capdrop"

// API is what Recommend and Apply need of the cluster; *cluster.Client
// has it.
type API interface {
	Object(ctx context.Context, r cluster.Resource, namespace, name string) (*cluster.Object, error)
	Patch(ctx context.Context, r cluster.Resource, namespace, name string, patch []byte, o cluster.WriteOptions) (json.RawMessage, error)
}

// Options say what to recommend from.
type Options struct {
	// Evidence is a cluster profile (evidence.Read of `capdrop k8s
	// profile -o json`).
	Evidence evidence.Evidence
	// API reads each workload as it is now (its managers, its
	// containers, what they hold). Nil: the profile alone (offline), and
	// nothing is checked against the cluster.
	API API
	// Keep selects the workloads (nil keeps all).
	Keep func(Ref) bool
	// AllowPartial uses partial profiles; AllowWiden lets a set hold
	// capabilities the container does not hold today.
	AllowPartial, AllowWiden bool
}

// Ref names a workload: its namespace and top controller.
type Ref struct {
	Namespace  string `json:"namespace"`
	APIVersion string `json:"api_version"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
}

// String is namespace/Kind/name.
func (r Ref) String() string { return cluster.Location(r.Namespace, r.Kind, r.Name) }

// Result is every recommendation, the document `capdrop k8s recommend -o
// json` prints.
type Result struct {
	Version int `json:"version"`
	// Profiles names the cluster profile read.
	Profiles string `json:"profiles"`
	// Offline is true when the cluster was not read.
	Offline         bool              `json:"offline"`
	Recommendations []*Recommendation `json:"recommendations"`
	// Applied is true when --apply ran.
	Applied bool `json:"applied"`
}

// Recommendation is one workload's patch.
type Recommendation struct {
	Workload   Ref          `json:"workload"`
	Containers []*Container `json:"containers"`
	// Patch is the strategic-merge patch; nil when no container of the
	// workload has a usable profile.
	Patch *Doc `json:"patch"`
	// Live is false when the API server cannot take the patch on a live
	// object (a Pod's or a Job's Pod template is immutable): it belongs
	// in the manifest.
	Live bool `json:"live"`
	// ManagedBy says what would revert a live patch (Helm, Argo CD, Flux,
	// an operator), with how it was recognised.
	ManagedBy []Manager `json:"managed_by"`
	// Notes say what else the reader should know.
	Notes []string `json:"notes"`
	// Apply is what --apply did (nil without it).
	Apply *Applied `json:"apply,omitempty"`
}

// Manager is a tool that owns a workload's manifest.
type Manager struct {
	Tool string `json:"tool"`
	// Evidence is the label, annotation, field manager or owner that
	// says so.
	Evidence string `json:"evidence"`
}

// Container is one container's recommendation.
type Container struct {
	Name string `json:"name"`
	// Type is "container", "init" or "sidecar".
	Type string `json:"type"`
	// Add is what the patch adds (short names, as the API takes them);
	// Drop is always ["ALL"]. Set is Add as a set.
	Add  []string   `json:"add"`
	Drop []string   `json:"drop"`
	Set  capset.Set `json:"set"`
	// AllowPrivilegeEscalation is what the patch sets (nil: not set,
	// see Notes).
	AllowPrivilegeEscalation *bool `json:"allow_privilege_escalation"`
	// Held is what the container holds today, under its runtime's rules
	// (nil offline); Removed what the patch takes away from it.
	Held    []string `json:"held"`
	Removed []string `json:"removed"`
	// From names the profile the set came from.
	From     string   `json:"from"`
	Complete bool     `json:"complete"`
	Images   []string `json:"images"`
	// Skipped says why the container is not in the patch ("" when it
	// is).
	Skipped string   `json:"skipped,omitempty"`
	Notes   []string `json:"notes"`
}

// Applied is what Apply did to a workload.
type Applied struct {
	// Status is "applied", "dry-run-failed", "failed", "skipped",
	// "unchanged" or "interrupted" (the patch was not sent: Ctrl-C or
	// SIGTERM came first).
	Status  string `json:"status"`
	Message string `json:"message"`
}

// Recommend makes the patches. It writes nothing. An error is returned
// only for what stops every recommendation; a workload that cannot be read
// gets its patch from the profile alone, with a note.
func Recommend(ctx context.Context, o Options) (*Result, error) {
	ev := o.Evidence
	if ev.Kind != evidence.ClusterProfile || ev.Profiles == nil {
		return nil, fmt.Errorf("%s: %w: k8s recommend reads a cluster profile (capdrop k8s profile -o json), not a %s", ev.Name, evidence.ErrNotEvidence, cmp.Or(string(ev.Kind), "document"))
	}
	res := &Result{Version: Version, Profiles: ev.Name, Offline: o.API == nil, Recommendations: []*Recommendation{}}
	// The workloads, in the document's order, each with its containers.
	type key struct{ ns, kind, name string }
	var order []key
	conts := map[key][]clusterprofile.Workload{}
	refs := map[key]Ref{}
	for _, p := range ev.Profiles.Profiles {
		w := p.Workload
		k := key{w.Namespace, w.Kind, w.Name}
		r := Ref{Namespace: w.Namespace, APIVersion: w.APIVersion, Kind: w.Kind, Name: w.Name}
		if o.Keep != nil && !o.Keep(r) {
			continue
		}
		if _, ok := conts[k]; !ok {
			order = append(order, k)
			refs[k] = r
		}
		c := clusterprofile.Workload{Container: w.Container, ContainerType: w.ContainerType}
		if !slices.Contains(conts[k], c) {
			conts[k] = append(conts[k], c)
		}
	}
	for _, k := range order {
		rec, err := recommend(ctx, o, refs[k], conts[k])
		if err != nil {
			return res, err
		}
		res.Recommendations = append(res.Recommendations, rec)
	}
	return res, nil
}

func recommend(ctx context.Context, o Options, ref Ref, conts []clusterprofile.Workload) (*Recommendation, error) {
	rec := &Recommendation{Workload: ref, Containers: []*Container{}, ManagedBy: []Manager{}, Notes: []string{}}
	res, known := cluster.Lookup(ref.Kind)
	if !known {
		rec.Notes = append(rec.Notes, fmt.Sprintf("%s is not a workload kind capdrop knows the Pod template of: no patch", ref.Kind))
		return rec, nil
	}
	if ref.APIVersion == "" {
		rec.Workload.APIVersion = res.APIVersion()
	}
	rec.Live = ref.Kind != "Pod" && ref.Kind != "Job"
	if !rec.Live {
		rec.Notes = append(rec.Notes, fmt.Sprintf("a %s's Pod template cannot be changed on the live object: write the set into its manifest (capdrop fix) and recreate it", ref.Kind))
	}
	var obj *cluster.Object
	if o.API != nil {
		var err error
		obj, err = o.API.Object(ctx, res, ref.Namespace, ref.Name)
		switch {
		case errors.Is(err, cluster.ErrNotFound):
			rec.Notes = append(rec.Notes, "the workload is no longer in the cluster: the patch is made from the profile alone")
		case err != nil && ctx.Err() != nil:
			return nil, err
		case err != nil:
			rec.Notes = append(rec.Notes, fmt.Sprintf("the workload could not be read (%v): the patch is made from the profile alone", err))
		default:
			rec.ManagedBy = managers(obj)
			for _, m := range rec.ManagedBy {
				rec.Notes = append(rec.Notes, fmt.Sprintf("managed by %s (%s): a live patch would be reverted at its next sync; put the set into the manifest in git (capdrop fix FILE --from PROFILE), and the patch is what to merge", m.Tool, m.Evidence))
			}
		}
	}
	for _, cw := range conts {
		rec.Containers = append(rec.Containers, container(o, ref, cw, obj))
	}
	if obj != nil {
		// Containers of the workload no profile covers stay as they are.
		for _, w := range obj.Containers {
			if w.Kind == workload.KubeEphemeral {
				continue
			}
			name, init := w.Attrs["container"], w.Kind == workload.KubeInitContainer
			covered := slices.ContainsFunc(conts, func(c clusterprofile.Workload) bool {
				return c.Container == name && (c.ContainerType != "container") == init
			})
			if !covered {
				rec.Notes = append(rec.Notes, fmt.Sprintf("%s %s has no profile: the patch leaves it as it is", kindWord(init), name))
			}
		}
	}
	var in []*Container
	for _, c := range rec.Containers {
		if c.Skipped == "" {
			in = append(in, c)
		}
	}
	if len(in) > 0 {
		rec.Patch = build(rec.Workload, in)
	}
	return rec, nil
}

func kindWord(init bool) string {
	if init {
		return "init container"
	}
	return "container"
}

// container makes one container's recommendation from its profile and,
// when read, the workload as it is.
func container(o Options, ref Ref, cw clusterprofile.Workload, obj *cluster.Object) *Container {
	init := cw.ContainerType == "init" || cw.ContainerType == "sidecar"
	c := &Container{Name: cw.Container, Type: cmp.Or(cw.ContainerType, "container"), Drop: []string{"ALL"},
		Add: []string{}, Removed: []string{}, Images: []string{}, Notes: []string{}}
	var w *workload.Workload
	if obj != nil {
		for i := range obj.Containers {
			x := &obj.Containers[i]
			if x.Attrs["container"] == cw.Container && (x.Kind == workload.KubeInitContainer) == init {
				w = x
			}
		}
		if w == nil {
			c.Skipped = fmt.Sprintf("the workload has no %s %s any more", kindWord(init), cw.Container)
			return c
		}
	}
	r := evidence.Ref{Namespace: ref.Namespace, Kind: ref.Kind, Name: ref.Name, Container: cw.Container, Init: init}
	if w != nil {
		r.Image = w.Image
	}
	ev, notes, err := o.Evidence.Pick(r, o.AllowPartial)
	c.Notes = append(c.Notes, notes...)
	if err != nil {
		c.Skipped = err.Error()
		if errors.Is(err, evidence.ErrPartial) {
			c.Skipped = "its profile is partial: " + partialWhy(o.Evidence.Profiles, cw, ref) + " (profile it from its start, or pass --allow-partial)"
		}
		return c
	}
	c.From = ev.String()
	for _, p := range o.Evidence.Profiles.Find(clusterprofile.Workload{Namespace: ref.Namespace, Kind: ref.Kind, Name: ref.Name, Container: cw.Container, ContainerType: cw.ContainerType}) {
		if p.Workload.String() == ev.Workload {
			c.Complete = c.Complete || p.Complete
			for _, i := range p.Images {
				if !slices.Contains(c.Images, i.Image) {
					c.Images = append(c.Images, i.Image)
				}
			}
		}
	}
	c.Set = ev.Set
	c.Add = kubeNames(ev.Set)
	f := false
	c.AllowPrivilegeEscalation = &f
	if ev.Set.Has(capset.SYS_ADMIN) {
		// The API server refuses allowPrivilegeEscalation: false next
		// to an added SYS_ADMIN.
		c.AllowPrivilegeEscalation = nil
		c.Notes = append(c.Notes, "allowPrivilegeEscalation: false is left out: the API server refuses it next to an added SYS_ADMIN")
	}
	if w == nil {
		return c
	}
	if w.Privileged {
		c.Skipped = "it is privileged, which grants every capability whatever the lists say: remove privileged, check the workload still works, then profile it again"
		return c
	}
	if w.AllowPrivilegeEscalation != nil && *w.AllowPrivilegeEscalation && c.AllowPrivilegeEscalation != nil {
		c.Notes = append(c.Notes, "it sets allowPrivilegeEscalation: true, which the patch turns to false: a setuid or file-capability binary it runs would no longer gain privileges")
	}
	mopts := merge.Options{}
	for _, n := range obj.Nodes {
		if n.Runtime == w.Runtime {
			if v, err := merge.ParseVersion(n.Version); err == nil {
				mopts.Versions = map[workload.Runtime]merge.Version{n.Runtime: v}
			}
		}
	}
	m := merge.Compute(*w, mopts)
	held := m.Held()
	c.Held = held.Names()
	c.Removed = held.Minus(ev.Set).Names()
	if extra := ev.Set.Minus(held); !extra.IsEmpty() && m.Refusal == nil && !o.AllowWiden {
		c.Skipped = fmt.Sprintf("its profile's set holds %s, which it does not hold today: capdrop never widens privileges (pass --allow-widen if you mean it)", strings.Join(extra.ShortNames(), ", "))
	}
	if !m.Root && !ev.Set.IsEmpty() {
		c.Notes = append(c.Notes, "it runs as a non-root user: the added capabilities go only into its bounding set (usable through file capabilities)")
	}
	return c
}

func partialWhy(d *clusterprofile.Document, cw clusterprofile.Workload, ref Ref) string {
	var why []string
	for _, p := range d.Find(clusterprofile.Workload{Namespace: ref.Namespace, Kind: ref.Kind, Name: ref.Name, Container: cw.Container, ContainerType: cw.ContainerType}) {
		for _, r := range p.Partial {
			if s := r.Reason + ": " + r.Detail; !slices.Contains(why, s) {
				why = append(why, s)
			}
		}
	}
	return strings.Join(why, "; ")
}

// kubeNames writes a set as capabilities.add wants it: upper-case names
// without CAP_ (containerd prefixes CAP_ to every name, so CAP_CHOWN would
// become CAP_CAP_CHOWN and be silently not granted).
func kubeNames(s capset.Set) []string {
	out := []string{}
	for _, n := range s.Names() {
		out = append(out, strings.TrimPrefix(n, "CAP_"))
	}
	return out
}

// The labels, annotations and field managers that say a tool owns a
// workload's manifest.
var (
	managerLabels = []struct{ key, value, tool string }{
		{"app.kubernetes.io/managed-by", "Helm", "Helm"},
		{"helm.toolkit.fluxcd.io/name", "", "Flux (HelmRelease)"},
		{"kustomize.toolkit.fluxcd.io/name", "", "Flux (Kustomization)"},
		{"argocd.argoproj.io/instance", "", "Argo CD"},
	}
	managerAnnotations = []struct{ key, tool string }{
		{"meta.helm.sh/release-name", "Helm"},
		{"argocd.argoproj.io/tracking-id", "Argo CD"},
	}
	fieldManagers = map[string]string{
		"helm": "Helm", "argocd-controller": "Argo CD", "argocd-application-controller": "Argo CD",
		"kustomize-controller": "Flux (Kustomization)", "helm-controller": "Flux (HelmRelease)",
	}
)

// managers says which tools own the object, once each, with the first
// sign found.
func managers(o *cluster.Object) []Manager {
	out := []Manager{}
	add := func(tool, why string) {
		if !slices.ContainsFunc(out, func(m Manager) bool { return m.Tool == tool }) {
			out = append(out, Manager{Tool: tool, Evidence: why})
		}
	}
	for _, l := range managerLabels {
		if v, ok := o.Labels[l.key]; ok && (l.value == "" || strings.EqualFold(v, l.value)) {
			add(l.tool, "label "+l.key+"="+v)
		}
	}
	for _, a := range managerAnnotations {
		if v, ok := o.Annotations[a.key]; ok {
			add(a.tool, "annotation "+a.key+"="+v)
		}
	}
	for _, m := range o.Managers {
		if t, ok := fieldManagers[m]; ok {
			add(t, "field manager "+m)
		}
	}
	if o.Controller != "" {
		add("its controller "+o.Controller, "owner reference with controller: true")
	}
	return out
}

// Doc is a strategic-merge patch of a workload, with what kustomize needs
// to find its target (apiVersion, kind, metadata).
type Doc struct {
	APIVersion string   `json:"apiVersion" yaml:"apiVersion"`
	Kind       string   `json:"kind" yaml:"kind"`
	Metadata   Metadata `json:"metadata" yaml:"metadata"`
	Spec       any      `json:"spec" yaml:"spec"`
}

// Metadata names the patched object.
type Metadata struct {
	Name      string `json:"name" yaml:"name"`
	Namespace string `json:"namespace,omitempty" yaml:"namespace,omitempty"`
}

type podSpec struct {
	InitContainers []patchContainer `json:"initContainers,omitempty" yaml:"initContainers,omitempty"`
	Containers     []patchContainer `json:"containers,omitempty" yaml:"containers,omitempty"`
}

type patchContainer struct {
	Name            string          `json:"name" yaml:"name"`
	SecurityContext securityContext `json:"securityContext" yaml:"securityContext"`
}

type securityContext struct {
	AllowPrivilegeEscalation *bool        `json:"allowPrivilegeEscalation,omitempty" yaml:"allowPrivilegeEscalation,omitempty"`
	Capabilities             capabilities `json:"capabilities" yaml:"capabilities"`
}

// capabilities are both lists, always: they are atomic in a strategic
// merge, so each replaces the object's list whole.
type capabilities struct {
	Add  []string `json:"add" yaml:"add"`
	Drop []string `json:"drop" yaml:"drop"`
}

type template struct {
	Spec podSpec `json:"spec" yaml:"spec"`
}

type templateSpec struct {
	Template template `json:"template" yaml:"template"`
}

type jobTemplate struct {
	Spec templateSpec `json:"spec" yaml:"spec"`
}

type cronJobSpec struct {
	JobTemplate jobTemplate `json:"jobTemplate" yaml:"jobTemplate"`
}

// build makes the patch of a workload's containers.
func build(ref Ref, cs []*Container) *Doc {
	var ps podSpec
	for _, c := range cs {
		pc := patchContainer{Name: c.Name, SecurityContext: securityContext{
			AllowPrivilegeEscalation: c.AllowPrivilegeEscalation,
			Capabilities:             capabilities{Add: slices.Clone(c.Add), Drop: []string{"ALL"}}}}
		if pc.SecurityContext.Capabilities.Add == nil {
			pc.SecurityContext.Capabilities.Add = []string{}
		}
		if c.Type == "container" {
			ps.Containers = append(ps.Containers, pc)
		} else {
			ps.InitContainers = append(ps.InitContainers, pc)
		}
	}
	d := &Doc{APIVersion: ref.APIVersion, Kind: ref.Kind, Metadata: Metadata{Name: ref.Name, Namespace: ref.Namespace}}
	switch ref.Kind {
	case "Pod":
		d.Spec = ps
	case "CronJob":
		d.Spec = cronJobSpec{JobTemplate: jobTemplate{Spec: templateSpec{Template: template{Spec: ps}}}}
	default:
		d.Spec = templateSpec{Template: template{Spec: ps}}
	}
	return d
}

// YAML is the patch as a YAML document.
func (d *Doc) YAML() ([]byte, error) {
	var b bytes.Buffer
	e := yaml.NewEncoder(&b)
	e.SetIndent(2)
	if err := e.Encode(d); err != nil {
		return nil, err
	}
	if err := e.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// body is the patch the API server is sent: the spec alone (the object is
// named in the request).
func (d *Doc) body() ([]byte, error) {
	return json.Marshal(map[string]any{"spec": d.Spec})
}
