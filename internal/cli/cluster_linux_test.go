package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/internal/kubetest"
	"github.com/capdrop/capdrop/procfs"
	"github.com/capdrop/capdrop/report"
)

// auditDoc runs capdrop with args and decodes its JSON audit.
func auditDoc(t *testing.T, want int, args ...string) report.AuditDoc {
	t.Helper()
	out, errOut, code := psCLI(t, args...)
	if code != want {
		t.Fatalf("capdrop %s: exit %d, want %d\n%s", strings.Join(args, " "), code, want, errOut)
	}
	var doc report.AuditDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("capdrop %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return doc
}

// hostBounding is what the engine here holds: root's own bounding set
// (root on the test machine lacks CAP_SYS_RESOURCE).
func hostBounding(t *testing.T) string {
	st, err := procfs.ReadStatus("/proc", os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	return st.Sets.Bounding.Hex()
}

func setsOf(n capset.SetNames) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestAuditClusterProof is the runtime rules proven on a real kubelet: for
// every container of the matrix (init, sidecar, regular, ephemeral;
// pod- and container-level securityContexts), the five sets audit
// --cluster computes equal the kernel's /proc/<pid>/status of the
// container's main process on the node, and equal what audit computes from
// the same manifests in a file.
func TestAuditClusterProof(t *testing.T) {
	k := kubetest.Require(t)
	t.Parallel() // each in its own namespace
	ns := k.Namespace(t, "matrix")
	manifest := filepath.Join("testdata", "cluster", "matrix.yaml")
	data, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	k.Kubectl(t, string(data), "-n", ns, "apply", "-f", "-")
	k.WaitReady(t, ns, 5*time.Minute)
	// Ephemeral containers are added to a running Pod, as kubectl debug does.
	k.Kubectl(t, "", "-n", ns, "patch", "pod", "caps", "--subresource=ephemeralcontainers", "--type=strategic", "-p",
		`{"spec":{"ephemeralContainers":[`+
			`{"name":"debug","image":"`+kubetest.Image+`","command":["sleep","3600"],"securityContext":{"capabilities":{"drop":["ALL"],"add":["SYS_PTRACE"]}}},`+
			`{"name":"debug-default","image":"`+kubetest.Image+`","command":["sleep","3600"]}]}}`)
	deadline := time.Now().Add(3 * time.Minute)
	for {
		out := k.Kubectl(t, "", "-n", ns, "get", "pod", "caps", "-o", "jsonpath={.status.ephemeralContainerStatuses[*].state.running.startedAt}")
		if len(strings.Fields(out)) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ephemeral containers not running: %s", k.Kubectl(t, "", "-n", ns, "get", "pod", "caps", "-o", "jsonpath={.status.ephemeralContainerStatuses}"))
		}
		time.Sleep(500 * time.Millisecond)
	}

	engine := hostBounding(t)
	live := auditDoc(t, 0, "audit", "--cluster", "--kubeconfig", k.Kubeconfig, "-n", ns, "--engine-caps", engine, "--fail-on", "never", "-o", "json")
	files := auditDoc(t, 0, "audit", "--engine-caps", engine, "--fail-on", "never", "-o", "json", manifest)
	fromFile := map[string]capset.SetNames{}
	for _, w := range files.Workloads {
		fromFile[w.Name] = w.Sets
	}

	proven, inits, ephemeral := 0, 0, 0
	for _, w := range live.Workloads {
		if w.Attrs["origin"] != "pod" {
			t.Errorf("%s: origin %q; the matrix has bare Pods only", w.Name, w.Attrs["origin"])
			continue
		}
		if w.Runtime != "containerd" || !strings.HasPrefix(w.Attrs["runtime_from"], "node "+k.Node) {
			t.Errorf("%s: runtime %s from %q, want containerd from node %s", w.Name, w.Runtime, w.Attrs["runtime_from"], k.Node)
		}
		if w.Refused != nil {
			t.Errorf("%s: audit says the runtime refuses it (%s), but it runs", w.Name, w.Refused.Message)
			continue
		}
		var kernel capset.Sets
		switch w.Attrs["state"] {
		case "running":
			pid := k.HostPID(t, w.Attrs["container_id"])
			st, err := procfs.ReadStatus("/proc", pid)
			if err != nil {
				t.Fatalf("%s: %v", w.Name, err)
			}
			kernel = st.Sets
		case "terminated":
			// An init container that ran to completion wrote its own
			// /proc/1/status (its main process) into the Pod's emptyDir.
			p := filepath.Join(k.PodDir(w.Attrs["pod_uid"]), "volumes", "kubernetes.io~empty-dir", "out", w.Attrs["container"])
			f, err := os.Open(p)
			if err != nil {
				t.Fatalf("%s: %v", w.Name, err)
			}
			st, err := procfs.ParseStatus(f)
			f.Close()
			if err != nil {
				t.Fatalf("%s: %s: %v", w.Name, p, err)
			}
			kernel = st.Sets
			inits++
		default:
			t.Errorf("%s: state %q", w.Name, w.Attrs["state"])
			continue
		}
		if got, want := setsOf(w.Sets), setsOf(kernel.Names()); got != want {
			t.Errorf("%s: audit --cluster computes %s, the kernel shows %s", w.Name, got, want)
		} else {
			proven++
		}
		if string(w.Kind) == "kubernetes-ephemeral-container" {
			ephemeral++
			continue
		}
		if f, ok := fromFile[w.Name]; !ok {
			t.Errorf("%s: not in the audit of %s", w.Name, manifest)
		} else if setsOf(f) != setsOf(w.Sets) {
			t.Errorf("%s: audit of the file computes %s, audit --cluster %s", w.Name, setsOf(f), setsOf(w.Sets))
		}
	}
	t.Logf("%d containers proven against the kernel (%d init run to completion, %d ephemeral); %d workloads in the file", proven, inits, ephemeral, len(files.Workloads))
	if proven < 25 || inits < 2 || ephemeral < 2 {
		t.Errorf("proved %d containers, %d completed init, %d ephemeral; the matrix wants at least 25, 2 and 2", proven, inits, ephemeral)
	}
	if n := len(live.Workloads) - ephemeral; n != len(files.Workloads) {
		t.Errorf("audit --cluster saw %d non-ephemeral containers, the file has %d", n, len(files.Workloads))
	}
}

// TestAuditClusterOwners checks the top controller of each Pod, which
// templates are audited, and the Pod/template differences, on real
// controllers.
func TestAuditClusterOwners(t *testing.T) {
	k := kubetest.Require(t)
	t.Parallel() // each in its own namespace
	ns := k.Namespace(t, "owners")
	img := kubetest.Image
	sleep := `command: ["sleep", "3600"]`
	tmpl := func(labels string, extra string) string {
		return fmt.Sprintf(`
    metadata: {labels: {%s}}
    spec:
      terminationGracePeriodSeconds: 1
      %s
      containers:
      - {name: main, image: %s, %s, securityContext: {capabilities: {drop: [ALL], add: [KILL]}}}`, labels, extra, img, sleep)
	}
	manifests := fmt.Sprintf(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:%s
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:%s
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 1
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:%s
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: bare-rs}
spec:
  replicas: 1
  selector: {matchLabels: {app: bare-rs}}
  template:%s
---
apiVersion: v1
kind: ReplicationController
metadata: {name: rc}
spec:
  replicas: 1
  selector: {app: rc}
  template:%s
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:%s
---
apiVersion: v1
kind: Pod
metadata: {name: bare, labels: {app: bare}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: main, image: %s, %s}
`, indent(tmpl("app: web", ""), 2), indent(tmpl("app: agent", ""), 2), indent(tmpl("app: db", ""), 2),
		indent(tmpl("app: bare-rs", ""), 2), indent(tmpl("app: rc", ""), 2),
		indent(tmpl("app: nightly", "restartPolicy: Never"), 6), img, sleep)
	k.Kubectl(t, manifests, "-n", ns, "apply", "-f", "-")
	// A Job the CronJob owns, as the CronJob controller would make it.
	k.Kubectl(t, "", "-n", ns, "create", "job", "--from=cronjob/nightly", "nightly-manual")
	wantPods := map[string]int{"Deployment/web": 2, "DaemonSet/agent": 1, "StatefulSet/db": 1, "ReplicaSet/bare-rs": 1,
		"ReplicationController/rc": 1, "CronJob/nightly": 1, "Pod/bare": 1}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		out := k.Kubectl(t, "", "-n", ns, "get", "pods", "--no-headers")
		if strings.Count(out, "Running") == 8 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pods not running:\n%s", out)
		}
		time.Sleep(time.Second)
	}
	// The bare ReplicaSet's template changes: its running Pod is now the
	// old one.
	k.Kubectl(t, "", "-n", ns, "patch", "replicaset", "bare-rs", "--type=json", "-p",
		`[{"op":"add","path":"/spec/template/spec/containers/0/securityContext/capabilities/add/-","value":"NET_ADMIN"}]`)

	doc := auditDoc(t, 1, "audit", "--cluster", "--kubeconfig", k.Kubeconfig, "-n", ns, "-o", "json")
	gotPods := map[string]int{}
	var gotTemplates []string
	for _, w := range doc.Workloads {
		switch w.Attrs["origin"] {
		case "pod":
			gotPods[w.Attrs["controller"]]++
		case "template":
			gotTemplates = append(gotTemplates, w.Attrs["controller"])
			if obj := w.Attrs["object"]; obj != w.Attrs["controller"] {
				t.Errorf("template %s audited under controller %s: only top templates are", obj, w.Attrs["controller"])
			}
		}
		if !strings.HasPrefix(w.File, ns+"/") {
			t.Errorf("%s: location %q, want %s/Kind/name", w.Name, w.File, ns)
		}
	}
	for c, n := range wantPods {
		if gotPods[c] != n {
			t.Errorf("%d Pods under top controller %s, want %d (all: %v)", gotPods[c], c, n, gotPods)
		}
	}
	slices.Sort(gotTemplates)
	want := []string{"CronJob/nightly", "DaemonSet/agent", "Deployment/web", "ReplicaSet/bare-rs", "ReplicationController/rc", "StatefulSet/db"}
	if !slices.Equal(gotTemplates, want) {
		t.Errorf("templates audited: %v, want %v (a Deployment's ReplicaSets and a CronJob's Jobs are not)", gotTemplates, want)
	}
	if doc.Cluster == nil {
		t.Fatal("no cluster section in the JSON")
	}
	var diffs []string
	for _, d := range doc.Cluster.Differences {
		diffs = append(diffs, d.Controller.String()+": "+strings.Join(d.Fields, "; "))
	}
	if len(diffs) != 1 || diffs[0] != "ReplicaSet/bare-rs: capabilities.add: pod [KILL], template [KILL NET_ADMIN]" {
		t.Errorf("differences: %q, want the bare ReplicaSet's added NET_ADMIN only", diffs)
	}
	if len(doc.Cluster.Nodes) != 1 || doc.Cluster.Nodes[0].Runtime != "containerd" || !strings.HasPrefix(doc.Cluster.Nodes[0].RuntimeVersion, "containerd://") {
		t.Errorf("nodes: %+v, want one containerd node", doc.Cluster.Nodes)
	}
	if len(doc.Cluster.Skipped) != 0 {
		t.Errorf("skipped with admin credentials: %+v", doc.Cluster.Skipped)
	}
}

func indent(s string, n int) string {
	return strings.ReplaceAll(s, "\n", "\n"+strings.Repeat(" ", n))
}

// TestAuditClusterRBAC runs audit --cluster with the shipped read-only
// role, then with a role that lacks CronJobs: the first reads everything,
// the second reports the missing permission for that resource and audits
// the rest.
func TestAuditClusterRBAC(t *testing.T) {
	k := kubetest.Require(t)
	t.Parallel() // each in its own namespace
	ns := k.Namespace(t, "rbac")
	role, err := os.ReadFile(filepath.Join("..", "..", "deploy", "kubernetes", "audit-rbac.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var parsed struct {
		Kind  string `yaml:"kind"`
		Rules []struct {
			APIGroups []string `yaml:"apiGroups"`
			Resources []string `yaml:"resources"`
			Verbs     []string `yaml:"verbs"`
		} `yaml:"rules"`
	}
	if err := yaml.Unmarshal(role, &parsed); err != nil || parsed.Kind != "ClusterRole" || len(parsed.Rules) == 0 {
		t.Fatalf("audit-rbac.yaml: %v (%+v)", err, parsed)
	}
	for _, r := range parsed.Rules {
		for _, v := range r.Verbs {
			if v != "get" && v != "list" {
				t.Errorf("the audit role grants %q on %v; it must only read", v, r.Resources)
			}
		}
		for _, res := range r.Resources {
			if res == "*" || res == "secrets" || res == "configmaps" || strings.Contains(res, "/") {
				t.Errorf("the audit role reaches %q; it needs none", res)
			}
		}
	}
	k.Kubectl(t, `
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  terminationGracePeriodSeconds: 1
  schedulerName: none
  containers: [{name: c, image: `+kubetest.Image+`, securityContext: {capabilities: {add: [SYS_ADMIN]}}}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: cj}
spec:
  schedule: "0 3 * * *"
  jobTemplate: {spec: {template: {spec: {restartPolicy: Never, containers: [{name: c, image: `+kubetest.Image+`}]}}}}
`, "-n", ns, "apply", "-f", "-")
	k.Kubectl(t, "", "-n", ns, "create", "serviceaccount", "auditor")
	// The shipped role, and the same without CronJobs, each bound in ns.
	limited := strings.Replace(strings.Replace(string(role), "name: capdrop-audit", "name: "+ns+"-limited", 1), "resources: [jobs, cronjobs]", "resources: [jobs]", 1)
	k.Kubectl(t, string(role), "apply", "-f", "-")
	k.Kubectl(t, limited, "apply", "-f", "-")
	t.Cleanup(func() { _, _ = k.KubectlErr("", "delete", "clusterrole", ns+"-limited", "--wait=false") })
	kubeconfig := func(clusterRole string) string {
		k.Kubectl(t, "", "-n", ns, "create", "rolebinding", clusterRole, "--clusterrole="+clusterRole, "--serviceaccount="+ns+":auditor")
		token := strings.TrimSpace(k.Kubectl(t, "", "-n", ns, "create", "token", "auditor"))
		server := strings.TrimSpace(k.Kubectl(t, "", "config", "view", "-o", "jsonpath={.clusters[0].cluster.server}"))
		p := filepath.Join(t.TempDir(), "kubeconfig")
		cfg := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: %q, insecure-skip-tls-verify: true}}]\n"+
			"users: [{name: u, user: {token: %q}}]\ncontexts: [{name: x, context: {cluster: c, user: u, namespace: %s}}]\ncurrent-context: x\n", server, token, ns)
		if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	full := kubeconfig("capdrop-audit")
	if out, _ := k.KubectlErr("", "--kubeconfig", full, "auth", "can-i", "create", "pods"); strings.TrimSpace(out) != "no" {
		t.Errorf("the audit role may create pods: %q", out)
	}
	// Nodes are cluster-scoped: a RoleBinding cannot grant them, so the
	// runtime is assumed and the node list is reported as not read.
	doc := auditDoc(t, 2, "audit", "--cluster", "--kubeconfig", full, "--fail-on", "never", "-o", "json")
	var skipped []string
	for _, s := range doc.Cluster.Skipped {
		skipped = append(skipped, s.Resource)
		if !s.Forbidden {
			t.Errorf("skipped %s not as forbidden: %s", s.Resource, s.Reason)
		}
	}
	if !slices.Equal(skipped, []string{"nodes"}) {
		t.Errorf("with the role bound in the namespace, skipped %v, want [nodes]", skipped)
	}
	names := map[string]bool{}
	for _, w := range doc.Workloads {
		names[w.Name] = true
	}
	if !names["Pod/p/c"] || !names["CronJob/cj/c"] {
		t.Errorf("workloads %v, want Pod/p/c and CronJob/cj/c", names)
	}

	k.Kubectl(t, "", "-n", ns, "delete", "rolebinding", "capdrop-audit")
	limitedCfg := kubeconfig(ns + "-limited")
	doc = auditDoc(t, 2, "audit", "--cluster", "--kubeconfig", limitedCfg, "--fail-on", "never", "-o", "json")
	skipped = nil
	for _, s := range doc.Cluster.Skipped {
		skipped = append(skipped, s.Resource)
	}
	if !slices.Equal(skipped, []string{"nodes", "cronjobs.batch"}) {
		t.Errorf("without cronjobs, skipped %v, want [nodes cronjobs.batch]", skipped)
	}
	names = map[string]bool{}
	for _, w := range doc.Workloads {
		names[w.Name] = true
	}
	if !names["Pod/p/c"] || names["CronJob/cj/c"] {
		t.Errorf("workloads %v, want Pod/p/c and no CronJob", names)
	}
}

// TestPSCluster names every container of a test Pod on the node through
// the CRI socket, compares its live sets with its spec, and attributes the
// same containers by cgroup alone when there is no socket.
func TestPSCluster(t *testing.T) {
	k := kubetest.Require(t)
	t.Parallel() // each in its own namespace
	ns := k.Namespace(t, "ps")
	k.Kubectl(t, `
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  terminationGracePeriodSeconds: 1
  initContainers:
  - {name: sidecar, image: `+kubetest.Image+`, command: [sleep, "3600"], restartPolicy: Always,
     securityContext: {capabilities: {drop: [ALL], add: [KILL]}}}
  containers:
  - {name: app, image: `+kubetest.Image+`, command: [sleep, "3600"], securityContext: {capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}}}
  - {name: user, image: `+kubetest.Image+`, command: [sleep, "3600"], securityContext: {runAsUser: 1000, capabilities: {add: [NET_ADMIN]}}}
  - {name: odd, image: `+kubetest.Image+`, command: [sleep, "3600"], securityContext: {capabilities: {add: [CAP_SYS_ADMIN, sys_time], drop: [net_raw]}}}
`, "-n", ns, "apply", "-f", "-")
	k.WaitReady(t, ns, 5*time.Minute)
	ids := map[string]string{}
	for _, f := range []string{"initContainerStatuses", "containerStatuses"} {
		out := k.Kubectl(t, "", "-n", ns, "get", "pod", "web", "-o", `jsonpath={range .status.`+f+`[*]}{.name}={.containerID}{"\n"}{end}`)
		for _, l := range strings.Fields(out) {
			name, id, _ := strings.Cut(l, "=")
			ids[name] = strings.TrimPrefix(id, "containerd://")
		}
	}
	if len(ids) != 4 {
		t.Fatalf("container IDs: %v", ids)
	}

	out, errOut, code := psCLI(t, "ps", "--containers", "--cri-socket", k.CRI, "--kubeconfig", k.Kubeconfig, "--pod", ns+"/web", "-o", "json")
	if code != 0 {
		t.Fatalf("ps --pod: exit %d: %s", code, errOut)
	}
	var cs []report.PSContainer
	if err := json.Unmarshal([]byte(out), &cs); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range cs {
		if c.Pod == nil {
			t.Errorf("%s: no pod names", c.ID)
			continue
		}
		want := ids[c.Pod.Container]
		if c.ID != want || c.Pod.Namespace != ns || c.Pod.Name != "web" || c.Name != ns+"/web/"+c.Pod.Container {
			t.Errorf("container %s named %+v (%s), want %s/web/%s with ID %s", c.ID, *c.Pod, c.Name, ns, c.Pod.Container, want)
		}
		if c.Pod.Owner != "Pod/web" {
			t.Errorf("%s: owner %q, want Pod/web (a bare Pod is its own top)", c.Name, c.Pod.Owner)
		}
		seen[c.Pod.Container] = true
		if c.Config == nil || c.MainPID != k.HostPID(t, c.ID) {
			t.Errorf("%s: config %v, main PID %d, want the kubelet's config and PID %d", c.Name, c.Config, c.MainPID, k.HostPID(t, c.ID))
		}
		if len(c.Mismatches) > 0 {
			t.Errorf("%s: live sets differ from the spec: %+v", c.Name, c.Mismatches)
		}
	}
	if len(seen) != 4 {
		t.Errorf("ps --pod named %v, want the 4 containers of the Pod", seen)
	}

	// No socket: attributed by cgroup, names missing, said once.
	out, errOut, code = psCLI(t, "ps", "--containers", "-o", "json")
	if code != 0 {
		t.Fatalf("ps: exit %d: %s", code, errOut)
	}
	if !strings.Contains(errOut, "names are missing") {
		t.Errorf("without the CRI socket, no warning that names are missing: %q", errOut)
	}
	cs = nil
	if err := json.Unmarshal([]byte(out), &cs); err != nil {
		t.Fatal(err)
	}
	byID := map[string]report.PSContainer{}
	for _, c := range cs {
		byID[c.ID] = c
	}
	uid := strings.TrimSpace(k.Kubectl(t, "", "-n", ns, "get", "pod", "web", "-o", "jsonpath={.metadata.uid}"))
	for name, id := range ids {
		c, ok := byID[id]
		switch {
		case !ok:
			t.Errorf("%s (%s) not attributed without the CRI", name, id)
		case c.PodUID != uid || c.Runtime != "containerd" || c.Pod != nil:
			t.Errorf("%s without the CRI: pod_uid %q runtime %s pod %v, want %s, containerd, no names", name, c.PodUID, c.Runtime, c.Pod, uid)
		}
	}
}
