package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"k8s.io/client-go/rest"
)

// Resource is one kind of object the API server holds.
type Resource struct {
	Group, Version, Resource, Kind string
	Namespaced                     bool
}

// String names the resource as kubectl does: deployments.apps.
func (r Resource) String() string {
	if r.Group == "" {
		return r.Resource
	}
	return r.Resource + "." + r.Group
}

// APIVersion is group/version, or version for the core group.
func (r Resource) APIVersion() string {
	if r.Group == "" {
		return r.Version
	}
	return r.Group + "/" + r.Version
}

func (r Resource) path(namespace string) string {
	p := "/api/" + r.Version
	if r.Group != "" {
		p = "/apis/" + r.Group + "/" + r.Version
	}
	if r.Namespaced && namespace != "" {
		p += "/namespaces/" + namespace
	}
	return p + "/" + r.Resource
}

// The resources Read lists, in the order it lists them: controllers
// before what they control, so owner references resolve from what was
// already read.
var (
	nodes     = Resource{"", "v1", "nodes", "Node", false}
	templates = []Resource{
		{"apps", "v1", "deployments", "Deployment", true},
		{"apps", "v1", "statefulsets", "StatefulSet", true},
		{"apps", "v1", "daemonsets", "DaemonSet", true},
		{"", "v1", "replicationcontrollers", "ReplicationController", true},
		{"batch", "v1", "cronjobs", "CronJob", true},
		{"apps", "v1", "replicasets", "ReplicaSet", true},
		{"batch", "v1", "jobs", "Job", true},
	}
	pods = Resource{"", "v1", "pods", "Pod", true}
)

// Resources returns every resource Read lists; a role that lets capdrop
// get and list these reads the whole cluster.
func Resources() []Resource {
	return append(append([]Resource{nodes}, templates...), pods)
}

// page is one list response.
type page struct {
	Metadata struct {
		Continue string `json:"continue"`
	} `json:"metadata"`
	Items []json.RawMessage `json:"items"`
}

// list calls f with every object of r in namespace ("" for all), asking
// for size objects at a time. It returns the number of pages and bytes
// read.
func (c *Client) list(ctx context.Context, r Resource, namespace, selector string, size int64, f func(json.RawMessage) error) (pages int, bytes int64, err error) {
	cont := ""
	for {
		req := c.rest.Get().AbsPath(r.path(namespace)).Param("limit", strconv.FormatInt(size, 10))
		if selector != "" && r != nodes {
			req = req.Param("labelSelector", selector)
		}
		if cont != "" {
			req = req.Param("continue", cont)
		}
		data, err := raw(req.Do(ctx))
		if err != nil {
			return pages, bytes, fmt.Errorf("list %s: %w", r, err)
		}
		bytes += int64(len(data))
		var p page
		if err := json.Unmarshal(data, &p); err != nil {
			return pages, bytes, fmt.Errorf("list %s: decode page %d: %w", r, pages+1, err)
		}
		pages++
		for _, it := range p.Items {
			if err := f(it); err != nil {
				return pages, bytes, err
			}
		}
		if p.Metadata.Continue == "" {
			return pages, bytes, nil
		}
		cont = p.Metadata.Continue
	}
}

// raw returns a response's body, or its error with the API server's
// message (Result.Raw alone gives "unknown" for a Status it did not decode).
func raw(r rest.Result) ([]byte, error) {
	data, err := r.Raw()
	if err != nil {
		return nil, r.Error()
	}
	return data, nil
}
