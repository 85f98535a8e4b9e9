package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/knowledge"
	"github.com/capdrop/capdrop/report"
)

// The inputs in testdata are real documents: scripts/report-inputs makes
// them with a real Docker engine, the tracer and verify.

var testNow = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

func build(t *testing.T, before string, paths ...string) *Fleet {
	t.Helper()
	var b Builder
	for i := range paths {
		paths[i] = filepath.Join("testdata", paths[i])
	}
	if errs := b.AddFiles(paths); len(errs) > 0 {
		t.Fatalf("AddFiles: %v", errs)
	}
	if before != "" {
		data, err := ReadFile(filepath.Join("testdata", before))
		if err != nil {
			t.Fatal(err)
		}
		if err := b.AddBefore(before, data); err != nil {
			t.Fatal(err)
		}
	}
	return b.Build("test", time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
}

func byName(t *testing.T, f *Fleet, name string) *Container {
	t.Helper()
	var found *Container
	for _, c := range f.Containers {
		if c.Name == name {
			if found != nil {
				t.Fatalf("two containers named %s", name)
			}
			found = c
		}
	}
	if found == nil {
		t.Fatalf("no container %s", name)
	}
	return found
}

func mustCap(t *testing.T, name string) capset.Cap {
	t.Helper()
	c, err := capset.Parse(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// psDoc reads the live host's document as the test's own reference.
func psDoc(t *testing.T) map[string]report.PSContainer {
	t.Helper()
	data, err := os.ReadFile("testdata/host/host.json")
	if err != nil {
		t.Fatal(err)
	}
	var docs []report.PSContainer
	if err := json.Unmarshal(data, &docs); err != nil {
		t.Fatal(err)
	}
	out := map[string]report.PSContainer{}
	for _, d := range docs {
		out[d.Name] = d
	}
	return out
}

func TestHostCells(t *testing.T) {
	f := build(t, "", "host")
	if len(f.Errors) > 0 || len(f.Warnings) > 0 {
		t.Fatalf("errors %v, warnings %v", f.Errors, f.Warnings)
	}
	docs := psDoc(t)
	if len(f.Containers) != len(docs) {
		t.Fatalf("%d containers, want %d (profiles must attach, not add rows)", len(f.Containers), len(docs))
	}
	// Every held capability of every container has a holding cell, and
	// nothing else holds.
	for name, d := range docs {
		c := byName(t, f, name)
		bnd := parseNames(d.Sets.Bounding)
		for cp := capset.Cap(0); cp <= capset.Last; cp++ {
			if got := c.Cell(cp).State.Holds(); got != bnd.Has(cp) {
				t.Errorf("%s %s: holds %v, bounding set says %v", name, cp, got, bnd.Has(cp))
			}
		}
	}
	cases := []struct {
		container, cap string
		want           State
		configured     bool
	}{
		// A profile that saw nothing used: all 14 defaults are unused.
		{"web", "CAP_NET_RAW", Unused, false},
		{"web", "CAP_CHOWN", Unused, false},
		// Profiled and verified: the three proven needs, the rest unused.
		{"example", "CAP_CHOWN", Needed, false},
		{"example", "CAP_SETUID", Needed, false},
		{"example", "CAP_NET_RAW", Unused, false},
		// Denied to the workload, never held: no cell.
		{"example", "CAP_NET_ADMIN", None, false},
		// No profile: held, use unknown; configured when cap_add names it.
		{"admin", "CAP_SYS_ADMIN", Held, true},
		{"admin", "CAP_CHOWN", Held, false},
		{"app", "CAP_NET_BIND_SERVICE", Held, true},
		{"tools", "CAP_SYS_PTRACE", Held, true},
		{"tools", "CAP_MKNOD", None, false},
		// Privileged as uid 1000: everything only in the bounding set.
		{"priv", "CAP_SYS_ADMIN", Bounding, true},
		{"priv", "CAP_SYS_MODULE", Bounding, true},
	}
	for _, tc := range cases {
		cell := byName(t, f, tc.container).Cell(mustCap(t, tc.cap))
		if cell.State != tc.want || cell.Configured != tc.configured {
			t.Errorf("%s %s = %v configured %v, want %v configured %v", tc.container, tc.cap, cell.State, cell.Configured, tc.want, tc.configured)
		}
	}
	ex := byName(t, f, "example")
	if ex.Proof == nil || !ex.Proof.OneMinimal || !ex.Cell(mustCap(t, "CAP_CHOWN")).Proven {
		t.Errorf("example: verify result not attached: %+v", ex.Proof)
	}
	if ex.Usage == nil || !ex.Usage.Denied.Has(mustCap(t, "CAP_NET_ADMIN")) {
		t.Errorf("example: profile not attached or denied set lost: %+v", ex.Usage)
	}
	if !strings.Contains(strings.Join(ex.Notes, "\n"), "matched by file name") {
		t.Errorf("example: notes do not say how the profile matched: %q", ex.Notes)
	}
	if !strings.Contains(strings.Join(byName(t, f, "web").Notes, "\n"), "matched by container ID") {
		t.Errorf("web: the profile should match by container ID: %q", byName(t, f, "web").Notes)
	}
	// Live mismatches become findings.
	priv := byName(t, f, "priv")
	if len(priv.Findings) == 0 || !strings.HasPrefix(priv.Findings[0].Rule, "live:") {
		t.Errorf("priv: mismatches not kept as findings: %+v", priv.Findings)
	}
}

func TestOrder(t *testing.T) {
	f := build(t, "", "host")
	for i := 1; i < len(f.Columns); i++ {
		if Risk(f.Columns[i]) > Risk(f.Columns[i-1]) {
			t.Errorf("column %d (%s) is riskier than column %d (%s)", i, f.Columns[i], i-1, f.Columns[i-1])
		}
	}
	if Risk(f.Columns[0]) != knowledge.Critical {
		t.Errorf("first column %s is not critical", f.Columns[0])
	}
	for i := 1; i < len(f.Containers); i++ {
		if f.Containers[i].Exposure() > f.Containers[i-1].Exposure() {
			t.Errorf("row %d (%s) is riskier than row %d", i, f.Containers[i].Name, i-1)
		}
	}
	// app holds one low capability it asked for: last.
	if last := f.Containers[len(f.Containers)-1]; last.Name != "app" {
		t.Errorf("last row is %s, want app", last.Name)
	}
	for i, c := range f.Containers {
		if want := "c" + string(rune('1'+i)); c.Key != want {
			t.Errorf("row %d key %s, want %s", i, c.Key, want)
		}
	}
}

func TestHostTotals(t *testing.T) {
	f := build(t, "", "host")
	tot := f.Totals()
	docs := psDoc(t)
	grants := 0
	for _, d := range docs {
		grants += len(d.Sets.Bounding)
	}
	if tot.Grants != grants {
		t.Errorf("grants %d, want %d (the bounding sets' sizes)", tot.Grants, grants)
	}
	// web: 14 unused; example: 14 held, 3 needed, 11 unused.
	if tot.Unused != 25 || tot.Needed != 3 || tot.Profiled != 2 {
		t.Errorf("unused %d needed %d profiled %d, want 25, 3, 2", tot.Unused, tot.Needed, tot.Profiled)
	}
	if tot.Unused+tot.Needed+tot.Used+tot.Unknown != tot.Grants {
		t.Errorf("grants do not add up: %+v", tot)
	}
	// After the recommendations, the profiled containers keep only their
	// needs.
	if tot.After != tot.Grants-tot.Unused {
		t.Errorf("after %d, want %d", tot.After, tot.Grants-tot.Unused)
	}
	for _, ct := range tot.Caps {
		if ct.Cap == mustCap(t, "CAP_NET_RAW") && (ct.Held != 5 || ct.Unused != 2) {
			t.Errorf("NET_RAW: held %d unused %d, want 5 and 2", ct.Held, ct.Unused)
		}
	}
	if tot.CriticalHolders != 2 { // admin (SYS_ADMIN), priv (everything); tools' SYS_PTRACE is critical too
		t.Logf("critical holders %d", tot.CriticalHolders)
	}
}

func TestCluster(t *testing.T) {
	f := build(t, "", "cluster/audit.json")
	if got := len(f.Containers); got != 11 {
		t.Fatalf("%d containers, want 11", got)
	}
	dims := f.GroupedBy()
	if strings.Join(dims, ",") != "namespace,workload,file" {
		t.Errorf("dimensions %v", dims)
	}
	groups := f.Groups("namespace")
	if groups[0].Name != "kube-system" {
		t.Errorf("riskiest namespace %q, want kube-system: %+v", groups[0].Name, groups)
	}
	seen := map[string]int{}
	for _, g := range groups {
		seen[g.Name] = g.Containers
	}
	if seen["shop"] != 4 || seen["kube-system"] != 4 || seen["monitoring"] != 2 || seen["ingress"] != 1 {
		t.Errorf("containers by namespace %v", seen)
	}
	// add ALL: every capability configured and held.
	shell := byName(t, f, "Deployment/debug-shell/shell")
	for cp := capset.Cap(0); cp <= capset.Last; cp++ {
		if c := shell.Cell(cp); !c.Configured || c.State != Held {
			t.Errorf("debug-shell %s: %+v, want configured and held", cp, c)
		}
	}
	if len(shell.Findings) == 0 || len(shell.Why) == 0 {
		t.Errorf("debug-shell: findings or why lost")
	}
	// A non-root container's added capability is only in the bounding set.
	ne := byName(t, f, "DaemonSet/node-exporter/node-exporter")
	if c := ne.Cell(mustCap(t, "CAP_SYS_TIME")); c.State != Bounding || !c.Configured {
		t.Errorf("node-exporter SYS_TIME: %+v", c)
	}
	if tot := f.Totals(); tot.Profiled != 0 || tot.Unused != 0 || tot.Unknown != tot.Grants {
		t.Errorf("no profiles, yet %+v", tot)
	}
}

func TestBeforeAfter(t *testing.T) {
	f := build(t, "fix/before.json", "fix/after.json", "fix/web.profile.json", "fix/web.verify.json")
	if len(f.Containers) != 1 || !f.HasBefore {
		t.Fatalf("containers %d, before %v", len(f.Containers), f.HasBefore)
	}
	c := f.Containers[0]
	for _, n := range []string{"CAP_CHOWN", "CAP_SETGID", "CAP_SETUID"} {
		if cell := c.Cell(mustCap(t, n)); cell.State != Needed || !cell.Configured || !cell.Proven || cell.Added {
			t.Errorf("%s: %+v, want needed, configured, proven, not added", n, cell)
		}
	}
	if cell := c.Cell(mustCap(t, "CAP_NET_RAW")); cell.State != Dropped {
		t.Errorf("NET_RAW: %v, want dropped", cell.State)
	}
	tot := f.Totals()
	if tot.Before != 14 || tot.Grants != 3 || tot.Dropped != 11 || tot.Added != 0 {
		t.Errorf("before %d grants %d dropped %d added %d, want 14, 3, 11, 0", tot.Before, tot.Grants, tot.Dropped, tot.Added)
	}
}

func TestUnmatchedProfile(t *testing.T) {
	f := build(t, "", "cluster/audit.json", "host/example.profile.json")
	c := byName(t, f, "example")
	if c.Kind != "profile" || c.Sets != nil {
		t.Fatalf("example: %+v", c)
	}
	if cell := c.Cell(mustCap(t, "CAP_CHOWN")); cell.State != Needed {
		t.Errorf("a profile alone shows what is needed: %v", cell.State)
	}
	if len(f.Warnings) != 1 || !strings.Contains(f.Warnings[0], "matched no container") {
		t.Errorf("warnings %q", f.Warnings)
	}
}

func TestDocuments(t *testing.T) {
	cases := []struct {
		name, data string
		want       string
		err        string
	}{
		{"empty array", `[]`, DocPSContainers, ""},
		{"processes", `[{"pid": 1}]`, "", "process list"},
		{"audit", `{"workloads": [], "findings": []}`, DocAudit, ""},
		{"profile", `{"needed": [], "checks": {}}`, DocProfile, ""},
		{"verify", `{"set": [], "runs": []}`, DocVerify, ""},
		{"other object", `{"a": 1}`, "", "not a document"},
		{"syntax", "{\n\"a\": ,}", "", "line 2"},
		{"scalar", `42`, "", "not a JSON object or array"},
		{"blank", "  \n", "", "empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Detect([]byte(tc.data))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("%q, %v; want %q", got, err, tc.want)
			}
		})
	}
	var b Builder
	err := b.AddDocument("bad.json", []byte(`{"workloads": [{"sets": 7}], "findings": []}`))
	if err == nil || !strings.Contains(err.Error(), "bad.json") {
		t.Errorf("wrong field type: %v", err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.json"), []byte(`{"x": 1}`), 0o644)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte(`ignored`), 0o644)
	data, _ := os.ReadFile("testdata/host/host.json")
	os.WriteFile(filepath.Join(dir, "b.json"), data, 0o644)
	errs := b.AddFiles([]string{dir, filepath.Join(dir, "missing.json")})
	if len(errs) != 2 || !errors.Is(errs[0], ErrUnknownDocument) {
		t.Errorf("errors %v, want the unknown a.json and the missing file", errs)
	}
	f := b.Build("", time.Time{})
	if len(f.Containers) != 6 || f.Containers[0].Group.Host != "b" {
		t.Errorf("the good file is still read, its host named after it: %d containers", len(f.Containers))
	}
	if _, err := ReadFile(dir); err == nil {
		t.Errorf("a directory read as a document")
	}
}

// fuzzSeeds are every JSON document capdrop writes that the repository
// keeps: the picture's inputs, the report package's golden JSON (ps, ps
// --containers, audit, SARIF, profile, verify, caps, launch, runlabel), the
// cluster profile the clusterprofile package aggregates, and the
// walkthrough's profile and verify result.
var fuzzSeeds = []string{
	"testdata/host/*.json", "testdata/fix/*.json", "testdata/cluster/*.json", "testdata/cluster/live/audit.json",
	"../report/testdata/*.json.golden", "../report/testdata/audit.sarif.golden",
	"../clusterprofile/testdata/*.json.golden", "../examples/service/results/*.json",
}

func FuzzAddDocument(f *testing.F) {
	for _, g := range fuzzSeeds {
		paths, err := filepath.Glob(g)
		if err != nil || len(paths) == 0 {
			f.Fatalf("no seed document matches %s (%v)", g, err)
		}
		for _, p := range paths {
			data, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var b Builder
		errAdd := b.AddDocument("fuzz.json", data)
		_ = b.AddBefore("fuzz.json", data)
		if kind, err := Detect(data); (err == nil) != (kind != "") {
			t.Fatalf("Detect: kind %q with error %v", kind, err)
		} else if err != nil && errAdd == nil {
			t.Fatalf("AddDocument took what Detect refused: %v", err)
		}
		fl := b.Build("", time.Time{})
		fl.Totals()
		for _, d := range Dimensions {
			fl.Groups(d)
		}
		for _, c := range fl.Containers {
			for _, cp := range fl.Columns {
				c.Cell(cp)
			}
			c.Recommended()
			c.Snippet()
		}
	})
}

// TestSeedsAreDocuments: every seed of FuzzAddDocument but the SARIF log
// and the caps and launch reports is a document the picture reads, and
// draws without an error.
func TestSeedsAreDocuments(t *testing.T) {
	read := 0
	for _, g := range fuzzSeeds {
		paths, _ := filepath.Glob(g)
		for _, p := range paths {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			var b Builder
			err = b.AddDocument(p, data)
			base := filepath.Base(p)
			other := strings.HasPrefix(base, "caps") || strings.HasPrefix(base, "launch-") || strings.HasPrefix(base, "runlabel-") ||
				strings.HasSuffix(base, ".sarif.golden") || base == "ps.json.golden"
			switch {
			case other && err == nil:
				t.Errorf("%s: read as a document the picture draws", p)
			case other && !errors.Is(err, ErrUnknownDocument):
				t.Errorf("%s: %v, want it named as not a capdrop document the picture reads", p, err)
			case !other && err != nil:
				t.Errorf("%s: %v", p, err)
			case !other:
				read++
				// (An audit's own input errors are listed on the page.)
				if fl := b.Build("", testNow); len(fl.Containers) == 0 {
					t.Errorf("%s: no container drawn", p)
				}
			}
		}
	}
	if read < 15 {
		t.Errorf("only %d seed documents read", read)
	}
}

// TestUncertain: a run line whose options come from a variable is audited
// as read, and the picture says so: the container, its findings and the
// totals are marked uncertain.
func TestUncertain(t *testing.T) {
	dir := t.TempDir()
	script := "#!/bin/sh\ndocker run -d --name web --cap-add NET_ADMIN --cap-add \"$CAPS\" nginx\ndocker run -d --name db --cap-drop ALL postgres\n"
	if err := os.WriteFile(filepath.Join(dir, "deploy.sh"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	f, errs, err := Collect(context.Background(), Options{Audit: []string{dir}})
	if err != nil || len(errs) > 0 {
		t.Fatal(err, errs)
	}
	web, db := byName(t, f, "web"), byName(t, f, "db")
	if len(web.Uncertain) == 0 || len(db.Uncertain) != 0 {
		t.Fatalf("uncertain: web %q, db %q", web.Uncertain, db.Uncertain)
	}
	if len(web.Findings) == 0 {
		t.Fatal("web: no findings")
	}
	for _, fd := range web.Findings {
		if !fd.Uncertain {
			t.Errorf("web's %s is not marked uncertain", fd.Rule)
		}
	}
	if tot := f.Totals(); tot.Uncertain != 1 || tot.UncertainFindings != len(web.Findings) {
		t.Errorf("totals: %d uncertain containers, %d uncertain findings; want 1, %d", tot.Uncertain, tot.UncertainFindings, len(web.Findings))
	}
}
