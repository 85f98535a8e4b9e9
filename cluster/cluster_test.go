package cluster

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/capdrop/capdrop/workload"
)

func TestParseRuntime(t *testing.T) {
	for _, c := range []struct {
		in      string
		rt      workload.Runtime
		version string
	}{
		{"containerd://1.6.20", workload.Containerd, "1.6.20"},
		{"containerd://2.1.4-k3s1", workload.Containerd, "2.1.4-k3s1"},
		{"cri-o://1.29.1", workload.CRIO, "1.29.1"},
		{"docker://24.0.7", workload.Docker, "24.0.7"},
		{"remote://1.0", "", "1.0"},
		{"", "", ""},
	} {
		rt, v := ParseRuntime(c.in)
		if rt != c.rt || v != c.version {
			t.Errorf("ParseRuntime(%q) = %q, %q; want %q, %q", c.in, rt, v, c.rt, c.version)
		}
	}
}

func TestVersions(t *testing.T) {
	r := Result{Nodes: []Node{
		{Name: "a", Runtime: workload.Containerd, Version: "1.6.20"},
		{Name: "b", Runtime: workload.Containerd, Version: "1.6.20"},
		{Name: "c", Runtime: workload.CRIO, Version: "1.29.1"},
		{Name: "d", Runtime: workload.CRIO, Version: "1.30.0"},
	}}
	got := r.Versions()
	if len(got) != 1 || got[workload.Containerd] != "1.6.20" {
		t.Errorf("Versions() = %v; want containerd 1.6.20 only (the CRI-O nodes differ)", got)
	}
}

// A list item as the API server returns it: no apiVersion and kind, one
// line of JSON.
const deploymentItem = `{"metadata":{"name":"web","namespace":"shop","uid":"u1","managedFields":[{"manager":"kubectl"}]},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"securityContext":{"runAsUser":1000},"initContainers":[{"name":"init","image":"busybox:1","securityContext":{"capabilities":{"add":["CHOWN"]}}}],"containers":[{"name":"app","image":"nginx:1","securityContext":{"privileged":false,"capabilities":{"drop":["ALL"],"add":["NET_BIND_SERVICE"]}}}]}}}}`

func TestConvert(t *testing.T) {
	rd := &reader{res: &Result{}}
	var o object
	if err := json.Unmarshal([]byte(deploymentItem), &o); err != nil {
		t.Fatal(err)
	}
	ws := rd.convert(templates[0], json.RawMessage(deploymentItem), &o, workload.CRIO)
	if len(rd.res.Errors) > 0 {
		t.Fatalf("errors: %v", rd.res.Errors[0])
	}
	var names []string
	for _, w := range ws {
		names = append(names, w.Name+" "+string(w.Kind))
		if w.Runtime != workload.CRIO || w.Attrs["namespace"] != "shop" || w.Attrs["object"] != "Deployment/web" {
			t.Errorf("%s: runtime %s, attrs %v", w.Name, w.Runtime, w.Attrs)
		}
		if w.RunAsUser == nil || *w.RunAsUser != 1000 {
			t.Errorf("%s: runAsUser %v, want the pod's 1000", w.Name, w.RunAsUser)
		}
		checkRelocated(t, w, "shop/Deployment/web")
	}
	want := []string{"Deployment/web/init kubernetes-init-container", "Deployment/web/app kubernetes-container"}
	if !slices.Equal(names, want) {
		t.Errorf("workloads %q, want %q", names, want)
	}
	if got := strings.Join(workload.Texts(ws[1].CapAdd), ","); got != "NET_BIND_SERVICE" {
		t.Errorf("add %q", got)
	}
}

func checkRelocated(t *testing.T, w workload.Workload, loc string) {
	t.Helper()
	check := func(what string, p workload.Position) {
		if p != (workload.Position{File: loc}) {
			t.Errorf("%s: %s at %+v, want the object %s without lines", w.Name, what, p, loc)
		}
	}
	check("workload", w.Pos)
	for _, x := range append(append([]workload.Word{}, w.CapAdd...), w.CapDrop...) {
		check(x.Text, x.Pos)
	}
	if w.CapsPos != nil {
		check("capabilities", *w.CapsPos)
	}
	if w.UserPos != nil {
		check("user", *w.UserPos)
	}
}

func TestDiffer(t *testing.T) {
	u0, u1 := int64(0), int64(1000)
	base := workload.Workload{Image: "a:1", CapAdd: []workload.Word{{Text: "KILL"}}, RunAsUser: &u1, Attrs: map[string]string{}}
	same := base
	if d := differ(&same, &base); len(d) != 0 {
		t.Errorf("equal workloads differ: %v", d)
	}
	pod := base
	pod.Image = "a:2"
	pod.CapAdd = []workload.Word{{Text: "KILL"}, {Text: "NET_ADMIN"}}
	pod.RunAsUser = &u0
	pod.Attrs = map[string]string{"hostPID": "true"}
	got := differ(&pod, &base)
	want := []string{"image: pod a:2, template a:1", "capabilities.add: pod [KILL NET_ADMIN], template [KILL]",
		"runAsUser: pod 0, template 1000", "hostPID: pod true, template "}
	if !slices.Equal(got, want) {
		t.Errorf("differ = %q\nwant %q", got, want)
	}
}

// FuzzConvert feeds arbitrary list items to the conversion: errors, never
// a panic.
func FuzzConvert(f *testing.F) {
	f.Add([]byte(deploymentItem))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{ }`))
	f.Add([]byte(`{"kind":"Pod","apiVersion":"v1","spec":{"containers":[{"name":1}]}}`))
	f.Fuzz(func(t *testing.T, item []byte) {
		rd := &reader{res: &Result{}}
		var o object
		if json.Unmarshal(item, &o) != nil {
			return
		}
		for _, w := range rd.convert(pods, item, &o, workload.Containerd) {
			checkRelocated(t, w, Location(o.Metadata.Namespace, "Pod", o.Metadata.Name))
		}
	})
}
