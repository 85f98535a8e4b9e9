package runlabel

import (
	"context"
	"errors"
	"fmt"

	"github.com/capdrop/capdrop/audit"
	"github.com/capdrop/capdrop/engine"
	"github.com/capdrop/capdrop/merge"
	"github.com/capdrop/capdrop/workload"
)

// PrepareOptions say which label to prepare and how to judge it.
type PrepareOptions struct {
	Options
	// Engine is the Docker engine the image is read from (an
	// *engine.Client, or a fake in tests).
	Engine engine.API
	// Policy is the audit's rule preset; Strict and FailOn the verdict's
	// (see Verdict).
	Policy string
	Strict bool
	FailOn audit.Severity
}

// Prepared is a label made ready to run: the command, its audit and the
// verdict.
type Prepared struct {
	Command *Command
	// Audit is nil when the command starts no container.
	Audit *audit.Report
	// Refused says why the command must not run; empty lets it run.
	Refused []string
}

// Prepare is runlabel's one call before anything runs: it reads the image
// from the engine, resolves its label into the command (Build), judges the
// image the command really runs (JudgeImage), audits the container under
// the engine's own Docker release and gives the verdict. It starts nothing
// but the never-started container JudgeImage may read account files
// through. A label refused while it is resolved comes back with the
// command as far as it was resolved, its refusal in Refused, and the
// *LabelError; an image the engine does not have is an engine.ErrNotFound.
func Prepare(ctx context.Context, ref string, o PrepareOptions) (*Prepared, error) {
	inspected, err := o.Engine.ImageInspect(ctx, ref)
	switch {
	case errors.Is(err, engine.ErrNotFound):
		return nil, fmt.Errorf("image %s is not on the engine at %s (capdrop runlabel does not pull: docker pull %s): %w", ref, o.Engine.Host(), Quote(ref), err)
	case err != nil:
		return nil, err
	}
	c, err := Build(FromEngine(ref, inspected), o.Options)
	var le *LabelError
	if c != nil && errors.As(err, &le) {
		return &Prepared{Command: c, Refused: []string{err.Error()}}, err
	}
	if err != nil {
		return nil, err
	}
	if err := c.JudgeImage(ctx, o.Engine); err != nil {
		return nil, err
	}
	mopts := merge.Options{}
	if v, err := o.Engine.ServerVersion(ctx); err == nil {
		if rel, err := merge.ParseVersion(v.Version); err == nil {
			mopts.Versions = map[workload.Runtime]merge.Version{workload.Docker: rel}
		}
	}
	rep, err := c.Audit(audit.Options{Policy: o.Policy, Merge: mopts})
	if err != nil {
		return nil, err
	}
	return &Prepared{Command: c, Audit: rep, Refused: Verdict(c, rep, o.Strict, o.FailOn)}, nil
}
