package collect

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capdrop/capdrop/agent"
	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/cluster"
	"github.com/capdrop/capdrop/clusterprofile"
	"github.com/capdrop/capdrop/internal/kubefake"
	"github.com/capdrop/capdrop/trace"
)

var deployments = cluster.Resource{Group: "apps", Version: "v1", Resource: "deployments", Kind: "Deployment", Namespaced: true}

func manifest(t *testing.T) []byte {
	data, err := os.ReadFile("testdata/agent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func options(t *testing.T, a *kubefake.Server) Options {
	c, err := cluster.Connect(cluster.Options{Kubeconfig: a.Kubeconfig(t, "shop")})
	if err != nil {
		t.Fatal(err)
	}
	owners := c.Owners()
	return Options{API: c, Resource: deployments, Namespace: "shop", Name: "web",
		Duration: 400 * time.Millisecond, MinWindow: 100 * time.Millisecond, Interval: 100 * time.Millisecond,
		AgentTimeout: 2 * time.Second, Manifest: manifest(t), SessionArgs: []string{"--no-pin"}, ManifestName: "testdata/agent.yaml", Cluster: c.Host,
		Top: func(ctx context.Context, ns string, ref agent.OwnerRef) (agent.OwnerRef, error) {
			tp, err := owners.Top(ctx, ns, cluster.OwnerRef{APIVersion: ref.APIVersion, Kind: ref.Kind, Name: ref.Name, UID: ref.UID})
			return agent.OwnerRef{APIVersion: tp.APIVersion, Kind: tp.Kind, Name: tp.Name, UID: tp.UID}, err
		},
		Log: func(f string, args ...any) { t.Logf(f, args...) }}
}

// deployedPaths are the manifest's objects, in its order.
var deployedPaths = []string{
	"/api/v1/namespaces/capdrop-agent",
	"/api/v1/namespaces/capdrop-agent/serviceaccounts/capdrop-agent",
	"/apis/rbac.authorization.k8s.io/v1/clusterroles/capdrop-agent",
	"/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/capdrop-agent",
	"/apis/apps/v1/namespaces/capdrop-agent/daemonsets/capdrop-agent",
}

// checkRemoved checks that the session created the manifest's objects and
// deleted exactly those, newest first, and that nothing of the agent is
// left.
func checkRemoved(t *testing.T, a *kubefake.Server, res *Result) {
	t.Helper()
	var want []string
	for _, p := range deployedPaths {
		want = append(want, "POST "+p)
	}
	// The DaemonSet marked for removal (this session held the last lease),
	// then the rest newest first, the Namespace, and the DaemonSet last.
	want = append(want, "PATCH "+deployedPaths[4])
	for _, i := range []int{3, 2, 1, 0, 4} {
		want = append(want, "DELETE "+deployedPaths[i])
	}
	if got := a.Writes(); !slices.Equal(got, want) {
		t.Errorf("writes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if left := a.Left("capdrop-agent"); len(left) > 0 {
		t.Errorf("left: %v", left)
	}
	if res == nil || len(res.Left) > 0 || len(res.Deployed) != len(deployedPaths) || len(res.Removed) != len(deployedPaths) {
		t.Errorf("result: %+v", res)
	}
}

func TestRunDeploysCollectsRemoves(t *testing.T) {
	a := kubefake.New(t, "n1", "n2")
	a.Agent = kubefake.ShopAgents
	kubefake.Shop(a)
	start := time.Now()
	res, err := Run(context.Background(), options(t, a))
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	checkRemoved(t, a, res)
	if !slices.Contains(a.DSArgs(), "--no-pin") || a.DSArgs()[0] != "agent" {
		t.Errorf("the deployed agent's arguments %v, want the manifest's and --no-pin", a.DSArgs())
	}
	doc := res.Document
	if doc == nil || len(doc.Profiles) != 1 {
		t.Fatalf("document %+v", doc)
	}
	p := doc.Profiles[0]
	if p.Workload.String() != "shop/Deployment/web/app" || p.Workload.UID != "d-web" {
		t.Errorf("workload %s (uid %s): the Pods' ReplicaSet was not followed to its Deployment", p.Workload, p.Workload.UID)
	}
	if want := capset.Of(capset.CHOWN, capset.NET_RAW, capset.NET_BIND_SERVICE); p.NeededSet() != want {
		t.Errorf("needed %v, want the union of both Pods %v", p.Needed, want.Names())
	}
	if p.Excluded.Capabilities != capset.Of(capset.SYS_NICE) {
		t.Errorf("the exec session's SYS_NICE: excluded %v", p.Excluded.Capabilities)
	}
	if !p.Complete || p.Pods != 2 || !slices.Equal(p.Nodes, []string{"n1", "n2"}) {
		t.Errorf("complete %v %+v, %d Pods on %v", p.Complete, p.Partial, p.Pods, p.Nodes)
	}
	if doc.Source != "session" || len(doc.Nodes) != 2 || doc.Nodes[0].Counters.Missing() != 0 {
		t.Errorf("source %s, nodes %+v", doc.Source, doc.Nodes)
	}
	// At least the duration asked for, and within the session's own time
	// (a bound from the run itself: a loaded machine stretches both).
	if w := doc.Window.Seconds; w < 0.4 || w > elapsed.Seconds() {
		t.Errorf("window %.3fs for a 400ms profile in a session of %s", w, elapsed)
	}
	// Both agents were read at the start and at the end, at least.
	for _, n := range []string{"n1", "n2"} {
		if a.Proxied(n) < 2 {
			t.Errorf("agent on %s read %d times", n, a.Proxied(n))
		}
	}
}

// TestRunUsesRunningAgent: an agent DaemonSet that runs is used, and
// nothing is written.
func TestRunUsesRunningAgent(t *testing.T) {
	a := kubefake.New(t, "n1", "n2")
	a.Agent = kubefake.ShopAgents
	kubefake.Shop(a)
	objs, err := ParseManifest("agent.yaml", manifest(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.Resource == DaemonSets {
			a.Put(deployedPaths[4], string(o.JSON))
			a.StartAgents(deployedPaths[4])
		}
	}
	res, err := Run(context.Background(), options(t, a))
	if err != nil {
		t.Fatal(err)
	}
	if w := a.Writes(); len(w) > 0 || len(res.Deployed) > 0 {
		t.Errorf("wrote %v with an agent running", w)
	}
	if len(a.Left("/pods/capdrop-agent-")) != 2 {
		t.Errorf("the running agents were touched: %v", a.Left("capdrop-agent"))
	}
	if len(res.Document.Profiles) != 1 || !res.Document.Profiles[0].Complete {
		t.Errorf("profiles %+v", res.Document.Profiles)
	}
}

func TestRunNoDeploy(t *testing.T) {
	a := kubefake.New(t, "n1")
	a.Agent = kubefake.ShopAgents
	kubefake.Shop(a)
	o := options(t, a)
	o.NoDeploy = true
	_, err := Run(context.Background(), o)
	if !errors.Is(err, ErrNoAgent) || !strings.Contains(err.Error(), "capdrop-agent/capdrop-agent") {
		t.Errorf("err %v, want ErrNoAgent naming the DaemonSet", err)
	}
	if w := a.Writes(); len(w) > 0 {
		t.Errorf("--no-deploy wrote %v", w)
	}
}

func TestRunWorkloadNotFound(t *testing.T) {
	a := kubefake.New(t, "n1")
	a.Agent = kubefake.ShopAgents
	kubefake.Shop(a)
	o := options(t, a)
	o.Name = "nope"
	if _, err := Run(context.Background(), o); !errors.Is(err, cluster.ErrNotFound) || !strings.Contains(err.Error(), "shop/Deployment/nope") {
		t.Errorf("err %v", err)
	}
	if w := a.Writes(); len(w) > 0 {
		t.Errorf("deployed %v for a workload that does not exist", w)
	}
}

// TestRunUnreachableAgent: n2's agent never answers; the session goes on
// without it after the agent timeout, and web's profile is partial for
// its Pod there.
func TestRunUnreachableAgent(t *testing.T) {
	a := kubefake.New(t, "n1", "n2")
	a.Agent = func(node string, n int) (agent.Report, int) {
		if node == "n2" {
			return agent.Report{}, 503
		}
		return kubefake.ShopAgents(node, n)
	}
	kubefake.Shop(a)
	o := options(t, a)
	o.AgentTimeout = 300 * time.Millisecond
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	checkRemoved(t, a, res)
	p := res.Document.Profiles[0]
	if p.Complete || len(p.Partial) != 1 || p.Partial[0].Reason != clusterprofile.ReasonNotObserved ||
		!slices.Equal(p.Partial[0].Pods, []string{"web-5d8f-b"}) || !strings.Contains(p.Partial[0].Detail, "connection refused") {
		t.Errorf("partial %+v, want web-5d8f-b not observed with the proxy's error", p.Partial)
	}
	if p.NeededSet() != capset.Of(capset.CHOWN, capset.NET_RAW) {
		t.Errorf("needed %v", p.Needed)
	}
}

// TestRunNoAgentAnswers: no agent answers at all; the session fails after
// the timeout, says why, and removes what it deployed.
func TestRunNoAgentAnswers(t *testing.T) {
	a := kubefake.New(t, "n1")
	a.AgentPhase = "Pending"
	a.Agent = kubefake.ShopAgents
	kubefake.Shop(a)
	o := options(t, a)
	o.AgentTimeout = 200 * time.Millisecond
	res, err := Run(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "capdrop-agent-n1 is Pending") {
		t.Errorf("err %v", err)
	}
	checkRemoved(t, a, res)
	if res.Document != nil {
		t.Errorf("a document without a window")
	}
}

// TestRunInterrupted cancels the context (Ctrl-C) while waiting for the
// agents, and during the window: both times everything deployed is
// removed; in the window the document is still made, marked interrupted.
func TestRunInterrupted(t *testing.T) {
	for _, when := range []string{"waiting", "window"} {
		t.Run(when, func(t *testing.T) {
			a := kubefake.New(t, "n1", "n2")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var reads atomic.Int32
			a.Agent = func(node string, n int) (agent.Report, int) {
				if when == "waiting" {
					cancel()
					return agent.Report{}, 503
				}
				if reads.Add(1) == 4 { // the first reads of the window
					cancel()
				}
				return kubefake.ShopAgents(node, n)
			}
			kubefake.Shop(a)
			o := options(t, a)
			o.Duration, o.MinWindow = time.Minute, 30*time.Second
			start := time.Now()
			res, err := Run(ctx, o)
			if !errors.Is(err, context.Canceled) {
				t.Errorf("err %v", err)
			}
			if d := time.Since(start); d > 30*time.Second {
				t.Errorf("took %s after the interruption", d)
			}
			checkRemoved(t, a, res)
			switch when {
			case "waiting":
				if res.Document != nil {
					t.Errorf("a document before the window")
				}
			case "window":
				if !res.Interrupted || res.Document == nil || !strings.Contains(strings.Join(res.Document.Warnings, "\n"), "interrupted after") {
					t.Fatalf("interrupted %v, document %+v", res.Interrupted, res.Document)
				}
				p := res.Document.Profiles[0]
				if p.Complete || p.Partial[0].Reason != clusterprofile.ReasonShortWindow {
					t.Errorf("an interrupted profile of %.3fs: complete %v %+v", p.Observed, p.Complete, p.Partial)
				}
			}
		})
	}
}

// TestRunLosses: checks the tracer lost during the window make the
// profile partial; those before it do not.
func TestRunLosses(t *testing.T) {
	a := kubefake.New(t, "n1", "n2")
	a.Agent = func(node string, n int) (agent.Report, int) {
		r, code := kubefake.ShopAgents(node, n)
		if node == "n2" && n > 1 {
			r.Counters.Counters = trace.Counters{Overflow: 8}
		}
		return r, code
	}
	kubefake.Shop(a)
	res, err := Run(context.Background(), options(t, a))
	if err != nil {
		t.Fatal(err)
	}
	p := res.Document.Profiles[0]
	if p.Complete || p.Partial[0].Reason != clusterprofile.ReasonLostEvents || !slices.Equal(p.Partial[0].Nodes, []string{"n2"}) {
		t.Errorf("partial %+v, want lost events on n2", p.Partial)
	}
}

func TestParseManifest(t *testing.T) {
	objs, err := ParseManifest("agent.yaml", manifest(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 5 || objs[4].String() != "DaemonSet capdrop-agent/capdrop-agent" || objs[2].String() != "ClusterRole capdrop-agent" {
		t.Errorf("%v", objs)
	}
	a, err := ReadAgentSet(objs[4].JSON)
	if err != nil || a.Selector != "app.kubernetes.io/name=capdrop-agent" || a.Port != agent.Port || a.Namespace != "capdrop-agent" {
		t.Errorf("%+v %v", a, err)
	}
	for _, c := range []struct{ in, want string }{
		{"apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: x}\n", "m.yaml:1: document 1: v1 Secret is not a kind capdrop deploys"},
		{"apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {}\n", "m.yaml:5: document 2: ServiceAccount without metadata.name"},
		{"apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: x}\n", "ServiceAccount x has no metadata.namespace"},
		{"apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n", "holds 0 DaemonSets"},
		{"a: [\n", "m.yaml: document 1: yaml:"},
		{"- 1\n", "m.yaml:1: document 1: yaml: unmarshal errors"},
	} {
		_, err := ParseManifest("m.yaml", []byte(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.in, err, c.want)
		}
	}
	// The namespace of the manifest's one Namespace fills those left out.
	objs, err = ParseManifest("m.yaml", []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n---\napiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: d}\nspec: {selector: {matchLabels: {x: y}}}\n"))
	if err != nil || objs[1].Namespace != "a" || !strings.Contains(string(objs[1].JSON), `"namespace":"a"`) {
		t.Errorf("%v %v", objs, err)
	}
}

func FuzzParseManifest(f *testing.F) {
	data, err := os.ReadFile("testdata/agent.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte("apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: d, namespace: n}\nspec: {selector: {matchLabels: {x: y}}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := ParseManifest("f.yaml", data)
		if err != nil {
			return
		}
		for _, o := range objs {
			if o.Name == "" || (o.Resource.Namespaced && o.Namespace == "") {
				t.Errorf("%s without a name or namespace", o)
			}
			if o.Resource == DaemonSets {
				_, _ = ReadAgentSet(o.JSON)
			}
		}
	})
}
