package report

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/capdrop/capdrop/audit"
	"github.com/capdrop/capdrop/workload"
)

func pos(file string, line, col int) workload.Position {
	return workload.Position{File: file, Line: line, Col: col}
}

func pp(p workload.Position) *workload.Position { return &p }

func ws(file string, line int, texts ...string) []workload.Word {
	var out []workload.Word
	for i, t := range texts {
		out = append(out, workload.Word{Text: t, Pos: pos(file, line, 15+i*12)})
	}
	return out
}

// sampleAudit is a small audit covering every dialect and the interesting
// results: defaults kept, a CAP_ prefix containerd ignores, a privileged
// run line, an OCI spec, a refusal, a non-root add, and an input error.
func sampleAudit(t *testing.T) Audit {
	t.Helper()
	f := false
	uid := int64(1000)
	wls := []workload.Workload{
		{Pos: pos("compose.yaml", 3, 3), Kind: workload.ComposeService, Name: "web", Image: "nginx:1.27", Runtime: workload.Docker,
			CapAdd: ws("compose.yaml", 6, "NET_ADMIN"), CapsPos: pp(pos("compose.yaml", 5, 5))},
		{Pos: pos("compose.yaml", 9, 3), Kind: workload.ComposeService, Name: "worker", Runtime: workload.Docker,
			CapAdd: ws("compose.yaml", 11, "NET_BIND_SERVICE"), CapDrop: ws("compose.yaml", 12, "ALL"), User: "1000",
			CapsPos: pp(pos("compose.yaml", 11, 5))},
		{Pos: pos("k8s/deploy.yaml", 17, 11), Kind: workload.KubeContainer, Name: "Deployment/api/app", Image: "api:2", Runtime: workload.Containerd,
			CapDrop: ws("k8s/deploy.yaml", 22, "CAP_NET_RAW"), CapAdd: ws("k8s/deploy.yaml", 21, "SYS_PTRACE"),
			RunAsUser: &uid, AllowPrivilegeEscalation: &f, CapsPos: pp(pos("k8s/deploy.yaml", 20, 13)),
			Attrs: map[string]string{"container": "app"}},
		{Pos: pos("scripts/run.sh", 4, 1), Kind: workload.RunLine, Name: "debug", Runtime: workload.Docker, Privileged: true,
			PrivilegedPos: pp(pos("scripts/run.sh", 4, 12))},
		{Pos: pos("scripts/run.sh", 7, 1), Kind: workload.RunLine, Name: "ebpf", Runtime: workload.Docker,
			CapAdd: ws("scripts/run.sh", 7, "bpf"), CapDrop: ws("scripts/run.sh", 7, "all")},
		// Two run lines of one script that share a name and settings:
		// their findings must not share a fingerprint.
		{Pos: pos("scripts/run.sh", 9, 1), Kind: workload.RunLine, Name: "nginx", Image: "nginx", Runtime: workload.Docker},
		{Pos: pos("scripts/run.sh", 10, 1), Kind: workload.RunLine, Name: "nginx", Image: "nginx", Runtime: workload.Docker},
		{Pos: pos("bundle/config.json", 1, 1), Kind: workload.OCISpec, Name: "bundle", Runtime: workload.OCI, User: "0",
			Explicit: &workload.ExplicitSets{
				Bounding:  ws("bundle/config.json", 12, "CAP_AUDIT_WRITE", "CAP_KILL", "cap_net_bind_service"),
				Effective: ws("bundle/config.json", 13, "CAP_AUDIT_WRITE", "CAP_KILL"),
				Permitted: ws("bundle/config.json", 14, "CAP_AUDIT_WRITE", "CAP_KILL"),
			}},
	}
	opts := audit.Options{Policy: audit.PolicyBaseline}
	opts.Merge.Versions = nil
	rep, err := audit.Evaluate(wls, opts)
	if err != nil {
		t.Fatal(err)
	}
	errs := []*workload.Error{{Pos: pos("k8s/broken.yaml", 7, 3), Err: errors.New("yaml: mapping values are not allowed in this context")}}
	return Audit{Report: rep, Errors: errs, Files: 5, Skipped: 1, Tool: "test"}
}

func TestAuditTextGolden(t *testing.T) {
	var b bytes.Buffer
	if err := plain().AuditText(&b, sampleAudit(t)); err != nil {
		t.Fatal(err)
	}
	golden(t, "audit.golden", b.Bytes())
}

func TestAuditJSONGolden(t *testing.T) {
	var b bytes.Buffer
	if err := AuditJSON(&b, sampleAudit(t)); err != nil {
		t.Fatal(err)
	}
	golden(t, "audit.json.golden", b.Bytes())

	// The documented contract: these keys exist with these types.
	var doc map[string]any
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"workloads", "findings", "errors"} {
		if _, ok := doc[k].([]any); !ok {
			t.Fatalf("%q is not a list: %v", k, doc[k])
		}
	}
	w0 := doc["workloads"].([]any)[0].(map[string]any)
	for _, k := range []string{"file", "line", "kind", "name", "runtime", "sets", "why"} {
		if _, ok := w0[k]; !ok {
			t.Errorf("workload lacks %q", k)
		}
	}
	sets := w0["sets"].(map[string]any)
	for _, k := range []string{"effective", "permitted", "inheritable", "bounding", "ambient"} {
		if _, ok := sets[k].([]any); !ok {
			t.Errorf("sets lacks list %q", k)
		}
	}
	f0 := doc["findings"].([]any)[0].(map[string]any)
	for _, k := range []string{"rule", "severity", "file", "line", "message", "fix"} {
		if _, ok := f0[k]; !ok {
			t.Errorf("finding lacks %q", k)
		}
	}
	e0 := doc["errors"].([]any)[0].(map[string]any)
	if e0["file"] != "k8s/broken.yaml" {
		t.Errorf("error lacks its file: %v", e0)
	}
}

func TestAuditSARIFGolden(t *testing.T) {
	var b bytes.Buffer
	if err := AuditSARIF(&b, sampleAudit(t)); err != nil {
		t.Fatal(err)
	}
	golden(t, "audit.sarif.golden", b.Bytes())
	if err := validateSARIF(b.Bytes()); err != nil {
		t.Fatalf("the SARIF log does not validate against the 2.1.0 schema: %v", err)
	}
}

// validateSARIF checks a log against the official SARIF 2.1.0 JSON schema
// (testdata/sarif-schema-2.1.0.json, from oasis-tcs/sarif-spec; see
// testdata/README.md).
func validateSARIF(log []byte) error {
	f, err := os.Open("testdata/sarif-schema-2.1.0.json")
	if err != nil {
		return err
	}
	defer f.Close()
	schemaDoc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		return err
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(SARIFSchema, schemaDoc); err != nil {
		return err
	}
	schema, err := c.Compile(SARIFSchema)
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(log))
	if err != nil {
		return err
	}
	return schema.Validate(inst)
}

// TestSARIFSchemaCatchesErrors makes sure the validation can fail: logs
// with a level SARIF does not have, or a result without a message, are
// rejected.
func TestSARIFSchemaCatchesErrors(t *testing.T) {
	var b bytes.Buffer
	if err := AuditSARIF(&b, sampleAudit(t)); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{
		strings.Replace(b.String(), `"level": "error"`, `"level": "fatal"`, 1),
		strings.Replace(b.String(), `"message": {`, `"note": {`, 1),
		strings.Replace(b.String(), `"version": "2.1.0"`, `"version": "2.0"`, 1),
	} {
		if bad == b.String() {
			t.Fatal("the mutation changed nothing")
		}
		if err := validateSARIF([]byte(bad)); err == nil {
			t.Error("an invalid SARIF log passed the schema")
		}
	}
}

func TestAuditTextColour(t *testing.T) {
	var b bytes.Buffer
	tty := Text{Color: true, Width: 100}
	if err := tty.AuditText(&b, sampleAudit(t)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "\x1b[") {
		t.Error("no colour on a terminal")
	}
	var p bytes.Buffer
	if err := plain().AuditText(&p, sampleAudit(t)); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(p.String(), "\x1b[") {
		t.Error("colour without a terminal")
	}
}

// TestAuditJSONStreamsTheSameDocument: the streamed writer prints exactly
// what encoding the whole document at once prints, empty lists included.
func TestAuditJSONStreamsTheSameDocument(t *testing.T) {
	full := sampleAudit(t)
	empty := Audit{Report: &audit.Report{Policy: "default"}}
	for _, a := range []Audit{full, empty} {
		var streamed, whole bytes.Buffer
		if err := AuditJSON(&streamed, a); err != nil {
			t.Fatal(err)
		}
		if err := JSON(&whole, NewAuditDoc(a)); err != nil {
			t.Fatal(err)
		}
		if streamed.String() != whole.String() {
			t.Errorf("streamed JSON differs:\n%s\n---\n%s", streamed.String(), whole.String())
		}
	}
}

// TestSARIFFingerprintsUnique: in every SARIF golden, no two results share
// a fingerprint, so code scanning never merges alerts of different
// containers.
func TestSARIFFingerprintsUnique(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.sarif.golden")
	if len(files) == 0 {
		t.Fatal("no SARIF golden files")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var log struct {
			Runs []struct {
				Results []struct {
					RuleID              string            `json:"ruleId"`
					PartialFingerprints map[string]string `json:"partialFingerprints"`
				} `json:"results"`
			} `json:"runs"`
		}
		if err := json.Unmarshal(data, &log); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		seen := map[string]string{}
		n := 0
		for _, r := range log.Runs[0].Results {
			fp := r.PartialFingerprints["capdropFinding/v2"]
			if fp == "" {
				t.Errorf("%s: a %s result without a fingerprint", f, r.RuleID)
			}
			if prev, dup := seen[fp]; dup {
				t.Errorf("%s: %s and %s share fingerprint %s", f, prev, r.RuleID, fp)
			}
			seen[fp] = r.RuleID
			n++
		}
		t.Logf("%s: %d results, %d fingerprints", f, n, len(seen))
	}
}

// TestAuditStreamGivesTheSameReport feeds a report to AuditStream in
// parts, as audit.Stream does, and wants every format to print what the
// one-shot renderer prints for the whole report (findings sorted within
// each part, as the sample's are overall).
func TestAuditStreamGivesTheSameReport(t *testing.T) {
	full := sampleAudit(t)
	empty := Audit{Report: &audit.Report{Policy: "default"}}
	for _, a := range []Audit{inFileOrder(full), empty} {
		// Cut the report into parts of two workloads, findings with
		// their workloads, the errors with the first part.
		var parts []audit.Part
		for i := 0; i < len(a.Report.Workloads) || i == 0; i += 2 {
			p := audit.Part{Workloads: a.Report.Workloads[i:min(i+2, len(a.Report.Workloads))]}
			if i == 0 {
				p.Errors, p.Files, p.Skipped = a.Errors, a.Files, a.Skipped
			}
			for _, f := range a.Report.Findings {
				if f.Workload >= i && f.Workload < i+2 {
					p.Findings = append(p.Findings, f)
				}
			}
			parts = append(parts, p)
		}
		ordered := *a.Report
		ordered.Findings = nil
		for _, p := range parts {
			ordered.Findings = append(ordered.Findings, p.Findings...)
		}
		b := a
		b.Report = &ordered
		for _, format := range []string{StreamJSON, StreamText, StreamQuiet, StreamVerbose, StreamSARIF} {
			var one, streamed bytes.Buffer
			var err error
			switch format {
			case StreamJSON:
				err = AuditJSON(&one, b)
			case StreamSARIF:
				err = AuditSARIF(&one, b)
			case StreamQuiet:
				err = Text{}.AuditQuiet(&one, b)
			case StreamVerbose:
				err = Text{}.AuditVerbose(&one, b)
			default:
				err = Text{}.AuditText(&one, b)
			}
			if err != nil {
				t.Fatal(err)
			}
			s, err := NewAuditStream(&streamed, format, Text{}, b.Report.Policy, b.Tool)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range parts {
				if err := s.Add(p); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if streamed.String() != one.String() {
				t.Errorf("%s: streamed report differs:\n%s\n---\n%s", format, streamed.String(), one.String())
			}
		}
	}
}

// inFileOrder reorders a report's workloads by file, line and column, as
// audit.Stream hands them over, renumbering the findings.
func inFileOrder(a Audit) Audit {
	r := *a.Report
	order := make([]int, len(r.Workloads))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(i, j int) int {
		x, y := r.Workloads[i].Workload.Pos, r.Workloads[j].Workload.Pos
		return cmp.Or(cmp.Compare(x.File, y.File), cmp.Compare(x.Line, y.Line), cmp.Compare(x.Col, y.Col))
	})
	newIdx := make([]int, len(order))
	r.Workloads = nil
	for k, i := range order {
		newIdx[i] = k
		r.Workloads = append(r.Workloads, a.Report.Workloads[i])
	}
	r.Findings = nil
	for _, f := range a.Report.Findings {
		f.Workload = newIdx[f.Workload]
		r.Findings = append(r.Findings, f)
	}
	a.Report = &r
	return a
}
