package picture

import (
	"bytes"
	"context"
	"flag"
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
}

var scenarios = []scenario{
	{name: "host", paths: []string{"host"}},
	{name: "cluster", paths: []string{"cluster/audit.json"}},
	{name: "fix", before: "fix/before.json", paths: []string{"fix/after.json", "fix/web.profile.json", "fix/web.verify.json"}},
	// The README's picture: capdrop report --audit examples/ --profiles
	// examples/service/results/ -o report.html
	{name: "example", audit: []string{"examples/"}, docs: []string{"examples/service/results/"}, shot: "../docs/report.png"},
}

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
