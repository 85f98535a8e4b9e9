package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/capdrop/capdrop/cluster"
	"github.com/capdrop/capdrop/cri"
	"github.com/capdrop/capdrop/engine"
	"github.com/capdrop/capdrop/fleet"
	"github.com/capdrop/capdrop/internal/term"
	"github.com/capdrop/capdrop/inventory"
	"github.com/capdrop/capdrop/picture"
	"github.com/capdrop/capdrop/procfs"
	"github.com/capdrop/capdrop/report"
)

type psOptions struct {
	all, containers, wide bool
	pids                  []int
	container             string
	output                string
	proc                  string
	threads               string
	pod, namespace, cri   string
	kubeconfig            string
}

func newPSCmd(s *term.Streams) *cobra.Command {
	o := &psOptions{}
	cmd := &cobra.Command{
		Use:   "ps",
		Short: "Show every process's capabilities, attributed to its container",
		Long: `Show the capabilities every process holds, like pscap, with the container
each one runs in (Docker, containerd/Kubernetes, CRI-O, Podman; read from
/proc/PID/cgroup) and, for Docker containers, the container's name, image
and configuration from the engine (DOCKER_HOST is honoured; without an
engine, containers are shown by runtime and ID).

The default view lists processes whose effective set is not empty; "full"
means every capability the kernel has. -a lists every process; --pid and
--container select processes (and imply -a).

On a Kubernetes node, each container is named namespace/pod/container
through the runtime's CRI socket (containerd or CRI-O; read-only calls), and
--pod NAMESPACE/NAME and --namespace select by them. Without the socket,
containers are attributed by their cgroup path (Pod UID and container ID)
and capdrop says the names are missing. --containers compares each
container's live sets with what its Pod spec asks for under the runtime's
rules. With --kubeconfig, each Pod's top controller (the owner) is read
from the API server, as metadata only. Threads whose sets differ from
their process's are listed under it. Kernel threads are never listed.

--containers shows one row per container: its configuration, the bounding
and effective sets of its main process (relative to the runtime's default),
what it holds beyond that default, its riskiest capabilities, and where the
live sets differ from what the configuration asked for.

-o matrix draws the containers as a matrix: one row per container, one
column per capability any of them holds (riskiest first), a glyph per cell.

-o json prints all five sets of each process, as names and as masks; the
shape is documented in docs/ps.md and kept stable.`,
		Example: `  capdrop ps
  capdrop ps -a --wide
  capdrop ps --containers
  capdrop ps -o matrix
  capdrop ps --container web -o json
  capdrop ps -o json | jq '.[] | select(.container.name == "web") | .sets.effective'`,
		Args: argsUsage(cobra.NoArgs),
	}
	out := outputFlag(cmd, "text", "json", "matrix")
	f := cmd.Flags()
	f.BoolVarP(&o.all, "all", "a", false, "list processes with an empty effective set too")
	f.BoolVar(&o.containers, "containers", false, "one row per container instead of one per process")
	f.IntSliceVarP(&o.pids, "pid", "p", nil, "only these processes (comma-separated or repeated)")
	f.StringVar(&o.container, "container", "", "only the processes of this container (name, ID or unique ID prefix)")
	f.StringVar(&o.pod, "pod", "", "only the containers of this Kubernetes Pod, NAMESPACE/NAME (needs the CRI socket)")
	f.StringVarP(&o.namespace, "namespace", "n", "", "only the containers of Pods in this Kubernetes namespace (needs the CRI socket)")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "name each Pod's top controller (owner), read as metadata from the API server of this kubeconfig")
	f.StringVar(&o.cri, "cri-socket", "", "the CRI socket of the node's runtime (default $CONTAINER_RUNTIME_ENDPOINT, else containerd's or CRI-O's usual one)")
	f.BoolVarP(&o.wide, "wide", "w", false, "show every set, the command line and security settings of each process")
	threads := choiceFlag(cmd, "threads", "quick", "find threads whose sets differ from their process's: quick (one capget per thread: effective, permitted, inheritable), full (every thread's status: all five sets, slower), off", "quick", "full", "off")
	f.StringVar(&o.proc, "proc", procfs.DefaultRoot, "where the proc filesystem is mounted")
	_ = f.MarkHidden("proc")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		o.output, o.threads = out.String(), threads.String()
		if o.output == "matrix" {
			o.containers = true // the matrix has one row per container
		}
		if o.wide && o.containers {
			return usageErrorf("--wide applies to the process view, not --containers")
		}
		for _, p := range o.pids {
			if p <= 0 {
				return usageErrorf("--pid %d: not a process ID", p)
			}
		}
		if o.pod != "" {
			if ns, name, ok := strings.Cut(o.pod, "/"); !ok || ns == "" || name == "" || strings.Contains(name, "/") {
				return usageErrorf("--pod wants NAMESPACE/NAME, not %q", o.pod)
			}
		}
		if o.pids != nil {
			o.pids = slices.Compact(slices.Sorted(slices.Values(o.pids)))
		}
		return runPS(cmd, s, o)
	}
	return cmd
}

func runPS(cmd *cobra.Command, s *term.Streams, o *psOptions) error {
	threads, err := procfs.ParseThreadMode(o.threads)
	if err != nil {
		return usageErrorf("--threads: %v", err)
	}
	opts := inventory.Options{
		Proc:      o.proc,
		All:       o.all,
		PIDs:      o.pids,
		Container: o.container,
		Cmdline:   o.wide,
		Threads:   threads,
		Summaries: o.containers,
		Pod:       o.pod,
		Namespace: o.namespace,
	}
	if o.proc == procfs.DefaultRoot {
		opts.Exclude = []int{os.Getpid()} // like pscap, leave ourselves out
	}
	warn := func(err error) { fmt.Fprintf(s.ErrOut, "capdrop: warning: %v\n", err) }
	if c, err := engine.FromEnv(); err != nil {
		warn(fmt.Errorf("docker engine: %w; containers are shown by ID only", err))
	} else {
		defer c.Close()
		opts.Engine = c
	}
	if c, err := cri.Dial(cmd.Context(), o.cri); err != nil {
		if o.cri != "" || o.pod != "" || o.namespace != "" {
			return unsupportedError(err)
		}
		opts.CRIError = err
	} else {
		defer c.Close()
		opts.CRI = c
	}
	if o.kubeconfig != "" {
		kc, err := cluster.Connect(cluster.Options{Kubeconfig: o.kubeconfig})
		if err != nil {
			return err
		}
		owners := kc.Owners()
		opts.Owners = func(ctx context.Context, ns, pod string) (string, error) {
			c, err := owners.Pod(ctx, ns, pod)
			if err != nil {
				return "", err
			}
			return c.String(), nil
		}
	}
	inv, err := inventory.Take(cmd.Context(), opts)
	if err != nil {
		if errors.Is(err, inventory.ErrNoContainer) || errors.Is(err, inventory.ErrAmbiguous) {
			return err
		}
		return unsupportedError(err)
	}
	for _, w := range inv.Warnings {
		warn(w)
	}
	t := textRenderer(s)
	// Thousands of rows: one write per row would be thousands of syscalls.
	w := bufio.NewWriterSize(s.Out, 64<<10)
	switch {
	case o.output == "matrix":
		var b fleet.Builder
		b.AddInventory(inv, "")
		err = picture.Text(w, b.Build("", time.Time{}), picture.TextOptions{Color: s.Color, Width: s.Width})
	case o.containers && o.output == "json":
		err = report.PSContainersJSON(w, inv)
	case o.containers:
		err = t.PSContainers(w, inv)
	case o.output == "json":
		err = report.PSJSON(w, inv)
	case o.wide:
		err = t.PSWide(w, inv)
	default:
		err = t.PS(w, inv)
	}
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return err
	}
	if len(inv.MissingPIDs) > 0 {
		ids := make([]string, len(inv.MissingPIDs))
		for i, p := range inv.MissingPIDs {
			ids[i] = strconv.Itoa(p)
		}
		return fmt.Errorf("no user process with PID %s", strings.Join(ids, ", "))
	}
	return nil
}
