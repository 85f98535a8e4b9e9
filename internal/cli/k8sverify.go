package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/clusterprofile"
	"github.com/capdrop/capdrop/evidence"
	"github.com/capdrop/capdrop/internal/term"
	"github.com/capdrop/capdrop/report"
	"github.com/capdrop/capdrop/shadow"
)

type k8sVerifyOptions struct {
	k8s                      k8sFlags
	namespace, container     string
	from, capAdd             string
	minimize, noPrediction   bool
	allowWiden, allowPartial bool
	retries                  int
	timeout, settle          time.Duration
}

func newK8sVerifyCmd(s *term.Streams) *cobra.Command {
	var o k8sVerifyOptions
	cmd := &cobra.Command{
		Use:   "verify KIND/NAME",
		Short: "Prove a capability set for a workload's container with shadow Pods; --minimize finds the 1-minimal set",
		Long: `verify starts shadow Pods: copies of the workload's Pod template whose container
drops ALL and adds exactly the candidate set, without the labels that the
namespace's Services, controllers and PodDisruptionBudgets select (no traffic
reaches a shadow, no controller adopts it) and without an owner. A shadow
passes when it becomes Ready and stays Ready, without a container restart, for
--settle (a Pod that does not restart its containers: when it succeeds); it
fails when a container exits with an error, restarts or cannot start, or when
it is not Ready within --timeout.

The candidate set is --cap-add, or --from a document (a cluster profile: the
container's profile; a profile or a verify result), or what the container holds
today. verify never gives a shadow a capability the container does not hold
today unless --allow-widen, and refuses privileged containers.

--minimize runs delta debugging over shadows, one at a time, down to the
1-minimal set: it works, and removing any one capability fails.

Every shadow carries the label capdrop.io/verify=SESSION, ends itself after
a deadline (activeDeadlineSeconds) should capdrop be killed, is deleted when
its trial ends, and verify deletes whatever still carries its label — and waits
for it to go — before it exits, also on Ctrl-C or SIGTERM.

Shadows run the workload for real, beside its own Pods: a queue consumer takes
messages, a cron worker does its job. verify needs to create, get, list and
delete Pods in the namespace (deploy/kubernetes/verify-rbac.yaml).`,
		Example: `  capdrop k8s verify deployment/web -n shop --from cluster-profile.json
  capdrop k8s verify deployment/web -n shop --container app --minimize -o json > verify.json
  capdrop fix k8s/web.yaml --container app --from verify.json`,
		Args: argsUsage(cobra.ExactArgs(1)),
	}
	f := cmd.Flags()
	o.k8s.add(cmd)
	f.StringVarP(&o.namespace, "namespace", "n", "", "the workload's namespace (default the context's)")
	f.StringVarP(&o.container, "container", "c", "", "the container (needed when the Pod has several)")
	f.StringVar(&o.from, "from", "", "the candidate set from a cluster profile, profile or verify JSON document (- for stdin)")
	f.StringVar(&o.capAdd, "cap-add", "", "the candidate set: names or hex masks, comma-separated; '' for none")
	f.BoolVar(&o.minimize, "minimize", false, "shrink the set to a 1-minimal one by delta debugging over shadows")
	f.BoolVar(&o.noPrediction, "no-prediction", false, "with --minimize: run every set instead of predicting from ones already run")
	f.IntVar(&o.retries, "retries", 0, "run each set this many more times; a set that both passes and fails is flaky")
	f.DurationVar(&o.timeout, "timeout", shadow.DefaultTimeout, "the longest a shadow may take to become Ready (or to succeed)")
	f.DurationVar(&o.settle, "settle", shadow.DefaultSettle, "how long a Ready shadow must stay Ready without a restart")
	f.BoolVar(&o.allowWiden, "allow-widen", false, "allow a set holding capabilities the container does not hold today")
	f.BoolVar(&o.allowPartial, "allow-partial", false, "with a cluster profile: use a partial profile")
	output := outputFlag(cmd, "text", "json")
	_ = cmd.RegisterFlagCompletionFunc("cap-add", completeCaps)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return runK8sVerify(cmd, s, o, output.String(), args[0])
	}
	return cmd
}

func runK8sVerify(cmd *cobra.Command, s *term.Streams, o k8sVerifyOptions, output, target string) error {
	res, name, err := workloadRef(target)
	if err != nil {
		return err
	}
	switch {
	case o.from != "" && cmd.Flags().Changed("cap-add"):
		return usageErrorf("give the set with one of --cap-add and --from")
	case o.retries < 0:
		return usageErrorf("--retries must not be negative")
	case o.timeout <= 0 || o.settle <= 0:
		return usageErrorf("--timeout and --settle must be positive")
	}
	c, err := o.k8s.connect(o.namespace)
	if err != nil {
		return err
	}
	ns := c.Namespace
	opts := shadow.Options{API: c, Resource: res, Namespace: ns, Name: name, Container: o.container,
		Minimize: o.minimize, Retries: o.retries, NoPrediction: o.noPrediction, AllowWiden: o.allowWiden,
		Timeout: o.timeout, Settle: o.settle,
		Warn: func(err error) { fmt.Fprintf(s.ErrOut, "capdrop: warning: %v\n", err) }}
	switch {
	case cmd.Flags().Changed("cap-add"):
		l, err := capset.ParseList(o.capAdd)
		if err != nil {
			return usageErrorf("--cap-add: %v", err)
		}
		if l.All {
			return usageErrorf("--cap-add ALL is not a reduced set")
		}
		opts.Start, opts.StartFrom, opts.HasStart = l.Set, "--cap-add", true
	case o.from != "":
		ev, err := readEvidence(s, o.from)
		if err != nil {
			return err
		}
		if ev.Kind == evidence.ClusterProfile {
			ctr, init, err := profiledContainer(ev, ns, res.Kind, name, o.container)
			if err != nil {
				return err
			}
			opts.Container = ctr
			var notes []string
			ev, notes, err = ev.Pick(evidence.Ref{Namespace: ns, Kind: res.Kind, Name: name, Container: ctr, Init: init}, o.allowPartial)
			if err != nil {
				return err
			}
			for _, n := range notes {
				fmt.Fprintf(s.ErrOut, "capdrop: note: %s\n", n)
			}
		}
		opts.Start, opts.StartFrom, opts.HasStart = ev.Set, ev.String(), true
	}
	t := report.Text{Color: s.Color, Width: s.Width}
	var live io.Writer
	if output == "text" {
		live = s.Out
		opts.OnStart = func(r *shadow.Result) { t.ShadowHeader(live, r) }
		opts.OnRun = func(tr shadow.Trial) { t.ShadowRun(live, tr) }
	}
	r, runErr := shadow.Run(cmd.Context(), opts)
	if r == nil {
		return runErr
	}
	if output == "json" {
		if err := report.JSON(s.Out, r); err != nil {
			return err
		}
	} else if err := t.ShadowSummary(s.Out, r); err != nil {
		return err
	}
	if runErr != nil {
		return runErr
	}
	if len(r.Left) > 0 {
		return fmt.Errorf("shadow Pods left in %s: %s", ns, strings.Join(r.Left, ", "))
	}
	if !r.Passed {
		return errFindings
	}
	return nil
}

// profiledContainer picks the container of a workload a cluster profile
// has profiles of: the one named, or the only one.
func profiledContainer(ev evidence.Evidence, ns, kind, name, container string) (string, bool, error) {
	ps := ev.Profiles.Find(clusterprofile.Workload{Namespace: ns, Kind: kind, Name: name, Container: container})
	seen := map[string]bool{}
	var names []string
	init := false
	for _, p := range ps {
		if !seen[p.Workload.String()] {
			seen[p.Workload.String()] = true
			names = append(names, p.Workload.String())
			init = p.Workload.ContainerType == "init" || p.Workload.ContainerType == "sidecar"
		}
	}
	switch len(names) {
	case 0:
		return "", false, fmt.Errorf("%s: %w %s/%s/%s", ev.Name, evidence.ErrNoProfile, ns, kind, name)
	case 1:
		return ps[0].Workload.Container, init, nil
	}
	return "", false, usageErrorf("%s has profiles of several containers of %s/%s/%s (%s): choose one with --container", ev.Name, ns, kind, name, strings.Join(names, ", "))
}
