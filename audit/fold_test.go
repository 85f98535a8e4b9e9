package audit

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/capdrop/capdrop/merge"
	"github.com/capdrop/capdrop/source"
	"github.com/capdrop/capdrop/workload"
)

// origin names where a workload comes from finely enough to tell every
// source apart: its kind, and for run lines the file they are in, for
// Kubernetes containers what rendered them.
func originOf(w workload.Workload) string {
	switch w.Kind {
	case workload.RunLine:
		base := filepath.Base(w.Pos.File)
		switch ext := filepath.Ext(base); {
		case base == "Makefile" || ext == ".mk":
			return "run-line/make"
		case ext == ".md":
			return "run-line/markdown"
		case ext == ".service":
			return "run-line/unit"
		}
		return "run-line/shell"
	case workload.KubeContainer, workload.KubeInitContainer:
		return string(w.Kind) + "/" + cmpOr(w.Attrs["rendered_by"], "manifest")
	case workload.DockerfileLabel:
		if strings.HasSuffix(w.Pos.File, ".json") {
			return "dockerfile-label/inspect"
		}
	}
	return string(w.Kind)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// keeps reports whether a container keeps its runtime's defaults (or
// adds ALL) instead of an explicit list, from what merge computed, not
// from the rules: a defaults or ALL reason for a held capability.
func keeps(w workload.Workload, r merge.Result) bool {
	if w.Privileged || r.Refusal != nil || w.Kind == workload.OCISpec || w.Kind == workload.DockerfileImageCaps {
		return false
	}
	for _, cw := range r.Why {
		if hasSource(cw.Reasons, merge.FromDefault, merge.FromAll) {
			return true
		}
	}
	return false
}

// TestOneFindingForKeepingDefaults audits every fixture and example of
// every format under every policy and wants each container that keeps
// its runtime's defaults to get exactly one finding that says so (CD002,
// or CD012 for a run label) and none of the findings folded into it
// (CD004, CD011, CD023, CD022 about the missing drop), at the worst of
// their severities for the policy; and a container that keeps nothing
// none of them. Every source kind must be among the containers judged.
func TestOneFindingForKeepingDefaults(t *testing.T) {
	roots := []string{"testdata", filepath.Join("..", "examples"), filepath.Join("..", "source", "testdata", "repo")}
	res := source.Collect(roots, source.Options{Env: map[string]string{}})
	for _, e := range res.Errors {
		if !e.Warning {
			t.Logf("input error (not judged): %v", e)
		}
	}
	seen := map[string]bool{}
	for _, policy := range Policies {
		rep, err := Evaluate(res.Workloads, Options{Policy: policy})
		if err != nil {
			t.Fatal(err)
		}
		want := Medium
		if policy == PolicyRestricted {
			want = High
		}
		byW := map[int][]Finding{}
		for _, f := range rep.Findings {
			byW[f.Workload] = append(byW[f.Workload], f)
		}
		for i, a := range rep.Workloads {
			fs := byW[i]
			var rules []string
			for _, f := range fs {
				rules = append(rules, f.Rule)
			}
			n := 0
			for _, f := range fs {
				if slices.Contains(keepsDefaults, f.Rule) {
					n++
					if f.Severity < want {
						t.Errorf("%s %s %s: %s is %s, want at least %s", policy, a.Workload.Pos, a.Workload.Name, f.Rule, f.Severity, want)
					}
				}
			}
			w := a.Workload
			if !keeps(w, a.Result) {
				if n > 0 {
					t.Errorf("%s %s %s keeps nothing of its runtime's but gets %v", policy, w.Pos, w.Name, rules)
				}
				continue
			}
			seen[originOf(w)] = true
			if n != 1 {
				t.Errorf("%s %s %s (%s) keeps its runtime's defaults: %d findings say so, want 1: %v", policy, w.Pos, w.Name, w.Kind, n, rules)
			}
			for _, f := range fs {
				folded := f.Rule == "CD004" || f.Rule == "CD011" || f.Rule == "CD023" ||
					(f.Rule == "CD022" && strings.Contains(f.Message, `drop=["ALL"]`))
				if folded {
					t.Errorf("%s %s %s: %s beside the finding it folds into: %s", policy, w.Pos, w.Name, f.Rule, f.Message)
				}
			}
		}
	}
	for _, o := range []string{
		// TestSameContainerSameFindings writes the others (init
		// containers, units, image records) itself.
		"compose-service", "docker-inspect", "quadlet", "dockerfile-label",
		"run-line/shell", "run-line/make", "run-line/markdown",
		"kubernetes-container/manifest", "kubernetes-container/helm", "kubernetes-container/kustomize",
	} {
		if !seen[o] {
			t.Errorf("no %s container keeping its defaults among the fixtures", o)
		}
	}
}

// spec is one container, written in every format by the formats of
// TestSameContainerSameFindings.
type spec struct {
	add, drop []string
	nnp       bool
}

// format writes a spec as one file of a format: its name and content.
type format struct {
	name    string
	runtime string // the runtime whose defaults the container keeps
	kube    bool   // Pod Security rules (CD020–CD025) apply only here
	write   func(s spec) (file, content string)
}

// runFlags is the spec as docker/podman run options.
func runFlags(s spec) string {
	var b strings.Builder
	for _, d := range s.drop {
		b.WriteString(" --cap-drop=" + d)
	}
	for _, a := range s.add {
		b.WriteString(" --cap-add=" + a)
	}
	if s.nnp {
		b.WriteString(" --security-opt=no-new-privileges")
	}
	return b.String()
}

func yamlList(xs []string) string {
	return "[" + strings.Join(xs, ", ") + "]"
}

func jsonList(xs []string) string {
	if len(xs) == 0 {
		return "null"
	}
	return `["` + strings.Join(xs, `", "`) + `"]`
}

// formats are every way a container's capabilities are written down.
var formats = []format{
	{"compose", "docker", false, func(s spec) (string, string) {
		c := "services:\n  web:\n    image: app:1\n"
		if len(s.add) > 0 {
			c += "    cap_add: " + yamlList(s.add) + "\n"
		}
		if len(s.drop) > 0 {
			c += "    cap_drop: " + yamlList(s.drop) + "\n"
		}
		if s.nnp {
			c += "    security_opt: [\"no-new-privileges:true\"]\n"
		}
		return "compose.yaml", c
	}},
	{"shell", "docker", false, func(s spec) (string, string) {
		return "run.sh", "#!/bin/sh\ndocker run -d --name web" + runFlags(s) + " app:1\n"
	}},
	{"markdown", "docker", false, func(s spec) (string, string) {
		return "README.md", "# Web\n\nRun it:\n\n```sh\ndocker run -d --name web" + runFlags(s) + " app:1\n```\n"
	}},
	{"makefile", "docker", false, func(s spec) (string, string) {
		return "Makefile", "run:\n\tdocker run -d --name web" + runFlags(s) + " app:1\n"
	}},
	{"systemd unit", "docker", false, func(s spec) (string, string) {
		return "web.service", "[Unit]\nDescription=web\n\n[Service]\nExecStart=/usr/bin/docker run --rm --name web" + runFlags(s) + " app:1\n\n[Install]\nWantedBy=multi-user.target\n"
	}},
	{"LABEL RUN", "docker", false, func(s spec) (string, string) {
		return "Dockerfile", "FROM scratch\nLABEL RUN=\"docker run -d --name ${NAME}" + runFlags(s) + " ${IMAGE}\"\n"
	}},
	{"image inspect LABEL RUN", "docker", false, func(s spec) (string, string) {
		return "image.json", `[{"Id": "sha256:0123456789abcdef", "RepoTags": ["app:1"], "Config": {"Labels": {"RUN": "docker run -d --name ${NAME}` + runFlags(s) + ` ${IMAGE}"}}}]` + "\n"
	}},
	{"docker inspect", "docker", false, func(s spec) (string, string) {
		opt := "null"
		if s.nnp {
			opt = `["no-new-privileges"]`
		}
		return "inspect.json", `[{"Id": "0123456789abcdef", "Name": "/web", "Config": {"Image": "app:1"}, "HostConfig": {"CapAdd": ` +
			jsonList(s.add) + `, "CapDrop": ` + jsonList(s.drop) + `, "SecurityOpt": ` + opt + `}}]` + "\n"
	}},
	{"kubernetes", "containerd", true, func(s spec) (string, string) {
		return "pod.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n    - name: web\n      image: app:1\n" + kubeSC(s, "      ")
	}},
	{"kubernetes init container", "containerd", true, func(s spec) (string, string) {
		return "pod.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  initContainers:\n    - name: web\n      image: app:1\n" + kubeSC(s, "      ") +
			"  containers:\n    - name: main\n      image: app:1\n      securityContext:\n        allowPrivilegeEscalation: false\n        capabilities: {drop: [ALL]}\n"
	}},
	{"podman run", "podman", false, func(s spec) (string, string) {
		return "run.sh", "#!/bin/sh\npodman run -d --name web" + runFlags(s) + " app:1\n"
	}},
	{"quadlet", "podman", false, func(s spec) (string, string) {
		c := "[Container]\nImage=app:1\n"
		for _, a := range s.add {
			c += "AddCapability=" + a + "\n"
		}
		for _, d := range s.drop {
			c += "DropCapability=" + d + "\n"
		}
		if s.nnp {
			c += "NoNewPrivileges=true\n"
		}
		return "web.container", c
	}},
}

func kubeSC(s spec, in string) string {
	if len(s.add)+len(s.drop) == 0 && !s.nnp {
		return ""
	}
	c := in + "securityContext:\n"
	if s.nnp {
		c += in + "  allowPrivilegeEscalation: false\n"
	}
	if len(s.add)+len(s.drop) > 0 {
		c += in + "  capabilities:\n"
		if len(s.add) > 0 {
			c += in + "    add: " + yamlList(s.add) + "\n"
		}
		if len(s.drop) > 0 {
			c += in + "    drop: " + yamlList(s.drop) + "\n"
		}
	}
	return c
}

// judged is one finding as the table compares it across formats: the
// rule (a run label's CD012 is its CD002), severity and capabilities.
type judged struct {
	Rule, Severity, Caps string
}

// TestSameContainerSameFindings writes each container in every format
// and wants the same findings from each, under every policy: the same
// rules (CD012 is CD002's name for a run label, CD023 CD011's in the
// words of Pod Security; the other Pod Security rules exist only for
// Kubernetes), severities and capabilities among the
// formats of one runtime, and the same rules and severities across
// runtimes, whose defaults differ.
func TestSameContainerSameFindings(t *testing.T) {
	specs := []struct {
		name string
		s    spec
	}{
		{"defaults", spec{}},
		{"defaults and no_new_privs", spec{nnp: true}},
		{"defaults and an add", spec{add: []string{"NET_ADMIN"}}},
		{"one default dropped", spec{drop: []string{"NET_RAW"}}},
		{"ALL added", spec{add: []string{"ALL"}}},
		{"drop ALL without no_new_privs", spec{drop: []string{"ALL"}, add: []string{"NET_BIND_SERVICE"}}},
		{"hardened", spec{drop: []string{"ALL"}, add: []string{"NET_BIND_SERVICE"}, nnp: true}},
	}
	for _, sp := range specs {
		for _, policy := range Policies {
			t.Run(sp.name+"/"+policy, func(t *testing.T) {
				var first string
				var firstOf = map[string]string{} // runtime → its first format
				got := map[string][]judged{}
				for _, f := range formats {
					file, content := f.write(sp.s)
					p := filepath.Join(t.TempDir(), file)
					if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
						t.Fatal(err)
					}
					res := source.Collect([]string{p}, source.Options{Env: map[string]string{}})
					if len(res.Errors) > 0 {
						t.Fatalf("%s: %v", f.name, res.Errors)
					}
					rep, err := Evaluate(res.Workloads, Options{Policy: policy})
					if err != nil {
						t.Fatal(err)
					}
					i := slices.IndexFunc(rep.Workloads, func(a Assessment) bool {
						n := a.Workload.Name
						return n == "web" || n == "Pod/web/web" || n == "systemd-web" || strings.HasSuffix(n, "LABEL RUN")
					})
					if i < 0 {
						var names []string
						for _, a := range rep.Workloads {
							names = append(names, a.Workload.Name)
						}
						t.Fatalf("%s: no container web among %q:\n%s", f.name, names, content)
					}
					if rt := string(rep.Workloads[i].Result.Runtime); rt != f.runtime {
						t.Fatalf("%s: runtime %s, want %s", f.name, rt, f.runtime)
					}
					var js []judged
					for _, fd := range rep.Findings {
						if fd.Workload != i || (f.kube && fd.Rule >= "CD020" && fd.Rule <= "CD025" && fd.Rule != "CD023") {
							continue
						}
						rule := fd.Rule
						switch rule {
						case "CD012": // CD002 for a run label
							rule = "CD002"
						case "CD023": // CD011 in the words of Pod Security
							rule = "CD011"
						}
						js = append(js, judged{rule, fd.Severity.String(), strings.Join(fd.Caps.ShortNames(), " ")})
					}
					slices.SortFunc(js, func(a, b judged) int { return strings.Compare(a.Rule, b.Rule) })
					got[f.name] = js
					if first == "" {
						first = f.name
					}
					if firstOf[f.runtime] == "" {
						firstOf[f.runtime] = f.name
					}
					// The same runtime: the same findings, capabilities included.
					if want := got[firstOf[f.runtime]]; !slices.Equal(js, want) {
						t.Errorf("%s gives %v, %s gives %v", f.name, js, firstOf[f.runtime], want)
					}
					// Another runtime: the same rules and severities.
					strip := func(js []judged) []judged {
						out := slices.Clone(js)
						for i := range out {
							out[i].Caps = ""
						}
						return out
					}
					if want := got[first]; !slices.Equal(strip(js), strip(want)) {
						t.Errorf("%s gives %v, %s gives %v", f.name, js, first, want)
					}
				}
			})
		}
	}
}
