package audit

import (
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/capdrop/capdrop/merge"
	"github.com/capdrop/capdrop/source"
	"github.com/capdrop/capdrop/workload"
)

// expressible lists, for each rule, the formats that can express what it
// judges; a rule missing from a format here cannot arise from it (Docker
// refuses unknown names instead of ignoring them, only Kubernetes has Pod
// Security, an OCI spec's lists are written out, …).
var expressible = map[string][]workload.Kind{
	"CD001": {cs, kc, rl, dl, qu, ir},
	"CD002": {cs, kc, rl, qu, ir},
	"CD003": {cs, kc, rl, dl, qu, oc, ir}, // Podman ignores an image label asking beyond its defaults
	"CD004": {di},                         // elsewhere folded into CD002 (CD012 for a label), which every container keeping its defaults gets
	"CD005": {kc},
	"CD006": {kc, oc, di},
	"CD007": {cs, rl, dl, qu},
	"CD008": {kc},
	"CD009": {cs, kc, rl, dl, qu},
	"CD010": {cs, kc, rl, dl, ir},
	"CD011": {cs, rl, dl, qu, oc}, // folded into CD002 (CD012) when defaults are kept; CD023 under restricted
	"CD012": {dl},
	"CD013": {}, // about a comment, not a container: its fix is the reason, which no parser reads
	"CD020": {kc}, "CD021": {kc}, "CD022": {kc}, "CD023": {kc}, "CD024": {kc}, "CD025": {kc},
	"CD030": {cs, kc, rl, dl, qu, oc, ir},
	"CD031": {cs, kc, rl, dl, qu, oc, ir},
	"CD032": {cs, kc, rl, dl, qu, oc, ir},
	"CD033": {cs, kc, rl, dl, qu, oc, ir},
	"CD034": {cs, kc, rl, dl, qu, oc, ir},
	"CD035": {cs, kc, rl, dl, qu, oc, ir},
	"CD036": {cs, kc, rl, dl, qu, oc, ir},
	"CD037": {cs, kc, rl, dl, qu, oc, ir},
	"CD038": {cs, rl, dl, qu, oc, ir},
	"CD039": {cs, kc, rl, dl, qu, ir},
	"CD040": {cs, rl, dl, qu, oc, ir},
	"CD041": {cs, rl, dl, qu, oc, ir},
	"CD042": {cs, kc, rl, dl, qu, oc, ir},
	"CD043": {cs, kc, rl, dl, qu, oc, ir},
	"CD044": {cs, kc, rl, dl, qu, oc, ir},
	"CD045": {cs, kc, rl, dl, qu, oc, ir},
}

const (
	cs = workload.ComposeService
	kc = workload.KubeContainer
	rl = workload.RunLine
	dl = workload.DockerfileLabel
	di = workload.DockerfileImageCaps
	qu = workload.QuadletUnit
	oc = workload.OCISpec
	ir = workload.InspectRecord
)

// auditFile audits one file under the restricted policy, where every rule
// applies.
func auditFile(t *testing.T, path string) *Report {
	t.Helper()
	res := source.Collect([]string{path}, source.Options{})
	for _, e := range res.Errors {
		if !e.Warning {
			t.Fatalf("%s: %v", path, e)
		}
	}
	rep, err := Evaluate(res.Workloads, Options{Policy: PolicyRestricted})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// findingsOf returns the messages of a workload's findings of rule, and
// its assessment.
func findingsOf(rep *Report, rule string, w workload.Workload) ([]string, *Assessment) {
	var out []string
	var a *Assessment
	for i, as := range rep.Workloads {
		if as.Workload.Name == w.Name && as.Workload.Kind == w.Kind {
			a = &rep.Workloads[i]
			for _, f := range rep.Findings {
				if f.Workload == i && f.Rule == rule {
					out = append(out, f.Message)
				}
			}
		}
	}
	return out, a
}

// TestEveryFixClearsItsFinding audits a fixture of every format that can
// express each rule (testdata/fixes: compose, Kubernetes, run lines,
// LABEL RUN/INSTALL/UNINSTALL and the capabilities label, Quadlet, OCI
// config.json, docker inspect), and for every finding applies its fix to
// a fresh copy of the file, as written, audits the result again and wants
// that finding gone, no more findings of that rule than before — and a
// container that
// holds no capability it did not hold before: a fix never widens.
func TestEveryFixClearsItsFinding(t *testing.T) {
	root := filepath.Join("testdata", "fixes")
	var files []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return err
	})
	seen := map[string]map[workload.Kind]bool{}
	for _, file := range files {
		rel, _ := filepath.Rel(root, file)
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		before := auditFile(t, file)
		for _, f := range before.Findings {
			a := before.Workloads[f.Workload]
			w := a.Workload
			if seen[f.Rule] == nil {
				seen[f.Rule] = map[workload.Kind]bool{}
			}
			seen[f.Rule][w.Kind] = true
			t.Run(f.Rule+"/"+rel+"/"+w.Name, func(t *testing.T) {
				m0, _ := findingsOf(before, f.Rule, w)
				fixed, err := applyFix(data, w, f.Fix)
				if err != nil {
					t.Fatalf("%s: cannot apply the fix %q: %v", f.Pos, f.Fix, err)
				}
				p, err := writeFixture(t.TempDir(), rel, fixed)
				if err != nil {
					t.Fatal(err)
				}
				after := auditFile(t, p)
				m1, b := findingsOf(after, f.Rule, w)
				if b == nil {
					t.Fatalf("the fix %q removed workload %s:\n%s", f.Fix, w.Name, fixed)
				}
				// The finding is gone, and the fix did not bring more of
				// the rule than it cleared.
				if slices.Contains(m1, f.Message) || len(m1) > len(m0) {
					t.Errorf("%s: %s\nfix %q leaves %q:\n%s", f.Pos, f.Message, f.Fix, m1, fixed)
				}
				if wider := widened(a.Result, b.Result); wider != "" {
					t.Errorf("fix %q widens %s: %s", f.Fix, w.Name, wider)
				}
			})
		}
	}
	var ids []string
	for id := range expressible {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, r := range Rules() {
		kinds, ok := expressible[r.ID]
		if !ok {
			t.Errorf("%s: no entry in expressible", r.ID)
			continue
		}
		for _, k := range kinds {
			if !seen[r.ID][k] {
				t.Errorf("%s: no %s fixture triggers it", r.ID, k)
			}
		}
		for k := range seen[r.ID] {
			if !slices.Contains(kinds, k) {
				t.Errorf("%s: triggered by a %s fixture, which expressible does not list", r.ID, k)
			}
		}
	}
}

// widened says which capabilities the container holds after a fix and
// did not before, "" when none (a refused container held nothing and may
// start with what it asked for once the refusal is fixed).
func widened(before, after merge.Result) string {
	if before.Refusal != nil || after.Refusal != nil {
		return ""
	}
	more := after.Held() &^ before.Held()
	if more == 0 && (before.Root || !after.Root) {
		return ""
	}
	var parts []string
	if more != 0 {
		parts = append(parts, strings.Join(more.ShortNames(), " "))
	}
	if after.Root && !before.Root {
		parts = append(parts, "root")
	}
	return strings.Join(parts, ", ")
}
