package fleet

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/capdrop/capdrop/clusterprofile"
	"github.com/capdrop/capdrop/internal/input"
	"github.com/capdrop/capdrop/profile"
	"github.com/capdrop/capdrop/report"
	"github.com/capdrop/capdrop/shadow"
	"github.com/capdrop/capdrop/verify"
)

// MaxDocument is the largest document read (an audit of ten thousand files
// writes a few hundred megabytes).
const MaxDocument = 1 << 30

// Kinds of document, as Detect names them.
const (
	DocPSContainers = "ps-containers" // capdrop ps --containers -o json
	DocAudit        = "audit"         // capdrop audit -o json
	DocProfile      = "profile"       // capdrop profile -o json
	DocVerify       = "verify"        // capdrop verify -o json
	// DocClusterProfile is capdrop k8s profile -o json: per-workload
	// profiles of a cluster.
	DocClusterProfile = "cluster-profile"
	// DocClusterVerify is capdrop k8s verify -o json: a set proven with
	// shadow Pods of one workload container.
	DocClusterVerify = "cluster-verify"
)

// ErrUnknownDocument is wrapped by the error for a JSON document that is
// none of the kinds capdrop writes.
var ErrUnknownDocument = errors.New("not a document capdrop writes")

// Detect says which of capdrop's documents data is, by its shape.
func Detect(data []byte) (string, error) {
	t := bytes.TrimLeft(data, " \t\r\n\ufeff")
	if len(t) == 0 {
		return "", fmt.Errorf("empty: %w", ErrUnknownDocument)
	}
	switch t[0] {
	case '[':
		var items []map[string]json.RawMessage
		if err := json.Unmarshal(data, &items); err != nil {
			return "", jsonError(data, err)
		}
		if len(items) == 0 {
			return DocPSContainers, nil // an empty host
		}
		if _, ok := items[0]["main_pid"]; ok {
			return DocPSContainers, nil
		}
		if _, ok := items[0]["pid"]; ok {
			return "", fmt.Errorf("a process list (capdrop ps -o json); the picture reads capdrop ps --containers -o json: %w", ErrUnknownDocument)
		}
	case '{':
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(data, &obj); err != nil {
			return "", jsonError(data, err)
		}
		has := func(k string) bool { _, ok := obj[k]; return ok }
		var kind string
		_ = json.Unmarshal(obj["kind"], &kind)
		switch {
		case kind == clusterprofile.Kind && has("profiles"):
			return DocClusterProfile, nil
		case has("workloads") && has("findings"):
			return DocAudit, nil
		case has("needed") && has("checks"):
			return DocProfile, nil
		case has("set") && has("runs") && has("session"):
			return DocClusterVerify, nil
		case has("set") && has("runs"):
			return DocVerify, nil
		}
	default:
		return "", fmt.Errorf("not a JSON object or array: %w", ErrUnknownDocument)
	}
	return "", ErrUnknownDocument
}

// jsonError names the line of a JSON syntax or type error.
func jsonError(data []byte, err error) error {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off < 0 {
		return err
	}
	line := 1 + bytes.Count(data[:min(int(off), len(data))], []byte("\n"))
	return fmt.Errorf("line %d: %w", line, err)
}

// AddDocument adds one of the JSON documents capdrop writes, whatever its
// kind. name is the document's file name: it names the host of a `ps
// --containers` document (its file name without extension) and is how
// profiles and verify results may be matched to containers.
func (b *Builder) AddDocument(name string, data []byte) error {
	kind, err := Detect(data)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	wrap := func(err error) error { return fmt.Errorf("%s: %w", name, jsonError(data, err)) }
	switch kind {
	case DocPSContainers:
		var docs []report.PSContainer
		if err := json.Unmarshal(data, &docs); err != nil {
			return wrap(err)
		}
		host := stemOf(name)
		b.AddPSContainers(docs, host)
		b.Input("host %s: %d containers (%s)", host, len(docs), name)
	case DocAudit:
		var doc report.AuditDoc
		if err := json.Unmarshal(data, &doc); err != nil {
			return wrap(err)
		}
		b.AddAuditDoc(doc)
		if cl := doc.Cluster; cl != nil {
			// A cluster's containers are read from its API, not files.
			ns := "all namespaces"
			if cl.Namespace != "" {
				ns = "namespace " + cl.Namespace
			}
			b.Input("audit of the cluster %s, %s: %d containers of templates and running Pods, policy %s (%s)", cl.Server, ns, len(doc.Workloads), doc.Policy, name)
		} else {
			b.Input("audit: %d workloads in %d files, policy %s (%s)", len(doc.Workloads), doc.Summary.Files, doc.Policy, name)
		}
	case DocProfile:
		var p profile.Profile
		if err := json.Unmarshal(data, &p); err != nil {
			return wrap(err)
		}
		b.AddProfile(&p, name)
		b.Input("profile: %s", name)
	case DocClusterProfile:
		var doc clusterprofile.Document
		if err := json.Unmarshal(data, &doc); err != nil {
			return wrap(err)
		}
		if doc.Version != clusterprofile.Version {
			return fmt.Errorf("%s: cluster profile version %d; this capdrop reads version %d", name, doc.Version, clusterprofile.Version)
		}
		b.AddClusterProfiles(&doc, name)
		b.Input("cluster profiles: %d workload containers of %s, %s, %.0f s (%s)", len(doc.Profiles), cmp.Or(doc.Cluster, "a cluster"), doc.Source, doc.Window.Seconds, name)
	case DocClusterVerify:
		var r shadow.Result
		if err := json.Unmarshal(data, &r); err != nil {
			return wrap(err)
		}
		if r.Target == nil {
			return fmt.Errorf("%s: a k8s verify result without its target", name)
		}
		b.AddClusterVerify(&r, name)
		b.Input("k8s verify result: %s (%s)", r.Target, name)
	case DocVerify:
		var r verify.Result
		if err := json.Unmarshal(data, &r); err != nil {
			return wrap(err)
		}
		b.AddVerify(&r, name)
		b.Input("verify result: %s", name)
	}
	return nil
}

// AddBefore reads the state before a change: an audit document or a `ps
// --containers` document.
func (b *Builder) AddBefore(name string, data []byte) error {
	kind, err := Detect(data)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	switch kind {
	case DocAudit:
		var doc report.AuditDoc
		if err := json.Unmarshal(data, &doc); err != nil {
			return fmt.Errorf("%s: %w", name, jsonError(data, err))
		}
		b.BeforeAudit(doc)
	case DocPSContainers:
		var docs []report.PSContainer
		if err := json.Unmarshal(data, &docs); err != nil {
			return fmt.Errorf("%s: %w", name, jsonError(data, err))
		}
		b.BeforePS(docs)
	default:
		return fmt.Errorf("%s: a %s document; the state before a change is an audit or a ps --containers document", name, kind)
	}
	b.Input("compared with the earlier state in %s", name)
	return nil
}

// ReadFile reads a document, refusing what is not a regular file (a pipe
// or device is refused, never waited on) or is larger than MaxDocument,
// which is seen from its size before anything is read.
func ReadFile(path string) ([]byte, error) {
	return input.ReadFile(path, MaxDocument)
}

// AddFiles adds documents from files and directories (every *.json file
// below a directory, in name order). A file that cannot be read or is not
// a capdrop document is recorded as an error and the rest are still read;
// the errors are also returned.
func (b *Builder) AddFiles(paths []string) []error {
	var errs []error
	fail := func(err error) {
		errs = append(errs, err)
		b.Error(err)
	}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			fail(err)
			continue
		}
		files := []string{p}
		if st.IsDir() {
			files = nil
			err := filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
				if err != nil {
					fail(err)
					return nil
				}
				if d.Type().IsRegular() && strings.EqualFold(filepath.Ext(path), ".json") {
					files = append(files, path)
				}
				return nil
			})
			if err != nil {
				fail(err)
			}
			sort.Strings(files)
		}
		for _, file := range files {
			data, err := ReadFile(file)
			if err == nil {
				err = b.AddDocument(file, data)
			}
			if err != nil {
				fail(err)
			}
		}
	}
	return errs
}

func stemOf(name string) string {
	s := filepath.Base(name)
	return strings.TrimSuffix(s, filepath.Ext(s))
}
