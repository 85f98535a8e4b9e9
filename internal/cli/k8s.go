package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/capdrop/capdrop/cluster"
	"github.com/capdrop/capdrop/clusterprofile/collect"
	"github.com/capdrop/capdrop/evidence"
	"github.com/capdrop/capdrop/internal/term"
	"github.com/capdrop/capdrop/patch"
	"github.com/capdrop/capdrop/report"
)

// newK8sCmd is `capdrop k8s`: the verbs that work on whole Kubernetes
// workloads.
func newK8sCmd(s *term.Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "k8s",
		Short: "Profile, recommend and prove capability sets for whole Kubernetes workloads",
		Long: `The k8s verbs work on a workload (a Deployment, StatefulSet, DaemonSet,
CronJob, Job or bare Pod) across every replica and node:

  profile    measures what a workload uses, over its replicas and nodes, for a time
  recommend  turns a cluster profile into a strategic-merge patch per workload
  verify     proves a set with shadow Pods (copies of the workload's Pod)

See docs/kubernetes.md for the whole loop and the RBAC each verb needs.`,
		Args: argsUsage(cobra.NoArgs),
	}
	cmd.AddCommand(newK8sProfileCmd(s), newRecommendCmd(s), newK8sVerifyCmd(s))
	return cmd
}

// k8sFlags are the flags that say which cluster to talk to.
type k8sFlags struct {
	kubeconfig, context string
}

func (f *k8sFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.kubeconfig, "kubeconfig", "", "the kubeconfig file (default $KUBECONFIG, ~/.kube/config, then the in-cluster service account)")
	cmd.Flags().StringVar(&f.context, "context", "", "the kubeconfig context (default the current one)")
}

func (f *k8sFlags) connect(namespace string) (*cluster.Client, error) {
	return cluster.Connect(cluster.Options{Kubeconfig: f.kubeconfig, Context: f.context, Namespace: namespace})
}

type recommendOptions struct {
	k8s                      k8sFlags
	from, namespace, outDir  string
	apply, offline           bool
	fromCluster              bool
	allowPartial, allowWiden bool
}

func newRecommendCmd(s *term.Streams) *cobra.Command {
	var o recommendOptions
	cmd := &cobra.Command{
		Use:   "recommend --from CLUSTER-PROFILE [KIND/NAME|NAME]...",
		Short: "Turn a cluster profile into a strategic-merge patch per workload (drop ALL, add what is used)",
		Long: `recommend reads a cluster profile ('capdrop k8s profile -o json') and writes, per
workload, a strategic-merge patch that makes every profiled container drop ALL,
add exactly what its profile recommends (needed, and used but not yet proven
needed) and set allowPrivilegeEscalation: false. The patch carries both lists
complete: they are atomic in the Kubernetes API, so a patch replaces them whole
(a partial list would delete entries). Save it and use it as a kustomize patch,
with 'kubectl patch --type strategic --patch-file', or write the set into the
manifest in git with 'capdrop fix FILE --from CLUSTER-PROFILE'.

recommend reads each workload from the cluster (get, nothing else) to check the
patch against it: containers that are privileged, or whose profile holds a
capability they do not hold today, are left out (capdrop never widens
privileges unless --allow-widen); partial profiles are left out unless
--allow-partial; workloads that Helm, Argo CD, Flux or an operator manage are
named, because a live patch would be reverted at their next sync. --offline
makes the patches from the profile alone.

Nothing is written to the cluster unless --apply: then each patch is first sent
as a server-side dry run (every admission step and validation, nothing stored),
and applied only if that passes. Managed workloads, bare Pods and Jobs (their
Pod template cannot change) are never patched live.`,
		Example: `  capdrop k8s recommend --from cluster-profile.json > patches.yaml
  capdrop k8s recommend --from cluster-profile.json -n shop deployment/web -o json
  capdrop k8s recommend --from cluster-profile.json --out-dir k8s/patches
  capdrop k8s recommend --from cluster-profile.json -n shop web --apply`,
		Args: argsUsage(cobra.ArbitraryArgs),
	}
	f := cmd.Flags()
	o.k8s.add(cmd)
	f.StringVar(&o.from, "from", "", "the cluster profile (capdrop k8s profile -o json; - for stdin)")
	f.BoolVar(&o.fromCluster, "from-cluster", false, "read the profiles capdrop k8s profile --continuous keeps in the cluster (ConfigMaps labelled capdrop.io/profile)")
	f.StringVarP(&o.namespace, "namespace", "n", "", "only the workloads of this namespace (default: every namespace in the profile)")
	f.StringVar(&o.outDir, "out-dir", "", "write each patch to DIR/NAMESPACE.KIND.NAME.yaml instead of standard output")
	f.BoolVar(&o.apply, "apply", false, "patch the live workloads, each after a server-side dry run")
	f.BoolVar(&o.offline, "offline", false, "do not read the cluster: patches from the profile alone")
	f.BoolVar(&o.allowPartial, "allow-partial", false, "use partial profiles (containers not seen from their start)")
	f.BoolVar(&o.allowWiden, "allow-widen", false, "allow sets holding capabilities the containers do not hold today")
	output := outputFlag(cmd, "text", "json", "sarif")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return runRecommend(cmd, s, o, output.String(), args)
	}
	return cmd
}

func runRecommend(cmd *cobra.Command, s *term.Streams, o recommendOptions, output string, args []string) error {
	switch {
	case o.from != "" && o.fromCluster:
		return usageErrorf("give the profiles with one of --from and --from-cluster")
	case o.from == "" && !o.fromCluster:
		return usageErrorf("give the cluster profile with --from (capdrop k8s profile -o json writes it), or --from-cluster")
	case o.apply && o.offline:
		return usageErrorf("--apply patches the cluster; --offline does not read it")
	case o.outDir != "" && output != "text":
		return usageErrorf("--out-dir writes the YAML patches; -o %s goes to standard output", output)
	}
	var ev evidence.Evidence
	var err error
	if o.fromCluster {
		ev, err = storedEvidence(cmd.Context(), o.k8s, o.namespace)
	} else {
		ev, err = readEvidence(s, o.from)
	}
	if err != nil {
		return err
	}
	if ev.Kind != evidence.ClusterProfile {
		return usageErrorf("%s is a %s, not a cluster profile: k8s recommend reads 'capdrop k8s profile -o json' (for one container's set use capdrop fix --from)", o.from, ev.Kind)
	}
	keep, err := workloadFilter(o.namespace, args)
	if err != nil {
		return err
	}
	popts := patch.Options{Evidence: ev, Keep: keep, AllowPartial: o.allowPartial, AllowWiden: o.allowWiden}
	var c *cluster.Client
	if !o.offline {
		if c, err = o.k8s.connect(o.namespace); err != nil {
			return err
		}
		popts.API = c
	}
	ctx := cmd.Context()
	res, err := patch.Recommend(ctx, popts)
	if err != nil {
		return err
	}
	var applyErr error
	if o.apply {
		applyErr = patch.Apply(ctx, c, res)
	}
	if o.outDir != "" {
		if err := writePatches(s, o.outDir, res); err != nil {
			return err
		}
	} else {
		switch output {
		case "json":
			err = report.JSON(s.Out, res)
		case "sarif":
			err = report.RecommendSARIF(s.Out, res, versionInfo().Version)
		default:
			err = report.Text{}.Recommend(s.Out, res)
		}
		if err != nil {
			return err
		}
	}
	if applyErr != nil {
		if _, ok := signalCode(ctx); ok {
			// Exit 130/143: the report above says, per workload, which
			// were patched (whole) and which were not sent.
			return fmt.Errorf("--apply stopped: %s", applyCounts(res))
		}
		return &ExitError{Code: ExitFindings, Err: fmt.Errorf("--apply: %w", applyErr)}
	}
	return nil
}

// applyCounts says how many workloads --apply patched and how many it did
// not send.
func applyCounts(res *patch.Result) string {
	applied, stopped := 0, 0
	for _, r := range res.Recommendations {
		if r.Apply == nil {
			continue
		}
		switch r.Apply.Status {
		case "applied":
			applied++
		case "interrupted":
			stopped++
		}
	}
	return fmt.Sprintf("%d workloads patched, %d not (interrupted before their patch was sent)", applied, stopped)
}

// workloadFilter selects workloads by namespace and by KIND/NAME or NAME
// arguments.
func workloadFilter(namespace string, args []string) (func(patch.Ref) bool, error) {
	type want struct{ kind, name string }
	var ws []want
	for _, a := range args {
		kind, name, ok := strings.Cut(a, "/")
		if !ok {
			kind, name = "", a
		} else {
			r, known := cluster.Lookup(kind)
			if !known {
				return nil, usageErrorf("%s: %s is not a workload kind (deployment, statefulset, daemonset, replicaset, job, cronjob, replicationcontroller, pod)", a, kind)
			}
			kind = r.Kind
		}
		ws = append(ws, want{kind, name})
	}
	return func(r patch.Ref) bool {
		if namespace != "" && r.Namespace != namespace {
			return false
		}
		if len(ws) == 0 {
			return true
		}
		for _, w := range ws {
			if w.name == r.Name && (w.kind == "" || w.kind == r.Kind) {
				return true
			}
		}
		return false
	}, nil
}

// writePatches writes one file per workload with a patch, with its
// comments, and says where each went.
func writePatches(s *term.Streams, dir string, res *patch.Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("--out-dir: %w", err)
	}
	for _, r := range res.Recommendations {
		if r.Patch == nil {
			fmt.Fprint(s.ErrOut, report.RecommendComments(r))
			continue
		}
		y, err := r.Patch.YAML()
		if err != nil {
			return err
		}
		name := strings.ToLower(fmt.Sprintf("%s.%s.%s.yaml", r.Workload.Namespace, r.Workload.Kind, r.Workload.Name))
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, append([]byte(report.RecommendComments(r)), y...), 0o644); err != nil {
			return fmt.Errorf("--out-dir: %w", err)
		}
		fmt.Fprintf(s.Out, "%s: %s\n", p, r.Workload)
	}
	return nil
}

// storedEvidence reads the profiles the continuous mode keeps, in
// namespace ("" for every namespace), as a cluster profile.
func storedEvidence(ctx context.Context, k k8sFlags, namespace string) (evidence.Evidence, error) {
	c, err := cluster.Connect(cluster.Options{Kubeconfig: k.kubeconfig, Context: k.context, Namespace: namespace, AllNamespaces: namespace == ""})
	if err != nil {
		return evidence.Evidence{}, err
	}
	doc, err := collect.Stored(ctx, c, c.Namespace, c.Host)
	if err != nil {
		return evidence.Evidence{}, fmt.Errorf("--from-cluster: %w", err)
	}
	data, err := json.Marshal(doc)
	if err != nil {
		return evidence.Evidence{}, err
	}
	where := "every namespace"
	if c.Namespace != "" {
		where = "namespace " + c.Namespace
	}
	return evidence.Read(bytes.NewReader(data), "the profiles kept in "+where)
}

// workloadRef reads the KIND/NAME the workload verbs take (deployment/web,
// kubectl's spellings of the kind accepted).
func workloadRef(target string) (cluster.Resource, string, error) {
	kind, name, ok := strings.Cut(target, "/")
	if !ok || name == "" {
		return cluster.Resource{}, "", usageErrorf("name the workload as KIND/NAME (deployment/web), not %q", target)
	}
	res, known := cluster.Lookup(kind)
	if !known {
		return cluster.Resource{}, "", usageErrorf("%s is not a workload kind (deployment, statefulset, daemonset, replicaset, job, cronjob, replicationcontroller, pod)", kind)
	}
	return res, name, nil
}
