package agent

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/profile"
	"github.com/capdrop/capdrop/trace"
)

// Source is what the agent reads from the node's tracer (a *trace.Tracer
// opened with FollowNewMntNS, TagSessions and KeyMemoryCgroup).
type Source interface {
	Records() ([]trace.Record, error)
	Gains() ([]trace.Gain, error)
	Roots() ([]trace.Root, error)
	DeleteRoot(pid uint32) error
	Counters() (trace.Counters, error)
}

// SessionState is what the agent keeps of one session of one container:
// the roots with the same tag in the same cgroup, folded.
type SessionState struct {
	// Cgroup is the container's memory cgroup id (trace.Key.Cgroup);
	// Container its runtime ID (the cgroup's name).
	Cgroup    uint64
	Tag       uint32
	Container string
	Args      []string
	Truncated bool
	Runs      uint64
	First     time.Time
	Last      time.Time
}

// ErrStoreFull is returned by a Store that cannot hold another session.
var ErrStoreFull = errors.New("the sessions store is full")

// Store keeps the sessions across the agent's restarts.
type Store interface {
	// Load returns every session saved, and the sessions lost so far
	// because the store was full.
	Load() ([]SessionState, uint64, error)
	// Save writes a session (new or updated); ErrStoreFull when a new one
	// does not fit.
	Save(SessionState) error
	// SaveOverflow records the sessions lost so far.
	SaveOverflow(uint64) error
	// Delete removes a session (pruned: its container ended).
	Delete(cgroup uint64, tag uint32) error
	// LoadPruned returns what was pruned so far; SavePruned records it.
	LoadPruned() (PruneTotals, error)
	SavePruned(PruneTotals) error
}

// MemoryStore is a Store that lives as long as the process.
type MemoryStore struct {
	mu       sync.Mutex
	Max      int
	sessions map[[2]uint64]SessionState
	overflow uint64
	pruned   PruneTotals
}

// Load implements Store.
func (m *MemoryStore) Load() ([]SessionState, uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []SessionState
	for _, s := range m.sessions {
		out = append(out, s)
	}
	return out, m.overflow, nil
}

// Save implements Store.
func (m *MemoryStore) Save(s SessionState) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sessions == nil {
		m.sessions = map[[2]uint64]SessionState{}
	}
	k := [2]uint64{s.Cgroup, uint64(s.Tag)}
	if _, ok := m.sessions[k]; !ok && m.Max > 0 && len(m.sessions) >= m.Max {
		return ErrStoreFull
	}
	m.sessions[k] = s
	return nil
}

// SaveOverflow implements Store.
func (m *MemoryStore) SaveOverflow(n uint64) error {
	m.mu.Lock()
	m.overflow = n
	m.mu.Unlock()
	return nil
}

// Delete implements Store.
func (m *MemoryStore) Delete(cgroup uint64, tag uint32) error {
	m.mu.Lock()
	delete(m.sessions, [2]uint64{cgroup, uint64(tag)})
	m.mu.Unlock()
	return nil
}

// LoadPruned implements Store.
func (m *MemoryStore) LoadPruned() (PruneTotals, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pruned, nil
}

// SavePruned implements Store.
func (m *MemoryStore) SavePruned(p PruneTotals) error {
	m.mu.Lock()
	m.pruned = p
	m.mu.Unlock()
	return nil
}

// Info is what the agent says about itself and its tracer in every Report.
type Info struct {
	Node, Pod, AgentVersion string
	Started, TracingSince   time.Time
	Restarts                int
	Pinned                  bool
	Mechanism               string
	VMProbeDetection        bool
	Kernel, Arch            string
	Warnings                []string
	// Retention is how long an ended container's data is kept
	// (DefaultRetention when zero).
	Retention time.Duration
}

// Agent folds what the tracer saw into per-container sessions and names
// containers by the Pods on its node.
type Agent struct {
	mu       sync.Mutex
	src      Source
	store    Store
	info     Info
	sessions map[sessionKey]*SessionState
	overflow uint64
	pods     map[types.UID]*podEntry
	seen     map[trace.Key]*seen
	// Retention (retention.go): when each cgroup was first seen ended,
	// what was pruned.
	retention time.Duration
	ended     map[uint64]time.Time
	totals    PruneTotals
	recent    []PrunedContainer
	// resolver finds cgroups' paths; paths are those found (or tried:
	// "") by cgroup id.
	resolver CgroupResolver
	paths    map[uint64]string
	// parents are the names of containers' cgroups' parents, as the
	// tracer read them at their first exec (trace.Root.CgroupParent):
	// what tells a kubelet's container without the hierarchy's paths.
	parents map[uint64]string
	// watch is the state of the Pod watch.
	watch PodWatch
	// read says a Report was made by this process: keys first seen
	// before it were counted by an agent before this one.
	read bool
	// now is the clock (tests set it).
	now func() time.Time
}

type sessionKey struct {
	cgroup uint64
	tag    uint32
}

type podEntry struct {
	pod     *corev1.Pod
	deleted time.Time // zero while the Pod exists
}

// seen is when the agent first saw a key's checks and last saw their count
// grow.
type seen struct {
	first, last time.Time
	count       uint64
	// inherited: first read from a tracer taken over, and not grown
	// since: when its checks happened is not known.
	inherited bool
}

// PodRetention is how long the agent still names the containers of a Pod
// after the Pod is deleted (a finished Job's Pod, a replaced replica): long
// enough for a profile window to collect them.
const PodRetention = time.Hour

// containerID matches the runtimes' container IDs (64 hex digits), the
// names of containers' memory cgroups; sessions of other cgroups (host
// services with a mount namespace of their own) are not kept.
var containerID = regexp.MustCompile(`^(?:[a-z]+(?:-[a-z]+)*-)?([0-9a-f]{64})(?:\.scope)?$`)

// ContainerOfCgroup returns the container ID a memory cgroup's name holds
// (cgroupfs driver: the ID; systemd driver: cri-containerd-ID.scope,
// crio-ID.scope), or "".
func ContainerOfCgroup(name string) string {
	m := containerID.FindStringSubmatch(name)
	if m == nil {
		return ""
	}
	return m[1]
}

// New makes an agent reading src, with the sessions saved in store.
func New(src Source, store Store, info Info) (*Agent, error) {
	a := &Agent{src: src, store: store, info: info, sessions: map[sessionKey]*SessionState{},
		pods: map[types.UID]*podEntry{}, seen: map[trace.Key]*seen{}, now: time.Now,
		retention: cmp.Or(info.Retention, DefaultRetention), ended: map[uint64]time.Time{}, paths: map[uint64]string{}, parents: map[uint64]string{}}
	a.info.Retention = a.retention
	a.watch = PodWatch{Since: a.now().UTC(), Error: "the Pods are not listed yet"}
	saved, overflow, err := store.Load()
	if err != nil {
		return nil, fmt.Errorf("load the saved sessions: %w", err)
	}
	if a.totals, err = store.LoadPruned(); err != nil {
		return nil, fmt.Errorf("load the pruned totals: %w", err)
	}
	for i := range saved {
		s := saved[i]
		a.sessions[sessionKey{s.Cgroup, s.Tag}] = &s
	}
	a.overflow = overflow
	return a, nil
}

// ResolveCgroups makes the agent find the path of each container's cgroup
// when it first sees it, so that it can tell the containers no Pod names
// apart (see UnnamedContainer).
func (a *Agent) ResolveCgroups(r CgroupResolver) {
	a.mu.Lock()
	a.resolver = r
	a.mu.Unlock()
}

// resolve returns the path of a cgroup, finding it once.
func (a *Agent) resolve(id uint64, name string) string {
	if p, ok := a.paths[id]; ok || a.resolver == nil {
		return p
	}
	p := a.resolver.Resolve(id, name)
	a.paths[id] = p
	return p
}

// SetPods replaces every Pod the agent knows (a new listing): Pods missing
// from it are deleted.
func (a *Agent) SetPods(pods []*corev1.Pod) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	in := map[types.UID]bool{}
	for _, p := range pods {
		in[p.UID] = true
		a.pods[p.UID] = &podEntry{pod: p}
	}
	for uid, e := range a.pods {
		if !in[uid] && e.deleted.IsZero() {
			e.deleted = now
		}
	}
	a.prunePods(now)
	if !a.watch.Synced {
		a.watch = PodWatch{Synced: true, Since: now.UTC()}
	}
}

// PodWatchFailed records that the Pod watch broke (or a listing failed):
// until the next listing, Pods may come and go unseen.
func (a *Agent) PodWatchFailed(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.watch.Synced {
		a.watch = PodWatch{Since: a.now().UTC()}
	}
	a.watch.Error = err.Error()
}

// UpdatePod records a Pod added or changed.
func (a *Agent) UpdatePod(p *corev1.Pod) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.pods[p.UID] = &podEntry{pod: p}
}

// DeletePod records a Pod's deletion (in its last state).
func (a *Agent) DeletePod(p *corev1.Pod) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	a.pods[p.UID] = &podEntry{pod: p, deleted: now}
	a.prunePods(now)
}

func (a *Agent) prunePods(now time.Time) {
	for uid, e := range a.pods {
		if !e.deleted.IsZero() && now.Sub(e.deleted) > PodRetention {
			delete(a.pods, uid)
		}
	}
}

// Poll folds the roots the tracer recorded since the last poll into
// sessions, saves them, and removes them from the tracer's roots map.
func (a *Agent) Poll() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.poll()
}

func (a *Agent) poll() error {
	roots, err := a.src.Roots()
	if err != nil {
		return fmt.Errorf("read the tracer's roots: %w", err)
	}
	now := a.now()
	var errs []error
	overflow := a.overflow
	for _, r := range roots {
		id := ContainerOfCgroup(r.CgroupName)
		if id != "" {
			k := sessionKey{r.Cgroup, r.Tag}
			s, ok := a.sessions[k]
			if !ok {
				s = &SessionState{Cgroup: r.Cgroup, Tag: r.Tag, Container: id, Args: r.Args, Truncated: r.Truncated, First: now}
			}
			next := *s
			next.Runs++
			next.Last = now
			switch err := a.store.Save(next); {
			case errors.Is(err, ErrStoreFull):
				overflow++
			case err != nil:
				errs = append(errs, err)
				continue // keep the root: the next poll tries again
			default:
				*s = next
				a.sessions[k] = s
				if !ok {
					// While the container lives, its cgroup has a path.
					a.resolve(r.Cgroup, r.CgroupName)
				}
				if r.CgroupParent != "" {
					a.parents[r.Cgroup] = r.CgroupParent
				}
			}
		}
		if err := a.src.DeleteRoot(r.PID); err != nil {
			errs = append(errs, fmt.Errorf("remove root %d: %w", r.PID, err))
		}
	}
	if overflow != a.overflow {
		a.overflow = overflow
		if err := a.store.SaveOverflow(overflow); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// container is a container of a Pod the agent knows, as the Pod's spec and
// status describe it.
type container struct {
	pod        *corev1.Pod
	name, typ  string
	spec       *corev1.Container
	status     *corev1.ContainerStatus
	started    *time.Time
	finished   *time.Time
	ephemeral  bool
	sharedPIDs bool
}

// index maps container IDs to the containers of the known Pods.
func (a *Agent) index() map[string]*container {
	out := map[string]*container{}
	for _, e := range a.pods {
		p := e.pod
		specs := map[string]struct {
			c   *corev1.Container
			typ string
		}{}
		for i := range p.Spec.Containers {
			specs[p.Spec.Containers[i].Name] = struct {
				c   *corev1.Container
				typ string
			}{&p.Spec.Containers[i], TypeContainer}
		}
		for i := range p.Spec.InitContainers {
			c := &p.Spec.InitContainers[i]
			typ := TypeInit
			if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
				typ = TypeSidecar
			}
			specs[c.Name] = struct {
				c   *corev1.Container
				typ string
			}{c, typ}
		}
		for i := range p.Spec.EphemeralContainers {
			c := corev1.Container(p.Spec.EphemeralContainers[i].EphemeralContainerCommon)
			specs[c.Name] = struct {
				c   *corev1.Container
				typ string
			}{&c, TypeEphemeral}
		}
		shared := p.Spec.ShareProcessNamespace != nil && *p.Spec.ShareProcessNamespace
		for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses, p.Status.EphemeralContainerStatuses} {
			for i := range list {
				st := &list[i]
				sp, ok := specs[st.Name]
				if !ok {
					continue
				}
				add := func(id string, started, finished *time.Time) {
					id = trimRuntime(id)
					if id == "" {
						return
					}
					out[id] = &container{pod: p, name: st.Name, typ: sp.typ, spec: sp.c, status: st,
						started: started, finished: finished, ephemeral: sp.typ == TypeEphemeral, sharedPIDs: shared}
				}
				if t := st.LastTerminationState.Terminated; t != nil {
					add(t.ContainerID, timeOf(t.StartedAt.Time), timeOf(t.FinishedAt.Time))
				}
				switch {
				case st.State.Running != nil:
					add(st.ContainerID, timeOf(st.State.Running.StartedAt.Time), nil)
				case st.State.Terminated != nil:
					t := st.State.Terminated
					add(cmp.Or(t.ContainerID, st.ContainerID), timeOf(t.StartedAt.Time), timeOf(t.FinishedAt.Time))
				default:
					add(st.ContainerID, nil, nil)
				}
			}
		}
	}
	return out
}

func timeOf(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// trimRuntime strips the runtime:// prefix of a status's container ID.
func trimRuntime(id string) string {
	if i := strings.Index(id, "://"); i >= 0 {
		return id[i+3:]
	}
	return id
}

// execs are the exec commands of a container's probes and hooks, by the
// tag the tracer gives their sessions.
func execs(c *corev1.Container) map[uint32][2]string {
	out := map[uint32][2]string{}
	add := func(kind, name string, e *corev1.ExecAction) {
		if e == nil || len(e.Command) == 0 {
			return
		}
		tag := trace.SessionTag(e.Command)
		if _, ok := out[tag]; !ok {
			out[tag] = [2]string{kind, name}
		}
	}
	probe := func(name string, p *corev1.Probe) {
		if p != nil {
			add(SessionProbe, name, p.Exec)
		}
	}
	probe("startup", c.StartupProbe)
	probe("liveness", c.LivenessProbe)
	probe("readiness", c.ReadinessProbe)
	if l := c.Lifecycle; l != nil {
		if l.PostStart != nil {
			add(SessionHook, "postStart", l.PostStart.Exec)
		}
		if l.PreStop != nil {
			add(SessionHook, "preStop", l.PreStop.Exec)
		}
	}
	return out
}

// Report reads the tracer and reports every container it saw.
func (a *Agent) Report() (Report, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var warnings []string
	if err := a.poll(); err != nil {
		warnings = append(warnings, err.Error())
	}
	now := a.now()
	recs, err := a.src.Records()
	if err != nil {
		return Report{}, err
	}
	gains, err := a.src.Gains()
	if err != nil {
		return Report{}, err
	}
	tc, err := a.src.Counters()
	if err != nil {
		return Report{}, err
	}
	i := a.info
	r := Report{Version: ReportVersion, Node: i.Node, Pod: i.Pod, AgentVersion: i.AgentVersion, Generated: now.UTC(),
		Started: i.Started.UTC(), TracingSince: i.TracingSince.UTC(), Restarts: i.Restarts, Pinned: i.Pinned,
		Mechanism: i.Mechanism, VMProbeDetection: i.VMProbeDetection, Kernel: i.Kernel, Arch: i.Arch,
		Counters: Counters{Counters: tc, SessionsOverflow: a.overflow}, Containers: []Container{}, Pruning: a.pruning(), PodWatch: a.watch,
		Warnings: append(slices.Clone(i.Warnings), warnings...)}

	// The checks of each cgroup, with the first and last time seen.
	byCgroup := map[uint64][]Record{}
	// A tracer taken over counted checks before this agent: at its first
	// reading, when they happened is not known.
	takenOver := !a.read && i.TracingSince.Before(i.Started)
	a.read = true
	inherited := map[uint64]bool{} // cgroups with a key of unknown time
	for _, rec := range recs {
		s := a.seen[rec.Key]
		if s == nil {
			s = &seen{first: now, last: now, inherited: takenOver}
			a.seen[rec.Key] = s
		} else if rec.Count > s.count {
			s.last = now
			s.inherited = false
		}
		s.count = rec.Count
		if s.inherited {
			inherited[rec.Cgroup] = true
		}
		byCgroup[rec.Cgroup] = append(byCgroup[rec.Cgroup], Record{Tag: rec.Tag, Capability: capName(rec.Cap),
			Denied: rec.Denied, Syscall: rec.Syscall, Flags: rec.Flags, Command: rec.Comm, Count: rec.Count,
			FirstSeen: s.first.UTC(), LastSeen: s.last.UTC()})
	}
	gainsOf := map[uint64][]Gain{}
	for _, g := range gains {
		gainsOf[g.Cgroup] = append(gainsOf[g.Cgroup], Gain{Tag: g.Tag, Source: g.Source.String(), Failed: g.Failed,
			Root: g.Root, Command: g.Comm, Caps: g.Caps, Lacking: g.Lacking, Count: g.Count})
	}
	sessionsOf := map[uint64][]*SessionState{}
	for _, s := range a.sessions {
		sessionsOf[s.Cgroup] = append(sessionsOf[s.Cgroup], s)
	}
	idx := a.index()
	cgroups := map[uint64]bool{}
	for cg := range byCgroup {
		cgroups[cg] = true
	}
	for cg := range sessionsOf {
		cgroups[cg] = true
	}
	for cg := range cgroups {
		ss := sessionsOf[cg]
		if len(ss) == 0 {
			// Checks of a cgroup whose roots were never folded: not a
			// container, or its session was lost (counted).
			continue
		}
		c := idx[ss[0].Container]
		if c == nil {
			if len(byCgroup[cg]) > 0 || len(gainsOf[cg]) > 0 {
				a.unnamed(&r, cg, ss, byCgroup[cg], gainsOf[cg], inherited[cg])
			}
			continue
		}
		r.Containers = append(r.Containers, a.container(c, ss[0].Container, ss, byCgroup[cg], gainsOf[cg]))
	}
	slices.SortFunc(r.Containers, func(x, y Container) int {
		return cmp.Or(cmp.Compare(x.Namespace, y.Namespace), cmp.Compare(x.Pod, y.Pod), cmp.Compare(x.Name, y.Name), cmp.Compare(x.ID, y.ID))
	})
	slices.SortFunc(r.UnnamedContainers, func(x, y UnnamedContainer) int {
		return cmp.Or(y.LastSeen.Compare(x.LastSeen), cmp.Compare(x.Cgroup, y.Cgroup))
	})
	if len(r.UnnamedContainers) > maxUnnamed {
		r.UnnamedContainers = r.UnnamedContainers[:maxUnnamed]
	}
	return r, nil
}

// NamingGrace is how long after a container's first exec, while the Pod
// watch is up, the agent waits for its Pod's status to name it before it
// counts it unnamed: the kubelet reports a container's ID after it starts.
const NamingGrace = 30 * time.Second

// maxUnnamed bounds the unnamed containers a Report lists (the most
// recently active; Report.Unnamed counts them all).
const maxUnnamed = 256

// unnamed adds a container no Pod the agent knows names to the Report:
// counted and listed if it may be a Pod's, counted apart if its cgroup is
// outside the kubelet's.
func (a *Agent) unnamed(r *Report, cg uint64, ss []*SessionState, recs []Record, gains []Gain, inherited bool) {
	slices.SortFunc(ss, func(x, y *SessionState) int {
		return cmp.Or(x.First.Compare(y.First), cmp.Compare(x.Tag, y.Tag))
	})
	u := UnnamedContainer{Cgroup: cg, ID: ss[0].Container, CgroupPath: a.resolve(cg, ss[0].Container), CgroupParent: a.parents[cg]}
	kubelet, podUID := KubeletPath(u.CgroupPath)
	if u.CgroupPath == "" && u.CgroupParent != "" {
		// Without the hierarchy (the agent's own Pod does not mount
		// it), the parent the kernel named at its first exec: a
		// kubelet's container is in its Pod's cgroup.
		kubelet, podUID = KubeletParent(u.CgroupParent)
	}
	if (u.CgroupPath != "" || u.CgroupParent != "") && !kubelet {
		// Docker's, a host service's: no Pod's.
		r.OtherContainers++
		return
	}
	u.PodUID = podUID
	var trs []trace.Record
	var tgs []trace.Gain
	checked := map[string]bool{}
	for _, rec := range recs {
		u.Checks += rec.Count
		checked[rec.Capability] = true
		if tr, err := rec.Trace(); err == nil {
			trs = append(trs, tr)
		}
		if !inherited {
			if u.FirstSeen.IsZero() || rec.FirstSeen.Before(u.FirstSeen) {
				u.FirstSeen = rec.FirstSeen
			}
			if rec.LastSeen.After(u.LastSeen) {
				u.LastSeen = rec.LastSeen
			}
		}
	}
	for _, s := range ss {
		// Sessions' times are the agent's polls of their execs: they
		// survive its restarts.
		if u.FirstSeen.IsZero() || s.First.Before(u.FirstSeen) {
			u.FirstSeen = s.First.UTC()
		}
		if s.Last.After(u.LastSeen) {
			u.LastSeen = s.Last.UTC()
		}
		if s.Tag == trace.TagInit || u.Command == nil {
			u.Command = s.Args
		}
	}
	for _, g := range gains {
		if tg, err := g.Trace(); err == nil {
			tgs = append(tgs, tg)
		}
	}
	// What a profile would take from its checks and gains, as for a
	// named container: the rest is noise (the kernel's overcommit probe,
	// …) or denied.
	p := profile.Build(profile.Target{}, trs, profile.Info{Mechanism: trace.Mechanism(a.info.Mechanism),
		VMProbeDetection: a.info.VMProbeDetection, Kernel: a.info.Kernel, Arch: a.info.Arch, Gains: tgs})
	u.Capabilities = p.RecommendedSet().Names()
	if u.Capabilities == nil {
		u.Capabilities = []string{}
	}
	for _, c := range u.Capabilities {
		delete(checked, c)
	}
	u.Other = slices.Sorted(maps.Keys(checked))
	u.TimesUnknown = inherited
	if len(u.Capabilities) == 0 {
		// Nothing a profile would take: a sandbox's pause (the
		// overcommit probe of its runtime's allocations), or a container
		// that did nothing privileged. It cannot change a set.
		r.NoiseOnly++
		return
	}
	if w := a.watch; w.Synced && !u.FirstSeen.Before(w.Since) && a.now().Sub(u.FirstSeen) < NamingGrace {
		// Started while the watch was up, a moment ago: its Pod's
		// status does not have its ID yet.
		r.NamingPending++
		return
	}
	r.Unnamed++
	r.UnnamedContainers = append(r.UnnamedContainers, u)
}

func capName(c capset.Cap) string { return c.String() }

// container builds the Report's Container of one container.
func (a *Agent) container(c *container, id string, ss []*SessionState, recs []Record, gains []Gain) Container {
	p := c.pod
	out := Container{ID: id, Namespace: p.Namespace, Pod: p.Name, PodUID: string(p.UID), Name: c.name, Type: c.typ,
		Image: c.spec.Image, StartedAt: c.started, FinishedAt: c.finished, Records: recs, Gains: gains}
	if c.status != nil {
		out.ImageID = c.status.ImageID
	}
	if ref := ownerOf(p); ref != nil {
		out.Owner = ref
	}
	out.Revision = cmp.Or(p.Labels["pod-template-hash"], p.Labels["controller-revision-hash"])
	var env []string
	for _, e := range c.spec.Env {
		env = append(env, e.Name)
	}
	out.Fingerprint = Fingerprint(c.spec.Image, c.spec.Command, c.spec.Args, env)
	known := execs(c.spec)
	slices.SortFunc(ss, func(x, y *SessionState) int {
		return cmp.Or(x.First.Compare(y.First), cmp.Compare(x.Tag, y.Tag))
	})
	tags := map[uint32]bool{}
	for i, s := range ss {
		sess := Session{Tag: s.Tag, Command: s.Args, Truncated: s.Truncated, Runs: s.Runs, First: s.First.UTC(), Last: s.Last.UTC()}
		switch k, isExec := known[s.Tag]; {
		case s.Tag == trace.TagInit:
			sess.Kind = SessionInit
			out.FromStart = true
		case isExec:
			sess.Kind, sess.Name = k[0], k[1]
		case c.sharedPIDs && i == 0 && a.fromStart(c):
			// In a Pod sharing one pid namespace the entrypoint is not
			// its namespace's init: it is the container's first exec.
			sess.Kind = SessionInit
			out.FromStart = true
		default:
			sess.Kind = SessionExec
		}
		tags[s.Tag] = true
		out.Sessions = append(out.Sessions, sess)
	}
	// Checks under a tag without a session (the sessions store was full,
	// or the root was lost) cannot be told apart: unknown.
	for _, r := range recs {
		if !tags[r.Tag] {
			tags[r.Tag] = true
			out.Sessions = append(out.Sessions, Session{Tag: r.Tag, Kind: SessionUnknown})
		}
	}
	for _, g := range gains {
		if !tags[g.Tag] {
			tags[g.Tag] = true
			out.Sessions = append(out.Sessions, Session{Tag: g.Tag, Kind: SessionUnknown})
		}
	}
	slices.SortFunc(out.Records, func(x, y Record) int {
		return cmp.Or(cmp.Compare(x.Tag, y.Tag), cmp.Compare(x.Capability, y.Capability), cmp.Compare(x.Syscall, y.Syscall),
			cmp.Compare(x.Command, y.Command), cmp.Compare(x.Flags, y.Flags), boolCmp(x.Denied, y.Denied))
	})
	return out
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

// fromStart reports whether the tracer was attached before the container
// started.
func (a *Agent) fromStart(c *container) bool {
	return c.started != nil && !a.info.TracingSince.IsZero() && !c.started.Before(a.info.TracingSince)
}

// ownerOf returns the Pod's controller reference.
func ownerOf(p *corev1.Pod) *OwnerRef {
	for _, o := range p.OwnerReferences {
		if o.Controller != nil && *o.Controller {
			return &OwnerRef{APIVersion: o.APIVersion, Kind: o.Kind, Name: o.Name, UID: string(o.UID)}
		}
	}
	return nil
}
