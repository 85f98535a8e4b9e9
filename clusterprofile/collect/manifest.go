package collect

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/capdrop/capdrop/agent"
	"github.com/capdrop/capdrop/cluster"
)

// Object is one object of the agent's manifest.
type Object struct {
	Resource  cluster.Resource
	Namespace string
	Name      string
	// JSON is the object as it is sent to the API server.
	JSON []byte
}

// String names the object as kubectl does: Kind namespace/name.
func (o Object) String() string {
	if o.Namespace == "" {
		return o.Resource.Kind + " " + o.Name
	}
	return o.Resource.Kind + " " + o.Namespace + "/" + o.Name
}

// kinds are the kinds an agent manifest may hold: what a DaemonSet and
// its permissions are made of.
var kinds = map[string]cluster.Resource{
	"v1/Namespace":      {Version: "v1", Resource: "namespaces", Kind: "Namespace"},
	"v1/ServiceAccount": {Version: "v1", Resource: "serviceaccounts", Kind: "ServiceAccount", Namespaced: true},
	"v1/ConfigMap":      {Version: "v1", Resource: "configmaps", Kind: "ConfigMap", Namespaced: true},
	"v1/Service":        {Version: "v1", Resource: "services", Kind: "Service", Namespaced: true},
	"rbac.authorization.k8s.io/v1/ClusterRole": {Group: "rbac.authorization.k8s.io", Version: "v1",
		Resource: "clusterroles", Kind: "ClusterRole"},
	"rbac.authorization.k8s.io/v1/ClusterRoleBinding": {Group: "rbac.authorization.k8s.io", Version: "v1",
		Resource: "clusterrolebindings", Kind: "ClusterRoleBinding"},
	"rbac.authorization.k8s.io/v1/Role": {Group: "rbac.authorization.k8s.io", Version: "v1",
		Resource: "roles", Kind: "Role", Namespaced: true},
	"rbac.authorization.k8s.io/v1/RoleBinding": {Group: "rbac.authorization.k8s.io", Version: "v1",
		Resource: "rolebindings", Kind: "RoleBinding", Namespaced: true},
	"apps/v1/DaemonSet": {Group: "apps", Version: "v1", Resource: "daemonsets", Kind: "DaemonSet", Namespaced: true},
}

// DaemonSets is the DaemonSet resource.
var DaemonSets = kinds["apps/v1/DaemonSet"]

// MaxManifest bounds the size of an agent manifest.
const MaxManifest = 1 << 20

// ParseManifest reads an agent manifest: YAML documents, each one object
// of the kinds a DaemonSet and its permissions are made of. name is the
// file's name, for errors. A namespaced object without a namespace gets
// the one of the manifest's Namespace object, if it holds exactly one.
func ParseManifest(name string, data []byte) ([]Object, error) {
	if len(data) > MaxManifest {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, MaxManifest)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var objs []Object
	var namespaces []string
	for doc := 1; ; doc++ {
		var node yaml.Node
		err := dec.Decode(&node)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", name, doc, err)
		}
		line := node.Line
		if len(node.Content) > 0 {
			line = node.Content[0].Line
		}
		var m map[string]any
		if err := node.Decode(&m); err != nil {
			return nil, fmt.Errorf("%s:%d: document %d: %w", name, line, doc, err)
		}
		if m == nil {
			continue // an empty document
		}
		av, _ := m["apiVersion"].(string)
		kind, _ := m["kind"].(string)
		r, ok := kinds[av+"/"+kind]
		if !ok {
			return nil, fmt.Errorf("%s:%d: document %d: %s %s is not a kind capdrop deploys (%s)", name, line, doc, av, kind, knownKinds())
		}
		meta, _ := m["metadata"].(map[string]any)
		n, _ := meta["name"].(string)
		ns, _ := meta["namespace"].(string)
		if n == "" {
			return nil, fmt.Errorf("%s:%d: document %d: %s without metadata.name", name, line, doc, kind)
		}
		if !r.Namespaced {
			ns = ""
		}
		if r.Kind == "Namespace" {
			namespaces = append(namespaces, n)
		}
		js, err := json.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: document %d: %w", name, line, doc, err)
		}
		objs = append(objs, Object{Resource: r, Namespace: ns, Name: n, JSON: js})
	}
	for i := range objs {
		o := &objs[i]
		if !o.Resource.Namespaced || o.Namespace != "" {
			continue
		}
		if len(namespaces) != 1 {
			return nil, fmt.Errorf("%s: %s has no metadata.namespace, and the manifest does not create exactly one Namespace", name, o)
		}
		o.Namespace = namespaces[0]
		if err := setPath(&o.JSON, []string{"metadata", "namespace"}, o.Namespace); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", name, o, err)
		}
	}
	n := 0
	for _, o := range objs {
		if o.Resource == DaemonSets {
			n++
		}
	}
	if n != 1 {
		return nil, fmt.Errorf("%s: holds %d DaemonSets, not one (the agent's)", name, n)
	}
	return objs, nil
}

func knownKinds() string {
	var ks []string
	for _, r := range kinds {
		ks = append(ks, r.Kind)
	}
	sort.Strings(ks)
	return strings.Join(ks, ", ")
}

// setPath sets a string at path in a JSON object.
func setPath(data *[]byte, path []string, value any) error {
	var m map[string]any
	if err := json.Unmarshal(*data, &m); err != nil {
		return err
	}
	cur := m
	for _, p := range path[:len(path)-1] {
		next, _ := cur[p].(map[string]any)
		if next == nil {
			next = map[string]any{}
			cur[p] = next
		}
		cur = next
	}
	cur[path[len(path)-1]] = value
	out, err := json.Marshal(m)
	if err != nil {
		return err
	}
	*data = out
	return nil
}

// AgentSet is the agent's DaemonSet: where its Pods are and how to find
// and reach them.
type AgentSet struct {
	Namespace, Name string
	// Selector is the DaemonSet's label selector (its matchLabels).
	Selector string
	// Port is the agent container's first container port (agent.Port
	// when it names none).
	Port int
}

// ReadAgentSet reads a DaemonSet (JSON) as an agent's.
func ReadAgentSet(data []byte) (AgentSet, error) {
	var ds struct {
		Metadata struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
		Spec struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			Template struct {
				Spec struct {
					Containers []struct {
						Ports []struct {
							ContainerPort int `json:"containerPort"`
						} `json:"ports"`
					} `json:"containers"`
				} `json:"spec"`
			} `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(data, &ds); err != nil {
		return AgentSet{}, fmt.Errorf("DaemonSet: %w", err)
	}
	a := AgentSet{Namespace: ds.Metadata.Namespace, Name: ds.Metadata.Name, Port: agent.Port}
	if len(ds.Spec.Selector.MatchLabels) == 0 {
		return a, fmt.Errorf("DaemonSet %s/%s: no spec.selector.matchLabels", a.Namespace, a.Name)
	}
	keys := make([]string, 0, len(ds.Spec.Selector.MatchLabels))
	for k := range ds.Spec.Selector.MatchLabels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = k + "=" + ds.Spec.Selector.MatchLabels[k]
	}
	a.Selector = strings.Join(keys, ",")
	if cs := ds.Spec.Template.Spec.Containers; len(cs) > 0 && len(cs[0].Ports) > 0 && cs[0].Ports[0].ContainerPort > 0 {
		a.Port = cs[0].Ports[0].ContainerPort
	}
	return a, nil
}
