package inventory

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/cri"
	"github.com/capdrop/capdrop/merge"
	"github.com/capdrop/capdrop/procfs"
	"github.com/capdrop/capdrop/workload"
)

// CRI is what the inventory asks of a node's container runtime;
// *cri.Client is one.
type CRI interface {
	Containers(ctx context.Context, details bool) ([]cri.Container, error)
}

// Pod names the Kubernetes Pod and container a container is.
type Pod struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Container is the container's name in the Pod spec.
	Container string `json:"container"`
	// Owner is the Pod's top controller ("Deployment/web"), "" when not
	// known (the CRI does not tell; Options.Owners does).
	Owner string `json:"owner,omitempty"`
}

// String formats p as namespace/pod/container.
func (p *Pod) String() string { return p.Namespace + "/" + p.Name + "/" + p.Container }

// isKube reports containers the kubelet runs: under kubepods, or CRI-O's.
func isKube(c *Container) bool {
	return c.PodUID != "" || c.Runtime == workload.CRIO
}

// enrichCRI names the Kubernetes containers through the runtime's CRI
// socket and, with configs, reads what the kubelet asked for. Its error is
// a warning: without it containers are shown by Pod UID and container ID.
func enrichCRI(ctx context.Context, r CRI, byID map[string]*Container, configs bool) error {
	list, err := r.Containers(ctx, configs)
	if err != nil {
		return fmt.Errorf("%w; Kubernetes containers are shown by Pod UID and container ID, without names", err)
	}
	for _, k := range list {
		c := byID[k.ID]
		if c == nil {
			continue
		}
		c.Pod = &Pod{Namespace: k.PodNamespace, Name: k.PodName, Container: k.Name}
		c.Name = c.Pod.String()
		c.Image = k.Image
		if k.PodUID != "" {
			c.PodUID = k.PodUID
		}
		if k.PID > 0 {
			c.mainPID = k.PID
		}
		if k.Config != nil {
			cfg := &Config{CapAdd: k.Config.CapAdd, CapDrop: k.Config.CapDrop, Privileged: k.Config.Privileged}
			if k.Config.RunAsUser != nil {
				cfg.User = strconv.FormatInt(*k.Config.RunAsUser, 10)
			}
			cfg.noNewPrivs = k.Config.NoNewPrivs
			cfg.kube = true
			c.Config = cfg
		}
	}
	return nil
}

// owners fills each named Pod's top controller, asking once per Pod; the
// first error is returned after trying them all.
func owners(ctx context.Context, owner func(context.Context, string, string) (string, error), cs []*Container) error {
	known := map[string]string{}
	var first error
	for _, c := range cs {
		if c.Pod == nil || c.Pod.Name == "" {
			continue
		}
		key := c.Pod.Namespace + "/" + c.Pod.Name
		o, ok := known[key]
		if !ok {
			var err error
			if o, err = owner(ctx, c.Pod.Namespace, c.Pod.Name); err != nil && first == nil {
				first = fmt.Errorf("pod owners: %w", err)
			}
			known[key] = o
		}
		c.Pod.Owner = o
	}
	return first
}

// MismatchSpec: the live sets are not what the Pod spec asks for under the
// runtime's rules.
const MismatchSpec = "spec-differs"

// kubeMismatches compares the main process's live sets with what the
// runtime's rules make of the Pod spec's securityContext (as the kubelet
// passed it), computed by merge with the runtime holding what this
// process holds.
func kubeMismatches(c *Container, host capset.Set) []Mismatch {
	cfg := c.Config
	w := workload.Workload{Kind: workload.KubeContainer, Name: c.Name, Runtime: c.Runtime, Privileged: cfg.Privileged,
		CapAdd: words(cfg.CapAdd), CapDrop: words(cfg.CapDrop)}
	if cfg.User != "" {
		u, _ := strconv.ParseInt(cfg.User, 10, 64)
		w.RunAsUser = &u
		w.User = cfg.User
	} else if c.Main.EUID != 0 {
		// The image's USER decided; the live uid says which.
		w.ImageUser = strconv.Itoa(c.Main.EUID)
	}
	if cfg.noNewPrivs {
		f := false
		w.AllowPrivilegeEscalation = &f
	}
	want := merge.Compute(w, merge.Options{Host: host})
	if want.Refusal != nil {
		return []Mismatch{{MismatchSpec, 0, "the runtime's rules refuse this spec (" + want.Refusal.Message + "), yet it runs"}}
	}
	var diffs []string
	var caps capset.Set
	live := c.Main.Sets
	want.Sets.Each(func(name string, s capset.Set) {
		var got capset.Set
		live.Each(func(n string, l capset.Set) {
			if n == name {
				got = l
			}
		})
		if got != s {
			extra, missing := got.Minus(s), s.Minus(got)
			caps = caps.Union(extra).Union(missing)
			var d []string
			if !extra.IsEmpty() {
				d = append(d, "holds "+list(extra))
			}
			if !missing.IsEmpty() {
				d = append(d, "lacks "+list(missing))
			}
			diffs = append(diffs, name+" "+strings.Join(d, ", "))
		}
	})
	if len(diffs) == 0 {
		return nil
	}
	return []Mismatch{{MismatchSpec, caps, fmt.Sprintf("the Pod spec asks for other sets under %s's rules: %s", c.Runtime, strings.Join(diffs, "; "))}}
}

func words(ss []string) []workload.Word {
	out := make([]workload.Word, len(ss))
	for i, s := range ss {
		out[i] = workload.Word{Text: s}
	}
	return out
}

// ownBounding is what a runtime on this host can hold at most: capdrop's
// own bounding set, when it runs as root on the node as the runtime does.
func ownBounding() capset.Set {
	st, err := procfs.ReadStatus(procfs.DefaultRoot, os.Getpid())
	if err != nil {
		return 0
	}
	return st.Sets.Bounding
}
