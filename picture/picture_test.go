package picture

import (
	"bytes"
	"context"
	"flag"
	"html"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/capdrop/capdrop/fleet"
)

var update = flag.Bool("update", false, "rewrite the golden files (and screenshots) in testdata/ with the current output")

// golden compares got with testdata/<name>, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./picture -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./picture -run %s -update to accept):\n--- got\n%s\n--- want\n%s", name, t.Name(), got, want)
	}
}

// scenario is one of the golden inputs: real documents capdrop wrote
// (fleet/testdata, made by scripts/report-inputs).
type scenario struct {
	name   string
	before string
	paths  []string
	// audit and docs, when set, make the fleet the way `capdrop report
	// --audit AUDIT DOCS` does (paths from the repository's root); shot is
	// where its screenshot is kept, when not in testdata.
	audit, docs []string
	shot        string
	// change are the rows the before/after table must have.
	change []string
}

var scenarios = []scenario{
	{name: "host", paths: []string{"host"}, change: []string{"now", "after the recommendations"}},
	{name: "cluster", paths: []string{"cluster/audit.json"}},
	{name: "fix", before: "fix/before.json", paths: []string{"fix/after.json", "fix/web.profile.json", "fix/web.verify.json"},
		change: []string{"before the change", "now"}},
	// A live cluster (audit --cluster: templates and running Pods, as
	// package cluster reads them) with the per-workload profile of one of
	// its containers (k8s profile -o json, as package clusterprofile
	// aggregates its agents' reports).
	kube,
	// The README's picture: capdrop report --audit examples/ --profiles
	// examples/service/results/ -o report.html
	{name: "example", audit: []string{"examples/"}, docs: []string{"examples/service/results/"}, shot: "../docs/report.png",
		change: []string{"now", "after the recommendations"}},
}

// kube is a live cluster (audit --cluster, templates and running Pods)
// with the per-workload profile of one of its containers.
var kube = scenario{name: "kube", paths: []string{"cluster/live/audit.json", "cluster/cluster-profile.json"},
	change: []string{"now", "after the recommendations"}}

func (s scenario) fleet(t testing.TB) *fleet.Fleet {
	t.Helper()
	if s.audit != nil {
		// Run from the repository's root, so paths read as in the README.
		wd, _ := os.Getwd()
		if err := os.Chdir(".."); err != nil {
			t.Fatal(err)
		}
		defer os.Chdir(wd)
		f, errs, err := fleet.Collect(context.Background(), fleet.Options{Title: "capdrop report: " + strings.Join(s.audit, ", "),
			Now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC), Audit: s.audit, Documents: s.docs})
		if err != nil || len(errs) > 0 {
			t.Fatal(err, errs)
		}
		return f
	}
	var b fleet.Builder
	var paths []string
	for _, p := range s.paths {
		paths = append(paths, filepath.Join("..", "fleet", "testdata", p))
	}
	if errs := b.AddFiles(paths); len(errs) > 0 {
		t.Fatal(errs)
	}
	if s.before != "" {
		p := filepath.Join("..", "fleet", "testdata", s.before)
		data, err := fleet.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.AddBefore(s.before, data); err != nil {
			t.Fatal(err)
		}
	}
	return b.Build("capdrop report: "+s.name, time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
}

func TestText(t *testing.T) {
	for _, s := range scenarios {
		if s.audit != nil {
			continue
		}
		for _, color := range []bool{false, true} {
			name := s.name + ".txt"
			if color {
				name = s.name + ".color.txt"
			}
			t.Run(name, func(t *testing.T) {
				f := s.fleet(t)
				var buf bytes.Buffer
				if err := Text(&buf, f, TextOptions{Color: color, Width: 160}); err != nil {
					t.Fatal(err)
				}
				golden(t, name, buf.Bytes())
				// Every row has one glyph per column, whatever the colour.
				for _, c := range f.Containers {
					line := rowOf(t, buf.String(), c.Name)
					var b strings.Builder
					for _, cp := range f.Columns {
						b.WriteString(Symbol(c.Cell(cp).State) + " ")
					}
					if !strings.Contains(stripANSI(line), b.String()) {
						t.Errorf("%s: row %q lacks the cells %q", c.Name, stripANSI(line), b.String())
					}
				}
			})
		}
	}
}

func rowOf(t *testing.T, out, name string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(stripANSI(l), name+" ") {
			return l
		}
	}
	t.Fatalf("no row for %s", name)
	return ""
}

func stripANSI(s string) string {
	var b strings.Builder
	esc := false
	for _, r := range s {
		switch {
		case r == 0x1b:
			esc = true
		case esc:
			if r == 'm' {
				esc = false
			}
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestHTMLWrite(t *testing.T) {
	for _, s := range scenarios {
		f := s.fleet(t)
		var buf bytes.Buffer
		if err := HTML(&buf, f, HTMLOptions{Version: "test"}); err != nil {
			t.Fatal(err)
		}
		if *update {
			os.WriteFile(filepath.Join(os.TempDir(), "capdrop-"+s.name+".html"), buf.Bytes(), 0o644)
		}
	}
}

// TestHTMLCluster: a cluster's container says where it runs, what its
// workload's profile saw over every Pod, and what is used but not proven
// needed, with why, and still recommended.
func TestHTMLCluster(t *testing.T) {
	s := kube
	var buf bytes.Buffer
	if err := HTML(&buf, s.fleet(t), HTMLOptions{Version: "test"}); err != nil {
		t.Fatal(err)
	}
	page := html.UnescapeString(buf.String())
	start := strings.Index(page, `aria-label="Pod/web-5d8f-c/app"`)
	if start < 0 {
		t.Fatal("no details of Pod web-5d8f-c's app")
	}
	d := page[start : start+strings.Index(page[start:], "</article>")]
	for _, want := range []string{
		"Deployment/web, container app, Pod web-5d8f-c on n2",
		"should get</dt><dd>CHOWN FOWNER KILL NET_BIND_SERVICE NET_RAW SYS_TIME (profile: needed CHOWN FOWNER NET_BIND_SERVICE NET_RAW SYS_TIME; used, not proven needed KILL",
		"used, not proven needed: 2 granted in kill ×2 by sh; 1 Pod on n1; not proven needed: signal-other-user: ",
		"live:differs-from-template",
		"capabilities.add: pod [NET_ADMIN SYS_TIME SYS_ADMIN SYS_PTRACE], template [NET_ADMIN SYS_TIME SYS_ADMIN]",
		"KILL", "add: [\"CHOWN\", \"FOWNER\", \"KILL\"",
	} {
		if !strings.Contains(d, want) {
			t.Errorf("the details lack %q", want)
		}
	}
	if !strings.Contains(page, "node n2: containerd://2.1.4") {
		t.Errorf("the inputs do not name the nodes")
	}
}
