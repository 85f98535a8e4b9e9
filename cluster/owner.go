package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// OwnerRef is an owner reference as the API writes it.
type OwnerRef struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	UID        string `json:"uid"`
	Controller *bool  `json:"controller,omitempty"`
}

// objectMeta is the part of metadata this package reads.
type objectMeta struct {
	Name            string     `json:"name"`
	Namespace       string     `json:"namespace"`
	UID             string     `json:"uid"`
	OwnerReferences []OwnerRef `json:"ownerReferences"`
}

// controller returns the owner reference with controller: true, if any.
func controller(refs []OwnerRef) *OwnerRef {
	for i := range refs {
		if r := refs[i]; r.Controller != nil && *r.Controller {
			return &refs[i]
		}
	}
	return nil
}

// Controller names an object that controls others: "Deployment/web".
type Controller struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

// String formats c as Kind/name.
func (c Controller) String() string { return c.Kind + "/" + c.Name }

// owners finds top controllers, remembering every object it has seen so
// that each owner is read at most once, and only as metadata.
type owners struct {
	c *Client
	// seen maps an object's UID to its kind, name and controller.
	seen map[string]seenObject
	// kinds maps apiVersion + "/" + kind to its resource, for owners of
	// kinds Read does not list (found through discovery).
	kinds map[string]*Resource
	// Gets counts the metadata reads.
	Gets int
	// problems are owner reads that failed, once per resource.
	problems map[string]error
}

type seenObject struct {
	kind, name string
	ctl        *OwnerRef
}

func newOwners(c *Client) *owners {
	o := &owners{c: c, seen: map[string]seenObject{}, kinds: map[string]*Resource{}, problems: map[string]error{}}
	for _, r := range Resources() {
		o.kinds[r.APIVersion()+"/"+r.Kind] = &r
	}
	return o
}

func (o *owners) remember(kind string, m objectMeta) {
	if m.UID != "" {
		o.seen[m.UID] = seenObject{kind: kind, name: m.Name, ctl: controller(m.OwnerReferences)}
	}
}

// top follows controller references up from an object in namespace ns to
// the object that no one controls. A static (mirror) Pod, controlled by
// its Node, is its own top. An owner that cannot be read ends the walk at
// what its reference says.
func (o *owners) top(ctx context.Context, ns, kind, name string, ctl *OwnerRef) Controller {
	cur := Controller{Kind: kind, Name: name}
	for depth := 0; ctl != nil && depth < 16; depth++ {
		if ctl.Kind == "Node" && strings.HasPrefix(ctl.APIVersion, "v1") {
			return cur
		}
		next := Controller{Kind: ctl.Kind, Name: ctl.Name}
		s, ok := o.seen[ctl.UID]
		if !ok {
			var err error
			s, err = o.get(ctx, ns, *ctl)
			if err != nil {
				return next
			}
		}
		cur, ctl = next, s.ctl
	}
	return cur
}

// get reads an owner's metadata.
func (o *owners) get(ctx context.Context, ns string, ref OwnerRef) (seenObject, error) {
	res, err := o.resource(ctx, ref.APIVersion, ref.Kind)
	if err != nil {
		o.problem(ref.APIVersion+"/"+ref.Kind, err)
		return seenObject{}, err
	}
	gv, _ := schema.ParseGroupVersion(ref.APIVersion)
	ri := o.c.meta.Resource(gv.WithResource(res.Resource))
	o.Gets++
	var m *metav1.PartialObjectMetadata
	if res.Namespaced {
		m, err = ri.Namespace(ns).Get(ctx, ref.Name, metav1.GetOptions{})
	} else {
		m, err = ri.Get(ctx, ref.Name, metav1.GetOptions{})
	}
	if err != nil {
		if !apierrors.IsNotFound(err) { // an owner being deleted is normal
			o.problem(res.String(), fmt.Errorf("read owner %s/%s: %w", ref.Kind, ref.Name, err))
		}
		return seenObject{}, err
	}
	if string(m.UID) != ref.UID {
		// The name now belongs to a new object: the reference's owner is gone.
		return seenObject{}, fmt.Errorf("owner %s/%s was replaced", ref.Kind, ref.Name)
	}
	om := objectMeta{Name: m.Name, Namespace: m.Namespace, UID: string(m.UID)}
	for _, r := range m.OwnerReferences {
		om.OwnerReferences = append(om.OwnerReferences, OwnerRef{APIVersion: r.APIVersion, Kind: r.Kind, Name: r.Name, UID: string(r.UID), Controller: r.Controller})
	}
	o.remember(ref.Kind, om)
	return o.seen[om.UID], nil
}

func (o *owners) problem(key string, err error) {
	if _, ok := o.problems[key]; !ok {
		o.problems[key] = err
	}
}

// resource maps an owner's apiVersion and kind to its resource, asking the
// API server's discovery document of that group version when it is not a
// kind Read lists.
func (o *owners) resource(ctx context.Context, apiVersion, kind string) (*Resource, error) {
	key := apiVersion + "/" + kind
	if r, ok := o.kinds[key]; ok {
		if r == nil {
			return nil, fmt.Errorf("%s %s: not served by the API server", apiVersion, kind)
		}
		return r, nil
	}
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return nil, fmt.Errorf("owner reference apiVersion %q: %w", apiVersion, err)
	}
	path := "/apis/" + gv.Group + "/" + gv.Version
	if gv.Group == "" {
		path = "/api/" + gv.Version
	}
	data, err := raw(o.c.rest.Get().AbsPath(path).Do(ctx))
	if err != nil {
		return nil, fmt.Errorf("discover %s: %w", apiVersion, err)
	}
	var list struct {
		Resources []struct {
			Name       string `json:"name"`
			Kind       string `json:"kind"`
			Namespaced bool   `json:"namespaced"`
		} `json:"resources"`
	}
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, fmt.Errorf("discover %s: %w", apiVersion, err)
	}
	for _, r := range list.Resources {
		if strings.Contains(r.Name, "/") { // a subresource
			continue
		}
		k := apiVersion + "/" + r.Kind
		if _, ok := o.kinds[k]; !ok {
			o.kinds[k] = &Resource{Group: gv.Group, Version: gv.Version, Resource: r.Name, Kind: r.Kind, Namespaced: r.Namespaced}
		}
	}
	if _, ok := o.kinds[key]; !ok {
		o.kinds[key] = nil
	}
	return o.resource(ctx, apiVersion, kind)
}

// Owners finds the top controller of Pods by name, reading each Pod and
// its owners as metadata only, and remembering what it read across calls.
type Owners struct{ o *owners }

// Owners returns a resolver of Pods' top controllers.
func (c *Client) Owners() *Owners { return &Owners{o: newOwners(c)} }

// Pod returns the top controller of Pod namespace/name (the Pod itself when
// nothing controls it).
func (w *Owners) Pod(ctx context.Context, namespace, name string) (Controller, error) {
	w.o.Gets++
	m, err := w.o.c.meta.Resource(schema.GroupVersionResource{Version: "v1", Resource: "pods"}).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return Controller{}, fmt.Errorf("read pod %s/%s: %w", namespace, name, err)
	}
	var ctl *OwnerRef
	for _, r := range m.OwnerReferences {
		if r.Controller != nil && *r.Controller {
			ctl = &OwnerRef{APIVersion: r.APIVersion, Kind: r.Kind, Name: r.Name, UID: string(r.UID), Controller: r.Controller}
		}
	}
	return w.o.top(ctx, namespace, "Pod", name, ctl), nil
}
