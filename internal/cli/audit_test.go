package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capdrop/capdrop/internal/term"
)

// auditFiles writes files into a temporary directory and changes into it,
// so that the commands name them as a user would.
func auditFiles(t *testing.T, files map[string]string) {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
}

const (
	auditHardened = "services:\n  ok:\n    image: x\n    cap_drop: [ALL]\n    security_opt: [no-new-privileges]\n"
	auditRisky    = "services:\n  bad:\n    image: x\n    cap_add: [SYS_ADMIN]\n"
)

func auditRun(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	s, out, errOut := term.Test(stdin)
	code := Main(context.Background(), args, s)
	return code, out.String(), errOut.String()
}

func TestAuditExitCodes(t *testing.T) {
	auditFiles(t, map[string]string{
		"good.yaml":   auditHardened,
		"bad.yaml":    auditRisky,
		"broken.yaml": "services:\n  web:\n    image: [\n",
	})
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
	if !strings.Contains(errOut, "broken.yaml:") {
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
	auditFiles(t, map[string]string{"bad.yaml": auditRisky})
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
		{"audit", "--color", "sometimes", "bad.yaml"},
	} {
		if code, _, errOut := auditRun(t, "", args...); code != 2 || errOut == "" {
			t.Errorf("%v: exit %d (%q), want 2 with a message", args, code, errOut)
		}
	}
}

// TestChoiceFlags: a flag with a fixed list of values refuses any other
// while flags are parsed, naming the list.
func TestChoiceFlags(t *testing.T) {
	for _, c := range []struct{ args []string }{
		{[]string{"caps", "-o", "xml"}},
		{[]string{"caps", "--runtime", "lxc"}},
		{[]string{"ps", "--threads", "some"}},
		{[]string{"audit", "--policy", "lax", "x"}},
		{[]string{"version", "-o", "yaml"}},
	} {
		code, _, errOut := auditRun(t, "", c.args...)
		if code != 2 || !strings.Contains(errOut, "must be one of") || !strings.Contains(errOut, "--help") {
			t.Errorf("%v: exit %d, %q", c.args, code, errOut)
		}
	}
}

func TestAuditRuntimeOverrideAndVersion(t *testing.T) {
	auditFiles(t, map[string]string{"compose.yaml": "services:\n  x:\n    image: x\n    cap_add: [bpf]\n    cap_drop: [all]\n"})
	decode := func(args ...string) map[string]any {
		_, out, _ := auditRun(t, "", append([]string{"audit", "-o", "json", "--fail-on", "never"}, args...)...)
		var doc map[string]any
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		return doc["workloads"].([]any)[0].(map[string]any)
	}
	cur := decode("compose.yaml")
	if cur["refused"] != nil || !strings.Contains(auditJSONText(cur["sets"]), "CAP_BPF") {
		t.Errorf("current Docker gives BPF: %v", cur)
	}
	old := decode("--runtime-version", "docker=20.10", "compose.yaml")
	if old["refused"] == nil {
		t.Errorf("Docker 20.10 does not know BPF, yet capdrop did not predict a refusal: %v", old)
	}
	crio := decode("--runtime", "crio", "compose.yaml")
	if crio["runtime"] != "crio" {
		t.Errorf("--runtime crio not applied: %v", crio["runtime"])
	}
}

func auditJSONText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestAuditStdin: "-" reads the command's standard input through the same
// path as the binary does with its own (the in-process Main and the
// process agree), with content detection and a bare run line read as shell.
func TestAuditStdin(t *testing.T) {
	for _, c := range []struct{ in, rule string }{
		{"docker run --privileged nginx\n", "CD001"},
		{auditRisky, "CD003"},
	} {
		code, out, errOut := auditRun(t, c.in, "audit", "-")
		if code != 1 || !strings.Contains(out, c.rule) || !strings.Contains(out, "<stdin>") {
			t.Errorf("%q: exit %d, want 1 with %s\n%s%s", c.in, code, c.rule, out, errOut)
		}
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

// TestAuditTextOneLinePerFinding: the default text output of the bundled
// examples (all of examples/, as CI audits them) is the findings, one line
// each, grouped by file, then the summary; --quiet is the findings alone;
// -v shows the sets and fixes.
func TestAuditTextOneLinePerFinding(t *testing.T) {
	_, js, _ := auditRun(t, "", "audit", "-o", "json", "../../examples")
	var doc struct{ Findings []struct{ File string } }
	if err := json.Unmarshal([]byte(js), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Findings) == 0 {
		t.Fatal("the examples have no findings")
	}
	_, out, _ := auditRun(t, "", "audit", "../../examples")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	findings, files := 0, map[string]bool{}
	for _, l := range lines {
		switch {
		case l == "":
		case strings.HasPrefix(l, "  "):
			findings++
		case strings.HasPrefix(l, "by rule: "), strings.HasPrefix(l, "by file: "), strings.HasSuffix(l, "policy default"):
		case strings.HasPrefix(l, "../../examples/") && !strings.Contains(l, " "):
			files[l] = true
		default:
			t.Errorf("a line that is neither a file, a finding nor the summary: %q", l)
		}
	}
	if findings != len(doc.Findings) {
		t.Errorf("%d finding lines for %d findings:\n%s", findings, len(doc.Findings), out)
	}
	for _, f := range doc.Findings {
		if !files[f.File] {
			t.Errorf("no heading for %s", f.File)
		}
	}
	if len(lines) > len(doc.Findings)+2*len(files)+3 {
		t.Errorf("%d lines for %d findings in %d files", len(lines), len(doc.Findings), len(files))
	}
	_, quiet, _ := auditRun(t, "", "audit", "--quiet", "../../examples")
	if n := strings.Count(quiet, "\n"); n != len(doc.Findings) {
		t.Errorf("--quiet printed %d lines for %d findings", n, len(doc.Findings))
	}
	_, verbose, _ := auditRun(t, "", "audit", "-v", "../../examples")
	if !strings.Contains(verbose, "    sets  ") || !strings.Contains(verbose, "fix: ") {
		t.Errorf("-v shows no sets or fixes:\n%s", verbose)
	}
}

// TestAuditSuppressions: --disable, inline capdrop:ignore comments (a
// reasonless one reported as CD013) and a baseline, so CI fails only on
// new findings.
func TestAuditSuppressions(t *testing.T) {
	dir := t.TempDir()
	compose := "services:\n  vpn:\n    image: wireguard:1\n    cap_drop: [ALL]\n    # capdrop:ignore CD003 the tunnel is configured inside the container\n    cap_add: [NET_ADMIN]\n    security_opt: [no-new-privileges:true]\n  tool:\n    image: tool:1\n    cap_drop: [ALL]\n    cap_add: [SYS_PTRACE] # capdrop:ignore CD003\n    security_opt: [no-new-privileges:true]\n"
	writeFile(t, dir+"/compose.yaml", compose)
	code, out, _ := auditRun(t, "", "audit", "-q", dir)
	if strings.Contains(out, "NET_ADMIN") || strings.Contains(out, "SYS_PTRACE") || !strings.Contains(out, "CD013") || code != 1 {
		t.Errorf("inline suppressions: exit %d\n%s", code, out)
	}
	if code, out, _ := auditRun(t, "", "audit", "-q", "--disable", "CD013", dir); code != 0 || out != "" {
		t.Errorf("--disable CD013: exit %d\n%s", code, out)
	}
	// A baseline of today's findings: the same audit is clean, a new
	// finding is not.
	writeFile(t, dir+"/compose.yaml", strings.ReplaceAll(compose, "# capdrop:ignore", "# ignore"))
	base := dir + "/baseline.json"
	if code, _, _ := auditRun(t, "", "audit", "--baseline-write", base, dir); code != 1 {
		t.Errorf("--baseline-write: exit %d, want 1 (the findings are still reported)", code)
	}
	if code, out, _ := auditRun(t, "", "audit", "-q", "--baseline", base, dir); code != 0 || out != "" {
		t.Errorf("--baseline, nothing new: exit %d\n%s", code, out)
	}
	// Unrelated lines above keep the fingerprints; a new container's
	// finding is new.
	writeFile(t, dir+"/compose.yaml", "# the stack\n\n"+strings.ReplaceAll(compose, "# capdrop:ignore", "# ignore")+"  web:\n    image: nginx\n    cap_drop: [ALL]\n    cap_add: [SYS_ADMIN]\n    security_opt: [no-new-privileges:true]\n")
	code, out, _ = auditRun(t, "", "audit", "-q", "--baseline", base, dir)
	if code != 1 || strings.Count(out, "\n") != 1 || !strings.Contains(out, "web grants SYS_ADMIN") {
		t.Errorf("--baseline with one new finding: exit %d\n%s", code, out)
	}
	if code, _, errOut := auditRun(t, "", "audit", "--disable", "CD999", dir); code != 2 {
		t.Errorf("--disable CD999: exit %d\n%s", code, errOut)
	}
}

// TestAuditRepoCorpus: the repository-shaped corpus (charts with
// subcharts and values, overlays with strategic-merge and JSON 6902
// patches and $patch: delete, an ApplicationSet, null securityContexts,
// Markdown placeholders) audits with exit 1 for its findings, never 2:
// standard error holds warnings only, and the JSON lists no input error
// that is not a warning.
func TestAuditRepoCorpus(t *testing.T) {
	const repo = "../../source/testdata/repo"
	code, out, errOut := auditRun(t, "", "audit", repo)
	if code != 1 {
		t.Errorf("exit %d, want 1 (findings, no input error)\n%s\n%s", code, out, errOut)
	}
	for _, l := range strings.Split(strings.TrimSpace(errOut), "\n") {
		if l != "" && !strings.HasPrefix(l, "capdrop: warning: ") {
			t.Errorf("not a warning on standard error: %q", l)
		}
	}
	_, js, _ := auditRun(t, "", "audit", "-o", "json", repo)
	var doc struct {
		Workloads []json.RawMessage
		Errors    []struct {
			File, Message string
			Warning       bool
		}
	}
	if err := json.Unmarshal([]byte(js), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Workloads) == 0 {
		t.Error("no workloads")
	}
	for _, e := range doc.Errors {
		if !e.Warning {
			t.Errorf("input error: %s: %s", e.File, e.Message)
		}
	}
	if code, _, _ := auditRun(t, "", "audit", "--fail-on", "never", repo); code != 0 {
		t.Errorf("--fail-on never: exit %d, want 0", code)
	}
}
