package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/capdrop/capdrop/audit"
	"github.com/capdrop/capdrop/engine"
	"github.com/capdrop/capdrop/fleet"
	"github.com/capdrop/capdrop/internal/term"
	"github.com/capdrop/capdrop/inventory"
	"github.com/capdrop/capdrop/picture"
	"github.com/capdrop/capdrop/procfs"
	"github.com/capdrop/capdrop/source"
	"github.com/capdrop/capdrop/workload"
)

type reportOptions struct {
	live     bool
	audit    []string
	profiles []string
	before   string
	title    string
	output   string
	format   *choice
	policy   *choice
	runtime  *choice
	exclude  []string
	disable  []string
	baseline string
	proc     string
}

func newReportCmd(s *term.Streams) *cobra.Command {
	o := &reportOptions{}
	cmd := &cobra.Command{
		Use:   "report [DOCUMENT...] [--live] [--audit PATH]... [--profiles PATH]... -o FILE",
		Short: "Draw the fleet: one self-contained HTML page of containers × capabilities",
		Long: `Draw what capdrop knows as one HTML page: every container × every capability,
each cell saying whether the container holds it, whether its configuration
asks for it, whether a profile saw it used and whether it is needed; per
container the five sets, why each capability is there, the evidence of each
use, the findings and a ready-to-paste snippet; fleet totals ("held but never
used"), risk by namespace and host, and the before/after of a change or of
the recommendations. The page needs no network and no other file: it opens
from disk, works without JavaScript, and prints.

Inputs combine:
  --live            this host's running containers (as ps --containers)
  --audit PATH      configuration files and directories, audited
  --profiles PATH   profiles and verify results (files or directories)
  DOCUMENT...       any JSON document capdrop wrote: ps --containers -o json,
                    audit -o json (of files, or of a cluster: audit --cluster),
                    profile -o json, verify -o json, a cluster's per-workload
                    profiles, k8s verify -o json (files or directories),
                    so CI can draw the page
                    from artifacts
  --before FILE     an audit or ps --containers document of the state
                    before a change: the page shows what the change took away

Profiles and verify results are matched to containers by container ID, name,
compose service, their file name (web.json, web.profile.json for "web"),
then image; a cluster's workload profile to its workload's containers
(namespace, top controller, container), the template's and every running
Pod's; one that matches nothing gets a row of its own. A cluster's
containers are grouped by namespace, controller and node.

Exit status: 0 written, 2 an input could not be read (the page is still
written, listing it), 3 --live without a readable /proc.`,
		Example: `  capdrop report --live -o report.html
  capdrop report --audit k8s/ --profiles profiles/ -o report.html
  capdrop report --live --audit compose.yaml --profiles web.profile.json -o report.html
  capdrop report ps.json audit.json profiles/ -o report.html
  capdrop audit --cluster -A -o json >cluster.json; capdrop report cluster.json cluster-profiles.json -o cluster.html
  capdrop report --audit compose.yaml --before before.json -o change.html
  capdrop report --audit k8s/ --format text`,
	}
	f := cmd.Flags()
	f.BoolVar(&o.live, "live", false, "this host's running containers")
	f.StringArrayVar(&o.audit, "audit", nil, "audit these configuration files and directories (repeatable)")
	f.StringArrayVar(&o.profiles, "profiles", nil, "profiles and verify results: files or directories of JSON (repeatable)")
	f.StringVar(&o.before, "before", "", "an audit or ps --containers document of the state before a change")
	f.StringVar(&o.title, "title", "", "the page's title (default: what it shows)")
	f.StringVarP(&o.output, "output", "o", "-", "write the page to this file (\"-\": standard output, not a terminal)")
	o.format = choiceFlag(cmd, "format", "html", "html (the page), or text (the matrix, as ps -o matrix draws it)", "html", "text")
	o.policy = choiceFlag(cmd, "policy", audit.PolicyDefault, "audit rule preset: "+strings.Join(audit.Policies, ", "), audit.Policies...)
	o.runtime = choiceFlag(cmd, "runtime", "", "apply this runtime's rules to every audited workload: "+runtimeList(), runtimeNames()...)
	f.StringSliceVar(&o.exclude, "exclude", nil, "skip audited files and directories matching these glob patterns")
	f.StringSliceVar(&o.disable, "disable", nil, "do not show these audit rules' findings (repeatable, comma-separated; as for audit)")
	f.StringVar(&o.baseline, "baseline", "", "do not show the audit's findings that are in this baseline file (as for audit)")
	f.StringVar(&o.proc, "proc", procfs.DefaultRoot, "where the proc filesystem is mounted")
	_ = f.MarkHidden("proc")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return runReport(cmd.Context(), s, o, args)
	}
	return cmd
}

func runReport(ctx context.Context, s *term.Streams, o *reportOptions, args []string) error {
	docs := append(append([]string{}, o.profiles...), args...)
	if !o.live && len(o.audit) == 0 && len(docs) == 0 {
		return usageErrorf("nothing to draw: give --live, --audit PATH, --profiles PATH or documents")
	}
	format := o.format.String()
	if format == "html" && o.output == "-" && s.OutTTY {
		return usageErrorf("the page is HTML: write it to a file with -o report.html")
	}
	base, err := suppressions(o.disable, o.baseline)
	if err != nil {
		return err
	}
	if (len(o.disable) > 0 || base != nil) && len(o.audit) == 0 {
		return usageErrorf("--disable and --baseline apply to --audit; an audit document already holds only the findings its run reported")
	}
	opts := fleet.Options{
		Title: o.title, Now: time.Now(),
		Audit: o.audit,
		AuditOptions: audit.Options{Policy: o.policy.String(), Disable: o.disable, Baseline: base,
			Source: source.Options{Exclude: o.exclude, Runtime: workload.Runtime(o.runtime.String())}},
		Documents: docs, Before: o.before,
	}
	if o.live {
		opts.Host, _ = os.Hostname()
		opts.Live = func(ctx context.Context) (*inventory.Inventory, error) {
			iopts := inventory.Options{Proc: o.proc, All: true, Summaries: true}
			if o.proc == procfs.DefaultRoot {
				iopts.Exclude = []int{os.Getpid()}
			}
			if c, err := engine.FromEnv(); err == nil {
				defer c.Close()
				iopts.Engine = c
			} else {
				fmt.Fprintf(s.ErrOut, "capdrop: warning: docker engine: %v; containers are shown by ID only\n", err)
			}
			return inventory.Take(ctx, iopts)
		}
	}
	if opts.Title == "" {
		opts.Title = reportTitle(o, docs)
	}
	f, errs, err := fleet.Collect(ctx, opts)
	if err != nil {
		if o.live {
			return unsupportedError(err)
		}
		return usageErrorf("%v", err)
	}
	var buf bytes.Buffer
	if format == "text" {
		err = picture.Text(&buf, f, picture.TextOptions{Color: s.Color && o.output == "-", Width: s.Width})
	} else {
		err = picture.HTML(&buf, f, picture.HTMLOptions{Version: versionInfo().Version})
	}
	if err != nil {
		return err
	}
	if o.output == "-" {
		if _, err := s.Out.Write(buf.Bytes()); err != nil {
			return err
		}
	} else if err := writeFileAtomic(o.output, buf.Bytes()); err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	for _, w := range f.Warnings {
		fmt.Fprintf(s.ErrOut, "capdrop: warning: %s\n", w)
	}
	for _, e := range errs {
		fmt.Fprintf(s.ErrOut, "capdrop: %v\n", e)
	}
	if o.output != "-" {
		t := f.Totals()
		fmt.Fprintf(s.ErrOut, "capdrop: wrote %s: %d containers, %d capabilities held", o.output, t.Containers, t.Grants)
		if t.Profiled > 0 {
			fmt.Fprintf(s.ErrOut, ", %d of them never used by the %d profiled", t.Unused, t.Profiled)
		}
		fmt.Fprintf(s.ErrOut, " (%d bytes)\n", buf.Len())
	}
	if len(errs) > 0 {
		return &ExitError{Code: ExitUsage, Silent: true, Err: fmt.Errorf("%d input errors", len(errs))}
	}
	return nil
}

// reportTitle names the page by what it shows.
func reportTitle(o *reportOptions, docs []string) string {
	var parts []string
	if o.live {
		h, _ := os.Hostname()
		parts = append(parts, "host "+h)
	}
	if len(o.audit) > 0 {
		parts = append(parts, strings.Join(o.audit, ", "))
	}
	if len(parts) == 0 && len(docs) > 0 {
		parts = append(parts, strings.Join(docs, ", "))
	}
	return "capdrop report: " + strings.Join(parts, "; ")
}

// writeFileAtomic writes data to path through a temporary file in the same
// directory, so a reader never sees half a page.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
