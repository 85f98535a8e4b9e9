package origin

import (
	"fmt"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/capdrop/capdrop/workload"
)

func parse(t testing.TB, s string) *yaml.Node {
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(s), &n); err != nil {
		t.Fatal(err)
	}
	return n.Content[0]
}

const rendered = `apiVersion: apps/v1
kind: Deployment
spec:
  template:
    spec:
      containers:
        - name: app
          image: a
          securityContext:
            capabilities:
              add: [NET_RAW]
              drop: [ALL]
        - name: side
          image: b
          securityContext:
            capabilities:
              drop: [ALL]
`

// TestMap places values where a patch set them, containers where the base
// defined them, and values of the template itself on their own lines.
func TestMap(t *testing.T) {
	base := `apiVersion: apps/v1
kind: Deployment
spec:
  template:
    spec:
      containers:
        - name: app
          image: a
          securityContext:
            capabilities:
              drop: [ALL]
        - name: side
          image: b
          securityContext:
            capabilities:
              drop: [ALL]
`
	patch := `spec:
  template:
    spec:
      containers:
        - name: app
          securityContext:
            capabilities:
              add: [NET_RAW]
`
	json6902 := `- op: add
  path: /spec/template/spec/containers/1/securityContext/capabilities/drop
  value: [ALL]
`
	root := parse(t, rendered)
	l := New([]Source{{Path: "base.yaml", Data: []byte(base), Base: true}, {Path: "patch.yaml", Data: []byte(patch)}, {Path: "ops.yaml", Data: []byte(json6902)}})
	m := l.Map(root, workload.Position{File: "out"})
	spec := root.Content[5].Content[1].Content[1]
	containers := spec.Content[1].Content
	app, side := containers[0], containers[1]
	caps := func(c *yaml.Node) *yaml.Node { return c.Content[5].Content[1] }
	for _, tt := range []struct {
		n    *yaml.Node
		want string
	}{
		{app, "base.yaml:7:11"},
		{side, "base.yaml:12:11"},
		{caps(app).Content[1].Content[0], "patch.yaml:8:21"}, // NET_RAW
		{caps(app).Content[3].Content[0], "base.yaml:11:22"}, // app's ALL: the base, not side's
		{caps(side).Content[1].Content[0], "ops.yaml:3:11"},  // the JSON 6902 patch set it
	} {
		if got := m[tt.n].String(); got != tt.want {
			t.Errorf("%s at %s, want %s", tt.n.Value, got, tt.want)
		}
	}
	tmpl := `      containers:
        - name: app
          image: {{ .Values.image }}
          securityContext:
            capabilities:
              add:
                - NET_RAW
`
	m = New([]Source{{Path: "t.yaml", Data: []byte(tmpl), Template: true}}).Map(root, workload.Position{File: "t.yaml"})
	if got := m[caps(app).Content[1].Content[0]].String(); got != "t.yaml:7:19" {
		t.Errorf("NET_RAW at %s, want t.yaml:7:19", got)
	}
	if got := m[app].String(); got != "t.yaml:2:9" {
		t.Errorf("app at %s, want t.yaml:2:9", got)
	}
}

// FuzzLocator: any source text and any rendered document are mapped
// without a panic, and every node gets a place.
func FuzzLocator(f *testing.F) {
	f.Add([]byte("a:\n  - name: x\n    b: [c]\n"), []byte("a: {{ .Values.a }}\n- c\n"), rendered)
	f.Add([]byte("- op: add\n  path: /a/0/b\n  value: {c: d}\n"), []byte(""), "a: [{b: {c: d}}]\n")
	f.Add([]byte("&a [*a]"), []byte("{{"), "- - - x\n")
	f.Fuzz(func(t *testing.T, yamlSrc, tmpl []byte, out string) {
		var n yaml.Node
		if yaml.Unmarshal([]byte(out), &n) != nil || len(n.Content) == 0 {
			return
		}
		l := New([]Source{{Path: "t", Data: tmpl, Template: true}, {Path: "y", Data: yamlSrc}, {Path: "b", Data: yamlSrc, Base: true}})
		m := l.Map(n.Content[0], workload.Position{File: "f"})
		if _, ok := m[n.Content[0]]; !ok {
			t.Fatal("the root has no place")
		}
	})
}

// TestTemplateTie: a value found both in a template's text and in a YAML
// source goes to the template when its Emits says that text is written
// out, else to the YAML source; a value only in the template stays there
// whatever Emits says, and Emits is asked only about ties.
func TestTemplateTie(t *testing.T) {
	tmpl := "      containers:\n        - name: app\n          securityContext:\n            capabilities:\n              add: [NET_RAW]\n              drop: [ALL]\n"
	values := "securityContext:\n  capabilities:\n    add: [NET_RAW]\n"
	root := parse(t, rendered)
	caps := root.Content[5].Content[1].Content[1].Content[1].Content[0].Content[5].Content[1]
	netRaw, all := caps.Content[1].Content[0], caps.Content[3].Content[0]
	for _, emitted := range []bool{true, false} {
		var asked []string
		l := New([]Source{
			{Path: "t.yaml", Data: []byte(tmpl), Template: true, Emits: func(line, col, n int) bool {
				asked = append(asked, fmt.Sprintf("%d:%d:%d", line, col, n))
				return emitted
			}},
			{Path: "values.yaml", Data: []byte(values)},
		})
		m := l.Map(root, workload.Position{File: "t.yaml"})
		want := "values.yaml:3:11"
		if emitted {
			want = "t.yaml:5:21"
		}
		if got := m[netRaw].String(); got != want {
			t.Errorf("emitted %v: NET_RAW at %s, want %s", emitted, got, want)
		}
		if got := m[all].String(); got != "t.yaml:6:22" {
			t.Errorf("emitted %v: ALL (only in the template) at %s", emitted, got)
		}
		if len(asked) != 1 || asked[0] != "5:20:7" {
			t.Errorf("emitted %v: Emits asked %v, want once about 5:20:7", emitted, asked)
		}
	}
}
