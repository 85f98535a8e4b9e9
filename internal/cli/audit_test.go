package cli

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/capdrop/capdrop/internal/term"
	"github.com/capdrop/capdrop/source"
	"github.com/capdrop/capdrop/workload"
)

// fakeSources stands in for package source: each path yields the
// workloads and errors listed for it.
func auditFakeSources(t *testing.T, byPath map[string][]workload.Workload, errs map[string]error) {
	t.Helper()
	saved := auditSources
	t.Cleanup(func() { auditSources = saved })
	auditSources.collect = func(paths []string, opts source.Options) source.Result {
		var r source.Result
		for _, p := range paths {
			r.Files++
			for _, w := range byPath[p] {
				if opts.Runtime != "" {
					w.Runtime = opts.Runtime
				}
				r.Workloads = append(r.Workloads, w)
			}
			if e := errs[p]; e != nil {
				r.Errors = append(r.Errors, &workload.Error{Pos: workload.Position{File: p, Line: 3}, Err: e})
			}
		}
		return r
	}
	auditSources.parse = func(name string, data []byte, opts source.Options) ([]workload.Workload, []*workload.Error) {
		var ws []workload.Workload
		if err := json.Unmarshal(data, &ws); err != nil {
			return nil, []*workload.Error{{Pos: workload.Position{File: name}, Err: err}}
		}
		return ws, nil
	}
}

func auditWord(file string, line int, text string) workload.Word {
	return workload.Word{Text: text, Pos: workload.Position{File: file, Line: line, Col: 7}}
}

func auditHardened(file string) workload.Workload {
	yes := true
	return workload.Workload{Pos: workload.Position{File: file, Line: 2, Col: 3}, Kind: workload.ComposeService, Name: "ok",
		Runtime: workload.Docker, CapDrop: []workload.Word{auditWord(file, 4, "ALL")}, NoNewPrivs: &yes}
}

func auditRisky(file string) workload.Workload {
	return workload.Workload{Pos: workload.Position{File: file, Line: 2, Col: 3}, Kind: workload.ComposeService, Name: "bad",
		Runtime: workload.Docker, CapAdd: []workload.Word{auditWord(file, 4, "SYS_ADMIN")}}
}

func auditRun(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	s, out, errOut := term.Test(stdin)
	code := Main(context.Background(), args, s)
	return code, out.String(), errOut.String()
}

func TestAuditExitCodes(t *testing.T) {
	auditFakeSources(t, map[string][]workload.Workload{
		"good.yaml": {auditHardened("good.yaml")},
		"bad.yaml":  {auditRisky("bad.yaml")},
	}, map[string]error{"broken.yaml": errors.New("yaml: line 3: did not find expected key")})

	if code, out, _ := auditRun(t, "", "audit", "good.yaml"); code != 0 {
		t.Errorf("hardened workload: exit %d\n%s", code, out)
	}
	if code, _, _ := auditRun(t, "", "audit", "bad.yaml"); code != 1 {
		t.Errorf("SYS_ADMIN added: exit %d, want 1", code)
	}
	// SYS_ADMIN is critical: it fails even --fail-on critical; never never fails.
	if code, _, _ := auditRun(t, "", "audit", "--fail-on", "critical", "bad.yaml"); code != 1 {
		t.Errorf("--fail-on critical: exit %d, want 1", code)
	}
	if code, _, _ := auditRun(t, "", "audit", "--fail-on", "never", "bad.yaml"); code != 0 {
		t.Errorf("--fail-on never: exit %d, want 0", code)
	}
	// An input error exits 2 but every other file is still audited.
	code, out, errOut := auditRun(t, "", "audit", "-o", "json", "broken.yaml", "bad.yaml")
	if code != 2 {
		t.Errorf("input error: exit %d, want 2", code)
	}
	if !strings.Contains(errOut, "broken.yaml:3: yaml: line 3") {
		t.Errorf("stderr does not name the broken file: %q", errOut)
	}
	var doc struct {
		Workloads []struct{ File string }
		Findings  []struct{ Rule, File string }
		Errors    []struct{ File, Message string }
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(doc.Workloads) != 1 || doc.Workloads[0].File != "bad.yaml" || len(doc.Findings) == 0 {
		t.Errorf("the readable file was not audited: %+v", doc)
	}
	if len(doc.Errors) != 1 || doc.Errors[0].File != "broken.yaml" {
		t.Errorf("errors = %+v, want broken.yaml", doc.Errors)
	}
}

func TestAuditFlags(t *testing.T) {
	auditFakeSources(t, map[string][]workload.Workload{"bad.yaml": {auditRisky("bad.yaml")}}, nil)
	for _, args := range [][]string{
		{"audit", "--policy", "strict", "bad.yaml"},
		{"audit", "--fail-on", "severe", "bad.yaml"},
		{"audit", "-o", "yaml", "bad.yaml"},
		{"audit", "--runtime", "lxc", "bad.yaml"},
		{"audit", "--runtime-version", "docker", "bad.yaml"},
		{"audit", "--runtime-version", "rkt=1.0", "bad.yaml"},
		{"audit", "--engine-caps", "sys_admn", "bad.yaml"},
		{"audit"},
		{"audit", "--list-rules", "bad.yaml"},
	} {
		if code, _, errOut := auditRun(t, "", args...); code != 2 || errOut == "" {
			t.Errorf("%v: exit %d (%q), want 2 with a message", args, code, errOut)
		}
	}
}

func TestAuditRuntimeOverrideAndVersion(t *testing.T) {
	w := auditRisky("x.yaml")
	w.CapAdd = []workload.Word{auditWord("x.yaml", 4, "bpf")}
	w.CapDrop = []workload.Word{auditWord("x.yaml", 5, "all")}
	auditFakeSources(t, map[string][]workload.Workload{"x.yaml": {w}}, nil)
	decode := func(args ...string) map[string]any {
		_, out, _ := auditRun(t, "", append([]string{"audit", "-o", "json", "--fail-on", "never"}, args...)...)
		var doc map[string]any
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		return doc["workloads"].([]any)[0].(map[string]any)
	}
	cur := decode("x.yaml")
	if cur["refused"] != nil || !strings.Contains(auditJSONText(cur["sets"]), "CAP_BPF") {
		t.Errorf("current Docker gives BPF: %v", cur)
	}
	old := decode("--runtime-version", "docker=20.10", "x.yaml")
	if old["refused"] == nil {
		t.Errorf("Docker 20.10 does not know BPF, yet capdrop did not predict a refusal: %v", old)
	}
	crio := decode("--runtime", "crio", "x.yaml")
	if crio["runtime"] != "crio" {
		t.Errorf("--runtime crio not applied: %v", crio["runtime"])
	}
}

func auditJSONText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestAuditStdin(t *testing.T) {
	auditFakeSources(t, nil, nil)
	in, _ := json.Marshal([]workload.Workload{auditRisky("-")})
	code, out, _ := auditRun(t, string(in), "audit", "-")
	if code != 1 || !strings.Contains(out, "CD003") {
		t.Errorf("stdin: exit %d\n%s", code, out)
	}
}

func TestAuditListRulesJSON(t *testing.T) {
	code, out, _ := auditRun(t, "", "audit", "--list-rules", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var rules []map[string]any
	if err := json.Unmarshal([]byte(out), &rules); err != nil {
		t.Fatal(err)
	}
	if len(rules) < 18 || rules[0]["id"] != "CD001" || rules[0]["remediation"] == "" {
		t.Errorf("rules = %v", rules[:1])
	}
}

// TestAuditWarnings: input that is fine but not audited (a Markdown
// placeholder, a patch outside any build) is a warning, which does not
// change the exit status unless --strict.
func TestAuditWarnings(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir+"/README.md", "```\ndocker run -p 8080:80 <image_name>\ndocker run --cap-drop=ALL --security-opt no-new-privileges app:1\n```\n")
	writeFile(t, dir+"/patch.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          securityContext: {capabilities: {add: [NET_RAW]}}\n")
	code, out, errOut := auditRun(t, "", "audit", dir)
	if code != 0 {
		t.Errorf("warnings only: exit %d, want 0\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"capdrop: warning: " + dir + "/README.md:2:34: a run command that is not shell", "capdrop: warning: " + dir + "/patch.yaml:8:11: Deployment/web is partial"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if !strings.Contains(out, "2 warnings") {
		t.Errorf("the summary does not count the warnings:\n%s", out)
	}
	if code, _, _ := auditRun(t, "", "audit", "--strict", dir); code != 2 {
		t.Errorf("--strict with warnings: exit %d, want 2", code)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestAuditMatrix(t *testing.T) {
	out, _, code := runMain(t, "audit", "-o", "matrix", "--fail-on", "never", "../../examples/configs/compose.yaml")
	if code != ExitOK {
		t.Fatalf("exit %d", code)
	}
	// The compose file's services keep Docker's defaults: held, use unknown.
	if !strings.Contains(out, "CONTAINER") || !strings.Contains(out, "●") || !strings.Contains(out, "● held; use unknown") {
		t.Errorf("no matrix:\n%s", out)
	}
	if _, _, code := runMain(t, "audit", "--list-rules", "-o", "matrix"); code != ExitUsage {
		t.Errorf("--list-rules -o matrix: exit %d, want %d", code, ExitUsage)
	}
}
