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

// profileAgentManifest is deploy/kubernetes/agent.yaml as shipped, for a
// test's k8s profile session to deploy: its Namespace, ServiceAccount,
// ClusterRole and binding and DaemonSet named after ns (which must not
// exist: the session creates it and must remove it), its image as shipped
// (localhost/capdrop/agent:1, which scripts/k8s-up builds from this
// checkout and imports), a port of its own (the agent is on the host's
// network) and the test cluster's API address (no Service network here).
func profileAgentManifest(t *testing.T, k *kubetest.Cluster, ns string) string {
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
		{"        env:\n", "        env:\n        - {name: KUBERNETES_SERVICE_HOST, value: 127.0.0.1}\n        - {name: KUBERNETES_SERVICE_PORT, value: \"16443\"}\n"},
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
	return p
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
func startProfile(t *testing.T, args ...string) (cmd *exec.Cmd, stdout *bytes.Buffer, stderr *lockedBuffer, done chan error) {
	t.Helper()
	env := e2e(t)
	cmd = exec.Command(env.capdrop, append([]string{"k8s", "profile"}, args...)...)
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

// agentLeft lists what of a session's agent is still in the cluster: its
// namespace, cluster-scoped role and binding, and anything labelled by a
// profile session.
func agentLeft(t *testing.T, k *kubetest.Cluster, agentNS string) []string {
	t.Helper()
	var left []string
	if out, err := k.KubectlErr("", "get", "namespace", agentNS, "-o", "name", "--ignore-not-found"); err != nil || out != "" {
		left = append(left, strings.TrimSpace(out)+fmt.Sprint(err))
	}
	if out := k.Kubectl(t, "", "get", "clusterrole,clusterrolebinding", "-o", "name", "--ignore-not-found", agentNS+"-agent"); out != "" {
		left = append(left, strings.Fields(out)...)
	}
	if out := k.Kubectl(t, "", "get", "daemonsets,pods,serviceaccounts", "-A", "-l", collect.LabelSession, "-o", "name"); out != "" {
		left = append(left, strings.Fields(out)...)
	}
	return left
}

// TestK8sProfileCluster runs capdrop k8s profile on the real cluster with
// the agent absent: it deploys the agent (from the shipped manifest), a
// Deployment scaled to three replicas once the window runs is profiled
// from its containers' first exec — exactly NET_BIND_SERVICE and NET_RAW,
// what capneeds raw bind needs, complete, three Pods — a kubectl exec
// using CHOWN is left out, and once it ends nothing of the agent is left.
func TestK8sProfileCluster(t *testing.T) {
	k := kubetest.Require(t)
	ns := kpNamespace(t, k, "profile")
	k.Kubectl(t, profileWorkload(), "-n", ns, "apply", "-f", "-")
	agentNS := ns + "-agent"
	manifest := profileAgentManifest(t, k, agentNS)
	t.Cleanup(func() { // only if the session failed to
		if left := agentLeft(t, k, agentNS); len(left) > 0 {
			_, _ = k.KubectlErr("", "delete", "-f", manifest, "--ignore-not-found", "--wait=true", "--timeout=120s")
		}
	})
	cmd, stdout, stderr, done := startProfile(t, "deployment/web", "--kubeconfig", k.Kubeconfig, "-n", ns,
		"--agent-manifest", manifest, "--duration", "60s", "--min-window", "20s", "-o", "json")
	if !strings.Contains(stderr.String(), "deploying "+manifest) {
		t.Errorf("no word of the deployment:\n%s", stderr)
	}
	k.Kubectl(t, "", "-n", ns, "scale", "deployment/web", "--replicas=3")
	k.Kubectl(t, "", "-n", ns, "rollout", "status", "deployment/web", "--timeout=120s")
	pod := strings.TrimPrefix(strings.Fields(k.Kubectl(t, "", "-n", ns, "get", "pods", "-l", "app=web", "-o", "name"))[0], "pod/")
	k.Kubectl(t, "", "-n", ns, "exec", pod, "--", "capneeds", "chown")

	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("k8s profile did not end\n%s", stderr)
	}
	if c := cmd.ProcessState.ExitCode(); c != 0 {
		t.Fatalf("exit %d\n%s", c, stderr)
	}
	var doc clusterprofile.Document
	if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s\n%s", err, stdout, stderr)
	}
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
	if left := agentLeft(t, k, agentNS); len(left) > 0 {
		t.Errorf("left after k8s profile: %v\n%s", left, stderr)
	}
}

// TestK8sProfileInterruptCluster sends SIGINT to capdrop k8s profile in its
// window: it still writes the profile of the time observed (partial: too
// short), removes the agent it deployed, waits for it to go, and exits 130.
func TestK8sProfileInterruptCluster(t *testing.T) {
	k := kubetest.Require(t)
	ns := kpNamespace(t, k, "sigint")
	k.Kubectl(t, strings.Replace(profileWorkload(), "replicas: 0", "replicas: 1", 1), "-n", ns, "apply", "-f", "-")
	k.WaitReady(t, ns, 5*time.Minute)
	agentNS := ns + "-agent"
	manifest := profileAgentManifest(t, k, agentNS)
	t.Cleanup(func() {
		if left := agentLeft(t, k, agentNS); len(left) > 0 {
			_, _ = k.KubectlErr("", "delete", "-f", manifest, "--ignore-not-found", "--wait=true", "--timeout=120s")
		}
	})
	cmd, stdout, stderr, done := startProfile(t, "deployment/web", "--kubeconfig", k.Kubeconfig, "-n", ns,
		"--agent-manifest", manifest, "--duration", "10m", "-o", "json")
	if out := k.Kubectl(t, "", "-n", agentNS, "get", "pods", "-o", "name"); out == "" {
		t.Errorf("no agent Pod in %s during the window", agentNS)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("k8s profile did not end after SIGINT\n%s", stderr)
	}
	if c := cmd.ProcessState.ExitCode(); c != ExitInterrupted {
		t.Errorf("exit %d after SIGINT, want %d\n%s", c, ExitInterrupted, stderr)
	}
	var doc clusterprofile.Document
	if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
		t.Fatalf("no profile after SIGINT: %v\n%s\n%s", err, stdout, stderr)
	}
	if !strings.Contains(strings.Join(doc.Warnings, "\n"), "interrupted after") {
		t.Errorf("warnings %q", doc.Warnings)
	}
	// The Pod ran before the agent: the profile is partial, and says why.
	for _, p := range doc.Profiles {
		if p.Complete {
			t.Errorf("%s complete after an interrupted window of a Pod started before the agent", p.Workload)
		}
	}
	if left := agentLeft(t, k, agentNS); len(left) > 0 {
		t.Errorf("left after SIGINT: %v\n%s", left, stderr)
	}
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
	agentNS := ns + "-agent"
	manifest := profileAgentManifest(t, k, agentNS)
	k.Kubectl(t, "", "apply", "-f", manifest)
	t.Cleanup(func() {
		if _, err := k.KubectlErr("", "delete", "-f", manifest, "--ignore-not-found", "--wait=true", "--timeout=120s"); err != nil {
			t.Errorf("the agent: %v", err)
		}
	})
	k.Kubectl(t, "", "-n", agentNS, "rollout", "status", "daemonset/"+agentNS+"-agent", "--timeout=300s")
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
