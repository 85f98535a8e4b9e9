package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/internal/kubetest"
	"github.com/capdrop/capdrop/internal/term"
	"github.com/capdrop/capdrop/patch"
	"github.com/capdrop/capdrop/procfs"
	"github.com/capdrop/capdrop/shadow"
)

// The workload of the loop: capneeds opens a raw socket (NET_RAW) and binds
// port 80 (NET_BIND_SERVICE), then marks itself ready and sleeps; a
// capability it lacks makes it exit, restart and never be Ready.
func loopDeployment(name, extraLabels string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
  labels: {app: %[1]s%[2]s}
spec:
  replicas: 1
  selector:
    matchLabels: {app: %[1]s}
  template:
    metadata:
      labels: {app: %[1]s}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: app
        image: %[3]s
        command: ["sh", "-c", "capneeds raw bind && touch /tmp/ready && exec sleep 100000"]
        readinessProbe:
          exec: {command: ["cat", "/tmp/ready"]}
          periodSeconds: 1
`, name, extraLabels, kubetest.Image)
}

// loopService sends traffic to the Deployment's Pods: k8s verify's shadows
// must not carry its selector.
func loopService(name string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: %[1]s}
spec:
  selector: {app: %[1]s}
  ports: [{port: 80}]
`, name)
}

// handProfile writes a cluster profile of ns's Deployments' app
// containers, each needing NET_BIND_SERVICE and NET_RAW, as the agent
// would report them (made from clusterprofile's golden document).
func handProfile(t *testing.T, dir, ns string, names ...string) string {
	sets := map[string][]string{}
	for _, n := range names {
		sets[ns+"/Deployment/"+n+"/app"] = []string{"CAP_NET_BIND_SERVICE", "CAP_NET_RAW"}
	}
	return clusterProfile(t, dir, sets, "")
}

// podSets returns, for each Ready Pod of app=name, the kernel's sets of
// its container's main process, failing when a Pod restarted.
func podSets(t *testing.T, k *kubetest.Cluster, ns, name string) []capset.Sets {
	t.Helper()
	var pods struct {
		Items []struct {
			Metadata struct {
				Name              string  `json:"name"`
				DeletionTimestamp *string `json:"deletionTimestamp"`
			} `json:"metadata"`
			Status struct {
				ContainerStatuses []struct {
					ContainerID  string `json:"containerID"`
					Ready        bool   `json:"ready"`
					RestartCount int    `json:"restartCount"`
				} `json:"containerStatuses"`
			} `json:"status"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(k.Kubectl(t, "", "-n", ns, "get", "pods", "-l", "app="+name, "-o", "json")), &pods); err != nil {
		t.Fatal(err)
	}
	var out []capset.Sets
	for _, p := range pods.Items {
		if p.Metadata.DeletionTimestamp != nil {
			continue
		}
		for _, c := range p.Status.ContainerStatuses {
			if !c.Ready || c.RestartCount != 0 {
				t.Errorf("%s: ready %v, %d restarts", p.Metadata.Name, c.Ready, c.RestartCount)
				continue
			}
			st, err := procfs.ReadStatus("/proc", k.HostPID(t, c.ContainerID))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, st.Sets)
		}
	}
	return out
}

// roleKubeconfig writes a kubeconfig of a ServiceAccount of ns bound, in
// ns only, to the ClusterRoles of the shipped manifest file: the verbs
// then run with the permissions docs/kubernetes.md says they need.
func roleKubeconfig(t *testing.T, k *kubetest.Cluster, ns, file string, roles ...string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "deploy", "kubernetes", file))
	if err != nil {
		t.Fatal(err)
	}
	k.Kubectl(t, string(data), "apply", "-f", "-")
	k.Kubectl(t, "", "-n", ns, "create", "serviceaccount", "capdrop")
	for _, r := range roles {
		k.Kubectl(t, "", "-n", ns, "create", "rolebinding", r, "--clusterrole="+r, "--serviceaccount="+ns+":capdrop")
	}
	return tokenKubeconfig(t, k, ns, "capdrop")
}

// tokenKubeconfig writes a kubeconfig of ServiceAccount ns/sa, with a
// token of its own.
func tokenKubeconfig(t *testing.T, k *kubetest.Cluster, ns, sa string) string {
	t.Helper()
	token := strings.TrimSpace(k.Kubectl(t, "", "-n", ns, "create", "token", sa))
	server := strings.TrimSpace(k.Kubectl(t, "", "config", "view", "-o", "jsonpath={.clusters[0].cluster.server}"))
	p := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: %q, insecure-skip-tls-verify: true}}]\n"+
		"users: [{name: u, user: {token: %q}}]\ncontexts: [{name: x, context: {cluster: c, user: u, namespace: %s}}]\ncurrent-context: x\n", server, token, ns)
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// rolledOut waits until the Deployment's new Pods are Ready and its old
// ones scaled away (podSets passes over Pods still terminating).
func rolledOut(t *testing.T, k *kubetest.Cluster, ns, name string) {
	t.Helper()
	k.Kubectl(t, "", "-n", ns, "rollout", "status", "deployment/"+name, "--timeout=300s")
}

// TestK8sLoopCluster is the loop of docs/kubernetes.md on the real cluster:
// a workload's profile → k8s recommend → capdrop fix of its manifest →
// kubectl apply (and, for a second workload, k8s recommend --apply) → the
// new Pods run with exactly the set, read from the kernel, and are Ready.
// A Helm-managed workload is recommended for but never patched live. (The
// profile is written by hand in the agent's format, as the agent would
// report these containers.)
func TestK8sLoopCluster(t *testing.T) {
	k := kubetest.Require(t)
	t.Parallel()
	ns := k.Namespace(t, "kv-loop")
	dir := t.TempDir()
	manifest := filepath.Join(dir, "web.yaml")
	if err := os.WriteFile(manifest, []byte(loopDeployment("web", "")), 0o644); err != nil {
		t.Fatal(err)
	}
	k.Kubectl(t, "", "-n", ns, "apply", "-f", manifest)
	k.Kubectl(t, loopDeployment("api", ""), "-n", ns, "apply", "-f", "-")
	k.Kubectl(t, strings.Replace(loopDeployment("chart", ", app.kubernetes.io/managed-by: Helm"), "replicas: 1", "replicas: 0", 1), "-n", ns, "apply", "-f", "-")
	k.WaitReady(t, ns, 5*time.Minute)
	want := capset.Of(capset.NET_BIND_SERVICE, capset.NET_RAW)
	// Before: containerd's defaults, which hold the two and twelve more.
	for _, s := range podSets(t, k, ns, "web") {
		if !s.Effective.Contains(want) || s.Effective == want {
			t.Fatalf("web before the loop holds %v", s.Effective.ShortNames())
		}
	}
	cp := handProfile(t, dir, ns, "web", "api", "chart")
	// recommend runs with the shipped roles: read-only, then patch.
	kc := roleKubeconfig(t, k, ns, "recommend-rbac.yaml", "capdrop-recommend", "capdrop-remediate")

	// Recommend, reading the cluster, writing nothing.
	out, stderr, code := psCLI(t, "k8s", "recommend", "--kubeconfig", kc, "--from", cp, "-n", ns, "-o", "json")
	if code != 0 {
		t.Fatalf("recommend: exit %d\n%s", code, stderr)
	}
	var res patch.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	recs := map[string]*patch.Recommendation{}
	for _, r := range res.Recommendations {
		recs[r.Workload.Name] = r
	}
	for _, n := range []string{"web", "api", "chart"} {
		r := recs[n]
		if r == nil || r.Patch == nil || len(r.Containers) != 1 || !slices.Equal(r.Containers[0].Add, []string{"NET_BIND_SERVICE", "NET_RAW"}) || len(r.Containers[0].Removed) != 12 {
			t.Fatalf("%s: %s", n, out)
		}
	}
	if m := recs["chart"].ManagedBy; len(m) != 1 || m[0].Tool != "Helm" {
		t.Errorf("chart: managed by %v, want Helm", m)
	}
	if gen := k.Kubectl(t, "", "-n", ns, "get", "deployment", "web", "-o", "jsonpath={.metadata.generation}"); gen != "1" {
		t.Errorf("recommend changed the Deployment: generation %s", gen)
	}

	// fix writes the profile's set into the manifest; kubectl applies it.
	_, stderr, code = psCLI(t, "fix", manifest, "--from", cp, "-n", ns, "--write")
	if code != 0 {
		t.Fatalf("fix: exit %d\n%s", code, stderr)
	}
	k.Kubectl(t, "", "-n", ns, "apply", "-f", manifest)

	// recommend --apply patches api after a dry run, and leaves chart.
	out, stderr, code = psCLI(t, "k8s", "recommend", "--kubeconfig", kc, "--from", cp, "-n", ns, "--apply", "-o", "json")
	if code != 0 {
		t.Fatalf("recommend --apply: exit %d\n%s\n%s", code, stderr, out)
	}
	res = patch.Result{}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Recommendations {
		wantStatus := map[string]string{"web": "applied", "api": "applied", "chart": "skipped"}[r.Workload.Name]
		if r.Apply == nil || r.Apply.Status != wantStatus {
			t.Errorf("%s: apply %+v, want %s", r.Workload, r.Apply, wantStatus)
		}
	}
	if got := k.Kubectl(t, "", "-n", ns, "get", "deployment", "chart", "-o", "jsonpath={.spec.template.spec.containers[0].securityContext}"); got != "" {
		t.Errorf("the Helm-managed Deployment was patched: %s", got)
	}

	for _, n := range []string{"web", "api"} {
		rolledOut(t, k, ns, n)
		sets := podSets(t, k, ns, n)
		if len(sets) != 1 {
			t.Fatalf("%s: %d Ready Pods after the rollout", n, len(sets))
		}
		s := sets[0]
		if s.Effective != want || s.Permitted != want || s.Bounding != want || s.Inheritable != 0 || s.Ambient != 0 {
			t.Errorf("%s: the kernel shows %s, want exactly %v", n, setsOf(s.Names()), want.ShortNames())
		}
		if nnp := k.Kubectl(t, "", "-n", ns, "get", "deployment", n, "-o", "jsonpath={.spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation}"); nnp != "false" {
			t.Errorf("%s: allowPrivilegeEscalation %q", n, nnp)
		}
	}
	// Applying again changes nothing: the manifest and the patch agree.
	gen := k.Kubectl(t, "", "-n", ns, "get", "deployment", "web", "-o", "jsonpath={.metadata.generation}")
	if _, _, code = psCLI(t, "k8s", "recommend", "--kubeconfig", kc, "--from", cp, "-n", ns, "web", "--apply"); code != 0 {
		t.Errorf("recommend --apply again: exit %d", code)
	}
	if again := k.Kubectl(t, "", "-n", ns, "get", "deployment", "web", "-o", "jsonpath={.metadata.generation}"); again != gen {
		t.Errorf("a second --apply changed web: generation %s → %s", gen, again)
	}
}

// TestK8sVerifyMinimizeCluster minimizes the loop's workload with shadow
// Pods from everything it holds (containerd's 14 defaults) down to the two
// capabilities capneeds needs, which is 1-minimal; the shadows never carry
// the Service's selector, and none is left.
func TestK8sVerifyMinimizeCluster(t *testing.T) {
	k := kubetest.Require(t)
	t.Parallel()
	ns := k.Namespace(t, "kv-verify")
	k.Kubectl(t, loopDeployment("web", "")+"---\n"+loopService("web"), "-n", ns, "apply", "-f", "-")
	k.WaitReady(t, ns, 5*time.Minute)
	kc := roleKubeconfig(t, k, ns, "verify-rbac.yaml", "capdrop-verify")
	out, stderr, code := psCLIFor(t, 30*time.Minute, "k8s", "verify", "deployment/web", "--kubeconfig", kc, "-n", ns,
		"--minimize", "--settle", "2s", "--timeout", "90s", "-o", "json")
	if code != 0 {
		t.Fatalf("k8s verify: exit %d\n%s\n%s", code, stderr, out)
	}
	var res shadow.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", res.Message)
	if !res.Passed || !res.OneMinimal || !slices.Equal(res.Set, []string{"CAP_NET_BIND_SERVICE", "CAP_NET_RAW"}) || len(res.Start) != 14 {
		t.Errorf("passed %v, 1-minimal %v, set %v from %v", res.Passed, res.OneMinimal, res.Set, res.Start)
	}
	failed := 0
	for _, r := range res.Runs {
		if !r.Passed {
			failed++
		}
	}
	if failed == 0 || len(res.Runs) < 3 {
		t.Errorf("%d shadows, %d failed: a minimization must see sets fail", len(res.Runs), failed)
	}
	if !strings.Contains(strings.Join(res.Target.Notes, "\n"), "labels app left out") {
		t.Errorf("notes %q", res.Target.Notes)
	}
	if left := k.Kubectl(t, "", "-n", ns, "get", "pods", "-l", shadow.LabelSession, "-o", "name"); left != "" || len(res.Left) > 0 {
		t.Errorf("shadows left: %s %v", left, res.Left)
	}
	// The Service never sent traffic to a shadow: its endpoints are the
	// workload's one Pod.
	if eps := k.Kubectl(t, "", "-n", ns, "get", "endpointslices", "-l", "kubernetes.io/service-name=web", "-o", "jsonpath={.items[*].endpoints[*].targetRef.name}"); strings.Contains(eps, "capdrop-verify") {
		t.Errorf("the Service's endpoints hold a shadow: %s", eps)
	}
}

// TestK8sVerifyInterruptCluster sends SIGINT to capdrop k8s verify while a
// shadow Pod runs: it exits 130, and nothing with its label is left.
func TestK8sVerifyInterruptCluster(t *testing.T) {
	k := kubetest.Require(t)
	t.Parallel()
	ns := k.Namespace(t, "kv-sigint")
	k.Kubectl(t, loopDeployment("web", ""), "-n", ns, "apply", "-f", "-")
	k.WaitReady(t, ns, 5*time.Minute)
	env := e2e(t)
	cmd := exec.Command(env.capdrop, "k8s", "verify", "deployment/web", "--kubeconfig", k.Kubeconfig, "-n", ns, "--minimize", "--settle", "30s")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// Wait for a shadow to exist, then interrupt.
	deadline := time.Now().Add(5 * time.Minute)
	for {
		if names := k.Kubectl(t, "", "-n", ns, "get", "pods", "-l", shadow.LabelSession, "-o", "name"); names != "" {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("capdrop ended before a shadow appeared: %v\n%s\n%s", err, stdout.String(), stderr.String())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("no shadow Pod appeared\n%s\n%s", stdout.String(), stderr.String())
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("capdrop did not end after SIGINT\n%s\n%s", stdout.String(), stderr.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != ExitInterrupted {
		t.Errorf("exit %d after SIGINT, want %d\n%s", code, ExitInterrupted, stderr.String())
	}
	// verify waits until its shadows are gone before it exits.
	if left := k.Kubectl(t, "", "-n", ns, "get", "pods", "-l", shadow.LabelSession, "-o", "name"); left != "" {
		t.Errorf("left after SIGINT: %s\n%s", left, stderr.String())
	}
	if got := k.Kubectl(t, "", "-n", ns, "get", "pods", "-o", "name"); len(strings.Fields(got)) != 1 {
		t.Errorf("pods in the namespace after SIGINT: %s", got)
	}
}

// psCLIFor is psCLI with a longer deadline.
func psCLIFor(t *testing.T, d time.Duration, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	s, out, errOut := term.Test("")
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	code = Main(ctx, args, s)
	return out.String(), errOut.String(), code
}

// TestK8sRolesMissingCluster runs k8s recommend --apply and k8s verify on
// the real cluster as ServiceAccounts bound to the shipped roles with one
// permission taken away — patch on Deployments from capdrop-remediate,
// create on Pods from capdrop-verify — (the shipped roles themselves are
// exercised by TestK8sLoopCluster and TestK8sVerifyMinimizeCluster): each
// fails with the API server's refusal naming the missing permission, does
// not crash, and changes nothing.
func TestK8sRolesMissingCluster(t *testing.T) {
	k := kubetest.Require(t)
	t.Parallel()
	variant := func(file, role, renamed, from, to string) {
		t.Helper()
		data, err := os.ReadFile(filepath.Join("..", "..", "deploy", "kubernetes", file))
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range strings.Split(string(data), "\n---\n") {
			if !strings.Contains(doc, "\n  name: "+role+"\n") {
				continue
			}
			v := strings.Replace(strings.Replace(doc, "\n  name: "+role+"\n", "\n  name: "+renamed+"\n", 1), from, to, 1)
			if v == doc || !strings.Contains(v, to) {
				t.Fatalf("%s: %s has no %q: the test's removal of one permission is out of date", file, role, from)
			}
			k.Kubectl(t, v, "apply", "-f", "-")
			t.Cleanup(func() { _, _ = k.KubectlErr("", "delete", "clusterrole", renamed, "--ignore-not-found") })
			return
		}
		t.Fatalf("%s: no role %s", file, role)
	}

	t.Run("recommend --apply without patch on deployments", func(t *testing.T) {
		ns := k.Namespace(t, "kv-norbac")
		k.Kubectl(t, loopDeployment("web", ""), "-n", ns, "apply", "-f", "-")
		cp := handProfile(t, t.TempDir(), ns, "web")
		variant("recommend-rbac.yaml", "capdrop-remediate", ns+"-remediate",
			"resources: [deployments, statefulsets, daemonsets, replicasets]\n  verbs: [patch]",
			"resources: [statefulsets, daemonsets, replicasets]\n  verbs: [patch]")
		kc := roleKubeconfig(t, k, ns, "recommend-rbac.yaml", "capdrop-recommend", ns+"-remediate")
		gen := k.Kubectl(t, "", "-n", ns, "get", "deployment", "web", "-o", "jsonpath={.metadata.generation}")
		out, stderr, code := psCLI(t, "k8s", "recommend", "--kubeconfig", kc, "--from", cp, "-n", ns, "--apply")
		t.Logf("exit %d\n%s\n%s", code, stderr, out)
		if code != ExitFindings || !strings.Contains(stderr, "forbidden") || !strings.Contains(stderr, `cannot patch resource "deployments"`) {
			t.Errorf("exit %d, want %d and the refusal naming patch on deployments\n%s", code, ExitFindings, stderr)
		}
		if strings.Contains(stderr, "panic") {
			t.Errorf("a panic:\n%s", stderr)
		}
		if again := k.Kubectl(t, "", "-n", ns, "get", "deployment", "web", "-o", "jsonpath={.metadata.generation}"); again != gen {
			t.Errorf("the Deployment changed: generation %s → %s", gen, again)
		}
	})

	t.Run("verify without create on pods", func(t *testing.T) {
		ns := k.Namespace(t, "kv-norbac")
		k.Kubectl(t, loopDeployment("web", ""), "-n", ns, "apply", "-f", "-")
		variant("verify-rbac.yaml", "capdrop-verify", ns+"-verify",
			"resources: [pods]\n  verbs: [get, list, create, delete]", "resources: [pods]\n  verbs: [get, list, delete]")
		kc := roleKubeconfig(t, k, ns, "verify-rbac.yaml", ns+"-verify")
		out, stderr, code := psCLIFor(t, 5*time.Minute, "k8s", "verify", "deployment/web", "--kubeconfig", kc, "-n", ns, "--timeout", "60s")
		t.Logf("exit %d\n%s\n%s", code, stderr, out)
		if code == 0 || !strings.Contains(stderr+out, "forbidden") || !strings.Contains(stderr+out, `cannot create resource "pods"`) {
			t.Errorf("exit %d, want a failure naming create on pods\n%s\n%s", code, stderr, out)
		}
		if strings.Contains(stderr, "panic") {
			t.Errorf("a panic:\n%s", stderr)
		}
		if left := k.Kubectl(t, "", "-n", ns, "get", "pods", "-l", shadow.LabelSession, "-o", "name"); left != "" {
			t.Errorf("shadows left: %s", left)
		}
	})
}

// TestK8sVerifyNodesRBACCluster runs k8s verify on the real cluster as a
// ServiceAccount bound to capdrop-verify in the workload's namespace and
// capdrop-verify-nodes cluster-wide, exactly as verify-rbac.yaml ships
// them — list on nodes and no get, which verify never uses: the nodes are
// read, so the set the container holds is its node's runtime's, and no
// note says they could not be. Then with list taken away too (a role
// without any rule): verify still judges the shadow, under containerd's
// rules, and its notes name the refusal — list on nodes.
func TestK8sVerifyNodesRBACCluster(t *testing.T) {
	k := kubetest.Require(t)
	t.Parallel()
	ns := k.Namespace(t, "kv-nodes")
	k.Kubectl(t, loopDeployment("web", ""), "-n", ns, "apply", "-f", "-")
	k.WaitReady(t, ns, 5*time.Minute)
	kc := roleKubeconfig(t, k, ns, "verify-rbac.yaml", "capdrop-verify")
	data, err := os.ReadFile(filepath.Join("..", "..", "deploy", "kubernetes", "verify-rbac.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var nodesRole string
	for _, doc := range strings.Split(string(data), "\n---\n") {
		if strings.Contains(doc, "\n  name: capdrop-verify-nodes\n") {
			nodesRole = doc
		}
	}
	if !strings.Contains(nodesRole, "rules:\n- apiGroups: [\"\"]\n  resources: [nodes]\n  verbs: [list]\n") || strings.Count(nodesRole, "verbs:") != 1 {
		t.Fatalf("capdrop-verify-nodes is not list on nodes alone:\n%s", nodesRole)
	}
	noList := strings.Replace(strings.Replace(nodesRole, "\n  name: capdrop-verify-nodes\n", "\n  name: "+ns+"-nodes-nolist\n", 1),
		"rules:\n- apiGroups: [\"\"]\n  resources: [nodes]\n  verbs: [list]\n", "rules: []\n", 1)
	if !strings.Contains(noList, "rules: []\n") || !strings.Contains(noList, ns+"-nodes-nolist") {
		t.Fatal("verify-rbac.yaml changed: the test's removal of one permission is out of date")
	}
	k.Kubectl(t, noList, "apply", "-f", "-")
	crb := ns + "-nodes"
	t.Cleanup(func() {
		_, _ = k.KubectlErr("", "delete", "clusterrolebinding", crb, "--ignore-not-found")
		_, _ = k.KubectlErr("", "delete", "clusterrole", ns+"-nodes-nolist", "--ignore-not-found")
	})
	runtime := k.Kubectl(t, "", "get", "nodes", "-o", "jsonpath={.items[0].status.nodeInfo.containerRuntimeVersion}")
	verify := func(role string) shadow.Result {
		t.Helper()
		_, _ = k.KubectlErr("", "delete", "clusterrolebinding", crb, "--ignore-not-found")
		k.Kubectl(t, "", "create", "clusterrolebinding", crb, "--clusterrole="+role, "--serviceaccount="+ns+":capdrop")
		out, stderr, code := psCLIFor(t, 5*time.Minute, "k8s", "verify", "deployment/web", "--kubeconfig", kc, "-n", ns,
			"--timeout", "90s", "-o", "json")
		t.Logf("%s: exit %d\n%s", role, code, stderr)
		var res shadow.Result
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("%s: exit %d, %v\n%s\n%s", role, code, err, out, stderr)
		}
		if code != 0 || !res.Passed {
			t.Errorf("%s: exit %d, passed %v: %s", role, code, res.Passed, res.Message)
		}
		if strings.Contains(stderr, "panic") {
			t.Errorf("%s: a panic\n%s", role, stderr)
		}
		if left := k.Kubectl(t, "", "-n", ns, "get", "pods", "-l", shadow.LabelSession, "-o", "name"); left != "" || len(res.Left) > 0 {
			t.Errorf("%s: shadows left: %s %v", role, left, res.Left)
		}
		return res
	}

	res := verify("capdrop-verify-nodes")
	notes := strings.Join(res.Target.Notes, "\n")
	t.Logf("runtime %s, held %v, notes %q", runtime, res.Target.Held, res.Target.Notes)
	if strings.Contains(notes, "nodes could not be read") {
		t.Errorf("with capdrop-verify-nodes, the nodes were not read: %q", res.Target.Notes)
	}
	if !strings.HasPrefix(runtime, "containerd://") || len(res.Target.Held) != 14 {
		t.Errorf("runtime %s, held %v: want containerd's 14 defaults", runtime, res.Target.Held)
	}

	res = verify(ns + "-nodes-nolist")
	notes = strings.Join(res.Target.Notes, "\n")
	t.Logf("without list on nodes: notes %q", res.Target.Notes)
	if !strings.Contains(notes, "nodes could not be read") || !strings.Contains(notes, "forbidden") || !strings.Contains(notes, `cannot list resource "nodes"`) {
		t.Errorf("without list on nodes, no note naming it: %q", res.Target.Notes)
	}
}
