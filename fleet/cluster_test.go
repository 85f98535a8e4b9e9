package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/capdrop/capdrop/audit"
	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/cluster"
	"github.com/capdrop/capdrop/report"
	"github.com/capdrop/capdrop/shadow"
	"github.com/capdrop/capdrop/verify"
)

var update = flag.Bool("update", false, "rewrite testdata/cluster/live/audit.json")

// apiServer answers the list calls of package cluster as a Kubernetes API
// server does, from testdata/cluster/live/api/RESOURCE.json (every namespace
// at once, one page); a resource without a file is an empty list.
func apiServer(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resource := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
		items := []byte("[]")
		if data, err := os.ReadFile(filepath.Join("testdata/cluster/live/api", resource+".json")); err == nil {
			items = data
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"kind":"List","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":%s}`, items)
	}))
	t.Cleanup(srv.Close)
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: %s\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user: {}\n", srv.URL)
	if err := os.WriteFile(kc, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return kc
}

// clusterAudit writes the document `capdrop audit --cluster -A -o json`
// writes, made by the same calls: package cluster reads the API server,
// package audit judges what it read, package report writes the document.
func clusterAudit(t *testing.T) []byte {
	t.Helper()
	opts := cluster.Options{Kubeconfig: apiServer(t), AllNamespaces: true}
	c, err := cluster.Connect(opts)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Read(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Evaluate(res.Workloads, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	doc := report.NewAuditDoc(report.Audit{Report: rep, Errors: res.Errors, Cluster: report.NewCluster(c.Host, c.Namespace, "", res)})
	doc.Cluster.Server = "https://127.0.0.1:16443" // the test server's port changes from run to run
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestClusterAuditDocument keeps testdata/cluster/live/audit.json, which
// the picture's tests draw, the document the code writes today (-update
// rewrites it).
func TestClusterAuditDocument(t *testing.T) {
	got := append(clusterAudit(t), '\n')
	const path = "testdata/cluster/live/audit.json"
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is not what audit --cluster writes today (go test ./fleet -run %s -update)", path, t.Name())
	}
}

// TestClusterProfiles draws a cluster: its audit (templates and running
// Pods) and the per-workload profile of Deployment web's app container,
// as the clusterprofile package aggregates it from its agents' reports.
func TestClusterProfiles(t *testing.T) {
	var b Builder
	if err := b.AddDocument("cluster.json", clusterAudit(t)); err != nil {
		t.Fatal(err)
	}
	data, err := ReadFile("testdata/cluster/cluster-profile.json")
	if err != nil {
		t.Fatal(err)
	}
	if kind, _ := Detect(data); kind != DocClusterProfile {
		t.Fatalf("detected %q", kind)
	}
	if err := b.AddDocument("cluster-profile.json", data); err != nil {
		t.Fatal(err)
	}
	f := b.Build("cluster", testNow)
	if len(f.Warnings) != 0 || len(f.Errors) != 0 {
		t.Fatalf("warnings %q, errors %q", f.Warnings, f.Errors)
	}
	var apps, inits, agents []*Container
	for _, c := range f.Containers {
		if c.Kube == nil {
			t.Fatalf("%s: no cluster placement", c.Name)
		}
		switch {
		case c.Kube.Controller == "Deployment/web" && c.Kube.Container == "app":
			apps = append(apps, c)
		case c.Kube.Controller == "Deployment/web" && c.Kube.Container == "init" && c.Kube.Init:
			inits = append(inits, c)
		case c.Kube.Controller == "DaemonSet/agent":
			agents = append(agents, c)
		default:
			t.Errorf("unexpected container %s %+v", c.Name, *c.Kube)
		}
	}
	// The template and each of the three running Pods.
	if len(apps) != 4 || len(inits) != 4 || len(agents) != 2 {
		t.Fatalf("%d app, %d init, %d agent containers; want 4, 4, 2", len(apps), len(inits), len(agents))
	}
	needed := []string{"CAP_CHOWN", "CAP_FOWNER", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SYS_TIME"}
	pods := map[string]string{}
	for _, c := range apps {
		if c.Group.Namespace != "shop" || c.Group.Workload != "Deployment/web" {
			t.Errorf("%s grouped as %+v", c.Name, c.Group)
		}
		if c.Kube.Origin == "pod" {
			pods[c.Kube.Pod] = c.Kube.Node
			if c.Group.Host != c.Kube.Node || c.ID == "" {
				t.Errorf("%s: host %q, node %q, ID %q", c.Name, c.Group.Host, c.Kube.Node, c.ID)
			}
		}
		if c.Usage == nil || c.Usage.Partial {
			t.Fatalf("%s: the complete profile is not attached: %+v", c.Name, c.Usage)
		}
		for _, n := range needed {
			if cell := c.Cell(mustCap(t, n)); cell.State != Needed {
				t.Errorf("%s %s: %v, want needed", c.Name, n, cell.State)
			}
		}
		// kill(2) of another user's process: used, not proven needed,
		// and still recommended until verify decides.
		if cell := c.Cell(mustCap(t, "CAP_KILL")); cell.State != Used {
			t.Errorf("%s KILL: %v, want used (not proven)", c.Name, cell.State)
		}
		rec, _ := c.Recommended()
		if got := strings.Join(rec.Names(), " "); got != "CAP_CHOWN CAP_FOWNER CAP_KILL CAP_NET_BIND_SERVICE CAP_NET_RAW CAP_SYS_TIME" {
			t.Errorf("%s recommended %s", c.Name, got)
		}
		// Asked for and held; only ever denied (NET_ADMIN) or noise
		// (SYS_ADMIN's overcommit probe): never used.
		if cell := c.Cell(mustCap(t, "CAP_NET_ADMIN")); cell.State != Unused || !cell.Configured || !cell.Denied {
			t.Errorf("%s NET_ADMIN: %+v, want unused, configured, denied", c.Name, cell)
		}
		if cell := c.Cell(mustCap(t, "CAP_SYS_ADMIN")); cell.State != Unused || !cell.Configured {
			t.Errorf("%s SYS_ADMIN: %+v, want unused and configured", c.Name, cell)
		}
		ev := evidenceOf(c, capset.KILL)
		if ev.Class != "used" || ev.Pods != 1 || !slices.Equal(ev.Nodes, []string{"n1"}) || len(ev.Reasons) != 1 ||
			!strings.HasPrefix(ev.Reasons[0], "signal-other-user: ") {
			t.Errorf("%s KILL evidence %+v", c.Name, ev)
		}
		if ev := evidenceOf(c, capset.SYS_TIME); ev.Class != "needed" || !slices.ContainsFunc(ev.Reasons, func(s string) bool { return strings.HasPrefix(s, "kept by capset") }) {
			t.Errorf("%s SYS_TIME evidence %+v: want needed, kept by capset", c.Name, ev)
		}
	}
	if len(pods) != 3 || pods["web-5d8f-a"] != "n1" || pods["web-5d8f-c"] != "n2" {
		t.Errorf("pods %v", pods)
	}
	// Pod c was admitted with SYS_PTRACE its template does not add: held,
	// never used, and a finding of that Pod's row.
	for _, c := range apps {
		cell := c.Cell(mustCap(t, "CAP_SYS_PTRACE"))
		differs := slices.ContainsFunc(c.Findings, func(f Finding) bool { return f.Rule == "live:differs-from-template" })
		if c.Kube.Pod == "web-5d8f-c" {
			if cell.State != Unused || !differs {
				t.Errorf("pod c: SYS_PTRACE %v, differs %v", cell.State, differs)
			}
		} else if cell.State != None || differs {
			t.Errorf("%s %s: SYS_PTRACE %v, differs %v", c.Name, c.Kube.Pod, cell.State, differs)
		}
	}
	// Nothing profiled the init container nor the privileged agent:
	// held, use unknown.
	for _, c := range append(inits, agents...) {
		if c.Usage != nil {
			t.Errorf("%s: a profile of another container attached", c.Name)
		}
		if cell := c.Cell(mustCap(t, "CAP_CHOWN")); cell.State != Held {
			t.Errorf("%s CHOWN %v, want held", c.Name, cell.State)
		}
	}
	if f.Containers[0].Kube.Controller != "DaemonSet/agent" {
		t.Errorf("riskiest first: %s", f.Containers[0].Name)
	}
	groups := f.Groups("host")
	if len(groups) != 3 || groups[0].Name != "n1" {
		t.Errorf("by node: %+v", groups)
	}
	if !slices.ContainsFunc(f.Inputs, func(s string) bool { return strings.HasPrefix(s, "node n2: containerd://2.1.4") }) ||
		!slices.ContainsFunc(f.Inputs, func(s string) bool { return strings.HasPrefix(s, "cluster profiles: 1 workload containers") }) {
		t.Errorf("inputs %q", f.Inputs)
	}
	// The same documents, in any order, make the same picture.
	var b2 Builder
	b2.AddDocument("cluster-profile.json", data)
	b2.AddDocument("cluster.json", clusterAudit(t))
	if got, want := matrix(b2.Build("cluster", testNow)), matrix(f); got != want {
		t.Errorf("order matters:\n%s\n%s", got, want)
	}
}

// TestClusterProfileCopy keeps the cluster profile the tests read equal to
// the clusterprofile package's golden document, which its aggregation of
// agent reports writes.
func TestClusterProfileCopy(t *testing.T) {
	a, err := os.ReadFile("testdata/cluster/cluster-profile.json")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("../clusterprofile/testdata/document.json.golden")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("testdata/cluster/cluster-profile.json differs from the clusterprofile package's golden document: copy it again")
	}
}

func evidenceOf(c *Container, cp capset.Cap) Evidence {
	for _, e := range c.Usage.Evidence {
		if e.Cap == cp {
			return e
		}
	}
	return Evidence{}
}

// matrix is the picture's cells as text, row by row.
func matrix(f *Fleet) string {
	var b strings.Builder
	for _, c := range f.Containers {
		b.WriteString(c.Name + " " + c.Kube.Pod + " ")
		for _, cp := range f.Columns {
			b.WriteByte(c.Cell(cp).Code())
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// TestClusterVerify: a k8s verify result (the document `k8s verify -o
// json` writes, a shadow.Result) attaches to its workload container's
// rows, template and Pods, and what they should get is the set it proved;
// one of a workload the cluster audit does not have gets a row of its own.
func TestClusterVerify(t *testing.T) {
	res := shadow.Result{Passed: true, Minimized: true, OneMinimal: true,
		Set:   []string{"CAP_CHOWN", "CAP_FOWNER", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SYS_TIME"},
		Start: []string{"CAP_CHOWN", "CAP_FOWNER", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SYS_TIME"}, StartFrom: "cluster-profile.json",
		Removed: []string{"CAP_KILL"}, Session: "s1", Check: "readiness held 30s",
		Target: &shadow.Target{Namespace: "shop", Kind: "Deployment", Name: "web", Container: "app", ContainerKind: "container", Image: "localhost/capdrop/test:1"},
		Runs:   []shadow.Trial{{N: 1, Phase: verify.PhaseVerify, Caps: []string{"CAP_CHOWN"}, Passed: true}}}
	data, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	if kind, err := Detect(data); kind != DocClusterVerify {
		t.Fatalf("detected %q, %v", kind, err)
	}
	other := res
	other.Target = &shadow.Target{Namespace: "shop", Kind: "Deployment", Name: "api", Container: "app", ContainerKind: "container"}
	otherData, _ := json.Marshal(other)

	var b Builder
	if err := b.AddDocument("cluster.json", clusterAudit(t)); err != nil {
		t.Fatal(err)
	}
	if err := b.AddDocument("web.verify.json", data); err != nil {
		t.Fatal(err)
	}
	if err := b.AddDocument("api.verify.json", otherData); err != nil {
		t.Fatal(err)
	}
	f := b.Build("cluster", testNow)
	proven, rows := 0, 0
	for _, c := range f.Containers {
		if c.Kube == nil {
			t.Fatalf("%s: no cluster placement", c.Name)
		}
		isApp := c.Kube.Controller == "Deployment/web" && c.Kube.Container == "app" && c.Kind != "profile"
		if isApp != (c.Proof != nil && c.Proof.From == "web.verify.json") {
			t.Errorf("%s (%+v): proof %+v", c.Name, *c.Kube, c.Proof)
		}
		if !isApp {
			continue
		}
		proven++
		rec, ok := c.Recommended()
		if got := strings.Join(rec.Names(), " "); !ok || got != "CAP_CHOWN CAP_FOWNER CAP_NET_BIND_SERVICE CAP_NET_RAW CAP_SYS_TIME" {
			t.Errorf("%s should get %s", c.Name, got)
		}
		for _, n := range res.Set {
			if cell := c.Cell(mustCap(t, n)); cell.State != Needed {
				t.Errorf("%s %s: %v, want needed (proven)", c.Name, n, cell.State)
			}
		}
		if cell := c.Cell(mustCap(t, "CAP_SYS_ADMIN")); cell.State != Unused {
			t.Errorf("%s SYS_ADMIN: %v, want held, never used", c.Name, cell.State)
		}
	}
	for _, c := range f.Containers {
		if c.Kind == "profile" && c.Kube.Controller == "Deployment/api" && c.Proof != nil && c.Group.Namespace == "shop" {
			rows++
		}
	}
	if proven != 4 || rows != 1 {
		t.Errorf("%d rows of web's app proven (want the template and 3 Pods), %d rows of its own for api (want 1)", proven, rows)
	}
	if !slices.ContainsFunc(f.Warnings, func(w string) bool { return strings.Contains(w, "api.verify.json") }) {
		t.Errorf("warnings %q", f.Warnings)
	}
}
