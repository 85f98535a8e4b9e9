package patch

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/capdrop/capdrop/cluster"
)

// Apply patches the live workloads of res, each only after the API server
// accepted its patch in a server-side dry run (every admission step and
// validation, nothing stored). It leaves alone a workload without a patch,
// one whose Pod template is immutable, and one a tool manages (the patch
// would be reverted: it belongs in git). Each Recommendation's Apply says
// what happened; the error joins the failures.
func Apply(ctx context.Context, api API, res *Result) error {
	res.Applied = true
	var errs []error
	for _, rec := range res.Recommendations {
		rec.Apply = apply1(ctx, api, rec)
		if s := rec.Apply.Status; s == "failed" || s == "dry-run-failed" {
			errs = append(errs, fmt.Errorf("%s: %s", rec.Workload, rec.Apply.Message))
		}
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
	}
	return errors.Join(errs...)
}

func apply1(ctx context.Context, api API, rec *Recommendation) *Applied {
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
	r, ok := cluster.Lookup(rec.Workload.Kind)
	if !ok {
		return &Applied{Status: "skipped", Message: "not a workload kind"}
	}
	body, err := rec.Patch.body()
	if err != nil {
		return &Applied{Status: "failed", Message: err.Error()}
	}
	w := cluster.WriteOptions{DryRun: true, FieldManager: FieldManager}
	if _, err := api.Patch(ctx, r, rec.Workload.Namespace, rec.Workload.Name, body, w); err != nil {
		return &Applied{Status: "dry-run-failed", Message: "the API server refused the patch in a dry run, so nothing was changed: " + err.Error()}
	}
	w.DryRun = false
	if _, err := api.Patch(ctx, r, rec.Workload.Namespace, rec.Workload.Name, body, w); err != nil {
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
