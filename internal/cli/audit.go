package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/capdrop/capdrop/audit"
	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/fleet"
	"github.com/capdrop/capdrop/internal/input"
	"github.com/capdrop/capdrop/internal/term"
	"github.com/capdrop/capdrop/merge"
	"github.com/capdrop/capdrop/picture"
	"github.com/capdrop/capdrop/report"
	"github.com/capdrop/capdrop/source"
	"github.com/capdrop/capdrop/workload"
)

// auditOptions are the flags of capdrop audit.
type auditOptions struct {
	exclude   []string
	runtime   *choice
	policy    *choice
	failOn    *choice
	output    *choice
	listRules bool
	versions  []string
	engine    string
	strict    bool
	values    []string
	set       []string
	quiet     bool
	verbose   bool
	disable   []string
	baseline  string
	writeBase string
	kube      clusterFlags
}

// clusterFlags select a live cluster, as kubectl's flags do.
type clusterFlags struct {
	on         bool
	kubeconfig string
	context    string
	namespace  string
	all        bool
	selector   string
	chunk      int64
}

func newAuditCmd(s *term.Streams) *cobra.Command {
	o := &auditOptions{}
	cmd := &cobra.Command{
		Use:   "audit PATH... | -",
		Short: "Compute the capabilities each configured container really gets, and judge them",
		Long: `Read docker/podman run lines (scripts, systemd units, Makefiles, Markdown),
compose files, Kubernetes manifests, Dockerfiles (LABEL RUN), OCI config.json,
docker inspect output and Podman Quadlet units; compute the five capability
sets each container's main process really gets under its runtime's exact
rules; report findings with stable rule IDs and a fix in the file's own
dialect.

Directories are read recursively; "-" reads standard input. A directory with
a Chart.yaml is a Helm chart: it is rendered as helm template renders it
(offline, with --values and --set) and its manifests are audited. A directory
with a kustomization.yaml is built as kustomize build builds it (offline),
unless an overlay of the same run includes it; the files a chart or an overlay
uses are audited as rendered or built, not on their own. Kubernetes manifests
use containerd's rules unless --runtime says otherwise.

With --cluster, capdrop reads a live cluster instead of files (the
kubeconfig as kubectl finds it, or the in-cluster service account): every
live Pod as admitted and every workload template, read-only, with each Pod's
top controller, the runtime of its node, and where a Pod differs from its
template. Resources the credentials may not list are reported and skipped
(exit 2); docs/kubernetes.md lists the read-only role it needs.

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
  capdrop audit --cluster -A
  capdrop audit --cluster --context prod -n web -l app=api -o sarif
  capdrop audit --list-rules`,
		Args: func(cmd *cobra.Command, args []string) error {
			if o.listRules || o.kube.on {
				return argsUsage(cobra.NoArgs)(cmd, args)
			}
			return argsUsage(cobra.MinimumNArgs(1))(cmd, args)
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.exclude, "exclude", nil, "skip files and directories matching these glob patterns (repeatable)")
	o.runtime = choiceFlag(cmd, "runtime", "", "apply this runtime's rules to every workload: "+runtimeList(), runtimeNames()...)
	o.policy = choiceFlag(cmd, "policy", audit.PolicyDefault, "rule preset: "+strings.Join(audit.Policies, ", "), audit.Policies...)
	o.failOn = failOnFlag(cmd, "low", "exit 1 when a finding is at or above this severity")
	f.BoolVar(&o.listRules, "list-rules", false, "list the rules and exit")
	f.StringArrayVar(&o.versions, "runtime-version", nil, "model this release of a runtime, RUNTIME=VERSION (e.g. docker=20.10); default: current releases")
	f.StringVar(&o.engine, "engine-caps", "", "capabilities the runtime itself holds (names or a mask, as in CapBnd); default: all")
	f.StringArrayVar(&o.values, "values", nil, "values file merged over every Helm chart's own values, as helm template --values (repeatable)")
	f.StringArrayVar(&o.set, "set", nil, "KEY=VALUE set in every Helm chart's values after --values, as helm template --set (repeatable)")
	f.StringSliceVar(&o.disable, "disable", nil, "do not report these rules (repeatable, comma-separated)")
	f.StringVar(&o.baseline, "baseline", "", "report only findings that are not in this baseline file (see --baseline-write)")
	f.StringVar(&o.writeBase, "baseline-write", "", "write every finding of this run to this file as the accepted baseline")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "text: print the findings only, one line each (file:line:col: SEVERITY RULE: message)")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "text: print every workload with its five sets, why it holds them, and each finding's fix")
	f.BoolVar(&o.strict, "strict", false, "treat warnings (partial objects, templates not rendered, commands in prose that are not shell) as input errors: exit 2")
	f.BoolVar(&o.kube.on, "cluster", false, "audit a live Kubernetes cluster (read-only) instead of files")
	f.StringVar(&o.kube.kubeconfig, "kubeconfig", "", "with --cluster: the kubeconfig file (default $KUBECONFIG, ~/.kube/config, then the in-cluster service account)")
	f.StringVar(&o.kube.context, "context", "", "with --cluster: the kubeconfig context (default the current one)")
	f.StringVarP(&o.kube.namespace, "namespace", "n", "", "with --cluster: the namespace (default the context's)")
	f.BoolVarP(&o.kube.all, "all-namespaces", "A", false, "with --cluster: every namespace")
	f.StringVarP(&o.kube.selector, "selector", "l", "", "with --cluster: only objects with these labels (app=web,tier!=db)")
	f.Int64Var(&o.kube.chunk, "chunk-size", 500, "with --cluster: objects per list call (limit/continue pages)")
	o.output = outputFlag(cmd, "text", "json", "sarif", "matrix")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return runAudit(cmd.Context(), s, o, args)
	}
	return cmd
}

// failOnFlag adds --fail-on: a severity, or never.
func failOnFlag(cmd *cobra.Command, def, usage string) *choice {
	return choiceFlag(cmd, "fail-on", def, usage+": "+strings.Join(append(slices.Clone(audit.Severities), "never"), ", "),
		append(slices.Clone(audit.Severities), "never")...)
}

// threshold is the severity --fail-on names, SeverityUnset for never.
func threshold(failOn *choice) audit.Severity {
	sev, err := audit.ParseSeverity(failOn.String())
	if err != nil {
		return audit.SeverityUnset
	}
	return sev
}

func runAudit(ctx context.Context, s *term.Streams, o *auditOptions, paths []string) error {
	mopts, err := mergeOptions(o.versions, o.engine)
	if err != nil {
		return err
	}
	if o.listRules {
		return listRules(s, o.output.String())
	}
	base, err := suppressions(o.disable, o.baseline)
	if err != nil {
		return err
	}
	if o.kube.on {
		return runClusterAudit(ctx, s, o, audit.Options{Policy: o.policy.String(), Merge: mopts, Disable: o.disable, Baseline: base})
	}
	if o.kube != (clusterFlags{chunk: o.kube.chunk}) {
		return usageErrorf("--kubeconfig, --context, --namespace, --all-namespaces and --selector need --cluster")
	}
	inputs := make([]source.Input, len(paths))
	for i, p := range paths {
		inputs[i] = source.Input{Path: p}
		if p == "-" {
			inputs[i] = source.Input{Reader: s.In, Name: source.StdinName}
		}
	}
	aopts := audit.Options{
		Policy:   o.policy.String(),
		Merge:    mopts,
		Disable:  o.disable,
		Baseline: base,
		Source:   source.Options{Exclude: o.exclude, Runtime: workload.Runtime(o.runtime.String()), HelmValues: o.values, HelmSet: o.set},
	}
	if o.output.String() == "matrix" || o.writeBase != "" {
		// These need the whole report at once.
		res, err := audit.Run(ctx, inputs, aopts)
		if err != nil {
			return err
		}
		if o.writeBase != "" {
			data, err := json.MarshalIndent(audit.NewBaseline(&res.Report), "", "  ")
			if err == nil {
				err = os.WriteFile(o.writeBase, append(data, '\n'), 0o644)
			}
			if err != nil {
				return fmt.Errorf("--baseline-write: %w", err)
			}
		}
		a := report.Audit{Report: &res.Report, Errors: res.Errors, Files: res.Files, Skipped: res.Skipped, SkippedBy: res.SkippedBy, Tool: versionInfo().Version}
		return renderAudit(s, o, a)
	}
	// Streamed: what is kept does not grow with the input.
	format := o.output.String()
	switch {
	case format != "text":
	case o.quiet:
		format = report.StreamQuiet
	case o.verbose:
		format = report.StreamVerbose
	}
	st, err := report.NewAuditStream(s.Out, format, textRenderer(s), aopts.Policy, versionInfo().Version)
	if err != nil {
		return err
	}
	defer st.Discard()
	if err := audit.Stream(ctx, inputs, aopts, st.Add); err != nil {
		return err
	}
	if err := st.Close(); err != nil {
		return err
	}
	return auditExit(s, o, st.Max(), st.Errors(), nil)
}

// renderAudit prints an audit in the chosen format and maps it to the exit
// status.
func renderAudit(s *term.Streams, o *auditOptions, a report.Audit) error {
	var err error
	switch o.output.String() {
	case "json":
		err = report.AuditJSON(s.Out, a)
	case "sarif":
		err = report.AuditSARIF(s.Out, a)
	case "matrix":
		var b fleet.Builder
		b.AddAuditDoc(report.NewAuditDoc(a)) // a cluster's too: grouped by namespace, controller and node
		err = picture.Text(s.Out, b.Build("", time.Time{}), picture.TextOptions{Color: s.Color, Width: s.Width})
	default:
		switch {
		case o.quiet:
			err = textRenderer(s).AuditQuiet(s.Out, a)
		case o.verbose:
			err = textRenderer(s).AuditVerbose(s.Out, a)
		default:
			err = textRenderer(s).AuditText(s.Out, a)
		}
	}
	if err != nil {
		return err
	}
	return auditExit(s, o, a.Report.Max(), a.Errors, a.Cluster)
}

// auditExit reports the input errors (and a cluster's unread resources) on
// standard error and maps the audit to the exit status.
func auditExit(s *term.Streams, o *auditOptions, max audit.Severity, errs []*workload.Error, cluster *report.Cluster) error {
	failed := 0
	if cluster != nil {
		for _, sk := range cluster.Skipped {
			fmt.Fprintf(s.ErrOut, "capdrop: not read: %s: %s\n", sk.Resource, sk.Reason)
			failed++
		}
	}
	for _, e := range errs {
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
	switch t := threshold(o.failOn); {
	case failed > 0:
		return &ExitError{Code: ExitUsage, Silent: true, Err: fmt.Errorf("%d input errors", failed)}
	case t != audit.SeverityUnset && max >= t:
		return errFindings
	}
	return nil
}

// mergeOptions turns --runtime-version and --engine-caps into the model's
// options.
func mergeOptions(versions []string, engineCaps string) (merge.Options, error) {
	var m merge.Options
	for _, v := range versions {
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
	if engineCaps != "" {
		set, err := capset.ParseSet(engineCaps)
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

func runtimeNames() []string {
	names := make([]string, len(workload.Runtimes))
	for i, r := range workload.Runtimes {
		names[i] = string(r)
	}
	return names
}

func runtimeList() string { return strings.Join(runtimeNames(), ", ") }

// suppressions checks --disable's rules and reads --baseline's file.
func suppressions(disable []string, baseline string) (*audit.Baseline, error) {
	for _, r := range disable {
		if _, ok := audit.RuleByID(strings.ToUpper(r)); !ok {
			return nil, usageErrorf("--disable: no rule %q (capdrop audit --list-rules)", r)
		}
	}
	if baseline == "" {
		return nil, nil
	}
	data, err := input.ReadFile(baseline, 0)
	if err != nil {
		return nil, usageErrorf("--baseline: %v", err)
	}
	base, err := audit.ReadBaseline(bytes.NewReader(data))
	if err != nil {
		return nil, usageErrorf("--baseline %s: %v", baseline, err)
	}
	return base, nil
}
