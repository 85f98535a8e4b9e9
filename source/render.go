package source

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/capdrop/capdrop/internal/input"
	"github.com/capdrop/capdrop/source/helm"
	"github.com/capdrop/capdrop/source/internal/origin"
	"github.com/capdrop/capdrop/source/internal/tree"
	"github.com/capdrop/capdrop/source/kube"
	"github.com/capdrop/capdrop/source/kustomize"
	"github.com/capdrop/capdrop/workload"
)

// goTemplate spots the actions of a Helm template ({{ .Values.x }},
// {{- if … }}, {{ include … }}) in a YAML file: it only means something
// once rendered. An Argo CD ApplicationSet's {{.cluster}} or {{cluster}}
// and GitHub's ${{ … }} are written into real objects, not rendered
// before they are applied.
var goTemplate = regexp.MustCompile(`\{\{-?\s*(\.Values\b|\.Release\b|\.Chart\b|\.Capabilities\b|\.Files\b|\.Template\b|\$\.|include\s|template\s|define\s|toYaml\s|tpl\s|if\s|range\s|with\s|else\b|end\b|/\*)`)

// IsTemplate reports whether YAML content is a Go template.
func IsTemplate(data []byte) bool { return goTemplate.Match(data) }

// renderChart renders the Helm chart in dir and reads its manifests. A
// chart that does not render with the values given (a required value
// missing, a dependency not vendored that a template calls) is a warning:
// the chart is fine, capdrop just cannot render it as it is; a chart that
// cannot be loaded or whose templates do not parse is an error.
func renderChart(dir string, opts Options) ([]workload.Workload, []*workload.Error) {
	ch, err := helm.Render(dir, helm.Options{ValueFiles: opts.HelmValues, Set: opts.HelmSet})
	at := workload.Position{File: filepath.Join(dir, "Chart.yaml")}
	if err != nil {
		e := &workload.Error{Pos: at, Err: fmt.Errorf("helm chart not rendered, its templates not audited: %w", err)}
		msg := err.Error()
		refused := errors.Is(err, input.ErrNotRegular) || errors.Is(err, input.ErrTooLarge) // a values file capdrop would not read
		e.Warning = !refused && (errors.Is(err, helm.ErrMissingDependencies) || !(strings.Contains(msg, "load chart") || strings.Contains(msg, "parse error")))
		return nil, []*workload.Error{e}
	}
	var errs []*workload.Error
	if len(ch.Missing) > 0 {
		errs = append(errs, workload.Warnf(at, "helm chart %s: dependencies not vendored in charts/, so not audited: %s (helm dependency build fetches them)",
			ch.Name, strings.Join(ch.Missing, ", ")))
	}
	attrs := map[string]string{"chart": dir, "rendered_by": "helm"}
	var ws []workload.Workload
	// A value both in a template's text and in a values file is placed in
	// the template only if that text is written out, which takes a
	// rendering of the chart per question: at most maxProbes per chart,
	// after which the template keeps the place.
	probes := 0
	emits := func(manifest, template string) func(line, col, n int) bool {
		return func(line, col, n int) bool {
			if probes >= maxProbes {
				return true
			}
			probes++
			return ch.Emits(manifest, template, line, col, n)
		}
	}
	for _, m := range ch.Manifests {
		sources := []origin.Source{{Path: m.Path, Data: m.Template, Template: true, Emits: emits(m.Name, m.Name)}}
		// Then the chart's named templates (_helpers.tpl), which write
		// whole blocks of securityContext in many charts.
		for _, h := range ch.Helpers {
			if filepath.Dir(h.Path) == filepath.Dir(m.Path) {
				sources = append(sources, origin.Source{Path: h.Path, Data: h.Template, Template: true, Emits: emits(m.Name, h.Name)})
			}
		}
		// The values of the chart the template belongs to, then the
		// values given on the command line (which reach it through the
		// parent's values).
		own := filepath.Join(filepath.Dir(filepath.Dir(m.Path)), "values.yaml")
		for _, v := range ch.Values {
			if v.Path == own {
				sources = append(sources, origin.Source{Path: v.Path, Data: v.Data})
			}
		}
		if own != filepath.Join(dir, "values.yaml") {
			if data, err := readSmall(own); err == nil {
				sources = append(sources, origin.Source{Path: own, Data: data})
			}
		}
		for _, v := range ch.Values {
			if v.Path != own {
				sources = append(sources, origin.Source{Path: v.Path, Data: v.Data})
			}
		}
		loc := origin.New(sources)
		w, e := readRendered(m.Path, []byte(m.Content), "helm template", loc, m.Template, opts, attrs)
		ws, errs = append(ws, w...), append(errs, e...)
	}
	return ws, errs
}

// maxProbes bounds the renderings a chart's positions may cost
// (helm.Chart.Emits).
const maxProbes = 64

// buildKustomization builds the overlay in dir and reads its objects.
func buildKustomization(dir string, opts Options, graph map[string]*kustomize.Node) ([]workload.Workload, []*workload.Error) {
	at := workload.Position{File: kustomize.File(dir)}
	var warns []*workload.Error
	res, err := kustomize.Build(dir, kustomize.Options{MaxFileSize: opts.MaxFileSize, Warn: func(s string) {
		warns = append(warns, &workload.Error{Pos: at, Err: fmt.Errorf("kustomize build: %s", s), Warning: true})
	}})
	if err != nil {
		return nil, append(warns, &workload.Error{Pos: at, Err: fmt.Errorf("kustomization not built: %w", err), Warning: errors.Is(err, kustomize.ErrOffline)})
	}
	// Every file of the build may have written part of an object: the
	// overlay's patches first, then those of its components and bases.
	var patches []origin.Source
	var visit func(d string, seen map[string]bool)
	visit = func(d string, seen map[string]bool) {
		n := graph[filepath.Clean(d)]
		if n == nil || seen[n.Dir] {
			return
		}
		seen[n.Dir] = true
		for _, f := range n.Files {
			if data, err := readSmall(f); err == nil {
				patches = append(patches, origin.Source{Path: f, Data: data})
			}
		}
		for _, sub := range n.Dirs {
			visit(sub, seen)
		}
	}
	visit(dir, map[string]bool{})
	attrs := map[string]string{"overlay": dir, "rendered_by": "kustomize"}
	var ws []workload.Workload
	errs := warns
	for _, r := range res {
		file := cmpOr(r.Origin, at.File)
		sources := append([]origin.Source{}, patches...)
		// The object's own file wins for the places of containers and
		// mappings, the patches for values.
		if r.Origin != "" {
			if data, err := readSmall(r.Origin); err == nil {
				sources = append([]origin.Source{{Path: r.Origin, Data: data, Base: true}}, sources...)
			}
		}
		w, e := readRendered(file, r.YAML, "kustomize build", origin.New(sources), nil, opts, attrs)
		ws, errs = append(ws, w...), append(errs, e...)
	}
	return ws, errs
}

// readRendered reads one rendered file's Kubernetes objects, their
// positions mapped back to the files that wrote them.
func readRendered(file string, data []byte, tool string, loc *origin.Locator, template []byte, opts Options, attrs map[string]string) ([]workload.Workload, []*workload.Error) {
	docs, perrs := tree.SplitYAML(file, data)
	var errs []*workload.Error
	for _, e := range perrs {
		errs = append(errs, &workload.Error{Pos: workload.Position{File: file}, Err: fmt.Errorf("%s output, line %d: %w", tool, e.Pos.Line, e.Err)})
	}
	positions := map[*yaml.Node]workload.Position{}
	for _, d := range docs {
		fallback := workload.Position{File: file, Line: kindLine(template)}
		for n, p := range loc.Map(d.Root, fallback) {
			positions[n] = p
		}
	}
	ws, e := kube.Read(file, docs, kube.Options{Runtime: opts.Runtime, Attrs: attrs, Locate: func(n *yaml.Node) workload.Position {
		if p, ok := positions[n]; ok {
			return p
		}
		return workload.Position{File: file}
	}})
	return ws, append(errs, e...)
}

// kindLine is the line of a template's "kind:", where an object whose
// parts cannot be placed more precisely is said to be.
func kindLine(template []byte) int {
	for i, l := range bytes.Split(template, []byte("\n")) {
		if bytes.HasPrefix(bytes.TrimSpace(l), []byte("kind:")) {
			return i + 1
		}
	}
	return 0
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// readSmall reads a file of a chart or build that positions are looked up
// in, within the default size limit.
func readSmall(p string) ([]byte, error) { return input.ReadFile(p, DefaultMaxFileSize) }
