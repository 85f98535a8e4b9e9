package patch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/capdrop/capdrop/cluster"
)

// Apply patches the live workloads of res, each only after the API server
// accepted its patch in a server-side dry run (every admission step and
// validation, nothing stored). It leaves alone a workload without a patch,
// one whose Pod template is immutable, and one a tool manages (the patch
// would be reverted: it belongs in git). Each Recommendation's Apply says
// what happened; the error joins the failures.
//
// Cancelling ctx (Ctrl-C) stops it between requests, never inside a
// workload's patch: each workload's patch is one request, and the one on
// its way when ctx is cancelled is still waited for (at most
// ApplyTimeout), so every workload is either patched whole, and says
// "applied", or not at all, and says why ("interrupted" for the ones not
// reached, or whose dry run was stopped). The error then includes ctx's.
func Apply(ctx context.Context, api API, res *Result) error {
	res.Applied = true
	var errs []error
	for _, rec := range res.Recommendations {
		if rec.Apply = skipped(rec); rec.Apply != nil {
			continue
		}
		if ctx.Err() != nil {
			rec.Apply = &Applied{Status: "interrupted", Message: "stopped before this workload: its patch was not sent"}
			continue
		}
		rec.Apply = apply1(ctx, api, rec)
		if s := rec.Apply.Status; s == "failed" || s == "dry-run-failed" {
			errs = append(errs, fmt.Errorf("%s: %s", rec.Workload, rec.Apply.Message))
		}
	}
	if ctx.Err() != nil {
		errs = append(errs, ctx.Err())
	}
	return errors.Join(errs...)
}

// ApplyTimeout bounds the wait for a patch already sent when Apply is
// cancelled.
const ApplyTimeout = 15 * time.Second

// skipped says why a recommendation is not applied at all (nil when it is
// to be).
func skipped(rec *Recommendation) *Applied {
	switch {
	case rec.Patch == nil:
		return &Applied{Status: "skipped", Message: "no container of it has a usable profile"}
	case !rec.Live:
		return &Applied{Status: "skipped", Message: "a " + rec.Workload.Kind + "'s Pod template cannot be changed on the live object"}
	case len(rec.ManagedBy) > 0:
		var tools []string
		for _, m := range rec.ManagedBy {
			tools = append(tools, m.Tool)
		}
		return &Applied{Status: "skipped", Message: "managed by " + strings.Join(tools, ", ") + ": a live patch would be reverted; the patch belongs in git"}
	}
	if _, ok := cluster.Lookup(rec.Workload.Kind); !ok {
		return &Applied{Status: "skipped", Message: "not a workload kind"}
	}
	return nil
}

func apply1(ctx context.Context, api API, rec *Recommendation) *Applied {
	r, _ := cluster.Lookup(rec.Workload.Kind)
	body, err := rec.Patch.body()
	if err != nil {
		return &Applied{Status: "failed", Message: err.Error()}
	}
	w := cluster.WriteOptions{DryRun: true, FieldManager: FieldManager}
	// The dry run stores nothing: it may be cut short.
	if _, err := api.Patch(ctx, r, rec.Workload.Namespace, rec.Workload.Name, body, w); err != nil {
		if ctx.Err() != nil {
			return &Applied{Status: "interrupted", Message: "stopped during its dry run: the patch was not sent"}
		}
		return &Applied{Status: "dry-run-failed", Message: "the API server refused the patch in a dry run, so nothing was changed: " + err.Error()}
	}
	if ctx.Err() != nil {
		return &Applied{Status: "interrupted", Message: "stopped after its dry run: the patch was not sent"}
	}
	// The patch itself is seen through: cut short, it might be stored
	// with capdrop saying it failed.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ApplyTimeout)
	defer cancel()
	w.DryRun = false
	if _, err := api.Patch(wctx, r, rec.Workload.Namespace, rec.Workload.Name, body, w); err != nil {
		if wctx.Err() != nil {
			return &Applied{Status: "failed", Message: fmt.Sprintf("no answer to the patch within %s: it may have been applied (look at the workload): %v", ApplyTimeout, err)}
		}
		return &Applied{Status: "failed", Message: err.Error()}
	}
	msg := "patched after a server-side dry run"
	if rec.Workload.Kind != "CronJob" {
		msg += "; its controller now rolls out new Pods"
	} else {
		msg += "; its next Jobs get the set"
	}
	return &Applied{Status: "applied", Message: msg}
}
