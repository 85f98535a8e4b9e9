package cli

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/capdrop/capdrop/agent"
	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/clusterprofile"
	"github.com/capdrop/capdrop/internal/kubefake"
	"github.com/capdrop/capdrop/internal/term"
	"github.com/capdrop/capdrop/patch"
)

// The agent manifest of the fake cluster: the shipped one's shape.
const fakeAgentManifest = "../../clusterprofile/collect/testdata/agent.yaml"

// TestK8sProfileFake runs capdrop k8s profile against a fake API server
// and fake agents: it deploys the agent (saying so), writes the profile
// of the workload's two Pods, and removes the agent; text and JSON.
func TestK8sProfileFake(t *testing.T) {
	for _, output := range []string{"json", "text"} {
		t.Run(output, func(t *testing.T) {
			a := kubefake.New(t, "n1", "n2")
			a.Agent = kubefake.ShopAgents
			kubefake.Shop(a)
			out, stderr, code := runMain(t, "k8s", "profile", "deployment/web", "--kubeconfig", a.Kubeconfig(t, "shop"),
				"--agent-manifest", fakeAgentManifest, "--duration", "300ms", "--min-window", "100ms", "-o", output)
			if code != 0 {
				t.Fatalf("exit %d\n%s\n%s", code, stderr, out)
			}
			for _, want := range []string{"deploying " + fakeAgentManifest, "removed: ClusterRoleBinding capdrop-agent, ClusterRole capdrop-agent, ServiceAccount capdrop-agent/capdrop-agent, Namespace capdrop-agent, DaemonSet capdrop-agent/capdrop-agent"} {
				if !strings.Contains(stderr, want) {
					t.Errorf("no %q in\n%s", want, stderr)
				}
			}
			if left := a.Left("capdrop-agent"); len(left) > 0 {
				t.Errorf("left: %v", left)
			}
			if args := a.DSArgs(); len(args) == 0 || args[len(args)-1] != "--no-pin" {
				t.Errorf("the agent deployed for a profile runs with %v, want --no-pin last", args)
			}
			if output == "text" {
				if !strings.Contains(out, "shop/Deployment/web/app  complete") || !strings.Contains(out, "needed: CAP_CHOWN CAP_NET_BIND_SERVICE CAP_NET_RAW") {
					t.Errorf("text:\n%s", out)
				}
				return
			}
			var doc clusterprofile.Document
			if err := json.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatal(err)
			}
			if len(doc.Profiles) != 1 || doc.Profiles[0].NeededSet() != capset.Of(capset.CHOWN, capset.NET_BIND_SERVICE, capset.NET_RAW) || doc.Profiles[0].Workload.UID != "d-web" {
				t.Errorf("profiles %+v", doc.Profiles)
			}
		})
	}
}

// TestK8sProfileFakeNoDeploy: with --no-deploy and no agent, nothing is
// written and the exit status is 3.
func TestK8sProfileFakeNoDeploy(t *testing.T) {
	a := kubefake.New(t, "n1")
	a.Agent = kubefake.ShopAgents
	kubefake.Shop(a)
	_, stderr, code := runMain(t, "k8s", "profile", "deployment/web", "--kubeconfig", a.Kubeconfig(t, "shop"),
		"--agent-manifest", fakeAgentManifest, "--duration", "1s", "--no-deploy")
	if code != ExitUnsupported || !strings.Contains(stderr, "no capdrop agent DaemonSet runs") {
		t.Errorf("exit %d: %s", code, stderr)
	}
	if w := a.Writes(); len(w) > 0 {
		t.Errorf("wrote %v", w)
	}
}

// TestK8sProfileFakeInterrupt: Ctrl-C in the window still writes the
// profile of the time observed, removes the agent, and exits 130.
func TestK8sProfileFakeInterrupt(t *testing.T) {
	a := kubefake.New(t, "n1", "n2")
	ctx, stop := context.WithCancelCause(context.Background())
	defer stop(nil)
	reads := 0
	a.Agent = func(node string, n int) (agent.Report, int) {
		if reads++; reads == 2 { // both agents answered: the window starts
			go func() {
				time.Sleep(300 * time.Millisecond)
				stop(errors.New(os.Interrupt.String() + " signal received")) // as signal.NotifyContext says it
			}()
		}
		return kubefake.ShopAgents(node, n)
	}
	kubefake.Shop(a)
	s, out, errOut := term.Test("")
	code := Main(ctx, []string{"k8s", "profile", "deployment/web", "--kubeconfig", a.Kubeconfig(t, "shop"),
		"--agent-manifest", fakeAgentManifest, "--duration", "10m", "-o", "json"}, s)
	if code != ExitInterrupted {
		t.Errorf("exit %d, want %d\n%s", code, ExitInterrupted, errOut)
	}
	var doc clusterprofile.Document
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if len(doc.Profiles) != 1 || doc.Profiles[0].Complete || !strings.Contains(strings.Join(doc.Warnings, "\n"), "interrupted after") {
		t.Errorf("document %+v", doc)
	}
	if left := a.Left("capdrop-agent"); len(left) > 0 {
		t.Errorf("left after Ctrl-C: %v", left)
	}
}

// TestK8sContinuousFake keeps the profiles in ConfigMaps for a while, and
// k8s recommend --from-cluster reads them.
func TestK8sContinuousFake(t *testing.T) {
	a := kubefake.New(t, "n1", "n2")
	a.Agent = kubefake.ShopAgents
	kubefake.Shop(a)
	data, err := os.ReadFile(fakeAgentManifest)
	if err != nil {
		t.Fatal(err)
	}
	kc := a.Kubeconfig(t, "shop")
	// No agent yet: the controller refuses to start (it never deploys).
	if _, stderr, code := runMain(t, "k8s", "profile", "--continuous", "--kubeconfig", kc, "--agent-manifest", fakeAgentManifest, "--duration", "1s"); code != ExitUnsupported || !strings.Contains(stderr, "deploy deploy/kubernetes/agent.yaml first") {
		t.Errorf("without an agent: exit %d %s", code, stderr)
	}
	ds := "/apis/apps/v1/namespaces/capdrop-agent/daemonsets/capdrop-agent"
	docs := strings.Split(string(data), "\n---\n")
	var obj any
	if err := yaml.Unmarshal([]byte(docs[len(docs)-1]), &obj); err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(obj)
	a.Put(ds, string(js))
	a.StartAgents(ds)
	_, stderr, code := runMain(t, "k8s", "profile", "--continuous", "--kubeconfig", kc, "--agent-manifest", fakeAgentManifest,
		"--interval", "100ms", "--duration", "250ms")
	if code != 0 || !strings.Contains(stderr, "2 profiles kept") {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if _, ok := a.Object("/api/v1/namespaces/shop/configmaps/capdrop-profile-deployment-web-app"); !ok {
		t.Fatalf("no ConfigMap: %v", a.Left("configmaps"))
	}
	// recommend reads them back (the patches from the profiles alone: the
	// fake workloads have no Pod template to check against; partial: the
	// fake agents lost checks before, and the continuous mode counts every
	// loss since the tracer started).
	out, stderr, code := runMain(t, "k8s", "recommend", "--from-cluster", "--offline", "--allow-partial", "--kubeconfig", kc, "-n", "shop", "-o", "json")
	if code != 0 {
		t.Fatalf("recommend --from-cluster: exit %d\n%s\n%s", code, stderr, out)
	}
	var res patch.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, r := range res.Recommendations {
		for _, c := range r.Containers {
			got[r.Workload.Name] = c.Add
		}
	}
	if !slices.Equal(got["web"], []string{"CHOWN", "NET_BIND_SERVICE", "NET_RAW"}) || !slices.Equal(got["other"], []string{"SYS_ADMIN"}) {
		t.Errorf("recommended %v\n%s", got, out)
	}
}
