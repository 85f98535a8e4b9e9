package verify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/engine"
	"github.com/capdrop/capdrop/knowledge"
	"github.com/capdrop/capdrop/merge"
	"github.com/capdrop/capdrop/workload"
)

// Options say what to verify, how, and with which engine.
type Options struct {
	// Engine runs the trials (an *engine.Client, or a fake in tests).
	Engine engine.API
	// Workload is the container to run, as a source read it (a compose
	// service, docker run arguments) or just an image (Workload.Image and
	// nothing else: the image's own configuration). Kind ("run",
	// "compose", "image") and Source describe it for people.
	Workload     workload.Workload
	Kind, Source string
	// Start is the candidate set and StartFrom where it came from; when
	// HasStart is false the set is the one the configuration gives a root
	// process under the engine's own Docker release (package merge).
	Start     capset.Set
	StartFrom string
	HasStart  bool
	Check     Check
	// Minimize shrinks the set by delta debugging (MinimizeOptions.Retries
	// and NoPrediction apply); otherwise the set runs 1+Retries times.
	Minimize     bool
	Retries      int
	NoPrediction bool
	// Timeout bounds each trial (DefaultTimeout when zero).
	Timeout time.Duration
	// Labels go on every container the verification creates.
	Labels map[string]string
	// OnStart is called once the target and the starting set are known,
	// before the first trial, with the result so far; OnRun after every
	// trial. Warn receives what is worth saying but no failure (a
	// container a trial left behind and cleanup removed).
	OnStart func(*Result)
	OnRun   func(Trial)
	Warn    func(error)
}

// ErrCheck is wrapped by errors about a check the target cannot support
// (an HTTP probe of a container without a network).
var ErrCheck = errors.New("the check cannot judge this container")

// Plan is what a verification will run, worked out before any trial: the
// target, the starting set and where that set came from.
type Plan struct {
	Target    *Target
	Start     capset.Set
	StartFrom string
}

// Prepare builds the target from the workload and works out the starting
// set: the one given, or the one the configuration gives under the
// engine's own Docker release (package merge). It starts nothing.
func Prepare(ctx context.Context, o Options) (*Plan, error) {
	t, err := NewTarget(o.Workload, o.Kind, o.Source)
	if err != nil {
		return nil, err
	}
	ver, err := o.Engine.ServerVersion(ctx)
	if err != nil {
		return nil, err
	}
	if t.User == "" && o.Kind == "image" {
		img, err := o.Engine.ImageInspect(ctx, t.Image)
		if err != nil {
			return nil, err
		}
		t.User = img.Config.User
	}
	w := o.Workload
	w.Runtime = workload.Docker
	mopts := merge.Options{}
	if v, err := merge.ParseVersion(ver.Version); err == nil {
		mopts.Versions = map[workload.Runtime]merge.Version{workload.Docker: v}
	}
	if w.User == "" {
		w.ImageUser = t.User
	}
	res := merge.Compute(w, mopts)
	if !res.Root {
		t.Notes = append(t.Notes, fmt.Sprintf("runs as user %s: Docker puts added capabilities only in a non-root process's bounding set, usable only through file capabilities", t.User))
	}
	p := &Plan{Target: t, Start: o.Start, StartFrom: o.StartFrom}
	if !o.HasStart {
		if res.Refusal != nil {
			return nil, fmt.Errorf("the configuration's capabilities: %s", res.Refusal.Message)
		}
		p.Start, p.StartFrom = res.Sets.Bounding, "the configuration (Docker's rules)"
		switch {
		case o.Kind == "image":
			p.StartFrom = "Docker's defaults"
		case p.Start == knowledge.MustDefault(knowledge.Docker):
			p.StartFrom = "the configuration (Docker's defaults)"
		}
	}
	return p, nil
}

// Run verifies: it prepares the plan, runs the trials on the engine and
// returns the verdict. Every container it creates is removed before it
// returns, also when ctx ends (then the result so far comes back with ctx's
// error). A set that fails is a verdict (Result.Passed false), not an
// error.
func Run(ctx context.Context, o Options) (*Result, error) {
	p, err := Prepare(ctx, o)
	if err != nil {
		return nil, err
	}
	t, set, from := p.Target, p.Start, p.StartFrom
	sess := NewSession(o.Engine, o.Labels)
	r := &Runner{Session: sess, Target: t, Check: o.Check, Timeout: o.Timeout, OnRun: o.OnRun}
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCheck, err)
	}
	defer func() {
		n, err := sess.Cleanup(ctx)
		switch {
		case err != nil && o.Warn != nil:
			o.Warn(fmt.Errorf("removing this session's containers: %w", err))
		case n > 0 && o.Warn != nil:
			o.Warn(fmt.Errorf("removed %d container(s) a run left behind", n))
		}
	}()
	if o.OnStart != nil {
		o.OnStart(&Result{Target: t, Check: o.Check.String(), Start: set.Names(), StartFrom: from, Minimized: o.Minimize})
	}
	if o.Minimize {
		return r.Minimize(ctx, set, from, MinimizeOptions{Retries: o.Retries, NoPrediction: o.NoPrediction})
	}
	return r.Verify(ctx, set, from, o.Retries)
}
