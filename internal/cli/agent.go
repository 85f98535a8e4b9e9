package cli

import (
	"cmp"
	"fmt"
	"os"
	"runtime"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/capdrop/capdrop/agent"
	"github.com/capdrop/capdrop/internal/term"
)

// DefaultPinPath is where the agent pins its tracer: under the BPF file
// system the DaemonSet mounts from the node.
const DefaultPinPath = "/sys/fs/bpf/capdrop"

func newAgentCmd(s *term.Streams) *cobra.Command {
	var (
		cfg    agent.Config
		noPin  bool
		remove bool
	)
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Trace a Kubernetes node's containers and serve what they used (the DaemonSet's command)",
		Long: `capdrop agent runs on each Kubernetes node (deploy/kubernetes/agent.yaml): it
traces the kernel's capability checks of every container started on the node from
its first exec, names containers through a watch of the node's Pods, tells the
workload's own processes (entrypoint, exec probes, lifecycle hooks) from kubectl exec
sessions and ephemeral debug containers, and serves a JSON report on ` + agent.ReportPath + `
(port ` + strconv.Itoa(agent.Port) + `). It never writes to the API server.

The tracer is pinned on the BPF file system (--pin-path): when the agent restarts the
kernel goes on counting and the new agent takes it over. --remove detaches a pinned
tracer (run it when uninstalling).

A container that has ended (the tracer follows none of its processes) keeps its
sessions and counts for --retain, long enough for a profile window to read them; then
they are deleted from the agent's store and the kernel's maps, and the report says what
was pruned. Live containers are never pruned. Linux only (exit 3 elsewhere).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runtime.GOOS != "linux" {
				return &ExitError{Code: ExitUnsupported, Err: fmt.Errorf("capdrop agent runs on Linux nodes only, not %s", runtime.GOOS)}
			}
			if remove {
				if err := agent.Remove(cfg.PinPath); err != nil {
					return fmt.Errorf("remove the tracer pinned at %s: %w", cfg.PinPath, err)
				}
				fmt.Fprintf(s.Out, "removed the tracer pinned at %s\n", cfg.PinPath)
				return nil
			}
			if noPin {
				cfg.PinPath = ""
			}
			if cfg.Retention <= 0 {
				return usageErrorf("--retain must be positive")
			}
			if cfg.Node == "" {
				return usageErrorf("--node is empty and NODE_NAME is not set (the DaemonSet sets it from spec.nodeName)")
			}
			cfg.Version = versionInfo().Version
			cfg.Log = s.ErrOut
			// SIGINT or SIGTERM stop it cleanly (the tracer stays pinned);
			// the exit status says which, as for every command.
			return agent.Run(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Node, "node", os.Getenv("NODE_NAME"), "the node's name (default $NODE_NAME)")
	f.StringVar(&cfg.Pod, "pod", cmp.Or(podName(), ""), "the agent's own Pod, NAMESPACE/NAME (default $POD_NAMESPACE/$POD_NAME)")
	f.StringVar(&cfg.Listen, "listen", fmt.Sprintf(":%d", agent.Port), "address to serve the report on")
	f.StringVar(&cfg.PinPath, "pin-path", DefaultPinPath, "directory on the BPF file system to pin the tracer in")
	f.BoolVar(&noPin, "no-pin", false, "do not pin the tracer: a restart loses every count")
	f.BoolVar(&remove, "remove", false, "detach the tracer pinned at --pin-path and exit")
	f.DurationVar(&cfg.Retention, "retain", agent.DefaultRetention, "how long an ended container's data is kept before it is pruned")
	f.StringVar(&cfg.Kubeconfig, "kubeconfig", "", "kubeconfig file (default: the in-cluster service account, or $KUBECONFIG)")
	f.StringVar(&cfg.CgroupRoot, "cgroup-root", "", "the node's memory cgroup hierarchy, read to tell which containers no Pod names are the kubelet's (default /sys/fs/cgroup/memory, or /sys/fs/cgroup on cgroup v2)")
	return cmd
}

func podName() string {
	ns, name := os.Getenv("POD_NAMESPACE"), os.Getenv("POD_NAME")
	if name == "" {
		return ""
	}
	return cmp.Or(ns, "default") + "/" + name
}
