package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
