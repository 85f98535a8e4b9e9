package patch

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/strategicpatch"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/cluster"
	"github.com/capdrop/capdrop/clusterprofile"
	"github.com/capdrop/capdrop/evidence"
	"github.com/capdrop/capdrop/source/kube"
	"github.com/capdrop/capdrop/workload"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// fake is an API server holding workload objects (JSON, by
// namespace/Kind/name) and recording patches.
type fake struct {
	objects map[string]string
	refuse  string // a dry run of a patch of this object fails
	patches []string
}

func (f *fake) Object(ctx context.Context, r cluster.Resource, ns, name string) (*cluster.Object, error) {
	loc := cluster.Location(ns, r.Kind, name)
	raw, ok := f.objects[loc]
	if !ok {
		return nil, fmt.Errorf("get %s: %w", loc, cluster.ErrNotFound)
	}
	ws, errs := kube.Parse(loc, []byte(raw), true, workload.Containerd)
	if len(errs) > 0 {
		return nil, errs[0]
	}
	var meta struct {
		Metadata struct {
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
	}
	_ = json.Unmarshal([]byte(raw), &meta)
	return &cluster.Object{Resource: r, Namespace: ns, Name: name, Raw: json.RawMessage(raw), Containers: ws,
		Labels: meta.Metadata.Labels, Annotations: meta.Metadata.Annotations,
		Nodes: []cluster.Node{{Name: "n1", Runtime: workload.Containerd, Version: "1.7.24"}}}, nil
}

func (f *fake) Patch(ctx context.Context, r cluster.Resource, ns, name string, patch []byte, o cluster.WriteOptions) (json.RawMessage, error) {
	loc := cluster.Location(ns, r.Kind, name)
	if o.DryRun && loc == f.refuse {
		return nil, errors.New(`Deployment.apps "` + name + `" is invalid: spec.template.spec.containers[0].securityContext: Invalid value`)
	}
	if o.FieldManager != FieldManager {
		return nil, errors.New("no field manager")
	}
	f.patches = append(f.patches, map[bool]string{true: "dry-run ", false: ""}[o.DryRun]+loc+" "+string(patch))
	return nil, nil
}

const (
	// web: two containers and an init container; app adds NET_ADMIN on
	// top of containerd's defaults.
	web = `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"shop"},
"spec":{"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{
"initContainers":[{"name":"migrate","image":"migrate:1"}],
"containers":[{"name":"app","image":"localhost/capdrop/test:1","securityContext":{"allowPrivilegeEscalation":true,"capabilities":{"add":["NET_ADMIN","SYS_TIME"]}}},
{"name":"log","image":"log:1"}]}}}}`
	// cache: a Helm release.
	cache = `{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"cache","namespace":"shop","labels":{"app.kubernetes.io/managed-by":"Helm"},"annotations":{"meta.helm.sh/release-name":"cache"}},
"spec":{"selector":{"matchLabels":{"app":"cache"}},"template":{"metadata":{"labels":{"app":"cache"}},"spec":{"containers":[{"name":"redis","image":"redis:7"}]}}}}`
	// nightly: a CronJob.
	nightly = `{"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"nightly","namespace":"shop"},
"spec":{"schedule":"@daily","jobTemplate":{"spec":{"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"job","image":"job:1"}]}}}}}}`
	// priv: privileged.
	priv = `{"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"priv","namespace":"kube-system"},
"spec":{"selector":{"matchLabels":{"app":"priv"}},"template":{"metadata":{"labels":{"app":"priv"}},"spec":{"containers":[{"name":"agent","image":"agent:1","securityContext":{"privileged":true}}]}}}}`
)

// document is the golden cluster profile of clusterprofile, with the
// profiles of the workloads above.
func document(t *testing.T) evidence.Evidence {
	t.Helper()
	b, err := os.ReadFile("../clusterprofile/testdata/document.json.golden")
	if err != nil {
		t.Fatal(err)
	}
	var d clusterprofile.Document
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	app := d.Profiles[0] // shop/Deployment/web/app: CHOWN FOWNER NET_BIND_SERVICE NET_RAW SYS_TIME + KILL used
	mk := func(ns, kind, name, ctr, typ string, needed ...string) clusterprofile.Profile {
		p := app
		p.Workload = clusterprofile.Workload{Namespace: ns, APIVersion: "apps/v1", Kind: kind, Name: name, Container: ctr, ContainerType: typ}
		p.Needed, p.UsedNotProven, p.Images = needed, nil, nil
		return p
	}
	migrate := mk("shop", "Deployment", "web", "migrate", "init", "CAP_CHOWN")
	migrate.Complete = false
	migrate.Partial = []clusterprofile.Reason{{Reason: clusterprofile.ReasonStartedBefore, Detail: "1 container started before the agent"}}
	log := mk("shop", "Deployment", "web", "log", "container")
	job := mk("shop", "CronJob", "nightly", "job", "container", "CAP_DAC_OVERRIDE")
	job.Workload.APIVersion = "batch/v1"
	d.Profiles = []clusterprofile.Profile{app, migrate, log,
		mk("shop", "StatefulSet", "cache", "redis", "container", "CAP_SETUID", "CAP_SETGID"),
		job,
		mk("kube-system", "DaemonSet", "priv", "agent", "container", "CAP_SYS_ADMIN"),
		mk("shop", "Deployment", "gone", "c", "container", "CAP_KILL"),
	}
	out, _ := json.Marshal(d)
	ev, err := evidence.Read(strings.NewReader(string(out)), "cluster-profile.json")
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func newFake() *fake {
	return &fake{objects: map[string]string{"shop/Deployment/web": web, "shop/StatefulSet/cache": cache,
		"shop/CronJob/nightly": nightly, "kube-system/DaemonSet/priv": priv}}
}

func TestRecommend(t *testing.T) {
	f := newFake()
	res, err := Recommend(context.Background(), Options{Evidence: document(t), API: f})
	if err != nil {
		t.Fatal(err)
	}
	recs := map[string]*Recommendation{}
	for _, r := range res.Recommendations {
		recs[r.Workload.String()] = r
	}
	if len(recs) != 5 {
		t.Fatalf("%d recommendations: %v", len(recs), recs)
	}
	web := recs["shop/Deployment/web"]
	ctrs := map[string]*Container{}
	for _, c := range web.Containers {
		ctrs[c.Name] = c
	}
	app := ctrs["app"]
	if want := []string{"CHOWN", "FOWNER", "KILL", "NET_BIND_SERVICE", "NET_RAW", "SYS_TIME"}; !slices.Equal(sorted(app.Add), want) || app.Skipped != "" {
		t.Errorf("app adds %v (skipped %q), want %v", app.Add, app.Skipped, want)
	}
	if !strings.Contains(ctrs["migrate"].Skipped, "partial: started-before-agent") {
		t.Errorf("migrate: %q, want it skipped as partial", ctrs["migrate"].Skipped)
	}
	if len(ctrs["log"].Add) != 0 || ctrs["log"].Skipped != "" || len(ctrs["log"].Removed) != 14 {
		t.Errorf("log: add %v removed %v skipped %q", ctrs["log"].Add, ctrs["log"].Removed, ctrs["log"].Skipped)
	}
	if !strings.Contains(strings.Join(app.Notes, "\n"), "allowPrivilegeEscalation: true, which the patch turns to false") {
		t.Errorf("app notes %q", app.Notes)
	}
	if c := recs["shop/StatefulSet/cache"]; len(c.ManagedBy) != 1 || c.ManagedBy[0].Tool != "Helm" || c.Patch == nil {
		t.Errorf("cache: managed by %v, patch %v", c.ManagedBy, c.Patch)
	}
	if p := recs["kube-system/DaemonSet/priv"]; p.Patch != nil || !strings.Contains(p.Containers[0].Skipped, "privileged") {
		t.Errorf("priv: patch %v, %q", p.Patch, p.Containers[0].Skipped)
	}
	if g := recs["shop/Deployment/gone"]; g.Patch == nil || !strings.Contains(strings.Join(g.Notes, " "), "no longer in the cluster") {
		t.Errorf("gone: %v %q", g.Patch, g.Notes)
	}
	// The patches, as YAML, are the golden file.
	var b strings.Builder
	for _, r := range res.Recommendations {
		if r.Patch == nil {
			continue
		}
		y, err := r.Patch.YAML()
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	golden(t, "testdata/patches.yaml.golden", b.String())

	// Applied: the Helm release and the unreadable one are left alone;
	// each patch goes through a dry run first.
	f.refuse = "shop/CronJob/nightly"
	err = Apply(context.Background(), f, res)
	if err == nil || !strings.Contains(err.Error(), "shop/CronJob/nightly: the API server refused the patch in a dry run") {
		t.Errorf("apply: %v", err)
	}
	want := []string{"dry-run shop/Deployment/web", "shop/Deployment/web", "dry-run shop/Deployment/gone", "shop/Deployment/gone"}
	var got []string
	for _, p := range f.patches {
		got = append(got, strings.Join(strings.Fields(p)[:len(strings.Fields(p))-1], " "))
	}
	if !slices.Equal(got, want) {
		t.Errorf("patches %q, want %q", got, want)
	}
	if s := recs["shop/StatefulSet/cache"].Apply; s.Status != "skipped" || !strings.Contains(s.Message, "managed by Helm") {
		t.Errorf("cache: %+v", s)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update):\n%s", path, got)
	}
}

// TestPatchReplacesLists merges a patch into a Deployment the way the API
// server and kubectl do (a strategic merge against the Deployment's
// schema): the container's add and drop lists are replaced whole — a
// capability the object added is gone — and the other containers and
// fields stay.
func TestPatchReplacesLists(t *testing.T) {
	res, err := Recommend(context.Background(), Options{Evidence: document(t), API: newFake(),
		Keep: func(r Ref) bool { return r.Name == "web" }})
	if err != nil || len(res.Recommendations) != 1 {
		t.Fatal(err, res)
	}
	body, err := res.Recommendations[0].Patch.body()
	if err != nil {
		t.Fatal(err)
	}
	out, err := strategicpatch.StrategicMergePatch([]byte(web), body, appsv1.Deployment{})
	if err != nil {
		t.Fatal(err)
	}
	var d appsv1.Deployment
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatal(err)
	}
	ps := d.Spec.Template.Spec
	if len(ps.Containers) != 2 || len(ps.InitContainers) != 1 || ps.InitContainers[0].SecurityContext != nil {
		t.Fatalf("containers changed: %s", out)
	}
	app, log := ps.Containers[0].SecurityContext, ps.Containers[1].SecurityContext
	var add []string
	for _, c := range app.Capabilities.Add {
		add = append(add, string(c))
	}
	if slices.Contains(add, "NET_ADMIN") || !slices.Contains(add, "SYS_TIME") || len(add) != 6 || string(app.Capabilities.Drop[0]) != "ALL" || *app.AllowPrivilegeEscalation {
		t.Errorf("app: %s", out)
	}
	if log == nil || len(log.Capabilities.Add) != 0 || len(log.Capabilities.Drop) != 1 {
		t.Errorf("log: %s", out)
	}
	// The same patch again changes nothing.
	again, err := strategicpatch.StrategicMergePatch(out, body, appsv1.Deployment{})
	if err != nil || string(again) != string(out) {
		t.Errorf("a second merge changed it: %v\n%s", err, again)
	}
}

// TestRecommendOffline: without the cluster, every complete profile gets
// its patch and nothing is checked.
func TestRecommendOffline(t *testing.T) {
	res, err := Recommend(context.Background(), Options{Evidence: document(t)})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range res.Recommendations {
		if r.Patch != nil {
			n++
		}
	}
	if !res.Offline || n != 5 {
		t.Errorf("offline %v, %d patches", res.Offline, n)
	}
	// priv's set has SYS_ADMIN: the API server refuses
	// allowPrivilegeEscalation: false next to it, so the patch leaves it
	// out.
	for _, r := range res.Recommendations {
		if r.Workload.Name == "priv" {
			c := r.Containers[0]
			if c.AllowPrivilegeEscalation != nil || c.Set != capset.Of(capset.SYS_ADMIN) {
				t.Errorf("priv: %+v", c)
			}
		}
	}
}

// TestRecommendNeverWidens: a profile whose set holds a capability the
// container does not hold today (the workload changed since) gives no
// patch for it unless widening is allowed.
func TestRecommendNeverWidens(t *testing.T) {
	f := newFake()
	f.objects["shop/Deployment/web"] = strings.Replace(web, `"add":["NET_ADMIN","SYS_TIME"]`, `"add":["NET_ADMIN"]`, 1)
	for _, widen := range []bool{false, true} {
		res, err := Recommend(context.Background(), Options{Evidence: document(t), API: f, AllowWiden: widen,
			Keep: func(r Ref) bool { return r.Name == "web" }})
		if err != nil {
			t.Fatal(err)
		}
		app := res.Recommendations[0].Containers[0]
		if skipped := strings.Contains(app.Skipped, "holds SYS_TIME, which it does not hold today"); skipped == widen {
			t.Errorf("allow widen %v: skipped %q", widen, app.Skipped)
		}
	}
}

func TestRecommendRefusesOtherDocuments(t *testing.T) {
	ev, err := evidence.Read(strings.NewReader(`{"needed":["CAP_CHOWN"]}`), "p.json")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Recommend(context.Background(), Options{Evidence: ev})
	if !errors.Is(err, evidence.ErrNotEvidence) || !strings.Contains(err.Error(), "reads a cluster profile") {
		t.Errorf("%v", err)
	}
}

// cancelling is the fake API cancelling its caller's context when the
// n-th patch request (from 1) arrives. A request whose context is done by
// then is given up by the client, as client-go does: the fake stores
// nothing for it.
type cancelling struct {
	*fake
	n      int
	cancel context.CancelFunc
	calls  int
}

func (c *cancelling) Patch(ctx context.Context, r cluster.Resource, ns, name string, patch []byte, o cluster.WriteOptions) (json.RawMessage, error) {
	c.calls++
	if c.calls == c.n {
		c.cancel()
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return c.fake.Patch(ctx, r, ns, name, patch, o)
}

// TestApplyInterrupted cancels --apply at each of its requests: a dry
// run is cut short and nothing more is sent; a patch on its way is seen
// through and said applied; every workload not reached says it was not
// sent; the error carries the cancellation.
func TestApplyInterrupted(t *testing.T) {
	for n, want := range map[int]struct {
		patches []string
		web     string
	}{
		1: {nil, "interrupted"},                                                        // web's dry run
		2: {[]string{"dry-run shop/Deployment/web", "shop/Deployment/web"}, "applied"}, // web's patch
		3: {[]string{"dry-run shop/Deployment/web", "shop/Deployment/web"}, "applied"}, // the next dry run
	} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			f := newFake()
			res, err := Recommend(context.Background(), Options{Evidence: document(t), API: f})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			api := &cancelling{fake: f, n: n, cancel: cancel}
			err = Apply(ctx, api, res)
			if !errors.Is(err, context.Canceled) {
				t.Errorf("error %v, want the cancellation", err)
			}
			var got []string
			for _, p := range f.patches {
				got = append(got, strings.Join(strings.Fields(p)[:len(strings.Fields(p))-1], " "))
			}
			if !slices.Equal(got, want.patches) {
				t.Errorf("patches %q, want %q", got, want.patches)
			}
			if api.calls != n {
				t.Errorf("%d requests, want none after the cancellation (%d)", api.calls, n)
			}
			interrupted := 0
			for _, r := range res.Recommendations {
				switch {
				case r.Apply == nil:
					t.Errorf("%s: no apply status", r.Workload)
				case r.Workload.String() == "shop/Deployment/web":
					if r.Apply.Status != want.web {
						t.Errorf("web: %+v, want %s", r.Apply, want.web)
					}
				case r.Apply.Status == "interrupted":
					interrupted++
				case r.Apply.Status != "skipped":
					t.Errorf("%s: %+v after the cancellation", r.Workload, r.Apply)
				}
			}
			// nightly and gone were not reached.
			if interrupted != 2 {
				t.Errorf("%d workloads said not sent, want 2", interrupted)
			}
		})
	}
}
