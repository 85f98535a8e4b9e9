package cli

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/capdrop/capdrop/agent"
	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/clusterprofile"
	"github.com/capdrop/capdrop/internal/kubetest"
)

// TestAgentUnnamedCluster reproduces the gap an agent's broken Pod watch
// leaves, on the real cluster: `capdrop agent` runs on the node as a
// ServiceAccount whose binding to the agent's role is not there yet (the
// watch fails: RBAC taken away), a replica of Deployment web is created
// and deleted meanwhile (the ReplicaSet replaces it), then the binding
// comes. The deleted replica's container is counted but no Pod names it:
// the Report lists it (its cgroup path naming its Pod's UID, its
// capabilities) and web's profile over that window is partial
// (unnamed-containers) naming it. A Deployment started once the watch is
// up, profiled over a window after the gap, is complete and exact.
func TestAgentUnnamedCluster(t *testing.T) {
	k := kubetest.Require(t)
	bin := e2e(t).capdrop
	ns := kaNamespace(t, k, "unnamed")
	role := ns + "-agent"
	k.Kubectl(t, fmt.Sprintf(`apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: %s}
rules:
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
`, role), "apply", "-f", "-")
	t.Cleanup(func() {
		_, _ = k.KubectlErr("", "delete", "clusterrolebinding,clusterrole", role, "--ignore-not-found")
	})
	k.Kubectl(t, "", "-n", ns, "create", "serviceaccount", "agent")
	kubeconfig := tokenKubeconfig(t, k, ns, "agent")

	port := 20000 + rand.IntN(20000)
	cmd := exec.Command(bin, "agent", "--kubeconfig", kubeconfig, "--node", k.Node, "--no-pin",
		"--listen", fmt.Sprintf("127.0.0.1:%d", port))
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("the agent's output:\n%s", out.String())
		}
	})
	r := readReport(t, port)
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(r.PodWatch.Error, "forbidden") && time.Now().Before(deadline); r = readReport(t, port) {
		time.Sleep(time.Second) // its first listing is under way
	}
	if r.PodWatch.Synced || !strings.Contains(r.PodWatch.Error, "forbidden") {
		t.Fatalf("pod watch %+v: want it failing, forbidden", r.PodWatch)
	}
	before := r

	// The gap: web's first replica is created and deleted, its
	// replacement created, while the agent cannot see Pods.
	windowStart := time.Now()
	k.Kubectl(t, loopDeployment("web", ""), "-n", ns, "apply", "-f", "-")
	rolledOut(t, k, ns, "web")
	gone := strings.Fields(k.Kubectl(t, "", "-n", ns, "get", "pods", "-l", "app=web",
		"-o", "jsonpath={.items[0].metadata.name} {.items[0].metadata.uid} {.items[0].status.containerStatuses[0].containerID}"))
	if len(gone) != 3 {
		t.Fatalf("web's Pod: %q", gone)
	}
	goneID := gone[2][strings.Index(gone[2], "://")+3:]
	k.Kubectl(t, "", "-n", ns, "delete", "pod", gone[0], "--wait=true")
	rolledOut(t, k, ns, "web")
	k.Kubectl(t, "", "-n", ns, "wait", "--for=condition=Ready", "pods", "-l", "app=web", "--timeout=180s")
	if r := readReport(t, port); r.PodWatch.Synced {
		t.Fatalf("the watch synced during the gap: %+v", r.PodWatch)
	}

	// The binding comes: the agent lists the Pods again (it retries every
	// two seconds).
	k.Kubectl(t, "", "create", "clusterrolebinding", role, "--clusterrole="+role, "--serviceaccount="+ns+":agent")
	deadline := time.Now().Add(60 * time.Second)
	for r = readReport(t, port); !r.PodWatch.Synced; r = readReport(t, port) {
		if time.Now().After(deadline) {
			t.Fatalf("the pod watch did not sync in 60 s after the binding: %+v", r.PodWatch)
		}
		time.Sleep(time.Second)
	}
	time.Sleep(3 * time.Second) // a few probe runs of the replacement
	r = readReport(t, port)
	var u *agent.UnnamedContainer
	for i := range r.UnnamedContainers {
		if r.UnnamedContainers[i].ID == goneID {
			u = &r.UnnamedContainers[i]
		}
	}
	for _, c := range r.Containers {
		if c.ID == goneID {
			t.Errorf("the deleted replica's container is named: %+v", c)
		}
	}
	if u == nil {
		t.Fatalf("the deleted replica's container %s is not unnamed: unnamed %d %+v, other %d, pending %d",
			goneID, r.Unnamed, r.UnnamedContainers, r.OtherContainers, r.NamingPending)
	}
	t.Logf("unnamed: %+v; noise only %d, other %d, pending %d", *u, r.NoiseOnly, r.OtherContainers, r.NamingPending)
	for _, c := range r.UnnamedContainers {
		if len(c.Command) > 0 && c.Command[0] == "/pause" {
			t.Errorf("a Pod's sandbox is unnamed: %+v", c)
		}
	}
	if r.NoiseOnly < 2 {
		t.Errorf("noise only %d: want at least the two sandboxes of web's Pods (the deleted one's and its replacement's)", r.NoiseOnly)
	}
	want := capset.Of(capset.NET_RAW, capset.NET_BIND_SERVICE)
	got, err := capset.ParseSet(strings.Join(u.Capabilities, ","))
	if err != nil || !got.Contains(want) || u.Checks == 0 {
		t.Errorf("the deleted replica's container: capabilities %v, %d checks; want %v among them", u.Capabilities, u.Checks, want.Names())
	}
	if u.PodUID != gone[1] || !strings.Contains(u.CgroupPath, "/kubepods/") || !strings.HasSuffix(u.CgroupPath, "/"+goneID) {
		t.Errorf("the deleted replica's container: path %q, Pod UID %q; want the kubelet's cgroup of Pod %s", u.CgroupPath, u.PodUID, gone[1])
	}

	profiles := func(r agent.Report, base agent.Counters, from time.Time) map[string]clusterprofile.Profile {
		doc := clusterprofile.Aggregate(clusterprofile.Input{Reports: []agent.Report{r}, Baselines: map[string]agent.Counters{r.Node: base},
			Window: clusterprofile.NewWindow(from, time.Now()), MinWindow: 2 * time.Second, Top: topOwner(k),
			Keep:      func(w clusterprofile.Workload) bool { return w.Namespace == ns },
			Generated: time.Now()})
		out := map[string]clusterprofile.Profile{}
		for _, p := range doc.Profiles {
			out[p.Workload.Name] = p
		}
		return out
	}
	p, ok := profiles(r, before.Counters, windowStart)["web"]
	if !ok {
		t.Fatalf("no profile of web")
	}
	i := slices.IndexFunc(p.Partial, func(r clusterprofile.Reason) bool { return r.Reason == clusterprofile.ReasonUnnamed })
	if p.Complete || i < 0 {
		t.Fatalf("web over the gap: complete %v, partial %+v; want %s", p.Complete, p.Partial, clusterprofile.ReasonUnnamed)
	}
	t.Logf("web over the gap: %s: %s", p.Partial[i].Reason, p.Partial[i].Detail)
	for _, s := range []string{"node " + k.Node, goneID[:12], "pod" + gone[1], "Pod watch was down"} {
		if !strings.Contains(p.Partial[i].Detail, s) {
			t.Errorf("the reason's detail lacks %q", s)
		}
	}

	// A clean run: a workload started with the watch up, over a window
	// after the gap.
	base := readReport(t, port).Counters
	cleanStart := time.Now()
	k.Kubectl(t, loopDeployment("clean", ""), "-n", ns, "apply", "-f", "-")
	rolledOut(t, k, ns, "clean")
	time.Sleep(3 * time.Second)
	r = readReport(t, port)
	ps := profiles(r, base, cleanStart)
	if p, ok := ps["clean"]; !ok || !p.Complete || p.RecommendedSet() != want {
		t.Errorf("clean: %v, complete %v %+v; want exactly %v, complete", p.RecommendedSet().Names(), p.Complete, p.Partial, want.Names())
	}
	if p, ok := ps["web"]; ok && !p.Complete {
		t.Errorf("web after the gap: partial %+v; want complete", p.Partial)
	}
}
