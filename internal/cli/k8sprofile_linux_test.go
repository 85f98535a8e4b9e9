package cli

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/clusterprofile"
	"github.com/capdrop/capdrop/clusterprofile/collect"
	"github.com/capdrop/capdrop/internal/kubetest"
	"github.com/capdrop/capdrop/trace"
)

// kpNamespace creates a namespace kp-PREFIX-RANDOM for t and deletes it,
// waiting for its Pods to go, when t ends.
func kpNamespace(t *testing.T, k *kubetest.Cluster, prefix string) string {
	t.Helper()
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	ns := fmt.Sprintf("kp-%s-%x", prefix, b)
	k.Kubectl(t, "", "create", "namespace", ns)
	t.Cleanup(func() {
		if _, err := k.KubectlErr("", "delete", "namespace", ns, "--wait=true", "--timeout=300s"); err != nil {
			t.Errorf("namespace %s not deleted: %v", ns, err)
		}
	})
	return ns
}

// profileAgentManifest is deploy/kubernetes/agent.yaml, for a test that
// deploys the agent for good (kubectl apply): its Namespace,
// ServiceAccount, ClusterRole and binding and DaemonSet named after ns, so
// that nothing of it is mistaken for the shipped agent, and a port of its
// own (the agent is on the host's network) and a pin path of its own,
// which the caller removes (trace.Unpin) once the agent is gone, so that it
// neither takes over nor leaves a tracer at the shipped path; its image as shipped
// (localhost/capdrop/agent:1, which scripts/k8s-up builds and imports).
// The API server is reached as shipped, through the kubernetes Service
// (scripts/k8s-up routes it).
func profileAgentManifest(t *testing.T, k *kubetest.Cluster, ns string) (manifest, pin string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "deploy", "kubernetes", "agent.yaml"))
	if errors.Is(err, fs.ErrNotExist) {
		t.Skip("needs the agent's manifest, deploy/kubernetes/agent.yaml, which this tree does not have yet")
	}
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	port := 20100 + (int(b[0])<<8|int(b[1]))%800
	m := string(data)
	for _, r := range [][2]string{
		{"\n  name: capdrop\n", "\n  name: " + ns + "\n"},
		{"namespace: capdrop\n", "namespace: " + ns + "\n"},
		{"name: capdrop-agent\n", "name: " + ns + "-agent\n"},
		{"serviceAccountName: capdrop-agent\n", "serviceAccountName: " + ns + "-agent\n"},
		{"port 9153", fmt.Sprintf("port %d", port)},
		{"--listen=:9153", fmt.Sprintf("--listen=:%d", port)},
		{"port: 9153", fmt.Sprintf("port: %d", port)},
		{"containerPort: 9153", fmt.Sprintf("containerPort: %d", port)},
		{"--pin-path=/sys/fs/bpf/capdrop]", "--pin-path=/sys/fs/bpf/capdrop-" + ns + "]"},
	} {
		if !strings.Contains(m, r[0]) {
			t.Fatalf("agent.yaml has no %q: the test's rewriting is out of date", r[0])
		}
		m = strings.ReplaceAll(m, r[0], r[1])
	}
	if strings.Contains(m, "9153") || strings.Contains(m, "capdrop-agent\n") || strings.Contains(m, "namespace: capdrop\n") {
		t.Fatalf("the manifest was not fully rewritten:\n%s", m)
	}
	p := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(p, []byte(m), 0o644); err != nil {
		t.Fatal(err)
	}
	return p, "/sys/fs/bpf/capdrop-" + ns
}

// profileWorkload is the loop's Deployment (capneeds opens a raw socket and
// binds port 80: NET_RAW and NET_BIND_SERVICE; its readiness probe needs
// nothing), with no replica yet: it is scaled up once the agents run, so
// that they see its containers from their first exec.
func profileWorkload() string {
	return strings.Replace(loopDeployment("web", ""), "replicas: 1", "replicas: 0", 1)
}

// startProfile starts capdrop k8s profile and waits until its window has
// started (it says "profiling" on standard error).
func startProfile(t *testing.T, capdrop string, args ...string) (cmd *exec.Cmd, stdout *bytes.Buffer, stderr *lockedBuffer, done chan error) {
	t.Helper()
	cmd = exec.Command(capdrop, append([]string{"k8s", "profile"}, args...)...)
	stdout, stderr = &bytes.Buffer{}, &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done = make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(5 * time.Minute)
	for !strings.Contains(stderr.String(), "capdrop: profiling ") {
		select {
		case err := <-done:
			t.Fatalf("k8s profile ended before its window: %v\n%s\n%s", err, stdout, stderr)
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("k8s profile's window did not start\n%s", stderr)
		}
	}
	return cmd, stdout, stderr, done
}

// The shipped agent manifest's names: its Namespace, and the name of its
// ServiceAccount, ClusterRole, ClusterRoleBinding and DaemonSet.
const shippedAgentNS, shippedAgent = "capdrop", "capdrop-agent"

// agentLeft lists what of a session's agent is still in the cluster: the
// shipped manifest's Namespace, cluster-scoped role and binding, and
// anything labelled by a profile session.
func agentLeft(t *testing.T, k *kubetest.Cluster) []string {
	t.Helper()
	var left []string
	if out, err := k.KubectlErr("", "get", "namespace", shippedAgentNS, "-o", "name", "--ignore-not-found"); err != nil {
		left = append(left, err.Error())
	} else if out != "" {
		left = append(left, strings.TrimSpace(out))
	}
	if out := k.Kubectl(t, "", "get", "clusterrole,clusterrolebinding", "-o", "name", "--ignore-not-found", shippedAgent); out != "" {
		left = append(left, strings.Fields(out)...)
	}
	if out := k.Kubectl(t, "", "get", "daemonsets,pods,serviceaccounts", "-A", "-l", collect.LabelSession, "-o", "name"); out != "" {
		left = append(left, strings.Fields(out)...)
	}
	return left
}

// shippedAgentAbsent fails t when the shipped agent runs already (the
// sessions would use it and deploy nothing), and removes, when t ends,
// what a failed session may have left of it.
func shippedAgentAbsent(t *testing.T, k *kubetest.Cluster) {
	t.Helper()
	if left := agentLeft(t, k); len(left) > 0 {
		t.Fatalf("the shipped agent is in the cluster before the test (%v): the test needs it absent", left)
	}
	t.Cleanup(func() { // only if the sessions failed to
		if left := agentLeft(t, k); len(left) > 0 {
			t.Errorf("left by the sessions: %v", left)
			data, err := os.ReadFile(filepath.Join("..", "..", "deploy", "kubernetes", "agent.yaml"))
			if err == nil {
				_, _ = k.KubectlErr(string(data), "delete", "-f", "-", "--ignore-not-found", "--wait=true", "--timeout=120s")
			}
		}
	})
}

// waitProfile waits for a k8s profile started by startProfile to end, and
// returns its profile.
func waitProfile(t *testing.T, cmd *exec.Cmd, stdout *bytes.Buffer, stderr *lockedBuffer, done chan error, wantCode int) clusterprofile.Document {
	t.Helper()
	select {
	case <-done:
	case <-time.After(6 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("k8s profile did not end\n%s", stderr)
	}
	if c := cmd.ProcessState.ExitCode(); c != wantCode {
		t.Fatalf("exit %d, want %d\n%s", c, wantCode, stderr)
	}
	var doc clusterprofile.Document
	if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s\n%s", err, stdout, stderr)
	}
	return doc
}

// TestK8sProfileCluster runs capdrop k8s profile on the real cluster with
// the agent absent: it deploys the agent from the manifest built in,
// exactly as shipped (its namespace, names, port and in-cluster API
// access: the kubernetes Service, which scripts/k8s-up routes as
// kube-proxy would), a Deployment scaled to three replicas once the window
// runs is profiled from its containers' first exec — exactly
// NET_BIND_SERVICE and NET_RAW, what capneeds raw bind needs, complete,
// three Pods — a kubectl exec using CHOWN is left out, and once it ends
// nothing of the agent is left.
func TestK8sProfileCluster(t *testing.T) {
	k := kubetest.Require(t)
	shippedAgentAbsent(t, k)
	ns := kpNamespace(t, k, "profile")
	k.Kubectl(t, profileWorkload(), "-n", ns, "apply", "-f", "-")
	cmd, stdout, stderr, done := startProfile(t, e2e(t).capdrop, "deployment/web", "--kubeconfig", k.Kubeconfig, "-n", ns,
		"--duration", "60s", "--min-window", "20s", "-o", "json")
	if !strings.Contains(stderr.String(), "deploying deploy/kubernetes/agent.yaml (built in)") {
		t.Errorf("no word of the deployment:\n%s", stderr)
	}
	k.Kubectl(t, "", "-n", ns, "scale", "deployment/web", "--replicas=3")
	k.Kubectl(t, "", "-n", ns, "rollout", "status", "deployment/web", "--timeout=120s")
	pod := strings.TrimPrefix(strings.Fields(k.Kubectl(t, "", "-n", ns, "get", "pods", "-l", "app=web", "-o", "name"))[0], "pod/")
	k.Kubectl(t, "", "-n", ns, "exec", pod, "--", "capneeds", "chown")

	doc := waitProfile(t, cmd, stdout, stderr, done, 0)
	if len(doc.Profiles) != 1 {
		t.Fatalf("%d profiles:\n%s\n%s", len(doc.Profiles), stdout, stderr)
	}
	p := doc.Profiles[0]
	t.Logf("%s: needed %v, used %v, complete %v, %d Pods, %d containers, observed %.0fs; excluded %d exec sessions using %v\n%s",
		p.Workload, p.Needed, p.UsedSet().Names(), p.Complete, p.Pods, p.Containers, p.Observed, p.Excluded.Sessions, p.Excluded.Capabilities.Names(), stderr)
	want := capset.Of(capset.NET_BIND_SERVICE, capset.NET_RAW)
	if p.Workload.String() != ns+"/Deployment/web/app" || p.RecommendedSet() != want || p.NeededSet() != want {
		t.Errorf("%s: needed %v, used %v; want exactly %v", p.Workload, p.Needed, p.UsedSet().Names(), want.Names())
	}
	if !p.Complete || p.Pods != 3 {
		t.Errorf("complete %v %+v, %d Pods; want complete over 3", p.Complete, p.Partial, p.Pods)
	}
	if !p.Excluded.Capabilities.Has(capset.CHOWN) || p.Excluded.Sessions == 0 {
		t.Errorf("the kubectl exec's CHOWN: excluded %+v", p.Excluded)
	}
	if left := agentLeft(t, k); len(left) > 0 {
		t.Errorf("left after k8s profile: %v\n%s", left, stderr)
	}
}

// TestK8sProfileInterruptCluster sends SIGINT, then in a second run SIGTERM,
// to capdrop k8s profile in its window: it still writes the profile of the
// time observed (partial: too short), removes the agent it deployed, waits
// for it to go, and exits 130 or 143.
func TestK8sProfileInterruptCluster(t *testing.T) {
	k := kubetest.Require(t)
	for _, c := range []struct {
		sig  syscall.Signal
		name string
		code int
	}{{syscall.SIGINT, "sigint", ExitInterrupted}, {syscall.SIGTERM, "sigterm", ExitTerminated}} {
		t.Run(c.sig.String(), func(t *testing.T) {
			shippedAgentAbsent(t, k)
			ns := kpNamespace(t, k, c.name)
			k.Kubectl(t, strings.Replace(profileWorkload(), "replicas: 0", "replicas: 1", 1), "-n", ns, "apply", "-f", "-")
			k.WaitReady(t, ns, 5*time.Minute)
			cmd, stdout, stderr, done := startProfile(t, e2e(t).capdrop, "deployment/web", "--kubeconfig", k.Kubeconfig, "-n", ns,
				"--duration", "10m", "-o", "json")
			if out := k.Kubectl(t, "", "-n", shippedAgentNS, "get", "pods", "-o", "name"); out == "" {
				t.Errorf("no agent Pod in %s during the window", shippedAgentNS)
			}
			if err := cmd.Process.Signal(c.sig); err != nil {
				t.Fatal(err)
			}
			doc := waitProfile(t, cmd, stdout, stderr, done, c.code)
			if !strings.Contains(strings.Join(doc.Warnings, "\n"), "interrupted after") {
				t.Errorf("warnings %q", doc.Warnings)
			}
			// The Pod ran before the agent: the profile is partial, and says why.
			for _, p := range doc.Profiles {
				if p.Complete {
					t.Errorf("%s complete after an interrupted window of a Pod started before the agent", p.Workload)
				}
			}
			if left := agentLeft(t, k); len(left) > 0 {
				t.Errorf("left after %s: %v\n%s", c.sig, left, stderr)
			}
		})
	}
}

// TestK8sProfileSessionsCluster runs three k8s profile sessions at once on
// the real cluster, sharing one agent deployed from the built-in manifest:
// A (on one Deployment) deploys it; B (on another Deployment, in another
// namespace) starts in A's window, finds it and shares it; C (on A's
// Deployment) joins and is interrupted with SIGINT, which leaves the agent
// to the others. A ends first — the one that deployed it — and leaves it
// to B; B's profile still completes, and B, the last, removes it. Both
// Deployments are scaled up once all the windows run, so both profiles are
// complete and exact (NET_BIND_SERVICE and NET_RAW over two Pods each).
func TestK8sProfileSessionsCluster(t *testing.T) {
	k := kubetest.Require(t)
	shippedAgentAbsent(t, k)
	nsA, nsB := kpNamespace(t, k, "sess-a"), kpNamespace(t, k, "sess-b")
	k.Kubectl(t, profileWorkload(), "-n", nsA, "apply", "-f", "-")
	k.Kubectl(t, profileWorkload(), "-n", nsB, "apply", "-f", "-")
	bin := e2e(t).capdrop
	common := []string{"--kubeconfig", k.Kubeconfig, "--min-window", "20s", "-o", "json"}

	cmdA, outA, errA, doneA := startProfile(t, bin, append([]string{"deployment/web", "-n", nsA, "--duration", "90s"}, common...)...)
	if !strings.Contains(errA.String(), "deploying deploy/kubernetes/agent.yaml (built in)") {
		t.Fatalf("A deployed nothing:\n%s", errA)
	}
	cmdB, outB, errB, doneB := startProfile(t, bin, append([]string{"deployment/web", "-n", nsB, "--duration", "150s"}, common...)...)
	cmdC, _, errC, doneC := startProfile(t, bin, append([]string{"deployment/web", "-n", nsA, "--duration", "10m"}, common...)...)
	for name, e := range map[string]*lockedBuffer{"B": errB, "C": errC} {
		if s := e.String(); !strings.Contains(s, "sharing it") || strings.Contains(s, "deploying") {
			t.Errorf("%s did not share A's agent:\n%s", name, s)
		}
	}
	if n := strings.Count(k.Kubectl(t, "", "-n", shippedAgentNS, "get", "daemonsets", "-o", "name"), "\n"); n != 1 {
		t.Errorf("%d agent DaemonSets, want the one A deployed", n)
	}
	leases := k.Kubectl(t, "", "-n", shippedAgentNS, "get", "daemonset", shippedAgent, "-o", "jsonpath={.metadata.annotations}")
	if c := strings.Count(leases, collect.LeasePrefix); c != 3 {
		t.Errorf("%d leases on the agent with three sessions running: %s", c, leases)
	}

	// C is interrupted: the agent stays for A and B.
	if err := cmdC.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-doneC:
	case <-time.After(3 * time.Minute):
		_ = cmdC.Process.Kill()
		t.Fatalf("C did not end after SIGINT\n%s", errC)
	}
	if c := cmdC.ProcessState.ExitCode(); c != ExitInterrupted || !strings.Contains(errC.String(), "the agent stays: 2 other profile(s)") {
		t.Errorf("C after SIGINT: exit %d\n%s", c, errC)
	}
	if out := k.Kubectl(t, "", "-n", shippedAgentNS, "get", "daemonset", shippedAgent, "-o", "name", "--ignore-not-found"); out == "" {
		t.Fatalf("the agent is gone after C's SIGINT while A and B run\n%s", errC)
	}

	for _, ns := range []string{nsA, nsB} {
		k.Kubectl(t, "", "-n", ns, "scale", "deployment/web", "--replicas=2")
	}
	for _, ns := range []string{nsA, nsB} {
		k.Kubectl(t, "", "-n", ns, "rollout", "status", "deployment/web", "--timeout=120s")
	}

	docA := waitProfile(t, cmdA, outA, errA, doneA, 0)
	if !strings.Contains(errA.String(), "the agent stays: 1 other profile(s)") {
		t.Errorf("A, which deployed the agent, ended before B without leaving it to B:\n%s", errA)
	}
	if out := k.Kubectl(t, "", "-n", shippedAgentNS, "get", "daemonset", shippedAgent, "-o", "name", "--ignore-not-found"); out == "" {
		t.Errorf("the agent is gone after A ended while B runs")
	}
	docB := waitProfile(t, cmdB, outB, errB, doneB, 0)
	if !strings.Contains(errB.String(), "removed: ") {
		t.Errorf("B, the last, did not remove the agent:\n%s", errB)
	}
	want := capset.Of(capset.NET_BIND_SERVICE, capset.NET_RAW)
	for name, d := range map[string]struct {
		doc clusterprofile.Document
		ns  string
	}{"A": {docA, nsA}, "B": {docB, nsB}} {
		if len(d.doc.Profiles) != 1 {
			t.Errorf("%s: %d profiles", name, len(d.doc.Profiles))
			continue
		}
		p := d.doc.Profiles[0]
		t.Logf("%s: %s: needed %v, complete %v %+v, %d Pods, observed %.0fs", name, p.Workload, p.Needed, p.Complete, p.Partial, p.Pods, p.Observed)
		if p.Workload.String() != d.ns+"/Deployment/web/app" || p.NeededSet() != want || p.RecommendedSet() != want || !p.Complete || p.Pods != 2 {
			t.Errorf("%s: %s needed %v used %v complete %v %+v, %d Pods; want exactly %v, complete over 2", name, p.Workload,
				p.Needed, p.UsedSet().Names(), p.Complete, p.Partial, p.Pods, want.Names())
		}
	}
	if left := agentLeft(t, k); len(left) > 0 {
		t.Errorf("left after the last session: %v\nA:\n%s\nB:\n%s", left, errA, errB)
	}
}

// continuousAgent deploys the agent for good in its own namespace, NS-agent
// (kubectl apply of profileAgentManifest), waits until it runs, and
// removes it and its pinned tracer when t ends.
func continuousAgent(t *testing.T, k *kubetest.Cluster, ns string) (agentNS, manifest string) {
	t.Helper()
	agentNS = ns + "-agent"
	manifest, pin := profileAgentManifest(t, k, agentNS)
	k.Kubectl(t, "", "apply", "-f", manifest)
	t.Cleanup(func() {
		if _, err := k.KubectlErr("", "delete", "-f", manifest, "--ignore-not-found", "--wait=true", "--timeout=120s"); err != nil {
			t.Errorf("the agent: %v", err)
		}
		// The agent's Pod is gone with its namespace: its tracer can go.
		if err := trace.Unpin(pin); err != nil {
			t.Errorf("remove the agent's pinned tracer: %v", err)
		}
	})
	k.Kubectl(t, "", "-n", agentNS, "rollout", "status", "daemonset/"+agentNS+"-agent", "--timeout=300s")
	return agentNS, manifest
}

// TestK8sContinuousCluster runs the continuous mode on the real cluster:
// with the agent deployed (kubectl apply of the shipped manifest), capdrop
// k8s profile --continuous keeps one ConfigMap for the Deployment's
// container, owned by the Deployment, holding its profile (exactly
// NET_BIND_SERVICE and NET_RAW, complete); k8s recommend --from-cluster
// reads it; deleting the Deployment deletes it.
func TestK8sContinuousCluster(t *testing.T) {
	k := kubetest.Require(t)
	ns := kpNamespace(t, k, "cont")
	_, manifest := continuousAgent(t, k, ns)
	k.Kubectl(t, strings.Replace(profileWorkload(), "replicas: 0", "replicas: 2", 1), "-n", ns, "apply", "-f", "-")
	k.Kubectl(t, "", "-n", ns, "rollout", "status", "deployment/web", "--timeout=300s")

	_, stderr, code := psCLIFor(t, 5*time.Minute, "k8s", "profile", "--continuous", "--kubeconfig", k.Kubeconfig, "-n", ns,
		"--agent-manifest", manifest, "--interval", "5s", "--duration", "30s", "--min-window", "10s")
	if code != 0 || !strings.Contains(stderr, "1 profiles kept (1 merged)") {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	cm := "capdrop-profile-deployment-web-app"
	owner := k.Kubectl(t, "", "-n", ns, "get", "configmap", cm, "-o", "jsonpath={.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}")
	if owner != "Deployment/web" {
		t.Errorf("the ConfigMap's owner %q, want Deployment/web", owner)
	}
	var p clusterprofile.Profile
	if err := json.Unmarshal([]byte(k.Kubectl(t, "", "-n", ns, "get", "configmap", cm, "-o", "jsonpath={.data.profile\\.json}")), &p); err != nil {
		t.Fatal(err)
	}
	if want := capset.Of(capset.NET_BIND_SERVICE, capset.NET_RAW); p.RecommendedSet() != want || !p.Complete || p.Pods != 2 {
		t.Errorf("kept: needed %v used %v complete %v %+v, %d Pods", p.Needed, p.UsedSet().Names(), p.Complete, p.Partial, p.Pods)
	}
	out, stderr, code := psCLI(t, "k8s", "recommend", "--from-cluster", "--kubeconfig", k.Kubeconfig, "-n", ns, "web")
	if code != 0 || !strings.Contains(out, "add NET_BIND_SERVICE, NET_RAW") {
		t.Errorf("recommend --from-cluster: exit %d\n%s\n%s", code, out, stderr)
	}
	k.Kubectl(t, "", "-n", ns, "delete", "deployment", "web", "--wait=true")
	deadline := time.Now().Add(2 * time.Minute)
	for k.Kubectl(t, "", "-n", ns, "get", "configmap", "-l", collect.LabelProfile, "-o", "name") != "" {
		if time.Now().After(deadline) {
			t.Fatal("the ConfigMap outlived its Deployment")
		}
		time.Sleep(time.Second)
	}
}

// TestK8sProfileRBACCluster runs k8s profile on the real cluster as a
// ServiceAccount bound to exactly the roles of
// deploy/kubernetes/profile-rbac.yaml (capdrop-profile in the workload's
// namespace, capdrop-profile-agents in the agent's, capdrop-profile-deploy
// cluster-wide), with the built-in agent manifest: it deploys the agent —
// which the API server allows only because the deploy role holds every
// permission the agent's own ClusterRole grants (RBAC's escalation check)
// — profiles the workload exactly, and removes the agent. Then each of two
// roles with one permission taken away makes it fail with a message naming
// that permission, and leaves nothing: the deploy role without watch on
// Pods (the agent's ClusterRole can no longer be created), and the agents'
// role without get on pods/proxy (no agent can be read).
func TestK8sProfileRBACCluster(t *testing.T) {
	k := kubetest.Require(t)
	shippedAgentAbsent(t, k)
	ns := kpNamespace(t, k, "rbac")
	k.Kubectl(t, profileWorkload(), "-n", ns, "apply", "-f", "-")
	// The agent's namespace exists before, as the roles' comments ask, so
	// that capdrop-profile-agents can be bound in it; the session keeps it.
	k.Kubectl(t, "", "create", "namespace", shippedAgentNS)
	t.Cleanup(func() {
		_, _ = k.KubectlErr("", "delete", "namespace", shippedAgentNS, "--wait=true", "--timeout=300s")
	})
	data, err := os.ReadFile(filepath.Join("..", "..", "deploy", "kubernetes", "profile-rbac.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	roles := string(data)
	k.Kubectl(t, roles, "apply", "-f", "-")
	// The same roles, one permission less each, under names of the test's.
	noWatch := strings.Replace(strings.Replace(roles, "name: capdrop-profile-deploy\n", "name: "+ns+"-deploy-nowatch\n", 1),
		"  resources: [pods]\n  verbs: [get, list, watch]", "  resources: [pods]\n  verbs: [get, list]", 1)
	noProxy := strings.Replace(strings.Replace(roles, "name: capdrop-profile-agents\n", "name: "+ns+"-agents-noproxy\n", 1),
		"- apiGroups: [\"\"]\n  resources: [pods/proxy]\n  verbs: [get]\n", "", 1)
	if noWatch == roles || noProxy == roles || !strings.Contains(noWatch, ns+"-deploy-nowatch") || !strings.Contains(noProxy, ns+"-agents-noproxy") {
		t.Fatal("profile-rbac.yaml changed: the test's removal of one permission is out of date")
	}
	for _, r := range []string{noWatch, noProxy} {
		// Only the renamed role of each copy: the others are the shipped ones.
		for _, doc := range strings.Split(r, "\n---\n") {
			if strings.Contains(doc, "name: "+ns+"-") {
				k.Kubectl(t, doc, "apply", "-f", "-")
			}
		}
	}
	crb := ns + "-deploy"
	t.Cleanup(func() {
		_, _ = k.KubectlErr("", "delete", "clusterrole", ns+"-deploy-nowatch", ns+"-agents-noproxy", "--ignore-not-found")
		_, _ = k.KubectlErr("", "delete", "clusterrolebinding", crb, "--ignore-not-found")
	})
	k.Kubectl(t, "", "-n", ns, "create", "serviceaccount", "capdrop")
	sa := ns + ":capdrop"
	bind := func(agents, deploy string) {
		_, _ = k.KubectlErr("", "-n", shippedAgentNS, "delete", "rolebinding", "capdrop-profile-agents", "--ignore-not-found")
		_, _ = k.KubectlErr("", "delete", "clusterrolebinding", crb, "--ignore-not-found")
		k.Kubectl(t, "", "-n", shippedAgentNS, "create", "rolebinding", "capdrop-profile-agents", "--clusterrole="+agents, "--serviceaccount="+sa)
		k.Kubectl(t, "", "create", "clusterrolebinding", crb, "--clusterrole="+deploy, "--serviceaccount="+sa)
	}
	k.Kubectl(t, "", "-n", ns, "create", "rolebinding", "capdrop-profile", "--clusterrole=capdrop-profile", "--serviceaccount="+sa)
	token := strings.TrimSpace(k.Kubectl(t, "", "-n", ns, "create", "token", "capdrop"))
	server := strings.TrimSpace(k.Kubectl(t, "", "config", "view", "-o", "jsonpath={.clusters[0].cluster.server}"))
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: %q, insecure-skip-tls-verify: true}}]\n"+
		"users: [{name: u, user: {token: %q}}]\ncontexts: [{name: x, context: {cluster: c, user: u, namespace: %s}}]\ncurrent-context: x\n", server, token, ns)
	if err := os.WriteFile(kc, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := e2e(t).capdrop
	// What is left of the agent besides the Namespace, which is not the
	// session's.
	leftBesidesNS := func() []string {
		var left []string
		for _, l := range agentLeft(t, k) {
			if l != "namespace/"+shippedAgentNS {
				left = append(left, l)
			}
		}
		return left
	}

	// The shipped roles: it works.
	bind("capdrop-profile-agents", "capdrop-profile-deploy")
	cmd, stdout, stderr, done := startProfile(t, bin, "deployment/web", "--kubeconfig", kc, "--duration", "40s", "--min-window", "10s", "-o", "json")
	k.Kubectl(t, "", "-n", ns, "scale", "deployment/web", "--replicas=1")
	k.Kubectl(t, "", "-n", ns, "rollout", "status", "deployment/web", "--timeout=120s")
	doc := waitProfile(t, cmd, stdout, stderr, done, 0)
	want := capset.Of(capset.NET_BIND_SERVICE, capset.NET_RAW)
	if len(doc.Profiles) != 1 || doc.Profiles[0].NeededSet() != want || !doc.Profiles[0].Complete {
		t.Errorf("with the shipped roles: %+v\n%s", doc.Profiles, stderr)
	}
	if !strings.Contains(stderr.String(), "Namespace "+shippedAgentNS+" exists already: kept") {
		t.Errorf("the agent's namespace, there before, not said kept:\n%s", stderr)
	}
	if left := leftBesidesNS(); len(left) > 0 {
		t.Errorf("left with the shipped roles: %v\n%s", left, stderr)
	}

	// One permission less: a clear failure naming it, nothing left.
	for _, c := range []struct{ agents, deploy, want string }{
		{"capdrop-profile-agents", ns + "-deploy-nowatch", "watch"},
		{ns + "-agents-noproxy", "capdrop-profile-deploy", "pods/proxy"},
	} {
		bind(c.agents, c.deploy)
		_, stderr, code := psCLIFor(t, 5*time.Minute, "k8s", "profile", "deployment/web", "--kubeconfig", kc,
			"--duration", "20s", "--agent-timeout", "30s")
		t.Logf("%s without %s: exit %d\n%s", c.agents+"+"+c.deploy, c.want, code, stderr)
		if code == 0 || code == ExitInterrupted || !strings.Contains(stderr, "forbidden") || !strings.Contains(stderr, c.want) {
			t.Errorf("without %s: exit %d, want a failure naming it\n%s", c.want, code, stderr)
		}
		if strings.Contains(stderr, "panic") {
			t.Errorf("without %s: a panic\n%s", c.want, stderr)
		}
		if left := leftBesidesNS(); len(left) > 0 {
			t.Errorf("left without %s: %v\n%s", c.want, left, stderr)
		}
	}
}

// TestK8sContinuousRBACCluster runs the continuous mode and k8s recommend
// --from-cluster on the real cluster as a ServiceAccount bound to exactly
// the shipped roles (capdrop-profile and capdrop-profile-keep in the
// workload's namespace, capdrop-profile-agents in the agent's;
// capdrop-recommend and capdrop-profile-read for recommend): the profile is
// kept and read back. Then each of the two roles with one permission taken
// away: capdrop-profile-keep without create, without patch or without get
// on ConfigMaps keeps nothing — the ConfigMap kept before is left as it was
// (its resourceVersion) — and warns, every pass, that the verb is
// forbidden, naming it and the role, with the API server's refusal (the
// continuous mode goes on, as it does for any workload it cannot keep);
// capdrop-profile-read without list on ConfigMaps makes recommend
// --from-cluster fail naming it.
func TestK8sContinuousRBACCluster(t *testing.T) {
	k := kubetest.Require(t)
	ns := kpNamespace(t, k, "contrbac")
	agentNS, manifest := continuousAgent(t, k, ns)
	k.Kubectl(t, strings.Replace(profileWorkload(), "replicas: 0", "replicas: 2", 1), "-n", ns, "apply", "-f", "-")
	k.Kubectl(t, "", "-n", ns, "rollout", "status", "deployment/web", "--timeout=300s")

	data, err := os.ReadFile(filepath.Join("..", "..", "deploy", "kubernetes", "profile-rbac.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var noCreate, noPatch, noGet, noList string
	for _, doc := range strings.Split(string(data), "\n---\n") {
		switch {
		case strings.Contains(doc, "\n  name: capdrop-profile-keep\n"):
			without := func(name, verbs string) string {
				return strings.Replace(strings.Replace(doc, "\n  name: capdrop-profile-keep\n", "\n  name: "+ns+"-keep-"+name+"\n", 1),
					"resources: [configmaps]\n  verbs: [get, create, patch]", "resources: [configmaps]\n  verbs: ["+verbs+"]", 1)
			}
			noCreate, noPatch, noGet = without("nocreate", "get, patch"), without("nopatch", "get, create"), without("noget", "create, patch")
		case strings.Contains(doc, "\n  name: capdrop-profile-read\n"):
			// Its one permission: without it, no rule at all.
			noList = strings.Replace(strings.Replace(doc, "\n  name: capdrop-profile-read\n", "\n  name: "+ns+"-read-nolist\n", 1),
				"rules:\n- apiGroups: [\"\"]\n  resources: [configmaps]\n  verbs: [list]", "rules: []", 1)
		}
	}
	if !strings.Contains(noCreate, "verbs: [get, patch]") || !strings.Contains(noCreate, ns+"-keep-nocreate") ||
		!strings.Contains(noPatch, "verbs: [get, create]") || !strings.Contains(noGet, "verbs: [create, patch]") ||
		!strings.Contains(noList, "rules: []") || !strings.Contains(noList, ns+"-read-nolist") {
		t.Fatal("profile-rbac.yaml changed: the test's removal of one permission is out of date")
	}
	k.Kubectl(t, noCreate+"\n---\n"+noPatch+"\n---\n"+noGet+"\n---\n"+noList, "apply", "-f", "-")
	t.Cleanup(func() {
		_, _ = k.KubectlErr("", "delete", "clusterrole", ns+"-keep-nocreate", ns+"-keep-nopatch", ns+"-keep-noget", ns+"-read-nolist", "--ignore-not-found")
	})
	recRoles, err := os.ReadFile(filepath.Join("..", "..", "deploy", "kubernetes", "recommend-rbac.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	k.Kubectl(t, string(recRoles), "apply", "-f", "-")
	kc := roleKubeconfig(t, k, ns, "profile-rbac.yaml", "capdrop-profile", "capdrop-recommend")
	sa := ns + ":capdrop"
	k.Kubectl(t, "", "-n", agentNS, "create", "rolebinding", "capdrop-profile-agents", "--clusterrole=capdrop-profile-agents", "--serviceaccount="+sa)
	bind := func(name, role string) {
		_, _ = k.KubectlErr("", "-n", ns, "delete", "rolebinding", name, "--ignore-not-found")
		k.Kubectl(t, "", "-n", ns, "create", "rolebinding", name, "--clusterrole="+role, "--serviceaccount="+sa)
	}
	keep := func() (string, int) {
		_, stderr, code := psCLIFor(t, 5*time.Minute, "k8s", "profile", "--continuous", "--kubeconfig", kc, "-n", ns,
			"--agent-manifest", manifest, "--interval", "5s", "--duration", "30s", "--min-window", "10s")
		if strings.Contains(stderr, "panic") {
			t.Errorf("a panic\n%s", stderr)
		}
		return stderr, code
	}
	recommend := func() (string, string, int) {
		out, stderr, code := psCLI(t, "k8s", "recommend", "--from-cluster", "--kubeconfig", kc, "-n", ns, "web")
		if strings.Contains(stderr, "panic") {
			t.Errorf("a panic\n%s", stderr)
		}
		return out, stderr, code
	}
	kept := func() string {
		return strings.TrimSpace(k.Kubectl(t, "", "-n", ns, "get", "configmap", "-l", collect.LabelProfile, "-o", "name"))
	}

	// The shipped roles: kept, and read back.
	bind("keep", "capdrop-profile-keep")
	bind("read", "capdrop-profile-read")
	stderr, code := keep()
	if code != 0 || !strings.Contains(stderr, "1 profiles kept") || strings.Contains(stderr, "forbidden") {
		t.Fatalf("continuous with the shipped roles: exit %d\n%s", code, stderr)
	}
	cm := "configmap/capdrop-profile-deployment-web-app"
	if got := kept(); got != cm {
		t.Errorf("kept %q, want %s", got, cm)
	}
	out, stderr, code := recommend()
	if code != 0 || !strings.Contains(out, "add NET_BIND_SERVICE, NET_RAW") {
		t.Errorf("recommend --from-cluster with the shipped roles: exit %d\n%s\n%s", code, out, stderr)
	}

	// capdrop-profile-read without list on ConfigMaps.
	bind("read", ns+"-read-nolist")
	out, stderr, code = recommend()
	t.Logf("recommend --from-cluster without list on configmaps: exit %d\n%s\n%s", code, stderr, out)
	if code == 0 || !strings.Contains(stderr, "forbidden") || !strings.Contains(stderr, `cannot list resource "configmaps"`) {
		t.Errorf("without list on configmaps: exit %d, want a failure naming it\n%s\n%s", code, stderr, out)
	}

	// capdrop-profile-keep without patch, then without get, on ConfigMaps:
	// the one kept stays as it was.
	version := func() string {
		return k.Kubectl(t, "", "-n", ns, "get", cm, "-o", "jsonpath={.metadata.resourceVersion}")
	}
	for _, c := range []struct{ role, verb string }{{"nopatch", "patch"}, {"noget", "get"}} {
		before := version()
		bind("keep", ns+"-keep-"+c.role)
		stderr, code = keep()
		t.Logf("continuous without %s on configmaps: exit %d\n%s", c.verb, code, stderr)
		refused := fmt.Sprintf(`not kept: %s on ConfigMaps is forbidden in %s (capdrop-profile-keep grants get, create and patch on them)`, c.verb, ns)
		if !strings.Contains(stderr, refused) || !strings.Contains(stderr, `cannot `+c.verb+` resource "configmaps"`) ||
			!strings.Contains(stderr, "0 profiles kept") || strings.Contains(stderr, "1 profiles kept") {
			t.Errorf("without %s on configmaps: exit %d, want %q every pass, the API server's refusal, and nothing kept\n%s", c.verb, code, refused, stderr)
		}
		if after := version(); after != before {
			t.Errorf("without %s on configmaps the ConfigMap changed: resourceVersion %s, was %s", c.verb, after, before)
		}
	}

	// capdrop-profile-keep without create on ConfigMaps: the one kept is
	// removed first, so that it would have to be created.
	k.Kubectl(t, "", "-n", ns, "delete", cm, "--wait=true")
	bind("keep", ns+"-keep-nocreate")
	stderr, code = keep()
	t.Logf("continuous without create on configmaps: exit %d\n%s", code, stderr)
	if !strings.Contains(stderr, "not kept: create on ConfigMaps is forbidden") || !strings.Contains(stderr, `cannot create resource "configmaps"`) ||
		!strings.Contains(stderr, "0 profiles kept") || strings.Contains(stderr, "1 profiles kept") {
		t.Errorf("without create on configmaps: exit %d, want a warning naming it and nothing kept\n%s", code, stderr)
	}
	if got := kept(); got != "" {
		t.Errorf("kept without create on configmaps: %s", got)
	}
}
