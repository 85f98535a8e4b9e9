// Package kubefake is a fake Kubernetes API server for tests of the
// verbs that talk to a cluster and to capdrop's node agents through it: an
// object store with the real REST paths, a DaemonSet controller, garbage
// collection, and the pod proxy to fake agents.
package kubefake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/capdrop/capdrop/agent"
)

// apiServer is a fake Kubernetes API server: an object store with the
// REST paths of the real one (create, get, list with a label selector,
// delete), a DaemonSet controller that starts one agent Pod per node and
// garbage-collects them with their DaemonSet, and the pod proxy, which
// hands a request for an agent Pod's port to that node's fake agent.
type Server struct {
	t     testing.TB
	mu    sync.Mutex
	objs  map[string]map[string]any // path -> object
	nodes []string
	// Agent answers the proxy for the agent Pod of a node, the n-th time
	// it is read, with a Report and an HTTP status.
	Agent func(node string, n int) (agent.Report, int)
	// proxied counts the reads of each node's agent.
	proxied map[string]int
	// log records the writes: "POST path", "DELETE path".
	log []string
	// AgentPhase is the phase of the agent Pods the controller starts
	// (Running).
	AgentPhase string
	// Forbid, when set, refuses a request (403 Forbidden, worded as the
	// real API server's) for which it returns the verb refused, as a role
	// without that verb would.
	Forbid func(method, path string) (verb string)
	// dsArgs are the arguments of the last DaemonSet created.
	dsArgs []string
	uid    int
	// rv is the last resourceVersion given.
	rv  int
	srv *httptest.Server
}

// New starts a fake API server for t, with nodes.
func New(t testing.TB, nodes ...string) *Server {
	a := &Server{t: t, objs: map[string]map[string]any{}, nodes: nodes, proxied: map[string]int{}, AgentPhase: "Running"}
	a.srv = httptest.NewServer(a)
	t.Cleanup(a.srv.Close)
	return a
}

// Kubeconfig writes a kubeconfig for the fake server, whose context's
// namespace is ns, and returns its path.
func (a *Server) Kubeconfig(t testing.TB, ns string) string {
	p := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: %q}}]\n"+
		"users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u, namespace: %s}}]\ncurrent-context: x\n", a.srv.URL, ns)
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Put stores an object (JSON) at its path, as if created earlier.
func (a *Server) Put(path string, obj string) {
	var m map[string]any
	if err := json.Unmarshal([]byte(obj), &m); err != nil {
		a.t.Fatalf("%s: %v", path, err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.objs[path] = m
}

func (a *Server) status(w http.ResponseWriter, code int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"kind": "Status", "apiVersion": "v1", "status": "Failure",
		"reason": reason, "message": msg, "code": code})
}

var proxyPath = regexp.MustCompile(`^/api/v1/namespaces/([^/]+)/pods/([^/:]+):(\d+)/proxy(/.*)$`)

func (a *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if m := proxyPath.FindStringSubmatch(r.URL.Path); m != nil {
		a.proxy(w, m[1], m[2], m[3], m[4])
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	path := r.URL.Path
	if a.Forbid != nil {
		if verb := a.Forbid(r.Method, path); verb != "" {
			parts := strings.Split(path, "/")
			res := parts[len(parts)-1]
			if !isCollection(path) {
				res = parts[len(parts)-2]
			}
			a.status(w, 403, "Forbidden", fmt.Sprintf(`%s is forbidden: User "system:serviceaccount:capdrop:capdrop" cannot %s resource %q`, path, verb, res))
			return
		}
	}
	switch r.Method {
	case http.MethodPost:
		var obj map[string]any
		if err := json.NewDecoder(r.Body).Decode(&obj); err != nil {
			a.status(w, 400, "BadRequest", err.Error())
			return
		}
		meta := obj["metadata"].(map[string]any)
		p := path + "/" + meta["name"].(string)
		if _, ok := a.objs[p]; ok {
			a.status(w, 409, "AlreadyExists", p+" already exists")
			return
		}
		a.uid++
		meta["uid"] = fmt.Sprintf("uid-%d", a.uid)
		a.rv++
		meta["resourceVersion"] = fmt.Sprint(a.rv)
		a.objs[p] = obj
		a.log = append(a.log, "POST "+p)
		if strings.HasSuffix(path, "/daemonsets") {
			c := obj["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
			a.dsArgs = nil
			for _, x := range c["args"].([]any) {
				a.dsArgs = append(a.dsArgs, x.(string))
			}
			a.startAgents(obj)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		_ = json.NewEncoder(w).Encode(obj)
	case http.MethodPatch:
		o, ok := a.objs[path]
		if !ok {
			a.status(w, 404, "NotFound", path+" not found")
			return
		}
		var patch map[string]any
		if err := json.NewDecoder(r.Body).Decode(&patch); err != nil {
			a.status(w, 400, "BadRequest", err.Error())
			return
		}
		// A resourceVersion in the patch is a precondition, as in the
		// real API server.
		if pm, _ := patch["metadata"].(map[string]any); pm != nil && pm["resourceVersion"] != nil {
			om, _ := o["metadata"].(map[string]any)
			if om == nil || pm["resourceVersion"] != om["resourceVersion"] {
				a.status(w, 409, "Conflict", path+": the object has been modified")
				return
			}
		}
		// A strategic merge, as far as ConfigMaps and annotations go: maps
		// merge, null removes, the rest is replaced.
		merge(o, patch)
		if om, _ := o["metadata"].(map[string]any); om != nil {
			a.rv++
			om["resourceVersion"] = fmt.Sprint(a.rv)
		}
		a.log = append(a.log, "PATCH "+path)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(o)
	case http.MethodDelete:
		if _, ok := a.objs[path]; !ok {
			a.status(w, 404, "NotFound", path+" not found")
			return
		}
		a.log = append(a.log, "DELETE "+path)
		delete(a.objs, path)
		// Garbage collection: what the deleted object owns goes too, and
		// a Namespace takes its objects.
		for p, o := range a.objs {
			if ownedBy(o, path) || strings.HasPrefix(path, "/api/v1/namespaces/") && strings.Count(path, "/") == 4 && strings.Contains(p, path+"/") {
				delete(a.objs, p)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Success"}`))
	case http.MethodGet:
		if o, ok := a.objs[path]; ok {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(o)
			return
		}
		// A list: the objects right under path that the selector selects.
		sel := r.URL.Query().Get("labelSelector")
		items := []map[string]any{}
		var keys []string
		for p := range a.objs {
			if strings.HasPrefix(p, path+"/") && !strings.Contains(p[len(path)+1:], "/") {
				keys = append(keys, p)
			}
		}
		sort.Strings(keys)
		for _, p := range keys {
			if selects(sel, a.objs[p]) {
				items = append(items, a.objs[p])
			}
		}
		if len(keys) == 0 && !isCollection(path) {
			a.status(w, 404, "NotFound", path+" not found")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"kind": "List", "apiVersion": "v1", "metadata": map[string]any{}, "items": items})
	default:
		a.status(w, 405, "MethodNotAllowed", r.Method)
	}
}

func isCollection(path string) bool {
	return strings.HasSuffix(path, "/pods") || strings.HasSuffix(path, "/daemonsets") || strings.HasSuffix(path, "/configmaps")
}

// ownedBy reports whether o has an owner reference to the object at path
// (matched by name and kind's resource).
func ownedBy(o map[string]any, path string) bool {
	meta, _ := o["metadata"].(map[string]any)
	refs, _ := meta["ownerReferences"].([]any)
	for _, r := range refs {
		ref := r.(map[string]any)
		if strings.HasSuffix(path, "/"+strings.ToLower(ref["kind"].(string))+"s/"+ref["name"].(string)) {
			return true
		}
	}
	return false
}

func selects(sel string, o map[string]any) bool {
	if sel == "" {
		return true
	}
	meta, _ := o["metadata"].(map[string]any)
	labels, _ := meta["labels"].(map[string]any)
	for _, term := range strings.Split(sel, ",") {
		k, v, ok := strings.Cut(term, "=")
		if !ok {
			if _, has := labels[term]; !has {
				return false
			}
			continue
		}
		if labels[k] != v {
			return false
		}
	}
	return true
}

// startAgents is the DaemonSet controller: one Pod per node with the
// template's labels, owned by the DaemonSet.
func (a *Server) startAgents(ds map[string]any) {
	meta := ds["metadata"].(map[string]any)
	ns, name := meta["namespace"].(string), meta["name"].(string)
	tmpl := ds["spec"].(map[string]any)["template"].(map[string]any)
	labels := tmpl["metadata"].(map[string]any)["labels"]
	for _, n := range a.nodes {
		pod := name + "-" + n
		a.objs["/api/v1/namespaces/"+ns+"/pods/"+pod] = map[string]any{
			"metadata": map[string]any{"name": pod, "namespace": ns, "uid": "agent-" + n, "labels": labels,
				"ownerReferences": []any{map[string]any{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": name, "uid": meta["uid"], "controller": true}}},
			"spec":   map[string]any{"nodeName": n},
			"status": map[string]any{"phase": a.AgentPhase},
		}
	}
}

func (a *Server) proxy(w http.ResponseWriter, ns, pod, port, path string) {
	a.mu.Lock()
	o, ok := a.objs["/api/v1/namespaces/"+ns+"/pods/"+pod]
	var node string
	if ok {
		node, _ = o["spec"].(map[string]any)["nodeName"].(string)
		a.proxied[node]++
	}
	n := a.proxied[node]
	a.mu.Unlock()
	if !ok {
		a.status(w, 404, "NotFound", "pods "+pod+" not found")
		return
	}
	if path != agent.ReportPath || port != fmt.Sprint(agent.Port) {
		a.status(w, 503, "ServiceUnavailable", "no endpoint at "+port+path)
		return
	}
	r, code := a.Agent(node, n)
	if code != 200 {
		a.status(w, code, "ServiceUnavailable", "error trying to reach service: dial tcp: connection refused")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(r)
}

// Writes returns the writes the server received: "POST path",
// "PATCH path", "DELETE path".
func (a *Server) Writes() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string{}, a.log...)
}

// Left returns the paths of the objects whose path contains s.
func (a *Server) Left(s string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for p := range a.objs {
		if strings.Contains(p, s) {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

func merge(dst, src map[string]any) {
	for k, v := range src {
		if v == nil {
			delete(dst, k)
			continue
		}
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				merge(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}

// DSArgs returns the arguments of the first container of the last
// DaemonSet created.
func (a *Server) DSArgs() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string{}, a.dsArgs...)
}

// Proxied returns how many times the agent of node was read.
func (a *Server) Proxied(node string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.proxied[node]
}

// Object returns the object stored at path.
func (a *Server) Object(path string) (map[string]any, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	o, ok := a.objs[path]
	return o, ok
}

// StartAgents runs the DaemonSet controller for the DaemonSet stored at
// path: one agent Pod per node.
func (a *Server) StartAgents(path string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.startAgents(a.objs[path])
}

// Collect deletes the object at path and what it owns, as the garbage
// collector does.
func (a *Server) Collect(path string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.objs, path)
	for p, o := range a.objs {
		if ownedBy(o, path) {
			delete(a.objs, p)
		}
	}
}
