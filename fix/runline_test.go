package fix

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/source"
	"github.com/capdrop/capdrop/workload"
)

// runCase fixes one run line; line is where the command starts.
type runCase struct {
	name string
	file string
	line int
	add  string
}

var runCases = []runCase{
	// One option per continued line: a line removed, new ones added as lines.
	{"script-web", "run.sh", 5, "NET_BIND_SERVICE,CHOWN"},
	// Behind sudo; podman's comma list; the container's own words untouched.
	{"script-podman", "run.sh", 11, "CHOWN"},
	// A Makefile recipe with tabs and make variables.
	{"makefile-run", "Makefile", 5, "NET_BIND_SERVICE"},
	// A Markdown code block with a trailing comment.
	{"markdown", "README.md", 6, "NET_BIND_SERVICE"},
	// A systemd unit's continued ExecStart=.
	{"unit", "shop.service", 6, "NET_BIND_SERVICE,KILL"},
	// LABEL RUN inside a multi-line quoted value, atomic's bare NAME/IMAGE.
	{"dockerfile-run", "Dockerfile", 8, "NET_BIND_SERVICE"},
}

func TestRunLineGolden(t *testing.T) {
	for _, c := range runCases {
		t.Run(c.name, func(t *testing.T) {
			src := readFixture(t, c.file)
			set, err := capset.ParseSet(c.add)
			if err != nil {
				t.Fatal(err)
			}
			opts := Options{Add: set, Line: c.line}
			res, err := Apply(c.file, src, opts)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Changed {
				t.Fatal("nothing changed")
			}
			golden(t, c.name+".diff", Unified(c.file, c.file, src, res.Output))
			checkRunResult(t, c, src, res.Output, set)

			again, err := Apply(c.file, res.Output, opts)
			if err != nil {
				t.Fatalf("second run: %v", err)
			}
			if again.Changed {
				t.Errorf("second run changed it again:\n%s", Unified("first", "second", res.Output, again.Output))
			}

			// Without the final line break, the result has none either.
			trimmed := bytes.TrimSuffix(src, []byte("\n"))
			res2, err := Apply(c.file, trimmed, opts)
			if err != nil {
				t.Fatalf("no final newline: %v", err)
			}
			if want := bytes.TrimSuffix(res.Output, []byte("\n")); !bytes.Equal(res2.Output, want) {
				t.Errorf("result without final newline differs:\n%s", Unified("want", "got", want, res2.Output))
			}
		})
	}
}

// checkRunResult asserts by the test's own means that only the command's
// lines changed, and by the audit sources' parsers (what capdrop audit
// reads) that it now drops ALL and adds exactly the set while every other
// run line in the file reads as before.
func checkRunResult(t *testing.T, c runCase, src, out []byte, set capset.Set) {
	t.Helper()
	start, end := commandLines(t, src, c.line)
	if !bytes.HasPrefix(out, src[:start]) {
		t.Errorf("bytes before line %d changed", c.line)
	}
	if !bytes.HasSuffix(out, src[end:]) {
		t.Errorf("bytes after the command changed")
	}
	before, errs := source.Parse(c.file, src, source.Options{})
	if len(errs) > 0 {
		t.Fatalf("fixture: %v", errs[0])
	}
	after, errs := source.Parse(c.file, out, source.Options{})
	if len(errs) > 0 {
		t.Fatalf("result: %v", errs[0])
	}
	if len(after) != len(before) {
		t.Fatalf("%d workloads after, %d before", len(after), len(before))
	}
	found := false
	for i, w := range after {
		if w.Pos.Line != c.line {
			// Everything else reads exactly as before.
			if strings.Join(workload.Texts(w.CapAdd), ",") != strings.Join(workload.Texts(before[i].CapAdd), ",") ||
				strings.Join(workload.Texts(w.CapDrop), ",") != strings.Join(workload.Texts(before[i].CapDrop), ",") {
				t.Errorf("%s (line %d) changed", w.Name, w.Pos.Line)
			}
			continue
		}
		found = true
		hasAll := false
		for _, d := range w.CapDrop {
			if strings.EqualFold(d.Text, "ALL") {
				hasAll = true
			} else if _, err := capset.Parse(d.Text); err != nil {
				t.Errorf("--cap-drop %q", d.Text)
			}
		}
		if !hasAll {
			t.Errorf("drops %q, without ALL", workload.Texts(w.CapDrop))
		}
		if got := setOf(t, workload.Texts(w.CapAdd), false); got != set {
			t.Errorf("adds %v, want %v", got, set)
		}
		if w.Privileged {
			t.Errorf("privileged")
		}
	}
	if !found {
		t.Fatalf("no run line at line %d in the result", c.line)
	}
}

// commandLines returns the byte range of the lines from line n through the
// end of its backslash-continued logical line.
func commandLines(t *testing.T, src []byte, n int) (int, int) {
	t.Helper()
	lines := bytes.SplitAfter(src, []byte("\n"))
	if n > len(lines) {
		t.Fatalf("no line %d", n)
	}
	start := 0
	for _, l := range lines[:n-1] {
		start += len(l)
	}
	end := start
	for _, l := range lines[n-1:] {
		end += len(l)
		if !bytes.HasSuffix(bytes.TrimRight(l, "\r\n"), []byte("\\")) {
			break
		}
	}
	return start, end
}

func TestRunLineNothingToDo(t *testing.T) {
	src := readFixture(t, "run.sh")
	res, err := Apply("run.sh", src, Options{Add: capset.Of(capset.CHOWN), Line: 16})
	if err != nil {
		t.Fatal(err)
	}
	if res.Changed || !bytes.Equal(res.Output, src) {
		t.Errorf("--cap-drop=all --cap-add=Cap_Chown is already right for CHOWN:\n%s", Unified("a", "b", src, res.Output))
	}
}

func TestRunLineRefusals(t *testing.T) {
	for _, c := range []struct {
		file string
		line int
		add  string
		want error
		msg  string
	}{
		{"run.sh", 0, "", ErrAmbiguous, "--line (5, 11, 14, 15, 16)"},
		{"run.sh", 7, "", ErrNoTarget, "no run line starts on line 7; they start on lines 5, 11, 14, 15, 16"},
		{"run.sh", 14, "", ErrRefused, `sets --cap-add from a variable ($CAPS)`},
		{"run.sh", 15, "", ErrRefused, "is privileged (--privileged)"},
		{"run.sh", 5, "SYS_TIME", ErrWiden, "does not hold SYS_TIME today"},
		{"Makefile", 11, "NET_RAW", ErrWiden, "does not hold NET_RAW today"},
		{"Dockerfile", 11, "", ErrRefused, "is privileged"},
		{"Dockerfile", 0, "", ErrAmbiguous, "--line (8, 11)"},
	} {
		set, _ := capset.ParseSet(c.add)
		_, err := Apply(c.file, readFixture(t, c.file), Options{Add: set, Line: c.line})
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s line %d: got %v, want %v containing %q", c.file, c.line, err, c.want, c.msg)
		}
	}
}

func TestDockerfileUnquotedLabel(t *testing.T) {
	src := "FROM scratch\nLABEL RUN=docker\\ run\\ --cap-add=KILL\\ IMAGE\n"
	_, err := Apply("Dockerfile", []byte(src), Options{Add: capset.Of(capset.KILL)})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "unquoted LABEL value") {
		t.Errorf("got %v", err)
	}
	src = "FROM scratch\nLABEL RUN docker run --cap-add=KILL IMAGE\n"
	res, err := Apply("Dockerfile", []byte(src), Options{Add: capset.Of(capset.KILL)})
	if err != nil {
		t.Fatal(err)
	}
	if want := "FROM scratch\nLABEL RUN docker run --cap-add=KILL --cap-drop=ALL IMAGE\n"; string(res.Output) != want {
		t.Errorf("legacy LABEL form:\n%s", Unified("want", "got", []byte(want), res.Output))
	}
}

func TestWrongSelector(t *testing.T) {
	_, err := Apply("compose.yaml", readFixture(t, "compose.yaml"), Options{Line: 3})
	if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), "choose with --service") {
		t.Errorf("--line on compose: %v", err)
	}
	_, err = Apply("web.container", []byte("[Container]\nImage=x\nAddCapability=CHOWN\n"), Options{Service: "web"})
	if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), "choose with --container") {
		t.Errorf("--service on a Quadlet unit: %v", err)
	}
}

// TestExampleService fixes the bundled example (examples/service) the way
// the README's walkthrough does, with its known needs.
func TestExampleService(t *testing.T) {
	needs := capset.Of(capset.CHOWN, capset.SETGID, capset.SETUID)
	for _, name := range []string{"compose.yaml", "Dockerfile"} {
		src, err := os.ReadFile(filepath.Join("..", "examples", "service", name))
		if err != nil {
			t.Fatal(err)
		}
		res, err := Apply(name, src, Options{Add: needs})
		if err != nil {
			t.Fatal(err)
		}
		golden(t, "example-"+strings.ToLower(strings.TrimSuffix(name, ".yaml"))+".diff", Unified(name, name, src, res.Output))
		again, err := Apply(name, res.Output, Options{Add: needs})
		if err != nil || again.Changed {
			t.Errorf("%s: second run: changed %v, %v", name, again != nil && again.Changed, err)
		}
	}
}
