package fix

import (
	"strings"
	"testing"

	"github.com/capdrop/capdrop/audit"
	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/source"
	"github.com/capdrop/capdrop/workload"
)

// TestFixedFilesPassTheAudit closes the loop with capdrop audit: every
// golden fix, read back by the audit's own parsers, gives its target a
// bounding set of exactly the capabilities asked for, and the audit no
// longer reports it for not dropping capabilities (CD002).
func TestFixedFilesPassTheAudit(t *testing.T) {
	type fixCase struct {
		name, file string
		opts       Options
		// is picks the target among the workloads of the fixed file.
		is func(w workload.Workload) bool
	}
	var cases []fixCase
	for _, c := range yamlCases {
		c := c
		opts := c.options(t)
		cases = append(cases, fixCase{c.name, c.file, opts, func(w workload.Workload) bool {
			if c.ctr != "" { // Kubernetes: Kind/object/container
				return strings.HasSuffix(w.Name, "/"+c.obj+"/"+c.ctr)
			}
			return w.Name == c.target
		}})
	}
	for _, c := range runCases {
		c := c
		set, err := capset.ParseSet(c.add)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, fixCase{c.name, c.file, Options{Add: set, Line: c.line, AllowWiden: true},
			func(w workload.Workload) bool { return w.Pos.Line == c.line }})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := readFixture(t, c.file)
			res, err := Apply(c.file, src, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			ws, errs := source.Parse(c.file, res.Output, source.Options{})
			_, had := source.Parse(c.file, src, source.Options{})
			if len(errs) != len(had) {
				t.Errorf("the fixed file reads with errors %v; the original had %v", errs, had)
			}
			var target []workload.Workload
			var names []string
			for _, w := range ws {
				names = append(names, w.Name)
				if c.is(w) {
					target = append(target, w)
				}
			}
			if len(target) != 1 {
				t.Fatalf("%d workloads match the target among %q", len(target), names)
			}
			rep, err := audit.Evaluate(target, audit.Options{})
			if err != nil {
				t.Fatal(err)
			}
			got := rep.Workloads[0].Result
			if got.Refusal != nil {
				t.Fatalf("the runtime would refuse the fixed container: %+v", got.Refusal)
			}
			if got.Sets.Bounding != c.opts.Add {
				t.Errorf("bounding set after the fix = %s, want exactly %s", got.Sets.Bounding, c.opts.Add)
			}
			for _, f := range rep.Findings {
				if f.Rule == "CD002" {
					t.Errorf("still reported after the fix: %s %s", f.Rule, f.Message)
				}
			}
		})
	}
}
