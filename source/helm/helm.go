// Package helm renders Helm charts the way `helm template` does, client
// only: no cluster, no network, no release storage. A chart is a directory
// with a Chart.yaml; its subcharts are the ones vendored in charts/
// (directories or archives). Values are the chart's own values.yaml, then
// each Options.ValueFiles, then each Options.Set, as `helm template -f … --set
// …` merges them.
//
// The result is every rendered manifest with the template it came from, so
// that a finding can point at the template (and the values file) that wrote
// it.
package helm

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/engine"
	"helm.sh/helm/v4/pkg/strvals"

	"github.com/capdrop/capdrop/internal/input"
)

// Options are what `helm template` takes besides the chart.
type Options struct {
	// ValueFiles are YAML files merged over the chart's values, in order
	// (helm template --values).
	ValueFiles []string
	// Set are key=value assignments applied last, in order (helm template
	// --set).
	Set []string
	// ReleaseName and Namespace are the release's; empty means what helm
	// template uses: "release-name" and "default".
	ReleaseName, Namespace string
}

// KubeVersion is the Kubernetes version templates see in
// .Capabilities.KubeVersion: the one helm v4.3.2's `helm template` reports
// (its client-go release), so capdrop renders what that command renders.
const KubeVersion = "v1.37.0"

// Manifest is one rendered template.
type Manifest struct {
	// Name is the template's name inside the chart, as helm prints it
	// after "# Source:": "web/templates/deployment.yaml",
	// "web/charts/redis/templates/statefulset.yaml".
	Name string
	// Path is where the template is on disk, or would be for a subchart
	// vendored as an archive: Dir joined with Name without its first
	// element.
	Path string
	// Content is the rendered text (empty documents included).
	Content string
	// Template is the template's source text.
	Template []byte
}

// Chart is a rendered chart.
type Chart struct {
	// Name is the chart's name (Chart.yaml), Dir its directory as given.
	Name, Dir string
	// Manifests are the rendered templates in name order, partials and
	// NOTES.txt left out, as helm template prints them.
	Manifests []Manifest
	// Values are the values files that went into the rendering, by path
	// on disk, chart's own first: where a value a finding points at may
	// have come from.
	Values []ValueFile
	// Helpers are the named-template files (templates/_helpers.tpl and
	// other partials) of the chart and its subcharts, not rendered on
	// their own but included by the manifests.
	Helpers []Manifest
	// Missing names the dependencies of Chart.yaml that are not vendored
	// in charts/: they were not rendered (helm template refuses the chart;
	// capdrop renders the rest when it can).
	Missing []string

	// What Emits renders again: the loaded chart, its values, its
	// templates by full name, and the answers so far.
	loaded *chart.Chart
	top    common.Values
	files  map[string]*common.File
	probed map[probe]bool
}

type probe struct {
	manifest, template string
	line, col, n       int
}

// ValueFile is a values file and its text.
type ValueFile struct {
	Path string
	Data []byte
}

// ErrMissingDependencies wraps a rendering failure of a chart whose
// dependencies are not vendored: the templates most likely call into them.
var ErrMissingDependencies = errors.New("dependencies are not vendored in charts/")

// IsChart reports whether dir holds a Chart.yaml.
func IsChart(dir string) bool {
	fi, err := os.Stat(filepath.Join(dir, "Chart.yaml"))
	return err == nil && fi.Mode().IsRegular()
}

// MaxValuesFile is the most read of a values file, Chart.yaml or
// .helmignore; the loader's own budget bounds the rest of the chart.
const MaxValuesFile = input.DefaultLimit

// Render renders the chart in dir.
func Render(dir string, opts Options) (*Chart, error) {
	// The loader reads Chart.yaml and .helmignore with a plain open and
	// no size limit (a named pipe there would block it, a link to a
	// device flood it): look at them first.
	for _, name := range []string{"Chart.yaml", ".helmignore"} {
		if _, err := input.ReadFile(filepath.Join(dir, name), MaxValuesFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("load chart: %w", err)
		}
	}
	ch, err := loader.LoadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("load chart: %w", err)
	}
	if err := ch.Validate(); err != nil {
		return nil, fmt.Errorf("chart: %w", err)
	}
	if ch.Metadata.Type == "library" {
		return &Chart{Name: ch.Name(), Dir: dir}, nil // nothing to render: helm refuses to install one
	}
	out := &Chart{Name: ch.Name(), Dir: dir}
	out.Missing = missing(ch)
	own, err := input.ReadFile(filepath.Join(dir, "values.yaml"), MaxValuesFile)
	switch {
	case err == nil:
		out.Values = append(out.Values, ValueFile{Path: filepath.Join(dir, "values.yaml"), Data: own})
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("values: %w", err)
	}
	vals := map[string]any{}
	for _, f := range opts.ValueFiles {
		data, err := input.ReadFile(f, MaxValuesFile)
		if err != nil {
			return nil, fmt.Errorf("values: %w", err)
		}
		m, err := loader.LoadValues(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("values %s: %w", f, err)
		}
		vals = loader.MergeMaps(vals, m)
		out.Values = append(out.Values, ValueFile{Path: f, Data: data})
	}
	for _, s := range opts.Set {
		if err := strvals.ParseInto(s, vals); err != nil {
			return nil, fmt.Errorf("--set %s: %w", s, err)
		}
	}
	if err := chartutil.ProcessDependencies(ch, vals); err != nil {
		return nil, out.wrap(fmt.Errorf("dependencies: %w", err))
	}
	caps := common.DefaultCapabilities.Copy()
	kv, err := common.ParseKubeVersion(KubeVersion)
	if err != nil {
		return nil, err
	}
	caps.KubeVersion = *kv
	if ch.Metadata.KubeVersion != "" && !chartutil.IsCompatibleRange(ch.Metadata.KubeVersion, caps.KubeVersion.String()) {
		return nil, fmt.Errorf("chart requires kubeVersion %s, which is incompatible with Kubernetes %s", ch.Metadata.KubeVersion, caps.KubeVersion.Version)
	}
	rel := common.ReleaseOptions{Name: cmpOr(opts.ReleaseName, "release-name"), Namespace: cmpOr(opts.Namespace, "default"),
		Revision: 1, IsInstall: true}
	top, err := util.ToRenderValuesWithSchemaValidation(ch, vals, rel, caps, false)
	if err != nil {
		return nil, out.wrap(err)
	}
	var e engine.Engine
	files, err := e.Render(ch, top)
	if err != nil {
		return nil, out.wrap(err)
	}
	out.loaded, out.top, out.files = ch, top, templateFiles(ch)
	sources := templates(ch)
	names := make([]string, 0, len(files))
	for name := range files {
		if strings.HasSuffix(name, "NOTES.txt") {
			continue
		}
		names = append(names, name)
	}
	sort.Strings(names)
	var partials []string
	for name := range sources {
		if strings.HasPrefix(path.Base(name), "_") {
			partials = append(partials, name)
		}
	}
	sort.Strings(partials)
	for _, name := range partials {
		out.Helpers = append(out.Helpers, Manifest{Name: name, Path: diskPath(dir, name), Template: sources[name]})
	}
	for _, name := range names {
		if strings.TrimSpace(files[name]) == "" {
			continue
		}
		out.Manifests = append(out.Manifests, Manifest{Name: name, Path: diskPath(dir, name),
			Content: files[name], Template: sources[name]})
	}
	return out, nil
}

// probeMark replaces a template's text when Emits renders the chart
// again: a word no chart writes, which is a plain YAML scalar wherever the
// original word was.
const probeMark = "capdropOriginProbe7f3a"

// Emits reports whether the text at line (1-based) and byte column col
// (0-based), n bytes long, of the template named template is written
// into the manifest named manifest by this rendering — whether a value
// found there in a template's text really came from that text, and not
// from a values file through another branch ({{ else }}, a default not
// taken). It renders the chart again with the same values and that text
// replaced by a marker, and looks for the marker in the manifest. When
// the question has no answer (no such text, the chart does not render
// again) it says true: the template keeps its place.
func (c *Chart) Emits(manifest, template string, line, col, n int) bool {
	key := probe{manifest, template, line, col, n}
	if v, ok := c.probed[key]; ok {
		return v
	}
	v := c.emits(key)
	if c.probed == nil {
		c.probed = map[probe]bool{}
	}
	c.probed[key] = v
	return v
}

func (c *Chart) emits(p probe) bool {
	f := c.files[p.template]
	if f == nil || c.loaded == nil || p.line < 1 || p.col < 0 || p.n <= 0 {
		return true
	}
	lines := bytes.SplitAfter(f.Data, []byte("\n"))
	if p.line > len(lines) || p.col+p.n > len(bytes.TrimRight(lines[p.line-1], "\r\n")) {
		return true
	}
	orig := f.Data
	var b bytes.Buffer
	for i, l := range lines {
		if i == p.line-1 {
			b.Write(l[:p.col])
			b.WriteString(probeMark)
			b.Write(l[p.col+p.n:])
			continue
		}
		b.Write(l)
	}
	f.Data = b.Bytes()
	defer func() { f.Data = orig }()
	var e engine.Engine
	files, err := e.Render(c.loaded, c.top)
	if err != nil {
		return true
	}
	return strings.Contains(files[p.manifest], probeMark)
}

// templateFiles maps every template's full name to its file in the
// loaded chart, subcharts included.
func templateFiles(ch *chart.Chart) map[string]*common.File {
	out := map[string]*common.File{}
	var walk func(c *chart.Chart)
	walk = func(c *chart.Chart) {
		for _, t := range c.Templates {
			out[path.Join(c.ChartFullPath(), t.Name)] = t
		}
		for _, d := range c.Dependencies() {
			walk(d)
		}
	}
	walk(ch)
	return out
}

// diskPath is where a template named "chart/templates/x.yaml" is, under
// the chart's directory.
func diskPath(dir, name string) string {
	rel := name
	if i := strings.IndexByte(name, '/'); i >= 0 {
		rel = name[i+1:]
	}
	return filepath.Join(dir, filepath.FromSlash(rel))
}

// wrap marks an error of a chart that lacks dependencies.
func (c *Chart) wrap(err error) error {
	if len(c.Missing) > 0 {
		return fmt.Errorf("%w (%s): %w", ErrMissingDependencies, strings.Join(c.Missing, ", "), err)
	}
	return err
}

// missing lists the dependencies of Chart.yaml with no chart of that name
// in charts/, as helm's CheckDependencies does.
func missing(ch *chart.Chart) []string {
	var out []string
	have := map[string]bool{}
	for _, d := range ch.Dependencies() {
		have[d.Name()] = true
	}
	for _, d := range ch.Metadata.Dependencies {
		if d != nil && !have[d.Name] {
			out = append(out, d.Name)
		}
	}
	return out
}

// templates maps every template's full name (the engine's key) to its
// source text, subcharts included.
func templates(ch *chart.Chart) map[string][]byte {
	out := map[string][]byte{}
	var walk func(c *chart.Chart)
	walk = func(c *chart.Chart) {
		for _, t := range c.Templates {
			out[path.Join(c.ChartFullPath(), t.Name)] = t.Data
		}
		for _, d := range c.Dependencies() {
			walk(d)
		}
	}
	walk(ch)
	return out
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
