// Package kustomize builds Kustomize overlays the way `kustomize build`
// does (with the kustomize API, sigs.k8s.io/kustomize/api), offline: an
// overlay that pulls a remote base, inflates Helm charts or runs plugins is
// not built. It also reads the graph of kustomizations without building
// them (Scan), so that the files an overlay uses — resources, patches,
// bases, components — are audited as part of the build and not on their
// own.
package kustomize

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/capdrop/capdrop/internal/input"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// FileNames are the names of a kustomization file, in the order kustomize
// looks for them.
var FileNames = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// File returns the kustomization file of dir, or "" when it has none.
func File(dir string) string {
	for _, n := range FileNames {
		p := filepath.Join(dir, n)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

// Node is one kustomization of the graph Scan reads.
type Node struct {
	// Dir is the kustomization's directory, File its kustomization file.
	Dir, File string
	// Component is true for kind: Component, which only an overlay can
	// build.
	Component bool
	// Files are the local files the kustomization reads as resources,
	// patches, CRDs, replacements or transformer configurations (not
	// generator data).
	Files []string
	// Dirs are the local kustomization directories it includes (resources,
	// bases, components).
	Dirs []string
	// Remote are the references it would fetch over the network.
	Remote []string
	// Helm is true when it inflates Helm charts (helmCharts), which needs
	// the helm binary.
	Helm bool
	// Deprecated are the deprecated fields it uses (bases, commonLabels,
	// …), for which the kustomize API prints a warning.
	Deprecated []string
	// Err is why the kustomization file could not be read.
	Err error
}

// Scan reads the kustomization in dir and every local kustomization it
// includes, without building anything. Paths are cleaned and joined to
// dir. Directories already in seen are not read again.
func Scan(dir string, seen map[string]*Node) *Node {
	dir = filepath.Clean(dir)
	if n, ok := seen[dir]; ok {
		return n
	}
	n := &Node{Dir: dir, File: File(dir)}
	seen[dir] = n
	if n.File == "" {
		n.Err = errors.New("no kustomization file")
		return n
	}
	data, err := readLimited(n.File)
	if err != nil {
		n.Err = err
		return n
	}
	var k types.Kustomization
	if err := k.Unmarshal(data); err != nil {
		n.Err = err
		return n
	}
	if d := k.CheckDeprecatedFields(); d != nil {
		for _, msg := range *d {
			if m := deprecatedField.FindStringSubmatch(msg); m != nil {
				n.Deprecated = append(n.Deprecated, m[1])
			}
		}
	}
	n.Component = k.Kind == types.ComponentKind
	n.Helm = len(k.HelmCharts) > 0 || len(k.HelmChartInflationGenerator) > 0
	ref := func(p string, dirOK bool) {
		p = strings.TrimSpace(p)
		if p == "" {
			return
		}
		if Remote(p) {
			n.Remote = append(n.Remote, p)
			return
		}
		full := filepath.Join(dir, p)
		fi, err := os.Stat(full)
		switch {
		case err != nil:
			return // kustomize build reports it
		case fi.IsDir() && dirOK:
			n.Dirs = append(n.Dirs, full)
		case fi.Mode().IsRegular():
			n.Files = append(n.Files, full)
		}
	}
	for _, r := range append(append([]string{}, k.Resources...), k.Bases...) {
		ref(r, true)
	}
	for _, c := range k.Components {
		ref(c, true)
	}
	for _, p := range k.Crds {
		ref(p, false)
	}
	for _, p := range k.Patches {
		ref(p.Path, false)
	}
	for _, p := range k.PatchesJson6902 {
		ref(p.Path, false)
	}
	for _, p := range k.PatchesStrategicMerge {
		if s := string(p); !strings.Contains(s, "\n") {
			ref(s, false) // otherwise an inline patch
		}
	}
	for _, r := range k.Replacements {
		ref(r.Path, false)
	}
	for _, l := range [][]string{k.Configurations, k.Generators, k.Transformers, k.Validators} {
		for _, p := range l {
			if !strings.Contains(p, "\n") {
				ref(p, true)
			}
		}
	}
	if p, ok := k.OpenAPI["path"]; ok {
		ref(p, false)
	}
	for _, d := range n.Dirs {
		Scan(d, seen)
	}
	return n
}

// remoteHost is the start of a reference kustomize would clone with git:
// user@host:path (scp style) or github.com/….
var remoteHost = regexp.MustCompile(`^(?i)(git::)?([a-z0-9._-]+@[^:/]+:|github\.com[/:])`)

// Remote reports whether kustomize would fetch ref over the network: a URL
// (https://, ssh://, git::…) or a git repository spelled without a scheme
// (git@github.com:org/repo, github.com/org/repo//path?ref=v1).
func Remote(ref string) bool {
	return strings.Contains(ref, "://") || remoteHost.MatchString(ref)
}

// Resource is one object of a build's output.
type Resource struct {
	// YAML is the object as `kustomize build` prints it.
	YAML []byte
	// Origin is the file the object came from (a resource of the overlay
	// or of a base), joined to the build directory; "" when generated.
	Origin string
	// Patches are the patch files that changed it, joined to the build
	// directory, in the order they were applied.
	Patches []string
}

// Options bound a build.
type Options struct {
	// MaxFileSize is the largest file the build reads; 0 means no limit.
	MaxFileSize int64 `json:"max_file_size"`
	// Warn, when set, receives what a build in a child process wrote to
	// its standard error besides deprecation notices, line by line.
	Warn func(string) `json:"-"`
}

// ErrOffline is wrapped by Build's error for an overlay it does not build
// because that needs the network, the helm binary or plugins.
var ErrOffline = errors.New("not built offline")

// Build runs `kustomize build dir`, with kustomize's defaults (files only
// from inside each kustomization's root, no plugins, no Helm), and returns
// every object of the output in order.
//
// The kustomize API writes a line to the process's standard error for
// every deprecated field it meets (bases, commonLabels, imageTags,
// patchesStrategicMerge, patchesJson6902, vars), and nothing can stop it
// short of redirecting the process's standard error, which would take
// other goroutines' output too. So an overlay whose kustomizations use a
// deprecated field is built in a child process when the program called
// Child at its start (capdrop does), and the child's standard error,
// its own, is read: deprecation lines are dropped, anything else goes to
// opts.Warn. Other overlays, and all of them in a program without Child,
// are built in this process.
func Build(dir string, opts Options) ([]Resource, error) {
	seen := map[string]*Node{}
	root := Scan(dir, seen)
	if root.Err != nil {
		return nil, root.Err
	}
	if hooked.Load() && !inChild {
		for _, n := range seen {
			if len(n.Deprecated) > 0 {
				return buildInChild(dir, opts)
			}
		}
	}
	return build(dir, opts)
}

// build is Build in this process.
func build(dir string, opts Options) ([]Resource, error) {
	seen := map[string]*Node{}
	root := Scan(dir, seen)
	if root.Err != nil {
		return nil, root.Err
	}
	if root.Component {
		return nil, fmt.Errorf("%w: a Component is built only by the overlays that include it", ErrOffline)
	}
	var remote []string
	helm := false
	for _, n := range seen {
		remote = append(remote, n.Remote...)
		helm = helm || n.Helm
	}
	if len(remote) > 0 {
		sort.Strings(remote)
		return nil, fmt.Errorf("%w: it pulls %s over the network", ErrOffline, strings.Join(remote, ", "))
	}
	if helm {
		return nil, fmt.Errorf("%w: it inflates Helm charts (helmCharts), which needs the helm binary", ErrOffline)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	fs := &readOnly{FileSystem: filesys.MakeFsOnDisk(), root: root.File, rootAbs: filepath.Join(abs, filepath.Base(root.File)), max: opts.MaxFileSize}
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	var out []Resource
	err = func() error {
		m, err := k.Run(fs, abs)
		if err != nil {
			return err
		}
		for _, r := range m.Resources() {
			res := Resource{}
			if o, err := r.GetOrigin(); err == nil && o != nil && o.Path != "" && o.Repo == "" {
				res.Origin = filepath.Join(dir, o.Path)
			}
			if ts, err := r.GetTransformations(); err == nil {
				for _, t := range ts {
					if t != nil && t.Path != "" && t.Repo == "" {
						res.Patches = append(res.Patches, filepath.Join(dir, t.Path))
					}
				}
			}
			y, err := r.AsYAML()
			if err != nil {
				return err
			}
			res.YAML = y
			out = append(out, res)
		}
		return nil
	}()
	if err != nil {
		return nil, err
	}
	return out, nil
}

// readOnly is the disk as kustomize sees it during a build: nothing can be
// written, files are read within a size limit, and the root kustomization
// asks for origin and transformer annotations (buildMetadata), which say
// which base file and which patches each object came from.
type readOnly struct {
	filesys.FileSystem
	root, rootAbs string
	max           int64
}

var errReadOnly = errors.New("capdrop reads configuration; it does not write")

func (f *readOnly) Create(string) (filesys.File, error) { return nil, errReadOnly }
func (f *readOnly) Mkdir(string) error                  { return errReadOnly }
func (f *readOnly) MkdirAll(string) error               { return errReadOnly }
func (f *readOnly) RemoveAll(string) error              { return errReadOnly }
func (f *readOnly) WriteFile(string, []byte) error      { return errReadOnly }

func (f *readOnly) ReadFile(p string) ([]byte, error) {
	data, err := readLimitedN(p, f.max)
	if err != nil {
		return nil, err
	}
	if p == f.rootAbs || p == f.root {
		return withBuildMetadata(data)
	}
	return data, nil
}

// withBuildMetadata adds originAnnotations and transformerAnnotations to a
// kustomization's buildMetadata.
func withBuildMetadata(data []byte) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return data, nil // kustomize reports what is wrong with it
	}
	m := doc.Content[0]
	var list *yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "buildMetadata" {
			list = m.Content[i+1]
		}
	}
	if list == nil {
		list = &yaml.Node{Kind: yaml.SequenceNode}
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "buildMetadata"}, list)
	}
	if list.Kind != yaml.SequenceNode {
		return data, nil
	}
	have := map[string]bool{}
	for _, it := range list.Content {
		have[it.Value] = true
	}
	for _, v := range []string{types.OriginAnnotations, types.TransformerAnnotations} {
		if !have[v] {
			list.Content = append(list.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: v})
		}
	}
	return yaml.Marshal(&doc)
}

// readLimited reads a kustomization file, refusing huge ones and
// anything that is not a regular file.
func readLimited(p string) ([]byte, error) { return input.ReadFile(p, 0) }

func readLimitedN(p string, max int64) ([]byte, error) { return input.ReadFile(p, max) }

// deprecatedField finds the field's name in a deprecation notice.
var deprecatedField = regexp.MustCompile(`^# Warning: '([^']+)' is deprecated`)

// deprecation is the kind of line the kustomize API prints when it meets a
// deprecated field.
var deprecation = regexp.MustCompile(`(?m)^# Warning: '[^']+' is deprecated\..*\n?`)
