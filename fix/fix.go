// Package fix writes a capability set into configuration files: it makes one
// container — a compose service, a Kubernetes container, a docker or podman
// run line, a Dockerfile LABEL RUN, a Podman Quadlet unit, an OCI bundle's
// config.json — drop every capability and add exactly the given set, and
// changes nothing else in the file.
//
// fix reads no configuration and applies no runtime rule of its own: it
// finds its target among the workloads package source reads from the file
// (the containers capdrop audit reports, with their positions), asks package
// merge what that container holds, edits the bytes at the target's
// positions, and reads the result back through source and merge, which must
// give the container exactly the set. So extends, ${VAR:-default},
// anchors and merge keys mean in fix what they mean in audit.
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
	"strings"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/source"
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
var Formats = []Format{Compose, Kubernetes, Dockerfile, Script, Quadlet, OCI}

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
	// Source tunes how the file is read (the environment for compose
	// interpolation, a runtime override), as for capdrop audit.
	Source source.Options
}

// Result is what a fix did.
type Result struct {
	Format Format
	// Target names what was fixed: "service web", "Deployment/web container
	// app", "run line 12".
	Target string
	Pos    workload.Position
	// Workload is the target as source names it (what capdrop audit
	// reports); Held is every capability it holds today, as merge computes
	// it for audit.
	Workload string
	Held     capset.Set
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
	// ErrReadOnly: the file reports containers but configures none
	// (docker inspect output).
	ErrReadOnly = errors.New("read-only")
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
// detection and messages; "-" is standard input), so that the chosen
// target drops ALL and adds exactly opts.Add.
func Apply(path string, src []byte, opts Options) (*Result, error) {
	res, err := apply1(path, src, opts, true)
	if err != nil {
		var fe *Error
		if !errors.As(err, &fe) {
			err = &Error{Pos: workload.Position{File: path}, Err: err}
		}
		return nil, err
	}
	if !res.Changed {
		res.Output = src
	}
	return res, nil
}

func apply1(path string, src []byte, opts Options, first bool) (*Result, error) {
	if extra := opts.Add.Minus(capset.Known); !extra.IsEmpty() {
		return nil, fmt.Errorf("%w: no runtime knows %s", ErrInput, strings.Join(extra.Names(), ", "))
	}
	ws, errs, f, err := read(path, src, opts)
	if err != nil {
		return nil, err
	}
	t, err := choose(path, ws, errs, f, opts)
	if err != nil {
		return nil, err
	}
	t.json = f == source.JSON
	for _, e := range errs {
		if errors.Is(e, source.ErrTooComplex) {
			// What the target holds cannot be worked out, nor checked after.
			return nil, fmt.Errorf("%w: %v", ErrInput, e)
		}
	}
	pos := t.w.Pos
	pos.File = path
	res := &Result{Format: t.format, Target: t.name, Pos: pos}
	fail := func(err error) (*Result, error) { return nil, &Error{Pos: pos, Err: err} }
	if t.w.Privileged {
		return fail(privilegedError(t))
	}
	held, r := current(t.w)
	res.Workload, res.Held = t.w.Name, held
	if !opts.AllowWiden {
		if r.Refusal != nil && !opts.Add.IsEmpty() {
			return fail(fmt.Errorf("%w: the runtime refuses %s as it is written (%v), so it holds nothing today; capdrop fix only ever takes capabilities away (pass --allow-widen if you really mean to grant them)",
				ErrWiden, t.name, r.Refusal))
		}
		if !held.Contains(opts.Add) {
			return fail(widenError(t.name, opts.Add.Minus(held).ShortNames()))
		}
	}
	res.Notes = userNotes(t, r, opts)
	ed, err := edits(path, src, t, opts)
	if err != nil {
		return fail(err)
	}
	res.Notes = append(res.Notes, ed.notes...)
	if len(ed.edits) == 0 {
		if exact(r, opts.Add) {
			return res, nil
		}
		return fail(inherited(t, t.w, opts))
	}
	out, err := apply(src, ed.edits)
	if err == nil && ed.check != nil {
		err = ed.check(out)
	}
	if err == nil {
		err = reaudit(path, out, t, opts)
	}
	if err == nil && first {
		// A second run must find nothing to do.
		var again *Result
		o := opts
		o.AllowWiden = true
		again, err = apply1(path, out, o, false)
		if err == nil && again.Changed {
			err = errors.New("a second run would change it again")
		}
	}
	if err != nil {
		if errors.Is(err, ErrRefused) {
			return fail(err)
		}
		return fail(&selfCheckError{err})
	}
	res.Changed = true
	res.Output = out
	return res, nil
}

// selfCheckError says a rewrite failed its own check: a bug or a layout the
// rewriter does not understand. The file is left alone.
type selfCheckError struct{ err error }

func (e *selfCheckError) Error() string {
	return fmt.Sprintf("refused: capdrop could not make this edit safely, so the file is left as it is (%v); please report this with the file", e.err)
}

// Unwrap makes errors.Is(err, ErrRefused) true.
func (e *selfCheckError) Unwrap() error { return ErrRefused }

func widenError(name string, extra []string) error {
	return fmt.Errorf("%w: %s does not hold %s today; capdrop fix only ever takes capabilities away (pass --allow-widen if you really mean to grant them)",
		ErrWiden, name, strings.Join(extra, ", "))
}

// Locate returns the container Apply would rewrite in src with opts (its
// Add is not used), as source reads it: a caller that picks the set for
// that container (from a cluster profile, one per workload container)
// learns which it is the way Apply will choose it.
func Locate(path string, src []byte, opts Options) (workload.Workload, error) {
	ws, errs, f, err := read(path, src, opts)
	if err != nil {
		return workload.Workload{}, &Error{Pos: workload.Position{File: path}, Err: err}
	}
	t, err := choose(path, ws, errs, f, opts)
	if err != nil {
		var fe *Error
		if !errors.As(err, &fe) {
			err = &Error{Pos: workload.Position{File: path}, Err: err}
		}
		return workload.Workload{}, err
	}
	return t.w, nil
}
