package cli

import (
	"encoding/json"
	"html"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/capdrop/capdrop/audit"
	"github.com/capdrop/capdrop/report"
)

func TestReportCommand(t *testing.T) {
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	_, errOut, code := runMain(t, "report", "--audit", "../../examples/service/compose.yaml",
		"--profiles", "../../fleet/testdata/fix/web.profile.json", "--profiles", "../../fleet/testdata/fix/web.verify.json",
		"--before", "../../fleet/testdata/fix/before.json", "-o", page)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	data, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	html := string(data)
	for _, want := range []string{"<!DOCTYPE html>", "Content-Security-Policy", `<a href="#c1">web</a>`, "before the change", "verify passed"} {
		if !strings.Contains(html, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if !strings.Contains(errOut, "wrote "+page+": 1 containers, 14 capabilities held, 11 of them never used by the 1 profiled") {
		t.Errorf("stderr: %s", errOut)
	}

	// Documents only, drawn as text for a CI log.
	out, _, code := runMain(t, "report", "--format", "text", "../../fleet/testdata/cluster/audit.json")
	if code != ExitOK || !strings.Contains(out, "DaemonSet/cni-node/agent") {
		t.Errorf("text: exit %d\n%s", code, out)
	}

	// A bad document: the page is still written, the exit says so.
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"a": 1}`), 0o644)
	_, errOut, code = runMain(t, "report", "../../fleet/testdata/cluster/audit.json", bad, "-o", page)
	if code != ExitUsage || !strings.Contains(errOut, "bad.json: not a document capdrop writes") {
		t.Errorf("bad document: exit %d: %s", code, errOut)
	}
	if data, _ := os.ReadFile(page); !strings.Contains(string(data), "bad.json: not a document capdrop writes") {
		t.Errorf("the page does not list the input error")
	}

	for _, args := range [][]string{
		{"report", "-o", page},
		{"report", "--format", "pdf", "x.json"},
		{"report", "--policy", "lax", "--audit", "x"},
	} {
		if _, _, code := runMain(t, args...); code != ExitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, ExitUsage)
		}
	}
}

// TestReportReadme runs the README's report command from the repository's
// root; picture's browser test draws the same inputs into docs/report.png,
// the README's screenshot.
func TestReportReadme(t *testing.T) {
	const cmd = "capdrop report --audit examples/ --profiles examples/service/results/ -o report.html"
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), cmd) {
		t.Fatalf("README.md does not show %q", cmd)
	}
	page := filepath.Join(t.TempDir(), "report.html")
	t.Chdir("../..")
	args := strings.Fields(strings.TrimPrefix(cmd, "capdrop "))
	args[len(args)-1] = page
	_, errOut, code := runMain(t, args...)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	// The example service: profiled and verified, 3 needed, 11 never used.
	if !strings.Contains(errOut, "11 of them never used by the 1 profiled") {
		t.Errorf("stderr: %s", errOut)
	}
}

// suppressedCompose has a container keeping its runtime's defaults (one
// folded CD002), an added capability accepted with a reason (its CD003
// suppressed), two accepted without one (suppressed, and CD013 said
// instead) and a container whose findings a baseline accepts.
const suppressedCompose = `services:
  web:
    image: nginx
  admin:
    image: busybox
    # capdrop:ignore CD003 mounts the data volume at start
    cap_add: [SYS_ADMIN]
    cap_drop: [ALL]
  tools:
    image: busybox
    # capdrop:ignore CD003
    cap_add: [NET_ADMIN, SYS_PTRACE]
  db:
    image: postgres
    cap_drop: [ALL]
    cap_add: [CHOWN, SETUID, SETGID]
`

// pageFindings reads each container's findings (rule IDs, in order) from
// the page's details.
func pageFindings(t *testing.T, path string) map[string][]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	article := regexp.MustCompile(`(?s)<article id="c\d+" class="detail" aria-label="([^"]*)">(.*?)</article>`)
	rule := regexp.MustCompile(`<b>(CD\d{3})</b>`)
	for _, m := range article.FindAllStringSubmatch(string(data), -1) {
		rules := []string{}
		for _, r := range rule.FindAllStringSubmatch(m[2], -1) {
			rules = append(rules, r[1])
		}
		out[html.UnescapeString(m[1])] = rules
	}
	if len(out) == 0 {
		t.Fatalf("%s: no container's details", path)
	}
	return out
}

// TestReportSuppressions: the page shows the findings audit reports, no
// more: inline capdrop:ignore comments, --disable and --baseline suppress
// on the page as in audit's own document, a suppression without a reason
// is shown as CD013, and a container keeping its runtime's defaults has
// one finding, not one per risky default.
func TestReportSuppressions(t *testing.T) {
	dir := t.TempDir()
	compose := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(compose, []byte(suppressedCompose), 0o644); err != nil {
		t.Fatal(err)
	}
	// A baseline accepting db's findings only.
	all := filepath.Join(dir, "all.json")
	if _, errOut, code := runMain(t, "audit", "--fail-on", "never", "--baseline-write", all, "-q", compose); code != ExitOK {
		t.Fatalf("baseline-write: exit %d: %s", code, errOut)
	}
	var base audit.Baseline
	if data, err := os.ReadFile(all); err != nil || json.Unmarshal(data, &base) != nil {
		t.Fatalf("read the baseline: %v", err)
	}
	base.Findings = slices.DeleteFunc(base.Findings, func(e audit.BaselineEntry) bool { return e.Workload != "db" })
	if len(base.Findings) == 0 {
		t.Fatal("db has no finding to accept")
	}
	baseline := filepath.Join(dir, "baseline.json")
	data, _ := json.Marshal(base)
	os.WriteFile(baseline, data, 0o644)

	// audit's own document, with the same suppressions.
	flags := []string{"--disable", "CD011", "--baseline", baseline}
	out, errOut, code := runMain(t, append(append([]string{"audit", "--fail-on", "never", "-o", "json"}, flags...), compose)...)
	if code != ExitOK {
		t.Fatalf("audit: exit %d: %s", code, errOut)
	}
	var doc report.AuditDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	fromAudit := map[string][]string{}
	for _, w := range doc.Workloads {
		fromAudit[w.Name] = []string{}
	}
	for _, f := range doc.Findings {
		name := doc.Workloads[f.WorkloadIdx].Name
		fromAudit[name] = append(fromAudit[name], f.Rule)
	}
	want := map[string][]string{"web": {"CD002"}, "admin": {}, "tools": {"CD002", "CD013"}, "db": {}}
	for name := range want {
		slices.Sort(fromAudit[name])
	}
	if !maps.EqualFunc(fromAudit, want, slices.Equal) {
		t.Fatalf("audit reported %v, want %v", fromAudit, want)
	}

	// The page, auditing the file itself and from audit's document.
	draw := func(args ...string) map[string][]string {
		t.Helper()
		page := filepath.Join(dir, "report.html")
		if _, errOut, code := runMain(t, append([]string{"report", "-o", page}, args...)...); code != ExitOK {
			t.Fatalf("report %q: exit %d: %s", args, code, errOut)
		}
		got := pageFindings(t, page)
		for name := range got {
			slices.Sort(got[name])
		}
		return got
	}
	docPath := filepath.Join(dir, "audit.json")
	os.WriteFile(docPath, []byte(out), 0o644)
	for _, args := range [][]string{append(append([]string{}, flags...), "--audit", compose), {docPath}} {
		if got := draw(args...); !maps.EqualFunc(got, want, slices.Equal) {
			t.Errorf("report %q shows %v, want %v (as audit reports)", args, got, want)
		}
	}
	// Without --disable and --baseline, what they suppressed is shown.
	got := draw("--audit", compose)
	if !slices.Equal(got["admin"], []string{"CD011"}) || !slices.Contains(got["db"], "CD011") || !slices.Contains(got["db"], "CD003") {
		t.Errorf("report --audit without suppressions shows %v", got)
	}
	// They apply to an audit the report runs, not to a document.
	if _, errOut, code := runMain(t, "report", "--disable", "CD011", "-o", filepath.Join(dir, "x.html"), docPath); code != ExitUsage || !strings.Contains(errOut, "apply to --audit") {
		t.Errorf("--disable with a document: exit %d: %s", code, errOut)
	}
	if _, _, code := runMain(t, "report", "--disable", "CD999", "--audit", compose, "-o", filepath.Join(dir, "x.html")); code != ExitUsage {
		t.Errorf("--disable CD999: exit %d", code)
	}
}
