package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/capdrop/capdrop/audit"
	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/fleet"
	"github.com/capdrop/capdrop/internal/term"
	"github.com/capdrop/capdrop/merge"
	"github.com/capdrop/capdrop/picture"
	"github.com/capdrop/capdrop/report"
	"github.com/capdrop/capdrop/source"
	"github.com/capdrop/capdrop/workload"
)

func init() { register("check", newAuditCmd) }

// sources reads configuration files into workloads: source.Collect and
// source.Parse, which tests may replace.
type sources struct {
	collect func(paths []string, opts source.Options) source.Result
	parse   func(name string, data []byte, opts source.Options) ([]workload.Workload, []*workload.Error)
}

// auditSources are the readers the audit command uses.
var auditSources = sources{collect: source.Collect, parse: source.Parse}

type auditOptions struct {
	exclude   []string
	runtime   string
	policy    string
	failOn    string
	output    string
	listRules bool
	versions  []string
	engine    string
	strict    bool
}

func newAuditCmd(s *term.Streams) *cobra.Command {
	var o auditOptions
	cmd := &cobra.Command{
		Use:   "audit PATH... | -",
		Short: "Compute the capabilities each configured container really gets, and judge them",
		Long: `Read docker/podman run lines (scripts, systemd units, Makefiles, Markdown),
compose files, Kubernetes manifests, Dockerfiles (LABEL RUN), OCI config.json,
docker inspect output and Podman Quadlet units; compute the five capability
sets each container's main process really gets under its runtime's exact
rules; report findings with stable rule IDs and a fix in the file's own
dialect.

Directories are read recursively; "-" reads standard input. Kubernetes
manifests use containerd's rules unless --runtime says otherwise.

Exit status: 0 when no finding reaches --fail-on, 1 when one does, 2 when an
input could not be read (everything else is still audited). Warnings (a
patch outside any build, a template nobody renders, a command in prose that
is not shell) are reported and do not change the exit status, unless
--strict.`,
		Example: `  capdrop audit compose.yaml
  capdrop audit --policy restricted -o sarif k8s/ > capdrop.sarif
  capdrop audit -o matrix k8s/
  capdrop audit --runtime-version docker=20.10 --fail-on high scripts/
  kubectl get deploy -o yaml | capdrop audit -
  capdrop audit --list-rules`,
		Args: func(cmd *cobra.Command, args []string) error {
			if o.listRules {
				return argsUsage(cobra.NoArgs)(cmd, args)
			}
			return argsUsage(cobra.MinimumNArgs(1))(cmd, args)
		},
	}
	cmd.Flags().StringSliceVar(&o.exclude, "exclude", nil, "skip files and directories matching these glob patterns (repeatable)")
	runtimes := make([]string, len(workload.Runtimes))
	for i, r := range workload.Runtimes {
		runtimes[i] = string(r)
	}
	cmd.Flags().StringVar(&o.runtime, "runtime", "", "apply this runtime's rules to every workload: "+strings.Join(runtimes, ", "))
	cmd.Flags().StringVar(&o.policy, "policy", audit.PolicyDefault, "rule preset: "+strings.Join(audit.Policies, ", "))
	cmd.Flags().StringVar(&o.failOn, "fail-on", "low", "exit 1 when a finding is at or above this severity: low, medium, high, critical, never")
	cmd.Flags().BoolVar(&o.listRules, "list-rules", false, "list the rules and exit")
	cmd.Flags().StringArrayVar(&o.versions, "runtime-version", nil, "model this release of a runtime, RUNTIME=VERSION (e.g. docker=20.10); default: current releases")
	cmd.Flags().StringVar(&o.engine, "engine-caps", "", "capabilities the runtime itself holds (names or a mask, as in CapBnd); default: all")
	cmd.Flags().BoolVar(&o.strict, "strict", false, "treat warnings (partial objects, templates not rendered, commands in prose that are not shell) as input errors: exit 2")
	out := outputFlag(cmd, "text", "json", "sarif", "matrix")
	_ = cmd.RegisterFlagCompletionFunc("runtime", cobra.FixedCompletions(runtimes, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("policy", cobra.FixedCompletions(audit.Policies, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("fail-on", cobra.FixedCompletions(append(audit.Severities, "never"), cobra.ShellCompDirectiveNoFileComp))
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		o.output = *out
		return runAudit(s, o, args)
	}
	return cmd
}

func runAudit(s *term.Streams, o auditOptions, paths []string) error {
	if err := checkChoice("output", o.output, "text", "json", "sarif", "matrix"); err != nil {
		return err
	}
	if err := checkChoice("policy", o.policy, audit.Policies...); err != nil {
		return err
	}
	threshold := audit.SeverityUnset // never
	if o.failOn != "never" {
		sev, err := audit.ParseSeverity(o.failOn)
		if err != nil {
			return usageErrorf("--fail-on must be one of low, medium, high, critical, never, not %q", o.failOn)
		}
		threshold = sev
	}
	if o.runtime != "" {
		ok := false
		for _, r := range workload.Runtimes {
			ok = ok || string(r) == o.runtime
		}
		if !ok {
			return usageErrorf("--runtime must be one of %s, not %q", runtimeList(), o.runtime)
		}
	}
	mopts, err := mergeOptions(o)
	if err != nil {
		return err
	}
	if o.listRules {
		return listRules(s, o.output)
	}

	sopts := source.Options{Exclude: o.exclude, Runtime: workload.Runtime(o.runtime)}
	var res source.Result
	var files []string
	stdin := false
	for _, p := range paths {
		if p == source.Stdin {
			stdin = true
			continue
		}
		files = append(files, p)
	}
	if f, ok := s.In.(*os.File); ok && f == os.Stdin {
		// The process's own standard input: Collect reads it in place.
		files, stdin = paths, false
	}
	if len(files) > 0 {
		res = auditSources.collect(files, sopts)
	}
	if stdin {
		ws, errs := readStdin(s.In, sopts)
		res.Workloads = append(res.Workloads, ws...)
		res.Errors = append(res.Errors, errs...)
		res.Files++
	}

	rep, err := audit.Evaluate(res.Workloads, audit.Options{Policy: o.policy, Merge: mopts})
	if err != nil {
		return usageErrorf("%v", err)
	}
	a := report.Audit{Report: rep, Errors: res.Errors, Files: res.Files, Skipped: res.Skipped, Tool: versionInfo().Version}
	switch o.output {
	case "json":
		err = report.AuditJSON(s.Out, a)
	case "sarif":
		err = report.AuditSARIF(s.Out, a)
	case "matrix":
		var b fleet.Builder
		b.AddAudit(rep, res.Errors)
		err = picture.Text(s.Out, b.Build("", time.Time{}), picture.TextOptions{Color: s.Color, Width: s.Width})
	default:
		err = textRenderer(s).AuditText(s.Out, a)
	}
	if err != nil {
		return err
	}
	failed := 0
	for _, e := range res.Errors {
		if e.Warning {
			fmt.Fprintf(s.ErrOut, "capdrop: warning: %v\n", e)
			if o.strict {
				failed++
			}
			continue
		}
		failed++
		fmt.Fprintf(s.ErrOut, "capdrop: %v\n", e)
	}
	switch {
	case failed > 0:
		return &ExitError{Code: ExitUsage, Silent: true, Err: fmt.Errorf("%d input errors", failed)}
	case threshold != audit.SeverityUnset && rep.Max() >= threshold:
		return errFindings
	}
	return nil
}

// readStdin parses standard input as one file, with the same size limit
// as files.
func readStdin(in io.Reader, opts source.Options) ([]workload.Workload, []*workload.Error) {
	limit := opts.MaxFileSize
	if limit <= 0 {
		limit = source.DefaultMaxFileSize
	}
	data, err := io.ReadAll(io.LimitReader(in, limit+1))
	pos := workload.Position{File: source.StdinName}
	switch {
	case err != nil:
		return nil, []*workload.Error{{Pos: pos, Err: fmt.Errorf("read standard input: %w", err)}}
	case int64(len(data)) > limit:
		return nil, []*workload.Error{{Pos: pos, Err: fmt.Errorf("standard input is larger than %d bytes; not read", limit)}}
	}
	return auditSources.parse(source.StdinName, data, opts)
}

// mergeOptions turns --runtime-version and --engine-caps into the model's
// options.
func mergeOptions(o auditOptions) (merge.Options, error) {
	var m merge.Options
	for _, v := range o.versions {
		rt, ver, ok := strings.Cut(v, "=")
		if !ok {
			return m, usageErrorf("--runtime-version wants RUNTIME=VERSION (e.g. docker=20.10), not %q", v)
		}
		known := false
		for _, r := range workload.Runtimes {
			known = known || string(r) == rt
		}
		if !known {
			return m, usageErrorf("--runtime-version: unknown runtime %q (want one of %s)", rt, runtimeList())
		}
		parsed, err := merge.ParseVersion(ver)
		if err != nil {
			return m, usageErrorf("--runtime-version: %v", err)
		}
		if m.Versions == nil {
			m.Versions = map[workload.Runtime]merge.Version{}
		}
		m.Versions[workload.Runtime(rt)] = parsed
	}
	if o.engine != "" {
		set, err := capset.ParseSet(o.engine)
		if err != nil {
			return m, usageErrorf("--engine-caps: %v", err)
		}
		if set == 0 {
			return m, usageErrorf("--engine-caps: an engine without capabilities cannot start containers")
		}
		m.Host = set
	}
	return m, nil
}

func listRules(s *term.Streams, output string) error {
	rules := audit.Rules()
	switch output {
	case "json":
		return report.JSON(s.Out, rules)
	case "sarif", "matrix":
		return usageErrorf("--list-rules prints text or json")
	}
	p := s.Palette()
	tab := term.Table{MaxWidth: s.Width}
	tab.Row("ID", "SEVERITY", "DEFAULT", "BASELINE", "RESTRICTED", "TITLE")
	for _, r := range rules {
		sev := r.Severity.String()
		if r.SeverityFrom == "risk" {
			sev += "*"
		}
		row := []string{p.Bold(r.ID), sev}
		for _, pol := range audit.Policies {
			lvl, on := r.Level(pol)
			if on {
				row = append(row, lvl.String())
			} else {
				row = append(row, "-")
			}
		}
		tab.Row(append(row, r.Title)...)
	}
	if err := tab.Render(s.Out); err != nil {
		return err
	}
	_, err := fmt.Fprintln(s.Out, "\n* severity of each finding = the knowledge-base risk of its capability.\nFull text: capdrop audit --list-rules -o json, or docs/audit.md.")
	return err
}

func runtimeList() string {
	names := make([]string, len(workload.Runtimes))
	for i, r := range workload.Runtimes {
		names[i] = string(r)
	}
	return strings.Join(names, ", ")
}
