package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	"github.com/capdrop/capdrop/workload"
)

// More resources the verbs that act on one workload read: Services and
// PodDisruptionBudgets select Pods by label, as controllers do.
var (
	// Pods is the core Pod resource.
	Pods = pods
	// Services select the Pods they send traffic to.
	Services = Resource{"", "v1", "services", "Service", true}
	// Disruptions (PodDisruptionBudgets) count the Pods they select.
	Disruptions = Resource{"policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", true}
)

// Workloads returns the resources whose objects hold a Pod template (and
// Pod itself), in the order Read lists them.
func Workloads() []Resource {
	return append(append([]Resource{}, templates...), pods)
}

// short are kubectl's short names and other spellings of the workload
// kinds, lower-case.
var short = map[string]string{
	"deploy": "Deployment", "sts": "StatefulSet", "ds": "DaemonSet", "rs": "ReplicaSet",
	"rc": "ReplicationController", "cj": "CronJob", "po": "Pod",
}

// Lookup returns the workload resource a kind names, as kubectl accepts
// it: the kind (Deployment, deployment), its plural resource
// (deployments), its short name (deploy), or resource.group
// (deployments.apps).
func Lookup(kind string) (Resource, bool) {
	k := strings.ToLower(kind)
	if s, ok := short[k]; ok {
		k = strings.ToLower(s)
	}
	for _, r := range Workloads() {
		if k == strings.ToLower(r.Kind) || k == r.Resource || k == r.String() || k == strings.TrimSuffix(r.Resource, "s") {
			return r, true
		}
	}
	return Resource{}, false
}

// ErrNotFound is wrapped by the errors of Get, Delete and Patch for an
// object that does not exist.
var ErrNotFound = errors.New("not found")

// apiError keeps the API server's message and makes a 404 an ErrNotFound.
func apiError(what string, err error) error {
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("%s: %w: %v", what, ErrNotFound, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func (r Resource) object(namespace, name string) string {
	return r.path(namespace) + "/" + name
}

// Get reads one object, as the API server returns it (JSON).
func (c *Client) Get(ctx context.Context, r Resource, namespace, name string) (json.RawMessage, error) {
	data, err := raw(c.rest.Get().AbsPath(r.object(namespace, name)).Do(ctx))
	if err != nil {
		return nil, apiError("get "+Location(namespace, r.Kind, name), err)
	}
	return data, nil
}

// List calls f with every object of r in namespace ("" for all) that
// selector selects, reading 500 at a time.
func (c *Client) List(ctx context.Context, r Resource, namespace, selector string, f func(json.RawMessage) error) error {
	_, _, err := c.list(ctx, r, namespace, selector, 500, f)
	return err
}

// The calls below change the cluster. Read never makes them; the verbs
// that do (k8s verify's shadow Pods, k8s recommend --apply) make them only
// when asked.

// WriteOptions tune a call that changes the cluster.
type WriteOptions struct {
	// DryRun asks the API server to run every admission step and
	// validation but to store nothing (dryRun=All).
	DryRun bool
	// FieldManager names the writer in the object's managed fields.
	FieldManager string
}

func (o WriteOptions) params(req *rest.Request) *rest.Request {
	if o.DryRun {
		req = req.Param("dryRun", "All")
	}
	if o.FieldManager != "" {
		req = req.Param("fieldManager", o.FieldManager)
	}
	return req
}

// Create creates an object of r in namespace and returns it as stored
// (or as it would be, with DryRun).
func (c *Client) Create(ctx context.Context, r Resource, namespace string, obj []byte, o WriteOptions) (json.RawMessage, error) {
	req := c.rest.Post().AbsPath(r.path(namespace)).SetHeader("Content-Type", "application/json").Body(obj)
	data, err := raw(o.params(req).Do(ctx))
	if err != nil {
		return nil, apiError("create "+r.Kind+" in "+namespace, err)
	}
	return data, nil
}

// Patch applies a strategic-merge patch to an object and returns the
// result (with DryRun, what the result would be).
func (c *Client) Patch(ctx context.Context, r Resource, namespace, name string, patch []byte, o WriteOptions) (json.RawMessage, error) {
	req := c.rest.Patch(types.StrategicMergePatchType).AbsPath(r.object(namespace, name)).Body(patch)
	data, err := raw(o.params(req).Do(ctx))
	if err != nil {
		return nil, apiError("patch "+Location(namespace, r.Kind, name), err)
	}
	return data, nil
}

// Delete deletes an object, with the grace period given (nil: the
// object's own). An object already gone is no error.
func (c *Client) Delete(ctx context.Context, r Resource, namespace, name string, grace *int64) error {
	body := map[string]any{"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
	if grace != nil {
		body["gracePeriodSeconds"] = *grace
	}
	b, _ := json.Marshal(body)
	err := c.rest.Delete().AbsPath(r.object(namespace, name)).SetHeader("Content-Type", "application/json").Body(b).Do(ctx).Error()
	if err != nil && !apierrors.IsNotFound(err) {
		return apiError("delete "+Location(namespace, r.Kind, name), err)
	}
	return nil
}

// Names returns the names of the objects of r in namespace that selector
// selects.
func (c *Client) Names(ctx context.Context, r Resource, namespace, selector string) ([]string, error) {
	var names []string
	err := c.List(ctx, r, namespace, selector, func(item json.RawMessage) error {
		var o object
		if err := json.Unmarshal(item, &o); err != nil {
			return fmt.Errorf("list %s: %w", r, err)
		}
		names = append(names, o.Metadata.Name)
		return nil
	})
	return names, err
}

// Gone waits until no object of r in namespace matches selector, or ctx
// ends; it polls every interval.
func (c *Client) Gone(ctx context.Context, r Resource, namespace, selector string, interval time.Duration) error {
	for {
		names, err := c.Names(ctx, r, namespace, selector)
		if err == nil && len(names) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("%d left: %s", len(names), strings.Join(names, ", "))
			}
			return fmt.Errorf("waiting for %s %s to go: %w (%w)", r, selector, err, ctx.Err())
		case <-time.After(interval):
		}
	}
}

// IsForbidden reports whether err is the API server refusing the
// credentials a permission.
func IsForbidden(err error) bool {
	var st apierrors.APIStatus
	return errors.As(err, &st) && st.Status().Code == http.StatusForbidden
}

// Object is one workload object, read with Get: as the API server returns
// it, and its containers as the manifest reader reads them.
type Object struct {
	Resource  Resource
	Namespace string
	Name      string
	UID       string
	// Raw is the object as the API server returned it.
	Raw json.RawMessage
	// Labels and Annotations are the object's own; Managers the field
	// managers that wrote it (kubectl, helm, argocd-controller, …).
	Labels      map[string]string
	Annotations map[string]string
	Managers    []string
	// Controller is the object's own controller (Kind/name of the owner
	// reference with controller: true), "" when nothing controls it.
	Controller string
	// Containers are the template's containers (a Pod's own), read as
	// capdrop audit reads them, under the runtime of the cluster's nodes.
	Containers []workload.Workload
	// Errors are what the manifest reader could not read of it.
	Errors []*workload.Error
	// Nodes are the cluster's nodes; NodesErr says why they could not be
	// read (containerd's rules are then assumed).
	Nodes    []Node
	NodesErr error
}

// Location names the object: namespace/Kind/name.
func (o *Object) Location() string { return Location(o.Namespace, o.Resource.Kind, o.Name) }

// Object reads one workload object and its containers.
func (c *Client) Object(ctx context.Context, r Resource, namespace, name string) (*Object, error) {
	data, err := c.Get(ctx, r, namespace, name)
	if err != nil {
		return nil, err
	}
	var meta struct {
		Metadata struct {
			objectMeta
			Labels        map[string]string `json:"labels"`
			Annotations   map[string]string `json:"annotations"`
			ManagedFields []struct {
				Manager string `json:"manager"`
			} `json:"managedFields"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(data, &meta); err != nil {
		return nil, fmt.Errorf("get %s: %w", Location(namespace, r.Kind, name), err)
	}
	m := meta.Metadata
	o := &Object{Resource: r, Namespace: m.Namespace, Name: m.Name, UID: m.UID, Raw: data,
		Labels: m.Labels, Annotations: m.Annotations}
	if c := controller(m.OwnerReferences); c != nil {
		o.Controller = c.Kind + "/" + c.Name
	}
	for _, f := range m.ManagedFields {
		if f.Manager != "" && !slices.Contains(o.Managers, f.Manager) {
			o.Managers = append(o.Managers, f.Manager)
		}
	}
	rd := &reader{c: c, res: &Result{}, owners: newOwners(c)}
	if err := rd.readNodes(ctx); err != nil || len(rd.res.Skipped) > 0 {
		o.NodesErr = err
		if err == nil {
			o.NodesErr = errors.New(rd.res.Skipped[0].Reason)
		}
	}
	o.Nodes = rd.res.Nodes
	rt := rd.runtime
	if rt == "" {
		rt = workload.Containerd
	}
	var ob object
	_ = json.Unmarshal(data, &ob)
	o.Containers = rd.convert(r, data, &ob, rt)
	o.Errors = rd.res.Errors
	return o, nil
}
