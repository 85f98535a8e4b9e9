package audit

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/capdrop/capdrop/source"
)

// labelLine is a LABEL instruction holding one run label.
var labelLine = regexp.MustCompile(`(?m)^LABEL (RUN|INSTALL|UNINSTALL)=.*$`)

// TestLabelFixesClearTheirFinding audits Dockerfiles whose RUN, INSTALL
// and UNINSTALL labels trigger a rule, puts the fix (a whole LABEL line)
// in place of the label, audits again, and wants that rule gone from
// that label: a fix that keeps --privileged, adds a drop Docker ignores,
// or renames INSTALL to RUN fails.
func TestLabelFixesClearTheirFinding(t *testing.T) {
	for _, c := range []struct{ rule, label string }{
		{"CD001", `INSTALL="docker run --rm --privileged -v /:/host --name NAME IMAGE /install.sh"`},
		{"CD001", `UNINSTALL="docker run --rm --privileged=true --cap-add=SYS_ADMIN IMAGE /uninstall.sh"`},
		{"CD001", `RUN="podman run --privileged --cap-drop=ALL --cap-add=NET_ADMIN IMAGE"`},
		{"CD003", `RUN="docker run --cap-add=ALL --cap-drop=ALL IMAGE"`},
		{"CD003", `INSTALL="docker run --cap-add all IMAGE"`},
		{"CD003", `RUN="docker run --cap-drop=ALL --cap-add=sys_admin --cap-add=CHOWN IMAGE"`},
		{"CD012", `RUN="docker run --rm IMAGE"`},
		{"CD012", `INSTALL="docker run --cap-add=ALL --cap-drop=ALL IMAGE"`},
		{"CD012", `RUN="docker run --cap-drop=NET_RAW --cap-add=NET_ADMIN IMAGE"`},
		{"CD011", `INSTALL="docker run --cap-drop=ALL IMAGE"`},
		{"CD012", `UNINSTALL="docker run --cap-add=NET_ADMIN -v /:/host IMAGE"`},
		{"CD030", `INSTALL="docker run --cap-drop=ALL -v /:/host IMAGE"`},
		{"CD035", `RUN="docker run --cap-drop=ALL --pid host IMAGE"`},
		{"CD042", `RUN="docker run --cap-drop=ALL --security-opt seccomp:unconfined IMAGE"`},
	} {
		t.Run(c.rule+" "+c.label, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "Dockerfile")
			write := func(label string) {
				if err := os.WriteFile(file, []byte("FROM scratch\nUSER 0\nLABEL "+label+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			findings := func() []Finding {
				res := source.Collect([]string{file}, source.Options{})
				if len(res.Errors) > 0 {
					t.Fatalf("%v", res.Errors)
				}
				rep, err := Evaluate(res.Workloads, Options{})
				if err != nil {
					t.Fatal(err)
				}
				var out []Finding
				for _, f := range rep.Findings {
					if f.Rule == c.rule {
						out = append(out, f)
					}
				}
				return out
			}
			write(c.label)
			before := findings()
			if len(before) == 0 {
				t.Fatalf("%s does not trigger %s", c.label, c.rule)
			}
			fix := before[0].Fix
			if !labelLine.MatchString(fix) || strings.Contains(fix, "\n") {
				t.Fatalf("fix is not one LABEL line: %q", fix)
			}
			key, _, _ := strings.Cut(c.label, "=")
			if !strings.HasPrefix(fix, "LABEL "+key+"=") {
				t.Errorf("fix renames the label: %s", fix)
			}
			write(strings.TrimPrefix(fix, "LABEL "))
			if after := findings(); len(after) >= len(before) {
				t.Errorf("fix %s leaves %d %s findings: %+v", fix, len(after), c.rule, after)
			}
		})
	}
}
