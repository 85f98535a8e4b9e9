package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/capdrop/capdrop/audit"
	"github.com/capdrop/capdrop/cluster"
	"github.com/capdrop/capdrop/internal/term"
	"github.com/capdrop/capdrop/merge"
	"github.com/capdrop/capdrop/report"
	"github.com/capdrop/capdrop/workload"
)

// runClusterAudit is audit --cluster: read the cluster, audit what was read
// with the same rules as files.
// aopts carries the policy, suppressions and runtime model of the
// command's flags; the nodes add their runtime releases.
func runClusterAudit(ctx context.Context, s *term.Streams, o *auditOptions, aopts audit.Options) error {
	mopts := aopts.Merge
	if len(o.exclude) > 0 {
		return usageErrorf("--exclude applies to files, not --cluster (use --namespace or --selector)")
	}
	if o.kube.chunk <= 0 {
		return usageErrorf("--chunk-size must be positive, not %d", o.kube.chunk)
	}
	copts := cluster.Options{Kubeconfig: o.kube.kubeconfig, Context: o.kube.context, Namespace: o.kube.namespace,
		AllNamespaces: o.kube.all, Selector: o.kube.selector, PageSize: o.kube.chunk}
	c, err := cluster.Connect(copts)
	if err != nil {
		return err
	}
	res, err := c.Read(ctx, copts)
	if err != nil {
		return err
	}
	if rt := o.runtime.String(); rt != "" {
		for i := range res.Workloads {
			res.Workloads[i].Runtime = workload.Runtime(rt)
		}
	}
	// The nodes say which release runs; --runtime-version still wins.
	for rt, v := range res.Versions() {
		if _, set := mopts.Versions[rt]; set {
			continue
		}
		if ver, err := merge.ParseVersion(v); err == nil {
			if mopts.Versions == nil {
				mopts.Versions = map[workload.Runtime]merge.Version{}
			}
			mopts.Versions[rt] = ver
		}
	}
	aopts.Merge = mopts
	rep, err := audit.Evaluate(res.Workloads, aopts)
	if err != nil {
		return usageErrorf("%v", err)
	}
	if o.writeBase != "" {
		data, err := json.MarshalIndent(audit.NewBaseline(rep), "", "  ")
		if err == nil {
			err = os.WriteFile(o.writeBase, append(data, '\n'), 0o644)
		}
		if err != nil {
			return fmt.Errorf("--baseline-write: %w", err)
		}
	}
	a := report.Audit{Report: rep, Errors: res.Errors, Tool: versionInfo().Version,
		Cluster: report.NewCluster(c.Host, c.Namespace, o.kube.selector, res)}
	return renderAudit(s, o, a)
}
