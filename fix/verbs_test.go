package fix_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/capdrop/capdrop/audit"
	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/engine/enginetest"
	"github.com/capdrop/capdrop/fix"
	"github.com/capdrop/capdrop/merge"
	"github.com/capdrop/capdrop/source"
	"github.com/capdrop/capdrop/verify"
	"github.com/capdrop/capdrop/workload"
)

// TestVerbsAgree feeds every fixture of examples/ and every source's
// testdata through audit, fix and verify's planner: they must name the same
// containers and the same current sets, and after fix the re-audit must
// give exactly the requested set. A target fix refuses must be refused for
// a stated reason (privileged, read-only, shared YAML, a layout it does not
// edit), never for failing its own check.
func TestVerbsAgree(t *testing.T) {
	env := map[string]string{}
	sopts := source.Options{Env: env}
	var files []string
	for _, root := range []string{"../examples", "../source"} {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && d.Name() == "fuzz" {
				return filepath.SkipDir
			}
			if !d.IsDir() && (root == "../examples" || strings.Contains(p, "/testdata/")) && !strings.HasSuffix(p, ".go") && d.Name() != ".env" {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	fixed, refused, planned, unplanned := 0, map[string]int{}, 0, 0
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		ws, _ := source.Parse(file, data, sopts)
		rep, err := audit.Evaluate(ws, audit.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for i, w := range ws {
			held := rep.Workloads[i].Result.Held()
			name := file + " " + w.Name
			// fix: target the workload by the selector its kind takes and
			// keep one capability it holds (or none).
			opts := fix.Options{Source: sopts, Add: lowest(held)}
			switch w.Kind {
			case workload.ComposeService:
				opts.Service = w.Name
			case workload.RunLine, workload.DockerfileLabel, workload.DockerfileImageCaps:
				opts.Line = w.Pos.Line
			default:
				opts.Container = w.Name
			}
			res, err := fix.Apply(file, data, opts)
			switch {
			case err == nil:
				if res.Workload != w.Name || res.Held != held {
					t.Errorf("%s: fix names %q holding %s, audit %q holding %s", name, res.Workload, res.Held, w.Name, held)
				}
				if res.Changed {
					checkExact(t, name, file, res, opts.Add, sopts)
				}
				fixed++
			case errors.Is(err, fix.ErrReadOnly), errors.Is(err, fix.ErrAmbiguous) && w.Kind == workload.RunLine,
				errors.Is(err, fix.ErrRefused) && !strings.Contains(err.Error(), "could not make this edit safely"):
				refused[reason(err)]++
			case errors.Is(err, fix.ErrWiden) && rep.Workloads[i].Result.Refusal != nil:
				refused["the runtime refuses it as written"]++
			default:
				t.Errorf("%s: fix: %v", name, err)
			}
			// verify's planner, for every compose service and run line it
			// runs on Docker: the same workload, planned on a (fake) Docker
			// engine, must be the same container with the same set. It may
			// refuse only what it cannot start at all.
			kind := map[workload.Kind]string{workload.ComposeService: "compose", workload.RunLine: "run"}[w.Kind]
			if kind != "" && w.Runtime == workload.Docker && !w.Privileged {
				p, err := verify.Prepare(context.Background(), verify.Options{Engine: &enginetest.Fake{}, Workload: w, Kind: kind})
				switch {
				case err != nil && (strings.Contains(err.Error(), "no image to run") || strings.Contains(err.Error(), "cannot reproduce")):
					unplanned++
				case err != nil && rep.Workloads[i].Result.Refusal != nil && strings.Contains(err.Error(), rep.Workloads[i].Result.Refusal.Message):
					// The runtime refuses it as written, as audit says.
					unplanned++
				case err != nil:
					t.Errorf("%s: verify cannot plan it: %v", name, err)
				case p.Start != rep.Workloads[i].Result.Spec.Bounding || p.Target.Image != w.Image:
					t.Errorf("%s: verify plans %s of image %q, audit computes %s of image %q", name, p.Start, p.Target.Image, rep.Workloads[i].Result.Spec.Bounding, w.Image)
				default:
					planned++
				}
			}
		}
	}
	t.Logf("%d files: %d targets fixed, refused %v; %d compose services and run lines planned by verify, %d it cannot start (no image, build, links, networks, secrets, refused by the runtime as audit says)", len(files), fixed, refused, planned, unplanned)
	if fixed < 40 || planned < 20 {
		t.Errorf("too few targets went through: %d fixed, %d planned", fixed, planned)
	}
}

// lowest keeps the lowest capability of a set, or nothing.
func lowest(s capset.Set) capset.Set {
	if cs := s.Caps(); len(cs) > 0 {
		return capset.Of(cs[0])
	}
	return 0
}

func reason(err error) string {
	msg := err.Error()
	for _, r := range []string{"privileged", "inspect output", "io.containers.capabilities", "anchor", "alias", "through extends", "PodmanArgs", "variable", "unquoted LABEL", "comment", "not a string", "no image word"} {
		if strings.Contains(msg, r) {
			return r
		}
	}
	return msg
}

// checkExact reads the fixed file as audit does: the target holds exactly
// the set.
func checkExact(t *testing.T, name, file string, res *fix.Result, set capset.Set, sopts source.Options) {
	t.Helper()
	ws, _ := source.Parse(file, res.Output, sopts)
	for _, w := range ws {
		if w.Pos.Line == res.Pos.Line && w.Pos.Col == res.Pos.Col && w.Name == res.Workload {
			r := merge.Compute(w, merge.Options{})
			if r.Refusal != nil || r.Sets.Bounding != set || r.Held() != set {
				t.Errorf("%s: after fix it holds %s (bounding %s, refusal %v), want exactly %s", name, r.Held(), r.Sets.Bounding, r.Refusal, set)
			}
			return
		}
	}
	t.Errorf("%s: the fixed target (%s at %s) is gone: %s", name, res.Workload, res.Pos, strconv.Quote(string(res.Output)))
}
