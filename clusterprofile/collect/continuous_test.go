package collect

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/capdrop/capdrop/agent"
	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/clusterprofile"
	"github.com/capdrop/capdrop/internal/kubefake"
)

// storedIn reads the profile a ConfigMap of the fake server holds.
func storedIn(t *testing.T, a *kubefake.Server, path string) (clusterprofile.Profile, map[string]any) {
	t.Helper()
	o, ok := a.Object(path)
	if !ok {
		t.Fatalf("no %s; objects: %v", path, a.Left("configmaps"))
	}
	data, _ := json.Marshal(o)
	p, err := storedProfile(data)
	if err != nil {
		t.Fatal(err)
	}
	return p, o
}

func TestContinuous(t *testing.T) {
	a := kubefake.New(t, "n1", "n2")
	forget, rollout := false, false
	a.Agent = func(node string, n int) (agent.Report, int) {
		r, code := kubefake.ShopAgents(node, n)
		if node == "n2" && forget {
			r.Containers = nil // the agent forgot web's second Pod
		}
		if node == "n1" && rollout {
			c := &r.Containers[0]
			c.Fingerprint, c.Image = "sha256:fp2", "localhost/capdrop/test:2"
			c.Records = c.Records[:1] // the new image needs CHOWN only
		}
		return r, code
	}
	kubefake.Shop(a)
	objs, err := ParseManifest("agent.yaml", manifest(t))
	if err != nil {
		t.Fatal(err)
	}
	a.Put(deployedPaths[4], string(objs[4].JSON))
	a.StartAgents(deployedPaths[4])
	o := options(t, a)
	as, _ := ReadAgentSet(objs[4].JSON)
	c := &Continuous{API: o.API, Top: o.Top, Agent: as, Namespace: "shop", MinWindow: o.MinWindow, Cluster: o.Cluster, Log: o.Log}
	ctx := context.Background()

	pass, err := c.Once(ctx)
	if err != nil {
		t.Fatal(err)
	}
	web := "/api/v1/namespaces/shop/configmaps/capdrop-profile-deployment-web-app"
	if !slices.Equal(pass.Written, []string{"shop/capdrop-profile-deployment-other-app", "shop/capdrop-profile-deployment-web-app"}) || len(pass.Merged) != 0 {
		t.Fatalf("pass %+v", pass)
	}
	p, obj := storedIn(t, a, web)
	if want := capset.Of(capset.CHOWN, capset.NET_RAW, capset.NET_BIND_SERVICE); p.NeededSet() != want || p.Pods != 2 {
		t.Errorf("stored needed %v in %d Pods, want %v in 2", p.Needed, p.Pods, want.Names())
	}
	meta := obj["metadata"].(map[string]any)
	refs, _ := json.Marshal(meta["ownerReferences"])
	if !strings.Contains(string(refs), `"kind":"Deployment"`) || !strings.Contains(string(refs), `"uid":"d-web"`) {
		t.Errorf("owner references %s, want Deployment web's UID (garbage-collected with it)", refs)
	}
	if meta["labels"].(map[string]any)[LabelProfile] != "1" || meta["annotations"].(map[string]any)[AnnotationWorkload] != "shop/Deployment/web/app" {
		t.Errorf("metadata %v", meta)
	}

	// The agent forgets a Pod: the object keeps what it saw.
	forget = true
	pass, err = c.Once(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(pass.Merged, "shop/capdrop-profile-deployment-web-app") {
		t.Errorf("not merged: %+v", pass)
	}
	p, _ = storedIn(t, a, web)
	if !p.NeededSet().Has(capset.NET_BIND_SERVICE) || p.Pods != 2 || p.Excluded.Capabilities != capset.Of(capset.SYS_NICE) {
		t.Errorf("after the agent forgot a Pod: needed %v, %d Pods, excluded %v", p.Needed, p.Pods, p.Excluded.Capabilities)
	}

	// A rollout to a new image: a new profile replaces the old one.
	rollout, forget = true, true
	if _, err = c.Once(ctx); err != nil {
		t.Fatal(err)
	}
	p, _ = storedIn(t, a, web)
	if p.Fingerprint != "sha256:fp2" || p.NeededSet() != capset.Of(capset.CHOWN) {
		t.Errorf("after the rollout: %s needs %v, want sha256:fp2 needing CAP_CHOWN only", p.Fingerprint, p.Needed)
	}

	// Reading the objects back gives a document of both workloads.
	doc, err := Stored(ctx, o.API, "shop", o.Cluster)
	if err != nil {
		t.Fatal(err)
	}
	if doc.Source != "continuous" || len(doc.Profiles) != 2 || doc.Profiles[0].Workload.Name != "other" || len(doc.Warnings) != 0 {
		t.Errorf("stored document %+v", doc)
	}
	// Deleting the workload deletes its object (the garbage collector,
	// here the fake's).
	a.Collect("/apis/apps/v1/namespaces/shop/deployments/web")
	if left := a.Left("capdrop-profile-deployment-web"); len(left) > 0 {
		t.Errorf("left with the workload gone: %v", left)
	}
}

func TestObjectName(t *testing.T) {
	for _, c := range []struct {
		w    clusterprofile.Workload
		want string
	}{
		{clusterprofile.Workload{Kind: "Deployment", Name: "web", Container: "app", ContainerType: "container"}, "capdrop-profile-deployment-web-app"},
		{clusterprofile.Workload{Kind: "CronJob", Name: "backup", Container: "setup", ContainerType: "init"}, "capdrop-profile-cronjob-backup-init-setup"},
		{clusterprofile.Workload{Kind: "Pod", Name: "a.b", Container: "c_d"}, "capdrop-profile-pod-a-b-c-d"},
	} {
		if got := ObjectName(c.w); got != c.want {
			t.Errorf("%s: %s, want %s", c.w, got, c.want)
		}
	}
	long := clusterprofile.Workload{Kind: "Deployment", Name: strings.Repeat("x", 250), Container: "app"}
	if n := ObjectName(long); len(n) > 253 || !strings.HasPrefix(n, "capdrop-profile-deployment-xxx") {
		t.Errorf("%d: %s", len(n), n)
	}
	other := long
	other.Container = "app2"
	if ObjectName(long) == ObjectName(other) {
		t.Errorf("two containers, one name")
	}
}

// TestContinuousLeavesOthersAlone: a ConfigMap of the same name that is
// not capdrop's is never overwritten.
func TestContinuousLeavesOthersAlone(t *testing.T) {
	a := kubefake.New(t, "n1")
	a.Agent = kubefake.ShopAgents
	kubefake.Shop(a)
	a.Put("/api/v1/namespaces/shop/configmaps/capdrop-profile-deployment-web-app", `{"metadata":{"name":"capdrop-profile-deployment-web-app","namespace":"shop"},"data":{"x":"y"}}`)
	objs, _ := ParseManifest("agent.yaml", manifest(t))
	a.Put(deployedPaths[4], string(objs[4].JSON))
	a.StartAgents(deployedPaths[4])
	o := options(t, a)
	as, _ := ReadAgentSet(objs[4].JSON)
	c := &Continuous{API: o.API, Top: o.Top, Agent: as, Namespace: "shop"}
	pass, err := c.Once(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(pass.Skipped) != 1 || !strings.Contains(pass.Skipped[0], "not capdrop's") || slices.Contains(pass.Written, "shop/capdrop-profile-deployment-web-app") {
		t.Errorf("pass %+v", pass)
	}
	for _, w := range a.Writes() {
		if strings.Contains(w, "deployment-web-app") {
			t.Errorf("wrote %s", w)
		}
	}
}

// TestContinuousForbidden: without get, create or patch on ConfigMaps (the
// verbs capdrop-profile-keep grants) a pass keeps nothing, leaves the
// ConfigMap as it was, and says which verb was refused, naming the role.
func TestContinuousForbidden(t *testing.T) {
	const cm = "/api/v1/namespaces/shop/configmaps/capdrop-profile-deployment-web-app"
	for _, tt := range []struct {
		verb, method string
		exists       bool
	}{
		{"get", "GET", true},
		{"patch", "PATCH", true},
		{"create", "POST", false},
	} {
		t.Run(tt.verb, func(t *testing.T) {
			a := kubefake.New(t, "n1")
			a.Agent = kubefake.ShopAgents
			kubefake.Shop(a)
			objs, _ := ParseManifest("agent.yaml", manifest(t))
			a.Put(deployedPaths[4], string(objs[4].JSON))
			a.StartAgents(deployedPaths[4])
			o := options(t, a)
			as, _ := ReadAgentSet(objs[4].JSON)
			c := &Continuous{API: o.API, Top: o.Top, Agent: as, Namespace: "shop"}
			if tt.exists {
				if _, err := c.Once(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			before, _ := a.Object(cm)
			beforeJSON, _ := json.Marshal(before)
			a.Forbid = func(method, path string) string {
				if method == tt.method && strings.HasPrefix(path+"/", "/api/v1/namespaces/shop/configmaps/") {
					return tt.verb
				}
				return ""
			}
			pass, err := c.Once(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			want := "not kept: " + tt.verb + " on ConfigMaps is forbidden in shop (capdrop-profile-keep grants get, create and patch on them)"
			if len(pass.Written) != 0 || len(pass.Skipped) != 2 {
				t.Errorf("pass %+v: want nothing written, web and other skipped", pass)
			}
			for _, s := range pass.Skipped {
				if !strings.Contains(s, want) || !strings.Contains(s, `cannot `+tt.verb+` resource "configmaps"`) {
					t.Errorf("skipped %q: want %q with the API server's refusal", s, want)
				}
			}
			after, _ := a.Object(cm)
			afterJSON, _ := json.Marshal(after)
			if string(afterJSON) != string(beforeJSON) {
				t.Errorf("the ConfigMap changed:\n%s\nwas\n%s", afterJSON, beforeJSON)
			}
		})
	}
}
