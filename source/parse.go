package source

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"

	"go.yaml.in/yaml/v3"

	"github.com/capdrop/capdrop/internal/input"
	"github.com/capdrop/capdrop/source/compose"
	"github.com/capdrop/capdrop/source/dockerfile"
	"github.com/capdrop/capdrop/source/internal/tree"
	"github.com/capdrop/capdrop/source/kube"
	"github.com/capdrop/capdrop/source/oci"
	"github.com/capdrop/capdrop/source/quadlet"
	"github.com/capdrop/capdrop/source/shell"
	"github.com/capdrop/capdrop/workload"
)

// StdinName is the file name positions carry for standard input.
const StdinName = "<stdin>"

// ErrUnknownFormat is reported for a file named explicitly whose format
// capdrop does not recognise.
var ErrUnknownFormat = errors.New("not a recognised configuration format")

// Parse reads one file's content, its format detected by name and content
// (Detect). Compose files get the variables of a .env file beside name.
// Content that holds nothing capdrop reads gives no workloads and no
// errors; Collect reports such a file when it was named explicitly.
func Parse(name string, data []byte, opts Options) ([]workload.Workload, []*workload.Error) {
	ws, errs, _ := parse(name, data, opts, nil, Unknown)
	return ws, errs
}

// ParseAs reads one file's content as format, instead of the format Detect
// would pick.
func ParseAs(name string, data []byte, format Format, opts Options) ([]workload.Workload, []*workload.Error) {
	ws, errs, _ := parse(name, data, opts, nil, format)
	return ws, errs
}

// parse returns known=false when the content is no format capdrop reads.
// dotenv loads the .env beside a compose file (nil: read it from disk);
// format, when not Unknown, is used instead of detecting one.
func parse(name string, data []byte, opts Options, dotenv func(dir string) (map[string]string, error), format Format) (ws []workload.Workload, errs []*workload.Error, known bool) {
	defer func() {
		// Last line of defence: a bug in a parser must cost one file, not
		// the whole audit.
		if r := recover(); r != nil {
			ws, known = nil, true
			errs = append(errs, &workload.Error{Pos: workload.Position{File: name}, Err: fmt.Errorf("internal error while parsing: %v", r)})
		}
	}()
	if dotenv == nil {
		dotenv = readDotEnv
	}
	if isBinary(data) {
		return nil, []*workload.Error{{Pos: workload.Position{File: name}, Err: errors.New("binary file")}}, true
	}
	if format == Unknown {
		format = Detect(name, data)
	}
	switch format {
	case Script:
		ws, errs = shell.Parse(name, data, shell.Script)
	case Unit:
		ws, errs = shell.Parse(name, data, shell.Unit)
	case Makefile:
		ws, errs = shell.Parse(name, data, shell.Makefile)
	case Markdown:
		ws, errs = shell.Parse(name, data, shell.Markdown)
	case Dockerfile:
		ws, errs = dockerfile.Parse(name, data, dockerfile.Options{})
	case Quadlet:
		ws, errs = quadlet.Parse(name, data)
	case Compose, YAML:
		return parseYAML(name, data, opts, format == Compose, dotenv)
	case JSON:
		return parseJSON(name, data, opts)
	default:
		return nil, nil, false
	}
	return ws, errs, true
}

func parseYAML(name string, data []byte, opts Options, composeByName bool, dotenv func(string) (map[string]string, error)) ([]workload.Workload, []*workload.Error, bool) {
	docs, errs := tree.SplitYAML(name, data)
	tree.Share(docs, opts.allowance)
	var kdocs, cdocs []tree.Doc
	for _, d := range docs {
		switch {
		case kube.IsObject(d.Root):
			kdocs = append(kdocs, d)
		case compose.IsCompose(d.Root):
			cdocs = append(cdocs, d)
		}
	}
	known := composeByName || len(kdocs) > 0 || len(cdocs) > 0 || (len(errs) > 0 && looksLikeConfig(data))
	if !known {
		return nil, nil, false
	}
	var ws []workload.Workload
	if len(kdocs) > 0 {
		w, e := kube.FromDocs(name, kdocs, opts.Runtime)
		ws, errs = append(ws, w...), append(errs, e...)
	}
	if len(cdocs) > 0 {
		copts := compose.Options{Env: opts.Env, Runtime: opts.Runtime}
		if name != StdinName {
			env, err := dotenv(filepath.Dir(name))
			if err != nil {
				errs = append(errs, &workload.Error{Pos: workload.Position{File: name}, Err: err})
			}
			copts.DotEnv = env
		}
		w, e := compose.FromDocs(name, cdocs, copts)
		ws, errs = append(ws, w...), append(errs, e...)
	}
	return ws, errs, true
}

// looksLikeConfig tells a broken compose file or manifest (worth an error)
// from other broken YAML (a Helm template, a CI file: passed over).
func looksLikeConfig(data []byte) bool {
	if bytes.Contains(data, []byte("{{")) {
		return false
	}
	return yamlKey.Match(data)
}

func parseJSON(name string, data []byte, opts Options) ([]workload.Workload, []*workload.Error, bool) {
	docs, perr := tree.ParseJSON(name, data)
	tree.Share(docs, opts.allowance)
	var errs []*workload.Error
	if perr != nil {
		errs = append(errs, perr)
	}
	var kdocs, odocs []tree.Doc
	for _, d := range docs {
		switch {
		case oci.IsConfig(d.Root) || oci.IsInspect(d.Root):
			odocs = append(odocs, d)
		case kube.IsObject(d.Root):
			kdocs = append(kdocs, d)
		}
	}
	if len(kdocs) == 0 && len(odocs) == 0 && (perr == nil || !jsonConfig.Match(data)) {
		// Other JSON, broken or not (a tsconfig.json with comments), is
		// none of capdrop's business.
		return nil, nil, false
	}
	var ws []workload.Workload
	if len(odocs) > 0 {
		w, e := oci.FromDocs(name, data, odocs)
		ws, errs = append(ws, w...), append(errs, e...)
	}
	if len(kdocs) > 0 {
		w, e := kube.FromDocs(name, kdocs, opts.Runtime)
		ws, errs = append(ws, w...), append(errs, e...)
	}
	return ws, errs, true
}

var jsonConfig = regexp.MustCompile(`"(ociVersion|HostConfig|apiVersion)"\s*:`)

// readDotEnv reads dir/.env: nil and no error when there is none, an
// error naming it when it is there but cannot be read (a pipe, a device,
// too large), which the compose file it belongs to reports.
func readDotEnv(dir string) (map[string]string, error) {
	p := filepath.Join(dir, ".env")
	data, err := input.ReadFile(p, DefaultMaxFileSize)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf(".env beside it (%s): %w", p, describe(err))
	}
	return compose.ParseDotEnv(data), nil
}

// Document is one YAML document or JSON value of a file as the sources
// read it: its tree (yaml.v3 nodes carrying file lines and character
// columns) and the byte span of its text.
type Document struct {
	Root       *yaml.Node
	Start, End int
}

// Documents parses a YAML (format Compose or YAML) or JSON file into the
// documents the sources read: a YAML stream split at its document markers,
// each document parsed on its own, so that one with a syntax error is
// reported and the others are still read; JSON with encoding/json's grammar.
// A rewriter that edits a document at the positions of a workload gets the
// same nodes that workload was read from.
func Documents(name string, data []byte, format Format) ([]Document, []*workload.Error) {
	var docs []tree.Doc
	var errs []*workload.Error
	if format == JSON {
		var err *workload.Error
		docs, err = tree.ParseJSON(name, data)
		if err != nil {
			errs = append(errs, err)
		}
	} else {
		docs, errs = tree.SplitYAML(name, data)
	}
	out := make([]Document, len(docs))
	for i, d := range docs {
		out[i] = Document{Root: d.Root, Start: d.Start, End: d.End}
	}
	return out, errs
}
