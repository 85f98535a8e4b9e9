package cluster

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/capdrop/capdrop/source/kube"
	"github.com/capdrop/capdrop/workload"
)

// Result is what Read found.
type Result struct {
	// Workloads are the containers of every live Pod (Pending or
	// Running), then of every template no listed controller controls,
	// in list order. Their positions name the object (File is
	// namespace/Kind/name); Attrs carry "origin" (pod or template),
	// "controller" (the top controller, Kind/name), and for Pods "pod",
	// "pod_uid", "node", "phase", "container_id", "state".
	Workloads []workload.Workload
	// Errors are objects source/kube could not read in full.
	Errors []*workload.Error
	// Skipped are the resources that could not be read (Forbidden, not
	// served), each once per namespace.
	Skipped []Skip
	// Nodes are the cluster's nodes with their container runtimes.
	Nodes []Node
	// Differences are the live Pod containers that differ from the
	// template of their top controller.
	Differences []Difference
	// Objects and Pages count what was listed; OwnerReads the metadata
	// reads of owners that were not listed; Finished the Pods passed over
	// because they have ended (Succeeded, Failed).
	Objects, Pages, OwnerReads, Finished int
	// Bytes is the size of the list responses read.
	Bytes int64
}

// Skip is a resource Read could not read.
type Skip struct {
	Resource  string `json:"resource"`
	Namespace string `json:"namespace,omitempty"`
	// Forbidden is true when the credentials lack the permission.
	Forbidden bool   `json:"forbidden"`
	Reason    string `json:"reason"`
}

// Difference is a Pod's container that differs from the template that
// produces its controller's next Pods.
type Difference struct {
	Namespace  string        `json:"namespace"`
	Pod        string        `json:"pod"`
	Container  string        `json:"container"`
	Kind       workload.Kind `json:"kind"`
	Controller Controller    `json:"controller"`
	// Fields say what differs, "field: pod VALUE, template VALUE", or that
	// the container is in only one of them.
	Fields []string `json:"fields"`
}

// Read lists the cluster, one page at a time. It fails only when the API
// server cannot be used at all (unreachable, credentials refused);
// resources the credentials may not list are Skipped.
func (c *Client) Read(ctx context.Context, opts Options) (*Result, error) {
	rd := &reader{c: c, opts: opts, res: &Result{}, owners: newOwners(c), tmpl: map[string]map[string]int{}}
	rd.opts.PageSize = cmp.Or(opts.PageSize, 500)
	if err := rd.readNodes(ctx); err != nil {
		return nil, err
	}
	for _, r := range templates {
		if err := rd.readAll(ctx, r, rd.template); err != nil {
			return nil, err
		}
	}
	if err := rd.readAll(ctx, pods, rd.pod); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(rd.owners.problems))
	for k := range rd.owners.problems {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		err := rd.owners.problems[k]
		rd.res.Skipped = append(rd.res.Skipped, Skip{Resource: k + " (owners)", Forbidden: apierrors.IsForbidden(err), Reason: err.Error()})
	}
	rd.res.OwnerReads = rd.owners.Gets
	return rd.res, nil
}

type reader struct {
	c      *Client
	opts   Options
	res    *Result
	owners *owners
	// runtime is the runtime every node runs, "" when they differ or
	// none is known.
	runtime workload.Runtime
	byNode  map[string]Node
	// tmpl holds each top controller's template containers: the index in
	// res.Workloads, by namespace/Kind/name, then container-kind/name.
	tmpl map[string]map[string]int
}

// readAll lists r and passes every object to f; a Forbidden or unserved
// resource is skipped.
func (rd *reader) readAll(ctx context.Context, r Resource, f func(context.Context, Resource, json.RawMessage) error) error {
	pages, n, err := rd.c.list(ctx, r, rd.c.Namespace, rd.opts.Selector, rd.opts.PageSize, func(item json.RawMessage) error {
		rd.res.Objects++
		return f(ctx, r, item)
	})
	rd.res.Pages += pages
	rd.res.Bytes += n
	if err == nil {
		return nil
	}
	if apierrors.IsForbidden(err) || apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err) {
		ns := rd.c.Namespace
		if !r.Namespaced {
			ns = ""
		}
		rd.res.Skipped = append(rd.res.Skipped, Skip{Resource: r.String(), Namespace: ns, Forbidden: apierrors.IsForbidden(err), Reason: err.Error()})
		return nil
	}
	var status apierrors.APIStatus
	if !errors.As(err, &status) && ctx.Err() == nil {
		return fmt.Errorf("%w: %s: %w", ErrUnreachable, rd.c.Host, err)
	}
	return err
}

// object is what this package reads of every object besides what
// source/kube reads.
type object struct {
	APIVersion string     `json:"apiVersion"`
	Kind       string     `json:"kind"`
	Metadata   objectMeta `json:"metadata"`
}

// convert reads one object with source/kube. List items carry no kind:
// it is put back first.
func (rd *reader) convert(r Resource, item json.RawMessage, o *object, runtime workload.Runtime) []workload.Workload {
	data := bytes.TrimSpace(item)
	if o.Kind == "" && len(data) > 1 && data[0] == '{' {
		head := fmt.Sprintf(`{"apiVersion":%q,"kind":%q`, r.APIVersion(), r.Kind)
		if bytes.TrimSpace(data[1:])[0] != '}' {
			head += ","
		}
		data = append([]byte(head), data[1:]...)
	}
	loc := Location(o.Metadata.Namespace, r.Kind, o.Metadata.Name)
	ws, errs := kube.Parse(loc, data, true, runtime)
	for _, e := range errs {
		e.Pos = workload.Position{File: loc}
		rd.res.Errors = append(rd.res.Errors, e)
	}
	for i := range ws {
		relocate(&ws[i], loc)
	}
	return ws
}

// Location is how an object is named in findings: namespace/Kind/name.
func Location(namespace, kind, name string) string {
	if namespace == "" {
		return kind + "/" + name
	}
	return namespace + "/" + kind + "/" + name
}

func (rd *reader) template(ctx context.Context, r Resource, item json.RawMessage) error {
	var o object
	if err := json.Unmarshal(item, &o); err != nil {
		rd.res.Errors = append(rd.res.Errors, &workload.Error{Pos: workload.Position{File: r.String()}, Err: fmt.Errorf("decode: %w", err)})
		return nil
	}
	ctl := controller(o.Metadata.OwnerReferences)
	listedOwner := false
	if ctl != nil {
		_, listedOwner = rd.owners.seen[ctl.UID]
	}
	rd.owners.remember(r.Kind, o.Metadata)
	if listedOwner {
		// A ReplicaSet of a Deployment, a Job of a CronJob: the
		// controller's template is what makes the next Pods.
		return nil
	}
	top := rd.owners.top(ctx, o.Metadata.Namespace, r.Kind, o.Metadata.Name, ctl)
	for _, w := range rd.convert(r, item, &o, rd.runtime) {
		w.Attrs["origin"] = "template"
		w.Attrs["controller"] = top.String()
		rd.note(&w)
		rd.res.Workloads = append(rd.res.Workloads, w)
		if top.Kind == r.Kind && top.Name == o.Metadata.Name {
			k := Location(o.Metadata.Namespace, top.Kind, top.Name)
			if rd.tmpl[k] == nil {
				rd.tmpl[k] = map[string]int{}
			}
			rd.tmpl[k][string(w.Kind)+"/"+w.Attrs["container"]] = len(rd.res.Workloads) - 1
		}
	}
	return nil
}

// podInfo is what this package reads of a Pod besides its spec.
type podInfo struct {
	Spec struct {
		NodeName string `json:"nodeName"`
	} `json:"spec"`
	Status struct {
		Phase                      string            `json:"phase"`
		InitContainerStatuses      []containerStatus `json:"initContainerStatuses"`
		ContainerStatuses          []containerStatus `json:"containerStatuses"`
		EphemeralContainerStatuses []containerStatus `json:"ephemeralContainerStatuses"`
	} `json:"status"`
}

type containerStatus struct {
	Name        string `json:"name"`
	ContainerID string `json:"containerID"`
	State       map[string]json.RawMessage
}

func (rd *reader) pod(ctx context.Context, r Resource, item json.RawMessage) error {
	var o struct {
		object
		podInfo
	}
	if err := json.Unmarshal(item, &o); err != nil {
		rd.res.Errors = append(rd.res.Errors, &workload.Error{Pos: workload.Position{File: r.String()}, Err: fmt.Errorf("decode: %w", err)})
		return nil
	}
	if o.Status.Phase == "Succeeded" || o.Status.Phase == "Failed" {
		rd.res.Finished++
		return nil
	}
	m := o.Metadata
	top := rd.owners.top(ctx, m.Namespace, r.Kind, m.Name, controller(m.OwnerReferences))
	runtime := rd.runtime
	node, onNode := rd.byNode[o.Spec.NodeName]
	if onNode && node.Runtime != "" {
		runtime = node.Runtime
	}
	statuses := map[workload.Kind][]containerStatus{
		workload.KubeInitContainer: o.Status.InitContainerStatuses,
		workload.KubeContainer:     o.Status.ContainerStatuses,
		workload.KubeEphemeral:     o.Status.EphemeralContainerStatuses,
	}
	ws := rd.convert(r, item, &o.object, runtime)
	tmpl := rd.tmpl[Location(m.Namespace, top.Kind, top.Name)]
	inPod := map[string]bool{}
	for _, w := range ws {
		name := w.Attrs["container"]
		inPod[string(w.Kind)+"/"+name] = true
		w.Attrs["origin"] = "pod"
		w.Attrs["controller"] = top.String()
		w.Attrs["pod"] = m.Name
		w.Attrs["pod_uid"] = m.UID
		w.Attrs["phase"] = o.Status.Phase
		if o.Spec.NodeName != "" {
			w.Attrs["node"] = o.Spec.NodeName
		}
		for _, st := range statuses[w.Kind] {
			if st.Name != name {
				continue
			}
			if st.ContainerID != "" {
				w.Attrs["container_id"] = st.ContainerID
			}
			for k := range st.State {
				w.Attrs["state"] = k
			}
		}
		rd.note(&w)
		rd.res.Workloads = append(rd.res.Workloads, w)
		if w.Kind == workload.KubeEphemeral {
			continue // never in a template
		}
		if tmpl == nil {
			continue
		}
		if i, ok := tmpl[string(w.Kind)+"/"+name]; ok {
			if fields := differ(&w, &rd.res.Workloads[i]); len(fields) > 0 {
				rd.differ(m, name, w.Kind, top, fields)
			}
		} else {
			rd.differ(m, name, w.Kind, top, []string{"container not in the template (added at admission, or by an older revision)"})
		}
	}
	keys := make([]string, 0, len(tmpl))
	for k := range tmpl {
		if !inPod[k] {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		t := &rd.res.Workloads[tmpl[k]]
		rd.differ(m, t.Attrs["container"], t.Kind, top, []string{"container in the template but not in the Pod (an older revision)"})
	}
	return nil
}

func (rd *reader) differ(m objectMeta, container string, kind workload.Kind, top Controller, fields []string) {
	rd.res.Differences = append(rd.res.Differences, Difference{
		Namespace: m.Namespace, Pod: m.Name, Container: container, Kind: kind, Controller: top, Fields: fields,
	})
}

// note says where the runtime came from.
func (rd *reader) note(w *workload.Workload) {
	node, ok := rd.byNode[w.Attrs["node"]]
	switch {
	case ok && node.Runtime != "":
		w.Attrs["runtime_from"] = "node " + node.Name + " (" + node.RuntimeVersion + ")"
	case rd.runtime != "":
		w.Attrs["runtime_from"] = "every node runs " + string(rd.runtime)
	default:
		w.Attrs["runtime_from"] = "assumed: the nodes' runtimes are not known or differ"
	}
}
