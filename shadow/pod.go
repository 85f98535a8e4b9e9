package shadow

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/capdrop/capdrop/capset"
)

// Labels every shadow Pod carries: LabelSession names the verification
// that made it (kubectl get pods -l capdrop.io/verify shows leftovers),
// LabelOf the workload it copies.
const (
	LabelSession = "capdrop.io/verify"
	LabelOf      = "capdrop.io/verify-of"
	// AnnotationSet holds the candidate set of the shadow's container.
	AnnotationSet = "capdrop.io/verify-set"
)

// ErrRefused is wrapped by the errors about workloads no shadow can be
// made of safely.
var ErrRefused = errors.New("refused")

// template returns the Pod template of a workload object: spec.template of
// the controllers, spec.jobTemplate.spec.template of a CronJob, and a
// Pod's own metadata and spec.
func template(kind string, obj map[string]any) (map[string]any, error) {
	var path []string
	switch kind {
	case "Pod":
		m, _ := obj["metadata"].(map[string]any)
		s, _ := obj["spec"].(map[string]any)
		if s == nil {
			return nil, fmt.Errorf("the Pod has no spec")
		}
		return map[string]any{"metadata": m, "spec": s}, nil
	case "CronJob":
		path = []string{"spec", "jobTemplate", "spec", "template"}
	default:
		path = []string{"spec", "template"}
	}
	var cur any = obj
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("no %s in the %s", strings.Join(path, "."), kind)
		}
		cur = m[p]
	}
	t, ok := cur.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("no %s in the %s", strings.Join(path, "."), kind)
	}
	if _, ok := t["spec"].(map[string]any); !ok {
		return nil, fmt.Errorf("the %s's Pod template has no spec", kind)
	}
	return t, nil
}

// decode reads JSON keeping numbers as written.
func decode(data []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

// copyJSON returns a deep copy of a decoded JSON value.
func copyJSON(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = copyJSON(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = copyJSON(e)
		}
		return l
	}
	return v
}

// Container groups in a Pod spec, and what each is called in messages.
var groups = []struct{ key, what string }{
	{"initContainers", "init container"},
	{"containers", "container"},
}

// spec is a shadow Pod in the making.
type spec struct {
	// kind, apiVersion, name and uid are the workload's; ns its
	// namespace.
	kind, apiVersion, name, uid, ns string
	tmpl                            map[string]any
	// drop are the label keys a selector in the namespace uses (nil when
	// the selectors could not be read: every label goes).
	drop map[string]bool
	// volumeClaims are a StatefulSet's volumeClaimTemplates names.
	volumeClaims []string
	// deadline is the Pod's activeDeadlineSeconds.
	deadline int64
}

// shadowName is the name of a session's nth shadow Pod.
func shadowName(session string, n int) string {
	return fmt.Sprintf("capdrop-verify-%s-%d", session, n)
}

// container finds a container of the template by name: its group key and
// the container.
func container(tmpl map[string]any, name string) (string, map[string]any) {
	s, _ := tmpl["spec"].(map[string]any)
	for _, g := range groups {
		l, _ := s[g.key].([]any)
		for _, c := range l {
			m, _ := c.(map[string]any)
			if n, _ := m["name"].(string); n == name && m != nil {
				return g.key, m
			}
		}
	}
	return "", nil
}

// containerNames lists the template's containers, init containers first.
func containerNames(tmpl map[string]any) []string {
	var out []string
	s, _ := tmpl["spec"].(map[string]any)
	for _, g := range groups {
		l, _ := s[g.key].([]any)
		for _, c := range l {
			m, _ := c.(map[string]any)
			if n, _ := m["name"].(string); n != "" {
				out = append(out, n)
			}
		}
	}
	return out
}

// notes says how every shadow differs from the workload's Pods besides
// the candidate set, and why.
func (sp *spec) notes() []string {
	var out []string
	labels := labelsOf(sp.tmpl)
	var gone []string
	for k := range labels {
		if sp.drop == nil || sp.drop[k] {
			gone = append(gone, k)
		}
	}
	slices.Sort(gone)
	if len(gone) > 0 {
		why := "selected by a Service, a controller or a PodDisruptionBudget in the namespace"
		if sp.drop == nil {
			why = "the namespace's selectors could not be read, so every label goes"
		}
		out = append(out, fmt.Sprintf("labels %s left out (%s): no Service sends a shadow traffic, no controller adopts it", strings.Join(gone, ", "), why))
	}
	s, _ := sp.tmpl["spec"].(map[string]any)
	for _, g := range groups {
		l, _ := s[g.key].([]any)
		for _, c := range l {
			m, _ := c.(map[string]any)
			ports, _ := m["ports"].([]any)
			for _, p := range ports {
				pm, _ := p.(map[string]any)
				if _, ok := pm["hostPort"]; ok {
					out = append(out, fmt.Sprintf("host port %v of container %v left out (it would collide with the workload's own Pods)", pm["hostPort"], m["name"]))
				}
			}
		}
	}
	if len(sp.volumeClaims) > 0 {
		out = append(out, fmt.Sprintf("volume claim templates %s replaced by empty directories (a shadow never touches the StatefulSet's volumes)", strings.Join(sp.volumeClaims, ", ")))
	}
	if h, _ := s["hostNetwork"].(bool); h {
		out = append(out, "the Pod uses the host's network: a shadow on the same node as the workload's Pods may find its ports taken")
	}
	for _, v := range volumesOf(s) {
		if _, ok := v["persistentVolumeClaim"]; ok {
			out = append(out, fmt.Sprintf("volume %v is a PersistentVolumeClaim: shadows mount the workload's own data (and a ReadWriteOnce claim holds them to its node)", v["name"]))
		}
		if _, ok := v["hostPath"]; ok {
			out = append(out, fmt.Sprintf("volume %v is a host path: shadows write where the workload writes", v["name"]))
		}
	}
	return out
}

func labelsOf(tmpl map[string]any) map[string]string {
	out := map[string]string{}
	m, _ := tmpl["metadata"].(map[string]any)
	l, _ := m["labels"].(map[string]any)
	for k, v := range l {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}

func volumesOf(s map[string]any) []map[string]any {
	var out []map[string]any
	l, _ := s["volumes"].([]any)
	for _, v := range l {
		if m, ok := v.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// KubeNames writes a set as a manifest's capabilities.add wants it:
// upper-case names without CAP_ (containerd prefixes CAP_ to every name,
// so CAP_CHOWN would become CAP_CAP_CHOWN and be silently not granted).
func KubeNames(s capset.Set) []string {
	out := []string{}
	for _, n := range s.Names() {
		out = append(out, strings.TrimPrefix(n, "CAP_"))
	}
	return out
}

// pod returns the nth shadow Pod of the session, its target container
// dropping ALL and adding exactly set.
func (sp *spec) pod(session string, n int, target string, set capset.Set) ([]byte, error) {
	t := copyJSON(sp.tmpl).(map[string]any)
	meta, _ := t["metadata"].(map[string]any)
	labels := map[string]any{}
	for k, v := range labelsOf(t) {
		if sp.drop != nil && !sp.drop[k] {
			labels[k] = v
		}
	}
	labels[LabelSession] = session
	labels[LabelOf] = labelValue(sp.kind + "." + sp.name)
	annotations := map[string]any{}
	if a, ok := meta["annotations"].(map[string]any); ok {
		maps.Copy(annotations, a)
	}
	// The annotations the API server, kubectl or a controller wrote about
	// the workload object are not the template's.
	delete(annotations, "kubectl.kubernetes.io/last-applied-configuration")
	annotations[AnnotationSet] = strings.Join(KubeNames(set), ",")
	annotations[LabelOf] = sp.ns + "/" + sp.kind + "/" + sp.name + " container " + target
	newMeta := map[string]any{"name": shadowName(session, n), "namespace": sp.ns, "labels": labels, "annotations": annotations}
	if sp.uid != "" {
		// Owned, not controlled: the garbage collector removes shadows
		// with the workload, and no controller takes them for its own.
		newMeta["ownerReferences"] = []any{map[string]any{"apiVersion": sp.apiVersion, "kind": sp.kind, "name": sp.name, "uid": sp.uid,
			"controller": false, "blockOwnerDeletion": false}}
	}
	s := t["spec"].(map[string]any)
	// What a Pod's spec holds that its template never does.
	for _, k := range []string{"nodeName", "ephemeralContainers"} {
		delete(s, k)
	}
	s["activeDeadlineSeconds"] = sp.deadline
	for _, g := range groups {
		l, _ := s[g.key].([]any)
		for _, c := range l {
			m, _ := c.(map[string]any)
			ports, _ := m["ports"].([]any)
			for _, p := range ports {
				if pm, ok := p.(map[string]any); ok {
					delete(pm, "hostPort")
				}
			}
		}
	}
	if len(sp.volumeClaims) > 0 {
		vols, _ := s["volumes"].([]any)
		for _, name := range sp.volumeClaims {
			vols = append(vols, map[string]any{"name": name, "emptyDir": map[string]any{}})
		}
		s["volumes"] = vols
	}
	_, c := container(t, target)
	if c == nil {
		return nil, fmt.Errorf("no container %s in the Pod template", target)
	}
	sc, _ := c["securityContext"].(map[string]any)
	if sc == nil {
		sc = map[string]any{}
		c["securityContext"] = sc
	}
	if p, _ := sc["privileged"].(bool); p {
		return nil, fmt.Errorf("%w: container %s is privileged, which grants every capability whatever the set: remove privileged first", ErrRefused, target)
	}
	add := []any{}
	for _, n := range KubeNames(set) {
		add = append(add, n)
	}
	sc["capabilities"] = map[string]any{"drop": []any{"ALL"}, "add": add}
	if _, ok := sc["allowPrivilegeEscalation"]; !ok {
		sc["allowPrivilegeEscalation"] = false
	}
	out := map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": newMeta, "spec": s}
	return json.Marshal(out)
}

// labelValue makes s a valid label value: at most 63 characters of
// [A-Za-z0-9._-], starting and ending with an alphanumeric.
func labelValue(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	if len(b) > 63 {
		b = b[:63]
	}
	return strings.Trim(string(b), "._-")
}
