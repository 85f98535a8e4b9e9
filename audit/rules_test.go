package audit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/knowledge"
	"github.com/capdrop/capdrop/merge"
	"github.com/capdrop/capdrop/source"
	"github.com/capdrop/capdrop/workload"
)

func TestCatalogueComplete(t *testing.T) {
	if _, err := parseRules(rulesYAML); err != nil {
		t.Fatal(err)
	}
	rs := Rules()
	if len(rs) < 18 {
		t.Fatalf("%d rules, want at least 18", len(rs))
	}
	ids := map[string]bool{}
	for _, r := range rs {
		ids[r.ID] = true
		if checks[r.ID] == nil {
			t.Errorf("%s (%s) has no check", r.ID, r.Name)
		}
	}
	for id := range checks {
		if !ids[id] {
			t.Errorf("check %s has no entry in rules.yaml", id)
		}
	}
}

func TestCatalogueRejectsGaps(t *testing.T) {
	bad := []string{
		"rules:\n- id: CD1\n  name: x\n  severity: low\n  title: t\n  description: d\n  rationale: r\n  remediation: m\n  policies: {default: \"on\", baseline: \"on\", restricted: \"on\"}\n",
		"rules:\n- id: CD001\n  name: x\n  severity: low\n  title: t\n  description: d\n  rationale: r\n  policies: {default: \"on\", baseline: \"on\", restricted: \"on\"}\n",
		"rules:\n- id: CD001\n  name: x\n  severity: low\n  title: t\n  description: d\n  rationale: r\n  remediation: m\n  policies: {default: \"on\", baseline: \"sometimes\", restricted: \"on\"}\n",
		"rules:\n- id: CD001\n  name: x\n  severity: low\n  title: t\n  description: d\n  rationale: r\n  remediation: m\n  policies: {default: \"on\"}\n",
		"rules:\n- id: CD001\n  name: x\n  severity: extreme\n",
		"rules:\n- id: CD001\n  name: x\n  colour: red\n",
	}
	for i, b := range bad {
		if _, err := parseRules([]byte(b)); err == nil {
			t.Errorf("catalogue %d with a gap was accepted", i)
		}
	}
}

// loadFixture reads a rule fixture directory with capdrop's own sources:
// the fixtures are real configuration files (compose, Kubernetes, run
// lines, Quadlet units, Dockerfiles).
func loadFixture(t *testing.T, dir string) []workload.Workload {
	t.Helper()
	res := source.Collect([]string{dir}, source.Options{})
	if len(res.Errors) > 0 || len(res.Workloads) == 0 {
		t.Fatalf("%s: %d workloads, errors %v", dir, len(res.Workloads), res.Errors)
	}
	return res.Workloads
}

// TestEveryRuleHasFixtures runs each rule's trigger fixture (which must
// produce a finding of that rule) and pass fixture (which must not), under
// the restricted policy where every rule applies.
func TestEveryRuleHasFixtures(t *testing.T) {
	for _, r := range Rules() {
		t.Run(r.ID, func(t *testing.T) {
			for _, kind := range []string{"trigger", "pass"} {
				dir := filepath.Join("testdata", "rules", r.ID, kind)
				if _, err := os.Stat(dir); err != nil {
					t.Fatalf("no %s fixture: %v", kind, err)
				}
				rep, err := Evaluate(loadFixture(t, dir), Options{Policy: PolicyRestricted})
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, f := range rep.Findings {
					if f.Rule == r.ID {
						got = append(got, f.Message)
						if strings.TrimSpace(f.Fix) == "" || f.Message == "" || f.Severity == SeverityUnset || f.Pos.Line == 0 {
							t.Errorf("%s: finding lacks fix, message, severity or line: %+v", dir, f)
						}
					}
				}
				switch {
				case kind == "trigger" && len(got) == 0:
					t.Errorf("%s does not trigger %s; findings: %+v", dir, r.ID, rep.Findings)
				case kind == "pass" && len(got) > 0:
					t.Errorf("%s triggers %s: %q", dir, r.ID, got)
				}
			}
		})
	}
}

func TestPolicies(t *testing.T) {
	w := workload.Workload{Kind: workload.KubeContainer, Runtime: workload.Containerd, Name: "Pod/p/c",
		Pos: workload.Position{File: "k.yaml", Line: 1}, CapAdd: []workload.Word{{Text: "SYS_ADMIN", Pos: workload.Position{File: "k.yaml", Line: 9}}}}
	count := func(policy string) map[string]Severity {
		rep, err := Evaluate([]workload.Workload{w}, Options{Policy: policy})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]Severity{}
		for _, f := range rep.Findings {
			out[f.Rule] = max(out[f.Rule], f.Severity)
		}
		return out
	}
	def, base, restr := count(PolicyDefault), count(PolicyBaseline), count(PolicyRestricted)
	if _, ok := def["CD020"]; ok {
		t.Error("default policy runs the Pod Security baseline rule")
	}
	if _, ok := base["CD020"]; !ok {
		t.Error("baseline policy misses the Pod Security baseline rule")
	}
	if _, ok := base["CD022"]; ok {
		t.Error("baseline policy runs a restricted rule")
	}
	if restr["CD022"] == SeverityUnset || restr["CD002"] != High || def["CD002"] != Medium {
		t.Errorf("restricted: %v, default: %v", restr, def)
	}
	if def["CD003"] != Critical {
		t.Errorf("SYS_ADMIN finding has severity %v, want critical from the knowledge base", def["CD003"])
	}
	if _, err := Evaluate(nil, Options{Policy: "strict"}); err == nil {
		t.Error("unknown policy accepted")
	}
}

// TestDocsListEveryRule keeps docs/audit.md in step with the catalogue:
// every rule has its section (the SARIF helpUri points at it) and its row.
func TestDocsListEveryRule(t *testing.T) {
	b, err := os.ReadFile("../docs/audit.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, r := range Rules() {
		if !strings.Contains(doc, "\n### "+r.ID+"\n") {
			t.Errorf("docs/audit.md has no section ### %s", r.ID)
		}
		if !strings.Contains(doc, "| "+r.ID+" |") || !strings.Contains(doc, r.Title) {
			t.Errorf("docs/audit.md's table lacks %s (%s)", r.ID, r.Title)
		}
	}
}

// TestRootEquivalentUsesTheConfiguredDefault: whether an added capability
// gains anything over the runtime's default is judged against the default
// merge used, which Options.Merge.Defaults may change (containers.conf,
// crio.conf), not against the knowledge base's.
func TestRootEquivalentUsesTheConfiguredDefault(t *testing.T) {
	ws, errs := source.Parse("compose.yaml", []byte("services:\n  app:\n    image: app\n    cap_add: [NET_RAW]\n"), source.Options{})
	if len(errs) > 0 || len(ws) != 1 {
		t.Fatal(ws, errs)
	}
	find := func(opts Options) *Finding {
		t.Helper()
		rep, err := Evaluate(ws, opts)
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range rep.Findings {
			if f.Caps.Has(capset.NET_RAW) && strings.Contains(f.Message, "grants NET_RAW") {
				return &rep.Findings[i]
			}
		}
		t.Fatalf("no finding about the added NET_RAW in %+v", rep.Findings)
		return nil
	}
	stock := find(Options{})
	if stock.Severity != Low || !strings.Contains(stock.Message, "in docker's default set") {
		t.Errorf("with Docker's stock default: %s %q, want low, in the default set", stock.Severity, stock.Message)
	}
	without := knowledge.MustDefault(knowledge.Docker).Without(capset.NET_RAW)
	mine := find(Options{Merge: merge.Options{Defaults: map[workload.Runtime]capset.Set{workload.Docker: without}}})
	if mine.Severity <= Low || strings.Contains(mine.Message, "default set") {
		t.Errorf("with a default without NET_RAW: %s %q, want above low and no word of the default set", mine.Severity, mine.Message)
	}
}
