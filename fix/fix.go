// Package fix writes a capability set into configuration files: it makes one
// container — a compose service, a Kubernetes container, a docker or podman
// run line, a Dockerfile LABEL RUN — drop every capability and add exactly
// the given set, and changes nothing else in the file.
//
// The rewriters never re-encode a document. They parse it (YAML with
// go.yaml.in/yaml/v3's node positions, shell with mvdan.cc/sh), work out the
// smallest byte edits that make the change, splice those into the original
// bytes and then check their own work: the result must parse, must give the
// target exactly the set, must be unchanged everywhere else when compared
// document by document, and must need no further change when fixed again.
// Anything they cannot edit that way (a list shared through a YAML anchor, a
// privileged container, a layout they do not understand) is refused with an
// error saying why, and the file is left as it was.
package fix

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/workload"
)

// Format is a kind of file the rewriters know.
type Format string

// The formats.
const (
	Compose    Format = "compose"
	Kubernetes Format = "kubernetes"
	Dockerfile Format = "dockerfile"
	Script     Format = "script"  // docker/podman run lines in shell scripts, Makefiles, Markdown, systemd units
	Quadlet    Format = "quadlet" // Podman Quadlet .container units
	OCI        Format = "oci"     // an OCI runtime bundle's config.json
)

// Formats lists every format, for flag validation and help.
var Formats = []Format{Compose, Kubernetes, Dockerfile, Script}

// Options say what to write and where.
type Options struct {
	// Add is the set the container keeps; everything else is dropped.
	Add capset.Set
	// Service picks a compose service, Container a Kubernetes container
	// ("app", "web/app" or "Deployment/web/app"), Line a run line or LABEL
	// RUN by the line it starts on. Empty or zero when the file holds
	// exactly one target.
	Service   string
	Container string
	Line      int
	// Format overrides detection by name and content.
	Format Format
	// AllowWiden lets the fix grant capabilities the target does not hold
	// today. Without it such a fix is refused: capdrop never widens
	// privileges on its own.
	AllowWiden bool
}

// Result is what a fix did.
type Result struct {
	Format Format
	// Target names what was fixed: "service web", "Deployment/web container
	// app", "run line 12".
	Target string
	Pos    workload.Position
	// Changed is false when the target already dropped ALL and added exactly
	// the set; Output is then the input.
	Changed bool
	Output  []byte
	// Notes are things the user should know: a merge key overridden, an
	// explicit allowPrivilegeEscalation: true left alone, a non-root user.
	Notes []string
}

// Errors, to test with errors.Is.
var (
	// ErrAmbiguous: the file holds several targets and none was chosen.
	ErrAmbiguous = errors.New("ambiguous target")
	// ErrNoTarget: nothing in the file matches, or it holds no container.
	ErrNoTarget = errors.New("no such target")
	// ErrRefused: the target cannot be changed safely.
	ErrRefused = errors.New("refused")
	// ErrWiden: the set holds capabilities the target does not have today.
	ErrWiden = errors.New("would widen privileges")
	// ErrInput: the file cannot be read as its format.
	ErrInput = errors.New("invalid input")
)

// AmbiguousError lists the targets to choose from.
type AmbiguousError struct {
	What    string // "service", "container", "line"
	Choices []string
}

func (e *AmbiguousError) Error() string {
	return fmt.Sprintf("%d %ss to choose from: pick one with --%s (%s)", len(e.Choices), e.What, e.What, strings.Join(e.Choices, ", "))
}

// Unwrap makes errors.Is(err, ErrAmbiguous) true.
func (e *AmbiguousError) Unwrap() error { return ErrAmbiguous }

// Error is a fix that failed, with the file and, when known, the line.
type Error struct {
	Pos workload.Position
	Err error
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %v", e.Pos, e.Err) }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Apply rewrites src, the contents of the file at path (used for format
// detection and messages), so that the chosen target drops ALL and adds
// exactly opts.Add.
func Apply(path string, src []byte, opts Options) (*Result, error) {
	if extra := opts.Add.Minus(capset.Known); !extra.IsEmpty() {
		return nil, &Error{Pos: workload.Position{File: path}, Err: fmt.Errorf("%w: no runtime knows %s", ErrInput, strings.Join(extra.Names(), ", "))}
	}
	format := opts.Format
	if format == "" {
		format = Detect(path, src)
	}
	var (
		res *Result
		err error
	)
	switch format {
	case Compose, Kubernetes:
		res, err = applyYAML(path, src, format, opts)
	case Dockerfile:
		res, err = applyDockerfile(path, src, opts)
	case Script:
		res, err = applyScript(path, src, opts)
	default:
		err = fmt.Errorf("%w: unknown format %q", ErrInput, format)
	}
	if err != nil {
		var fe *Error
		if !errors.As(err, &fe) {
			err = &Error{Pos: workload.Position{File: path}, Err: err}
		}
		return nil, err
	}
	res.Format = format
	if res.Pos.File == "" {
		res.Pos.File = path
	}
	if !res.Changed {
		res.Output = src
	}
	return res, nil
}

// Detect guesses a file's format from its name, then its content.
func Detect(path string, src []byte) Format {
	base := strings.ToLower(filepath.Base(path))
	ext := filepath.Ext(base)
	switch {
	case base == "dockerfile" || base == "containerfile" || strings.HasPrefix(base, "dockerfile.") ||
		strings.HasPrefix(base, "containerfile.") || ext == ".dockerfile" || ext == ".containerfile":
		return Dockerfile
	case ext == ".yaml" || ext == ".yml" || ext == ".json":
		if strings.Contains(base, "compose") {
			return Compose
		}
		if f, ok := sniffYAML(src); ok {
			return f
		}
		return Kubernetes
	}
	if f, ok := sniffYAML(src); ok && ext == "" {
		return f
	}
	return Script
}
