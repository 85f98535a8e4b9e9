package cli

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/capdrop/capdrop/agent"
	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/clusterprofile"
	"github.com/capdrop/capdrop/internal/kubetest"
	"github.com/capdrop/capdrop/procfs"
	"github.com/capdrop/capdrop/trace"
)

// kaNamespace creates a namespace ka-PREFIX-RANDOM and deletes it, waiting,
// when t ends.
func kaNamespace(t *testing.T, k *kubetest.Cluster, prefix string) string {
	t.Helper()
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	ns := "ka-" + prefix + "-" + hex.EncodeToString(b)
	k.Kubectl(t, "", "create", "namespace", ns)
	t.Cleanup(func() {
		if _, err := k.KubectlErr("", "delete", "namespace", ns, "--wait=true", "--timeout=300s"); err != nil {
			t.Errorf("namespace %s not deleted: %v", ns, err)
		}
	})
	return ns
}

// agentImage builds the agent's image from this checkout (the static
// capdrop binary FROM scratch, as scripts/k8s-up does) and imports it into
// the cluster's containerd under a tag of its own.
func agentImage(t *testing.T, k *kubetest.Cluster) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "capdrop")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./cmd/capdrop")
	build.Dir = filepath.Join("..", "..")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build capdrop: %v\n%s", err, out)
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	ref := "localhost/capdrop/agent:test-" + hex.EncodeToString(b)
	archive := filepath.Join(dir, "agent.oci.tar")
	img := exec.Command(filepath.Join("..", "..", "scripts", "k8s-image"), archive, ref, `{"Entrypoint":["/capdrop"]}`, "/capdrop="+bin)
	if out, err := img.CombinedOutput(); err != nil {
		t.Fatalf("k8s-image: %v\n%s", err, out)
	}
	if out, err := exec.Command("ctr", "-a", k.CRI, "-n", "k8s.io", "images", "import", archive).CombinedOutput(); err != nil {
		t.Fatalf("ctr images import: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ctr", "-a", k.CRI, "-n", "k8s.io", "images", "rm", ref).Run() })
	return ref
}

// deployAgent applies deploy/kubernetes/agent.yaml as shipped but in ns,
// with cluster-scoped names of its own, its image, a port and a pin path of
// its own (so that it meets no other agent on the node), and the test
// cluster's API address (no Service network here). It returns the port
// and the pin path, and removes the pinned tracer when t ends.
func deployAgent(t *testing.T, k *kubetest.Cluster, ns, image string) (int, string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "deploy", "kubernetes", "agent.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	port := 19000 + int(b[0])<<2 + int(b[1]&3)
	pin := "/sys/fs/bpf/capdrop-" + ns
	docs := strings.Split(string(data), "\n---\n")
	var kept []string
	for _, d := range docs {
		if strings.Contains(d, "\nkind: Namespace\n") {
			continue
		}
		d = regexp.MustCompile(`(?m)namespace: capdrop$`).ReplaceAllString(d, "namespace: "+ns)
		d = regexp.MustCompile(`(?m)(name|serviceAccountName): capdrop-agent$`).ReplaceAllString(d, "$1: "+ns+"-agent")
		d = strings.ReplaceAll(d, "image: localhost/capdrop/agent:1", "image: "+image)
		d = strings.ReplaceAll(d, "--listen=:9153", fmt.Sprintf("--listen=:%d", port))
		d = strings.ReplaceAll(d, "port: 9153", fmt.Sprintf("port: %d", port))
		d = strings.ReplaceAll(d, "containerPort: 9153", fmt.Sprintf("containerPort: %d", port))
		d = strings.ReplaceAll(d, "--pin-path=/sys/fs/bpf/capdrop", "--pin-path="+pin)
		kept = append(kept, d)
	}
	manifest := strings.Join(kept, "\n---\n")
	if strings.Contains(manifest, "9153") || regexp.MustCompile(`(?m)(capdrop-agent|namespace: capdrop)$`).MatchString(manifest) {
		t.Fatalf("the manifest was not fully rewritten:\n%s", manifest)
	}
	k.Kubectl(t, manifest, "apply", "-f", "-")
	t.Cleanup(func() {
		_, _ = k.KubectlErr("", "delete", "clusterrolebinding,clusterrole", ns+"-agent", "--wait=false")
		// The DaemonSet's Pod must be gone before the tracer is removed.
		_, _ = k.KubectlErr("", "-n", ns, "delete", "daemonset", ns+"-agent", "--wait=true", "--timeout=120s")
		_, _ = k.KubectlErr("", "-n", ns, "wait", "--for=delete", "pods", "-l", "app.kubernetes.io/component=agent", "--timeout=120s")
		if err := trace.Unpin(pin); err != nil {
			t.Errorf("remove the agent's pinned tracer: %v", err)
		}
	})
	k.Kubectl(t, "", "-n", ns, "rollout", "status", "daemonset/"+ns+"-agent", "--timeout=300s")
	return port, pin
}

// readReport gets the agent's Report on the node.
func readReport(t *testing.T, port int) agent.Report {
	t.Helper()
	var last error
	for i := 0; i < 50; i++ {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, agent.ReportPath))
		if err == nil {
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				var r agent.Report
				if err := json.Unmarshal(data, &r); err != nil {
					t.Fatalf("the agent's report: %v\n%s", err, data)
				}
				return r
			}
			err = fmt.Errorf("%s: %s", resp.Status, data)
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("read the agent's report: %v", last)
	return agent.Report{}
}

// agentPod returns the agent's Pod name and container ID.
func agentPod(t *testing.T, k *kubetest.Cluster, ns string) (string, string) {
	t.Helper()
	out := k.Kubectl(t, "", "-n", ns, "get", "pods", "-l", "app.kubernetes.io/component=agent",
		"-o", "jsonpath={range .items[?(@.metadata.deletionTimestamp==\"\")]}{.metadata.name} {.status.containerStatuses[0].containerID}{\"\\n\"}{end}")
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(l); len(f) == 2 {
			return f[0], f[1]
		}
	}
	out = k.Kubectl(t, "", "-n", ns, "get", "pods", "-l", "app.kubernetes.io/component=agent",
		"-o", "jsonpath={range .items[*]}{.metadata.name} {.status.containerStatuses[0].containerID}{\"\\n\"}{end}")
	f := strings.Fields(strings.TrimSpace(out))
	if len(f) != 2 {
		t.Fatalf("agent pod: %q", out)
	}
	return f[0], f[1]
}

// The ground truth: each replica of Deployment truth runs the operations
// the test hands it (through a file a kubectl exec writes: replicas of a
// Deployment cannot be told apart in their template), its readiness probe
// opens a raw socket; DaemonSet truthds and CronJob truthcj run fixed
// ones.
var (
	replicaOps = [][]string{{"chown", "setuid"}, {"chroot", "mknod"}, {"nice", "net-admin", "bind"}}
	probeCmd   = `test -f /tmp/ready && capneeds -dir /tmp raw`
	dsOps      = []string{"setgid", "setfcap"}
	cjOps      = []string{"chroot", "setuid"}
)

func truthWorkloads(ns string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: truth, namespace: %[1]s}
spec:
  replicas: 3
  selector: {matchLabels: {app: truth}}
  template:
    metadata: {labels: {app: truth}}
    spec:
      terminationGracePeriodSeconds: 1
      securityContext:
        sysctls: [{name: net.ipv4.ip_unprivileged_port_start, value: "1024"}]
      containers:
      - name: app
        image: %[2]s
        command: ["sh", "-c", "while [ ! -f /tmp/go ]; do sleep 0.2; done; capneeds -dir /tmp $(cat /tmp/go) && touch /tmp/ready; exec sleep 100000"]
        securityContext:
          capabilities: {add: [NET_ADMIN, SYS_NICE, IPC_LOCK]}
        readinessProbe:
          exec: {command: ["sh", "-c", %[3]q]}
          periodSeconds: 2
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: truthds, namespace: %[1]s}
spec:
  selector: {matchLabels: {app: truthds}}
  template:
    metadata: {labels: {app: truthds}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: ds
        image: %[2]s
        command: ["sh", "-c", "capneeds -dir /tmp %[4]s && touch /tmp/ready; exec sleep 100000"]
        readinessProbe:
          exec: {command: ["cat", "/tmp/ready"]}
          periodSeconds: 2
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: truthcj, namespace: %[1]s}
spec:
  schedule: "0 0 1 1 *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          terminationGracePeriodSeconds: 1
          containers:
          - name: job
            image: %[2]s
            command: ["capneeds", "-dir", "/tmp", %[5]s]
`, ns, kubetest.Image, probeCmd, strings.Join(dsOps, " "), `"`+strings.Join(cjOps, `", "`)+`"`)
}

func opsSet(t *testing.T, ops ...string) capset.Set {
	t.Helper()
	var s capset.Set
	for _, o := range ops {
		c, err := capset.Parse(map[string]string{"chown": "CHOWN", "setuid": "SETUID", "chroot": "SYS_CHROOT", "mknod": "MKNOD",
			"nice": "SYS_NICE", "net-admin": "NET_ADMIN", "bind": "NET_BIND_SERVICE", "raw": "NET_RAW", "setgid": "SETGID",
			"setfcap": "SETFCAP", "mlock": "IPC_LOCK"}[o])
		if err != nil {
			t.Fatalf("op %s: %v", o, err)
		}
		s = s.Union(capset.Of(c))
	}
	return s
}

// topOwner resolves a Pod's controller to the top controller with kubectl
// (an independent path from capdrop's own client).
func topOwner(k *kubetest.Cluster) func(ns, pod string, o *agent.OwnerRef) (agent.OwnerRef, error) {
	return func(ns, pod string, o *agent.OwnerRef) (agent.OwnerRef, error) {
		cur := *o
		for i := 0; i < 5; i++ {
			res := map[string]string{"ReplicaSet": "replicaset", "Job": "job"}[cur.Kind]
			if res == "" {
				return cur, nil
			}
			out, err := k.KubectlErr("", "-n", ns, "get", res, cur.Name, "-o", "jsonpath={range .metadata.ownerReferences[?(@.controller==true)]}{.apiVersion} {.kind} {.name} {.uid}{end}")
			if err != nil {
				return cur, err
			}
			f := strings.Fields(out)
			if len(f) != 4 {
				return cur, nil
			}
			cur = agent.OwnerRef{APIVersion: f[0], Kind: f[1], Name: f[2], UID: f[3]}
		}
		return cur, nil
	}
}

// TestAgentCluster runs the node agent from the shipped manifest on the
// real cluster: it holds exactly CAP_BPF and CAP_PERFMON (its own
// /proc/<pid>/status), the aggregated profiles of a Deployment whose three
// replicas run different operations, a DaemonSet and a CronJob's Job equal
// the union of what they ran (the readiness probe's NET_RAW in, a kubectl
// exec's IPC_LOCK out), complete; and after the agent's Pod is deleted and
// replaced, it takes the pinned tracer over: what happened meanwhile is
// counted and earlier counts go on.
func TestAgentCluster(t *testing.T) {
	k := kubetest.Require(t)
	ns := kaNamespace(t, k, "agent")
	image := agentImage(t, k)
	port, pin := deployAgent(t, k, ns, image)
	before := readReport(t, port)
	if !before.Pinned || before.Restarts != 0 || before.Node != k.Node || before.Mechanism == "" {
		t.Fatalf("report header %+v", before)
	}
	if _, err := os.Stat(filepath.Join(pin, "meta")); err != nil {
		t.Errorf("the tracer is not pinned at %s: %v", pin, err)
	}

	// The agent's own privileges, from the kernel.
	_, cid := agentPod(t, k, ns)
	st, err := procfs.ReadStatus("/proc", k.HostPID(t, cid))
	if err != nil {
		t.Fatal(err)
	}
	want := capset.Of(capset.BPF, capset.PERFMON)
	if st.Sets.Effective != want || st.Sets.Permitted != want || st.Sets.Bounding != want || st.Sets.Inheritable != 0 || st.Sets.Ambient != 0 {
		t.Errorf("the agent's sets: eff %v prm %v bnd %v inh %v amb %v; want exactly %v", st.Sets.Effective.Names(), st.Sets.Permitted.Names(),
			st.Sets.Bounding.Names(), st.Sets.Inheritable.Names(), st.Sets.Ambient.Names(), want.Names())
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", k.HostPID(t, cid)))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"NoNewPrivs:\t1", "Seccomp:\t2"} {
		if !strings.Contains(string(status), line+"\n") {
			t.Errorf("the agent's status lacks %q (no new privileges, the runtime's seccomp filter)", line)
		}
	}

	// The workloads, started after the agent.
	windowStart := time.Now()
	wl := kaNamespace(t, k, "truth")
	k.Kubectl(t, truthWorkloads(wl), "apply", "-f", "-")
	k.Kubectl(t, "", "-n", wl, "create", "job", "--from=cronjob/truthcj", "truthcj-run")
	var pods []string
	deadline := time.Now().Add(3 * time.Minute)
	for {
		out := k.Kubectl(t, "", "-n", wl, "get", "pods", "-l", "app=truth", "--field-selector=status.phase=Running", "-o", "jsonpath={.items[*].metadata.name}")
		pods = strings.Fields(out)
		if len(pods) == 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	if len(pods) != 3 {
		t.Fatalf("replicas running: %v", pods)
	}
	truth := capset.Of(capset.NET_RAW) // the readiness probe
	for i, p := range pods {
		k.Kubectl(t, "", "-n", wl, "exec", p, "--", "sh", "-c", "echo "+strings.Join(replicaOps[i], " ")+" > /tmp/go")
		truth = truth.Union(opsSet(t, replicaOps[i]...))
	}
	// The Job's Pod completes and is never Ready: wait for the others.
	k.Kubectl(t, "", "-n", wl, "wait", "--for=condition=Ready", "pods", "-l", "app in (truth,truthds)", "--timeout=180s")
	k.Kubectl(t, "", "-n", wl, "wait", "--for=condition=complete", "job/truthcj-run", "--timeout=180s")
	// A kubectl exec using a capability no workload process uses: excluded.
	k.Kubectl(t, "", "-n", wl, "exec", pods[0], "--", "capneeds", "-dir", "/tmp", "mlock")
	time.Sleep(5 * time.Second) // two probe periods: the probe ran since every replica became ready

	profiles := func(r agent.Report, from time.Time) map[string]clusterprofile.Profile {
		doc := clusterprofile.Aggregate(clusterprofile.Input{Reports: []agent.Report{r},
			Baselines: map[string]agent.Counters{r.Node: before.Counters},
			Window:    clusterprofile.NewWindow(from, time.Now()), MinWindow: 5 * time.Second, Top: topOwner(k),
			Keep:      func(w clusterprofile.Workload) bool { return w.Namespace == wl },
			Generated: time.Now()})
		out := map[string]clusterprofile.Profile{}
		for _, p := range doc.Profiles {
			out[p.Workload.Kind+"/"+p.Workload.Name+"/"+p.Workload.Container] = p
		}
		return out
	}
	rep := readReport(t, port)
	got := profiles(rep, windowStart)
	for name, want := range map[string]capset.Set{
		"Deployment/truth/app": truth,
		"DaemonSet/truthds/ds": opsSet(t, dsOps...),
		"CronJob/truthcj/job":  opsSet(t, cjOps...),
	} {
		p, ok := got[name]
		if !ok {
			t.Errorf("no profile of %s; profiles: %v", name, keys(got))
			continue
		}
		if p.RecommendedSet() != want {
			t.Errorf("%s: profile %v, want exactly the truth %v (needed %v, used %+v, noise %+v)", name, p.RecommendedSet().Names(), want.Names(),
				p.Needed, p.UsedNotProven, p.Noise)
		}
		if !p.Complete {
			t.Errorf("%s: not complete: %+v", name, p.Partial)
		}
	}
	if p := got["Deployment/truth/app"]; p.Pods != 3 || !p.Excluded.Capabilities.Has(capset.IPC_LOCK) {
		t.Errorf("Deployment/truth/app: %d pods, excluded %+v; want 3 Pods and the exec session's CAP_IPC_LOCK excluded", p.Pods, p.Excluded)
	}
	probeRuns := probeCount(rep, wl)
	if probeRuns == 0 {
		t.Fatalf("no readiness probe session counted in %s", wl)
	}

	// Restart: delete the agent's Pod; while no agent runs, an exec
	// session (while the old agent is gone or the new one starts) uses
	// CAP_SYS_CHROOT; the new agent takes the tracer over.
	oldPod, _ := agentPod(t, k, ns)
	k.Kubectl(t, "", "-n", ns, "delete", "pod", oldPod, "--wait=true")
	k.Kubectl(t, "", "-n", wl, "exec", pods[1], "--", "capneeds", "-dir", "/tmp", "chroot")
	k.Kubectl(t, "", "-n", ns, "rollout", "status", "daemonset/"+ns+"-agent", "--timeout=300s")
	after := readReport(t, port)
	if after.Restarts != 1 || !after.TracingSince.Equal(before.TracingSince) || !after.Pinned {
		t.Errorf("after the restart: restarts %d, tracing since %v (before %v), pinned %v; want 1 restart and the same start",
			after.Restarts, after.TracingSince, before.TracingSince, after.Pinned)
	}
	if n := probeCount(after, wl); n <= probeRuns {
		t.Errorf("probe runs after the restart %d, before %d: the counts must go on", n, probeRuns)
	}
	gotAfter := profiles(after, windowStart)
	if p := gotAfter["Deployment/truth/app"]; p.RecommendedSet() != truth || !p.Complete {
		t.Errorf("after the restart: profile %v complete %v, want %v complete", p.RecommendedSet().Names(), p.Complete, truth.Names())
	}
	if p := gotAfter["Deployment/truth/app"]; !p.Excluded.Capabilities.Has(capset.SYS_CHROOT) || !p.Excluded.Capabilities.Has(capset.IPC_LOCK) {
		t.Errorf("after the restart: excluded %+v; want the exec sessions' CAP_IPC_LOCK and CAP_SYS_CHROOT (made while no agent ran)", p.Excluded)
	}
	// Every check counted before is still counted, at least as often.
	counts := map[string]uint64{}
	for _, c := range before.Containers {
		for _, r := range c.Records {
			counts[fmt.Sprintf("%s/%d/%s/%d/%s", c.ID, r.Tag, r.Capability, r.Syscall, r.Command)] = r.Count
		}
	}
	for _, c := range after.Containers {
		for _, r := range c.Records {
			delete(counts, fmt.Sprintf("%s/%d/%s/%d/%s", c.ID, r.Tag, r.Capability, r.Syscall, r.Command))
		}
	}
	if len(counts) != 0 {
		t.Errorf("records lost across the restart: %v", counts)
	}
}

func probeCount(r agent.Report, ns string) uint64 {
	var n uint64
	for _, c := range r.Containers {
		if c.Namespace != ns {
			continue
		}
		for _, s := range c.Sessions {
			if s.Kind == agent.SessionProbe && s.Name == "readiness" {
				n += s.Runs
			}
		}
	}
	return n
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
