// Package inventory answers "which process holds which capabilities, in
// which container" for a whole host: it scans /proc (procfs), attributes each
// process to its container (container), enriches Docker containers with their
// name, image and configuration from the engine, and sums each container up:
// what its main process holds, what that is beyond its runtime's default, its
// riskiest capabilities, and where it differs from what its configuration
// asked for. capdrop ps renders what it returns.
package inventory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/container"
	"github.com/capdrop/capdrop/engine"
	"github.com/capdrop/capdrop/procfs"
	"github.com/capdrop/capdrop/workload"
)

// Engine is what the inventory asks of a container engine; *engine.Client
// is one.
type Engine interface {
	ContainerList(ctx context.Context, opt engine.ListOptions) ([]engine.ContainerSummary, error)
	ContainerInspect(ctx context.Context, ref string) (*engine.Container, error)
}

// Options select what Take reads and keeps.
type Options struct {
	// Proc is where the proc filesystem is mounted ("" means /proc).
	Proc string
	// All keeps processes whose effective set is empty (like pscap -a).
	// Filtering by PIDs or Container implies it.
	All bool
	// PIDs keeps only these processes.
	PIDs []int
	// Container keeps only the processes of one container, given by name
	// or by (a unique prefix of) its ID.
	Container string
	// Cmdline reads each process's command line.
	Cmdline bool
	// Threads says how to find threads whose sets differ from their
	// process's.
	Threads procfs.ThreadMode
	// Summaries sums each container up for the per-container view: it
	// inspects each Docker container for its configuration (cap_add,
	// cap_drop, privileged, user) and main PID, and fills Container.Default,
	// Beyond, Riskiest and Mismatches. Without it those stay empty and the
	// knowledge base is not loaded.
	Summaries bool
	// Exclude leaves these processes out (capdrop leaves out itself).
	Exclude []int
	// Engine enriches Docker containers; nil means no engine.
	Engine Engine
	// CRI names Kubernetes containers (Pod namespace, Pod, container) and
	// reads what the kubelet asked for; nil means containers under
	// kubepods are shown by Pod UID and container ID.
	CRI CRI
	// Pod keeps only the containers of one Pod, "namespace/name";
	// Namespace only those of one namespace. Both need CRI.
	Pod, Namespace string
	// HostCaps is what the node's runtime holds, for comparing a Pod's
	// live sets with its spec; zero means this process's bounding set.
	HostCaps capset.Set
	// EngineTimeout bounds all engine calls together; 0 means 5 seconds.
	EngineTimeout time.Duration
	// Workers is passed to procfs.Scan.
	Workers int
	// MissingPIDs are the requested PIDs that are not running user
	// processes.
	MissingPIDs []int
	// KernelCaps are the capabilities the kernel has; empty means the
	// running kernel's (capset.Supported). Tests on fixtures set it.
	KernelCaps capset.Set
	// UserName names a uid; nil looks it up in the host's user database.
	UserName func(uid int) string
	// CRIError is why CRI is nil, said once if Kubernetes containers run.
	CRIError error
	// Owners names the top controller of a Pod ("Deployment/web"); nil
	// leaves Pod.Owner empty.
	Owners func(ctx context.Context, namespace, pod string) (string, error)

	podFilter map[*Container]bool
}

// Process is one process with its container.
type Process struct {
	PID, PPID     int
	UID, EUID     int
	User          string   // the effective uid's name in the host's user database, else the number
	Command       string   // the comm (at most 15 bytes)
	Cmdline       []string // with Options.Cmdline
	Sets          capset.Sets
	NoNewPrivs    bool
	Seccomp       int    // 0 disabled, 1 strict, 2 filter, -1 unknown
	UserNS        uint64 // inode; 0 unknown
	ForeignUserNS bool   // in a user namespace other than the host's
	Container     *Container
	Threads       []procfs.Thread // threads whose sets differ from this one's
}

// Config is a container's capability configuration as its engine reports
// it.
type Config struct {
	CapAdd     []string
	CapDrop    []string
	Privileged bool
	User       string

	kube       bool // from the CRI: Kubernetes rules, not Docker's
	noNewPrivs bool
}

// Container is one container that has processes on this host.
type Container struct {
	container.Ref
	Name  string // "" when no engine told
	Image string // the image as the container was created from it
	// Config is nil when the engine was not asked or could not tell.
	Config *Config
	// Main is the container's main process: the PID its engine reports,
	// else the process whose parent is outside the container.
	Main *Process
	// Processes counts the container's processes seen in the scan.
	Processes int
	// Default names the runtime's default set (a knowledge baseline ID) and
	// Beyond is what the main process's bounding set holds outside it.
	Default string
	Beyond  capset.Set
	// Riskiest are the high and critical capabilities of the main
	// process's bounding set, riskiest first.
	Riskiest []capset.Cap
	// Mismatches are the ways the live sets differ from what the
	// configuration asked for.
	Mismatches []Mismatch
	// Pod names the Kubernetes Pod and container, when the CRI told.
	Pod *Pod

	mainPID int // the engine's State.Pid
}

// Label is how people name the container: its name, else the short ID.
func (c *Container) Label() string {
	if c.Name != "" {
		return c.Name
	}
	return c.ShortID()
}

// Inventory is the result of Take.
type Inventory struct {
	// Processes are the kept processes, by PID.
	Processes []*Process
	// Containers are the containers with processes on the host, by label.
	// In the default process view (no -a, filter or --containers), only
	// processes holding capabilities are read, and containers are counted
	// from those.
	Containers []*Container
	// Warnings are things the user should know once: the engine could not
	// be reached, some processes could not be read.
	Warnings []error
	// MissingPIDs are the requested PIDs that are not running user
	// processes.
	MissingPIDs []int
	// KernelCaps are the capabilities the kernel has (Options.KernelCaps
	// or the running kernel's): holding all of them is "full".
	KernelCaps capset.Set
}

// ErrNoContainer is wrapped by the error for a --container that matches no
// running container.
var ErrNoContainer = errors.New("no such container")

// ErrAmbiguous is wrapped by the error for a --container ID prefix that
// matches several containers.
var ErrAmbiguous = errors.New("ambiguous container")

// Take scans the host. It returns an error only when nothing could be
// scanned or a filter matched nothing; partial problems are Warnings.
func Take(ctx context.Context, opts Options) (*Inventory, error) {
	var listed <-chan listResult
	if opts.Engine != nil {
		timeout := opts.EngineTimeout
		if timeout == 0 {
			timeout = 5 * time.Second
		}
		ectx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		listed = startList(ectx, opts.Engine)
		ctx = ectx
	}
	scan := procfs.Options{
		PIDs:    opts.PIDs,
		Exclude: opts.Exclude,
		Threads: opts.Threads,
		Cmdline: opts.Cmdline,
		Cgroups: true,
		UserNS:  true,
		Workers: opts.Workers,
	}
	if !opts.All && len(opts.PIDs) == 0 && opts.Container == "" && !opts.Summaries {
		// Only processes holding something will be shown: read nothing
		// more about the others (a thread of theirs may hold something).
		scan.Keep = func(st *procfs.Status) bool {
			return !st.Sets.Effective.IsEmpty() || opts.Threads != procfs.ThreadsOff && st.Threads > 1
		}
	}
	snap, err := procfs.Scan(opts.Proc, scan)
	if err != nil {
		return nil, err
	}
	inv := &Inventory{}
	if w := snap.Warning(); w != nil {
		inv.Warnings = append(inv.Warnings, w)
	}

	userName := opts.UserName
	if userName == nil {
		userName = newUserNames().name
	}
	byID := map[string]*Container{}
	all := make([]*Process, 0, len(snap.Processes))
	for i := range snap.Processes {
		sp := &snap.Processes[i]
		p := &Process{
			PID: sp.Pid, PPID: sp.PPid, UID: sp.UID[0], EUID: sp.UID[1],
			Command: sp.Name, Cmdline: sp.Cmdline, Sets: sp.Sets,
			NoNewPrivs: sp.NoNewPrivs, Seccomp: sp.Seccomp,
			UserNS: sp.UserNS, ForeignUserNS: sp.ForeignUserNS,
			Threads: sp.DivergentThreads,
		}
		p.User = userName(p.EUID)
		if ref, ok := container.FromCgroups(sp.Cgroups); ok {
			c := byID[ref.ID]
			if c == nil {
				c = &Container{Ref: ref}
				byID[ref.ID] = c
			}
			c.Processes++
			p.Container = c
		}
		all = append(all, p)
	}
	for _, c := range byID {
		inv.Containers = append(inv.Containers, c)
	}

	if opts.Engine != nil && slices.ContainsFunc(inv.Containers, maybeDocker) {
		err := enrich(ctx, opts.Engine, listed, byID, opts.Summaries)
		// On a Kubernetes node without Docker, a missing engine is normal:
		// say so only when a container is known to be Docker's.
		if err != nil && slices.ContainsFunc(inv.Containers, isDocker) {
			inv.Warnings = append(inv.Warnings, err)
		}
	}

	if slices.ContainsFunc(inv.Containers, isKube) {
		switch {
		case opts.CRI != nil:
			if err := enrichCRI(ctx, opts.CRI, byID, opts.Summaries); err != nil {
				inv.Warnings = append(inv.Warnings, err)
			} else if opts.Owners != nil {
				if err := owners(ctx, opts.Owners, inv.Containers); err != nil {
					inv.Warnings = append(inv.Warnings, err)
				}
			}
		case opts.CRIError != nil:
			inv.Warnings = append(inv.Warnings, fmt.Errorf("%w; Kubernetes containers are shown by Pod UID and container ID, their names are missing", opts.CRIError))
		}
	}
	if opts.Pod != "" || opts.Namespace != "" {
		if opts.CRI == nil {
			return nil, fmt.Errorf("%w: --pod and --namespace need the CRI socket (Pod names come from it)", ErrNoContainer)
		}
		kept := inv.Containers[:0]
		for _, c := range inv.Containers {
			if c.Pod != nil && (opts.Namespace == "" || c.Pod.Namespace == opts.Namespace) &&
				(opts.Pod == "" || c.Pod.Namespace+"/"+c.Pod.Name == opts.Pod) {
				kept = append(kept, c)
			}
		}
		if len(kept) == 0 {
			return nil, fmt.Errorf("%w: no running container of %s", ErrNoContainer, cmp.Or(opts.Pod, "namespace "+opts.Namespace))
		}
		inv.Containers = kept
		opts.podFilter = map[*Container]bool{}
		for _, c := range kept {
			opts.podFilter[c] = true
		}
	}
	host := opts.HostCaps
	if host.IsEmpty() {
		host = ownBounding()
	}

	kernel := opts.KernelCaps
	if kernel.IsEmpty() {
		kernel = capset.Supported()
	}
	inv.KernelCaps = kernel
	pidIndex := make(map[int]*Process, len(all))
	for _, p := range all {
		pidIndex[p.PID] = p
	}
	for _, c := range inv.Containers {
		c.Main = mainProcess(c, all, pidIndex)
		if opts.Summaries {
			summarize(c, kernel, host)
		}
	}
	slices.SortFunc(inv.Containers, func(a, b *Container) int {
		return strings.Compare(a.Label()+"\x00"+a.ID, b.Label()+"\x00"+b.ID)
	})

	var only *Container
	if opts.Container != "" {
		if only, err = findContainer(inv.Containers, opts.Container); err != nil {
			return nil, err
		}
		inv.Containers = []*Container{only}
	}
	showAll := opts.All || len(opts.PIDs) > 0 || only != nil || opts.podFilter != nil
	for _, p := range all {
		if only != nil && p.Container != only {
			continue
		}
		if opts.podFilter != nil && !opts.podFilter[p.Container] {
			continue
		}
		if !showAll && p.Sets.Effective.IsEmpty() && !threadHolds(p) {
			continue
		}
		inv.Processes = append(inv.Processes, p)
	}
	for _, pid := range opts.PIDs {
		if pidIndex[pid] == nil && !slices.Contains(opts.Exclude, pid) {
			inv.MissingPIDs = append(inv.MissingPIDs, pid)
		}
	}
	return inv, nil
}

// threadHolds reports whether any divergent thread has an effective set.
func threadHolds(p *Process) bool {
	for _, t := range p.Threads {
		if !t.Sets.Effective.IsEmpty() {
			return true
		}
	}
	return false
}

func isDocker(c *Container) bool { return c.Runtime == workload.Docker }

// maybeDocker reports containers a Docker engine may know: Docker's own,
// and bare IDs under kubepods (dockershim and cri-dockerd use those too).
func maybeDocker(c *Container) bool {
	return c.Runtime == workload.Docker || c.Runtime == workload.Containerd
}

// findContainer resolves a name or a unique ID prefix.
func findContainer(cs []*Container, ref string) (*Container, error) {
	ref = strings.TrimPrefix(ref, "/")
	for _, c := range cs {
		if c.Name == ref || c.ID == ref {
			return c, nil
		}
	}
	var match []*Container
	for _, c := range cs {
		if strings.HasPrefix(c.ID, ref) {
			match = append(match, c)
		}
	}
	switch len(match) {
	case 1:
		return match[0], nil
	case 0:
		return nil, fmt.Errorf("%w %q among the %d containers running on this host", ErrNoContainer, ref, len(cs))
	}
	return nil, fmt.Errorf("%w: container ID prefix %q matches %d containers", ErrAmbiguous, ref, len(match))
}

// mainProcess picks the container's main process: the engine's PID when it
// is in the scan, else the lowest PID whose parent is outside the container.
func mainProcess(c *Container, all []*Process, byPID map[int]*Process) *Process {
	if c.mainPID != 0 {
		if p := byPID[c.mainPID]; p != nil && p.Container == c {
			return p
		}
	}
	for _, p := range all { // all is sorted by PID
		if p.Container != c {
			continue
		}
		if parent := byPID[p.PPID]; parent == nil || parent.Container != c {
			return p
		}
	}
	return nil
}
