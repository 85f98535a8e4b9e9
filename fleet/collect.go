package fleet

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/capdrop/capdrop/audit"
	"github.com/capdrop/capdrop/inventory"
	"github.com/capdrop/capdrop/source"
)

// Options say what a picture is made of. Every input is optional; they
// combine.
type Options struct {
	// Title heads the picture; Now is when it was made.
	Title string
	Now   time.Time
	// Live, when set, takes the inventory of a live host (as `capdrop ps
	// --containers`); Host names that host.
	Live func(context.Context) (*inventory.Inventory, error)
	Host string
	// Audit are configuration files and directories to audit with
	// AuditOptions.
	Audit        []string
	AuditOptions audit.Options
	// Documents are files or directories of JSON documents capdrop wrote:
	// ps --containers, audit, profile and verify results.
	Documents []string
	// Before is a document (audit or ps --containers) of the state before a
	// change, to compare with.
	Before string
}

// Collect gathers every input and makes the picture. Inputs that cannot be
// read are returned as errors and listed on the picture; the rest is still
// drawn. The error is for what stops the picture altogether: a live host
// whose /proc cannot be read, an audit policy that does not exist.
func Collect(ctx context.Context, o Options) (*Fleet, []error, error) {
	var b Builder
	var errs []error
	if o.Live != nil {
		inv, err := o.Live(ctx)
		if err != nil {
			return nil, nil, err
		}
		for _, w := range inv.Warnings {
			b.warn(w.Error())
		}
		b.AddInventory(inv, o.Host)
		b.Input("host %s: %d containers, live", o.Host, len(inv.Containers))
	}
	if len(o.Audit) > 0 {
		inputs := make([]source.Input, len(o.Audit))
		for i, p := range o.Audit {
			inputs[i] = source.Input{Path: p}
		}
		res, err := audit.Run(ctx, inputs, o.AuditOptions)
		if err != nil {
			return nil, nil, err
		}
		b.AddAudit(&res.Report, res.Errors)
		for _, e := range res.Errors {
			if !e.Warning {
				errs = append(errs, e)
			}
		}
		b.Input("audit of %s: %d workloads in %d files, policy %s", strings.Join(o.Audit, ", "), len(res.Workloads), res.Files, res.Policy)
	}
	errs = append(errs, b.AddFiles(o.Documents)...)
	if o.Before != "" {
		data, err := ReadFile(o.Before)
		if err == nil {
			err = b.AddBefore(o.Before, data)
		}
		if err != nil {
			errs = append(errs, err)
			b.Error(fmt.Errorf("the earlier state: %w", err))
		}
	}
	return b.Build(o.Title, o.Now), errs, nil
}
