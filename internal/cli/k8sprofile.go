package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/capdrop/capdrop/agent"
	"github.com/capdrop/capdrop/cluster"
	"github.com/capdrop/capdrop/clusterprofile/collect"
	"github.com/capdrop/capdrop/deploy/kubernetes"
	"github.com/capdrop/capdrop/internal/input"
	"github.com/capdrop/capdrop/internal/term"
	"github.com/capdrop/capdrop/report"
)

type k8sProfileOptions struct {
	k8s                               k8sFlags
	namespace, manifest               string
	duration, minWindow, agentTimeout time.Duration
	noDeploy, continuous, all         bool
	interval                          time.Duration
}

func newK8sProfileCmd(s *term.Streams) *cobra.Command {
	var o k8sProfileOptions
	cmd := &cobra.Command{
		Use:   "profile KIND/NAME --duration D | --continuous",
		Short: "Profile a workload across its replicas and nodes for a time, with capdrop's node agents",
		Long: `profile measures the capabilities a workload (a Deployment, StatefulSet,
DaemonSet, CronJob, Job or bare Pod) uses, across every replica and node, for
--duration, with capdrop's node agents (capdrop agent, one per node), and
writes a cluster profile: per container, the union over its Pods of what the
kernel checked, with per capability the Pods and nodes that used it and one
piece of evidence. Save it with -o json for 'capdrop k8s recommend --from' and
'capdrop fix --from'.

The agents are found through their DaemonSet (the one the agent manifest
names). When it does not run, profile DEPLOYS the agent manifest built into
capdrop (deploy/kubernetes/agent.yaml, or --agent-manifest) for the time of
the profile and says so. Profiles running at the same time share an agent a
profile deployed: each holds a lease on its DaemonSet (an annotation it
renews), and the last one to end — when it ends, fails or is interrupted
(Ctrl-C) — removes what the profiles deployed and waits until it is gone.
The lease of a profile that was killed expires after two minutes and keeps
nothing: the next profile to end removes the agent. An agent DaemonSet no
profile deployed is used as it is and never removed. --no-deploy refuses to
deploy.

profile waits until an agent answers on every node that runs the workload's
Pods, then reads each agent's report through the API server's pod proxy at
the start and at the end of the window: it needs no access to the nodes.
A profile is complete only when every container was seen from its start
(containers started before their node's agent are not: restart the workload
once the agents run), no check was lost, every Pod that ran was reported,
and the window covered --min-window; otherwise it is partial and says why.
A rollout that changes the image, command, arguments or environment names
starts a new profile (a new fingerprint).

--continuous keeps, instead, one ConfigMap per workload container in the
workload's namespace (capdrop-profile-KIND-NAME-CONTAINER, labelled
capdrop.io/profile, owned by the workload so that it is deleted with it),
holding its profile: every --interval it reads every agent and folds what
they report into those objects, so what an agent forgets (a Pod long gone, a
node removed) stays; a rollout to a new fingerprint starts the object again.
It runs until stopped (or for --duration), never deploys the agent, and
'capdrop k8s recommend --from-cluster' reads the objects.

It needs the roles in deploy/kubernetes/profile-rbac.yaml.`,
		Example: `  capdrop k8s profile deployment/web -n shop --duration 30m -o json > cluster-profile.json
  capdrop k8s profile cronjob/backup -n ops --duration 2h --min-window 1h
  capdrop k8s profile daemonset/log-shipper -n kube-system --duration 10m --no-deploy
  capdrop k8s profile --continuous -A --interval 5m`,
		Args: argsUsage(cobra.MaximumNArgs(1)),
	}
	f := cmd.Flags()
	o.k8s.add(cmd)
	f.StringVarP(&o.namespace, "namespace", "n", "", "the workload's namespace (default the context's)")
	f.DurationVar(&o.duration, "duration", 0, "how long to profile (required; with --continuous: how long to run, default until stopped)")
	f.BoolVar(&o.continuous, "continuous", false, "keep every workload container's profile in a ConfigMap, updated every --interval")
	f.DurationVar(&o.interval, "interval", time.Minute, "with --continuous: how often to read the agents")
	f.BoolVarP(&o.all, "all-namespaces", "A", false, "with --continuous: the workloads of every namespace")
	f.DurationVar(&o.minWindow, "min-window", collect.DefaultMinWindow, "the least a profile must cover to be complete")
	f.DurationVar(&o.agentTimeout, "agent-timeout", collect.DefaultAgentTimeout, "how long to wait for the agents to answer")
	f.BoolVar(&o.noDeploy, "no-deploy", false, "never deploy the agent: fail when its DaemonSet does not run")
	f.StringVar(&o.manifest, "agent-manifest", "", "the agent manifest to look for and deploy (default the one built in, deploy/kubernetes/agent.yaml)")
	output := outputFlag(cmd, "text", "json")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if o.continuous {
			return runK8sProfileContinuous(cmd, s, o, args)
		}
		if len(args) == 0 {
			return usageErrorf("name the workload to profile as KIND/NAME (or keep profiles of every workload with --continuous)")
		}
		return runK8sProfile(cmd, s, o, output.String(), args[0])
	}
	return cmd
}

func runK8sProfile(cmd *cobra.Command, s *term.Streams, o k8sProfileOptions, output, target string) error {
	res, name, err := workloadRef(target)
	if err != nil {
		return err
	}
	switch {
	case o.duration <= 0:
		return usageErrorf("give how long to profile with --duration (30m, 2h)")
	case o.minWindow < 0 || o.agentTimeout <= 0:
		return usageErrorf("--min-window must not be negative and --agent-timeout must be positive")
	}
	manifest, manifestName, _, err := agentManifest(o.manifest)
	if err != nil {
		return err
	}
	c, err := o.k8s.connect(o.namespace)
	if err != nil {
		return err
	}
	opts := collect.Options{API: c, Resource: res, Namespace: c.Namespace, Name: name,
		Duration: o.duration, MinWindow: o.minWindow, AgentTimeout: o.agentTimeout, NoDeploy: o.noDeploy,
		Manifest: manifest, ManifestName: manifestName, Cluster: c.Host, Top: topOf(c), Log: logTo(s),
		// The agent deployed for a profile does not pin its tracer, so
		// nothing of it stays on the nodes once it is removed.
		SessionArgs: []string{"--no-pin"}}
	r, runErr := collect.Run(cmd.Context(), opts)
	if r != nil && r.Document != nil {
		var err error
		if output == "json" {
			err = report.JSON(s.Out, r.Document)
		} else {
			err = report.Text{Color: s.Color, Width: s.Width}.ClusterProfile(s.Out, r.Document)
		}
		if err != nil {
			return err
		}
	}
	if runErr != nil {
		if errors.Is(runErr, collect.ErrNoAgent) {
			return &ExitError{Code: ExitUnsupported, Err: runErr}
		}
		return runErr
	}
	if r != nil && len(r.Left) > 0 {
		return fmt.Errorf("left in the cluster: %s", strings.Join(r.Left, ", "))
	}
	return nil
}

// agentManifest reads the agent manifest: the file given, or the one built
// in. It returns the agent's DaemonSet as the manifest names it.
func agentManifest(file string) ([]byte, string, collect.AgentSet, error) {
	manifest, name := []byte(nil), "deploy/kubernetes/"+kubernetes.AgentFile+" (built in)"
	if file != "" {
		data, err := input.ReadFile(file, input.DefaultLimit)
		if err != nil {
			return nil, "", collect.AgentSet{}, fmt.Errorf("--agent-manifest: %w", err)
		}
		manifest, name = data, file
	} else {
		data, err := kubernetes.File(kubernetes.AgentFile)
		if err != nil {
			return nil, "", collect.AgentSet{}, &ExitError{Code: ExitUnsupported, Err: fmt.Errorf("%s: %w: give one with --agent-manifest", name, err)}
		}
		manifest = data
	}
	objs, err := collect.ParseManifest(name, manifest)
	if err != nil {
		return nil, "", collect.AgentSet{}, err
	}
	for _, o := range objs {
		if o.Resource == collect.DaemonSets {
			a, err := collect.ReadAgentSet(o.JSON)
			if err != nil {
				return nil, "", a, fmt.Errorf("%s: %w", name, err)
			}
			return manifest, name, a, nil
		}
	}
	return nil, "", collect.AgentSet{}, fmt.Errorf("%s: no DaemonSet", name)
}

// topOf resolves owner references to top controllers through c, reading
// each owner once, as metadata.
func topOf(c *cluster.Client) collect.TopFunc {
	owners := c.Owners()
	return func(ctx context.Context, ns string, ref agent.OwnerRef) (agent.OwnerRef, error) {
		t, err := owners.Top(ctx, ns, cluster.OwnerRef{APIVersion: ref.APIVersion, Kind: ref.Kind, Name: ref.Name, UID: ref.UID})
		return agent.OwnerRef{APIVersion: t.APIVersion, Kind: t.Kind, Name: t.Name, UID: t.UID}, err
	}
}

func logTo(s *term.Streams) func(string, ...any) {
	return func(format string, args ...any) { fmt.Fprintf(s.ErrOut, "capdrop: "+format+"\n", args...) }
}

// runK8sProfileContinuous keeps the profiles in the cluster until stopped.
func runK8sProfileContinuous(cmd *cobra.Command, s *term.Streams, o k8sProfileOptions, args []string) error {
	switch {
	case len(args) > 0:
		return usageErrorf("--continuous keeps the profiles of every workload (of -n, or -A): it takes no workload")
	case o.interval <= 0 || o.duration < 0:
		return usageErrorf("--interval must be positive and --duration not negative")
	case o.noDeploy:
		return usageErrorf("--continuous never deploys the agent: --no-deploy is implied")
	}
	_, _, a, err := agentManifest(o.manifest)
	if err != nil {
		return err
	}
	c, err := cluster.Connect(cluster.Options{Kubeconfig: o.k8s.kubeconfig, Context: o.k8s.context, Namespace: o.namespace, AllNamespaces: o.all})
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	if _, err := c.Get(ctx, collect.DaemonSets, a.Namespace, a.Name); err != nil {
		if errors.Is(err, cluster.ErrNotFound) {
			return &ExitError{Code: ExitUnsupported, Err: fmt.Errorf("%w (%s/%s): deploy deploy/kubernetes/%s first", collect.ErrNoAgent, a.Namespace, a.Name, kubernetes.AgentFile)}
		}
		return err
	}
	cont := &collect.Continuous{API: c, Top: topOf(c), Agent: a, Namespace: c.Namespace, MinWindow: o.minWindow, Cluster: c.Host, Log: logTo(s)}
	where := "namespace " + c.Namespace
	if c.Namespace == "" {
		where = "every namespace"
	}
	fmt.Fprintf(s.ErrOut, "capdrop: keeping the profiles of %s in ConfigMaps labelled %s, every %s\n", where, collect.LabelProfile, o.interval)
	return cont.Run(ctx, o.interval, o.duration)
}
