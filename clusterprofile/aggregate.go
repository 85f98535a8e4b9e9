package clusterprofile

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/capdrop/capdrop/agent"
	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/profile"
	"github.com/capdrop/capdrop/trace"
)

// Input is what Aggregate makes a Document of.
type Input struct {
	// Reports are the agents' reports, one per node.
	Reports []agent.Report
	// Baselines are each node's counters at the window's start, by node
	// name (a node without one counts every loss since its tracer was
	// attached).
	Baselines map[string]agent.Counters
	// Unreachable are the nodes whose agent could not be read, with why.
	Unreachable map[string]string
	// Window is the time observed; MinWindow the least a workload must
	// be observed for its profile to be complete.
	Window    Window
	MinWindow time.Duration
	// Top resolves a Pod's controller to its top controller (a
	// ReplicaSet's Deployment, a Job's CronJob). Nil takes the Pod's
	// controller as the top.
	Top func(namespace, pod string, owner *agent.OwnerRef) (agent.OwnerRef, error)
	// Keep selects the workloads to profile (nil keeps all).
	Keep func(Workload) bool
	// Expected are the Pods known to have run during the window; one that
	// no report has makes its workload's profiles partial.
	Expected []ExpectedPod
	// UnnamedSince, when set, is the start of the time in which a
	// container no Pod named makes profiles partial (ReasonUnnamed);
	// else the window's start.
	UnnamedSince time.Time
	// Source, Cluster and Generated are copied into the Document.
	Source    string
	Cluster   string
	Generated time.Time
}

// ExpectedPod is a Pod that ran during the window, as the API server
// lists it.
type ExpectedPod struct {
	Namespace, Name, UID, Node string
	Owner                      *agent.OwnerRef
}

// controllerOf returns the top controller of a Pod, as far as in.Top can
// tell, and why not.
func (in *Input) controllerOf(ns, pod, podUID string, owner *agent.OwnerRef) (agent.OwnerRef, error) {
	if owner == nil {
		return agent.OwnerRef{APIVersion: "v1", Kind: "Pod", Name: pod, UID: podUID}, nil
	}
	if in.Top == nil {
		return *owner, nil
	}
	top, err := in.Top(ns, pod, owner)
	if err != nil {
		return *owner, err
	}
	return top, nil
}

// groupKey identifies a profile: the workload container and its
// fingerprint.
type groupKey struct {
	w  Workload
	fp string
}

// capAcc accumulates one capability of one profile.
type capAcc struct {
	c                    capset.Cap
	pods                 map[string]map[string]bool // class -> pod UIDs
	nodes                map[string]map[string]bool // class -> nodes
	granted, denied, nse uint64
	first, last          time.Time
	evidence             map[string]*Evidence // class -> best
	reasons              map[string]map[string]bool
}

// group accumulates one profile.
type group struct {
	p          *Profile
	pods       map[string]string // uid -> name
	nodes      map[string]bool
	images     map[Image]bool
	revisions  map[string]bool
	caps       map[capset.Cap]*capAcc
	needed     capset.Set
	used       capset.Set
	denied     capset.Set
	uses       map[string]*profile.Use // cap + reason
	noise      map[string]*profile.Noise
	kept       map[string]*profile.Kept
	sessions   map[string]*sessAcc
	excluded   capset.Set
	commands   map[string]bool
	reasons    map[string]*Reason
	first      time.Time
	last       time.Time
	containers int
}

type sessAcc struct {
	s    SessionSummary
	pods map[string]bool
}

func (g *group) reason(id, detail string, pod, node string) {
	r := g.reasons[id]
	if r == nil {
		r = &Reason{Reason: id, Detail: detail}
		g.reasons[id] = r
	}
	if pod != "" && !slices.Contains(r.Pods, pod) {
		r.Pods = append(r.Pods, pod)
	}
	if node != "" && !slices.Contains(r.Nodes, node) {
		r.Nodes = append(r.Nodes, node)
	}
}

// maxUnnamedListed bounds the containers a reason's detail lists per node.
const maxUnnamedListed = 5

// unnamed makes partial the profiles an unnamed container of the window
// may belong to: those of its Pod when its cgroup path names a Pod that a
// profile has (or that ran, as Expected), else every profile: its Pod is
// gone, and it may have been a replica of any workload (one replaced while
// the agent's Pod watch was down), wherever the workload's other Pods ran.
func (in *Input) unnamed(groups map[groupKey]*group) {
	owners := map[string][]*group{} // pod UID -> the profiles with that Pod
	for _, g := range groups {
		for uid := range g.pods {
			owners[uid] = append(owners[uid], g)
		}
	}
	expected := map[string]ExpectedPod{}
	for _, e := range in.Expected {
		expected[e.UID] = e
	}
	type hit struct {
		node string
		cs   []agent.UnnamedContainer
	}
	byGroup := map[*group][]*hit{}
	watches := map[string]agent.PodWatch{}
	for _, r := range in.Reports {
		watches[r.Node] = r.PodWatch
	}
	add := func(g *group, node string, u agent.UnnamedContainer) {
		hs := byGroup[g]
		if len(hs) == 0 || hs[len(hs)-1].node != node {
			hs = append(hs, &hit{node: node})
			byGroup[g] = hs
		}
		h := hs[len(hs)-1]
		h.cs = append(h.cs, u)
	}
	since := in.Window.Start
	if !in.UnnamedSince.IsZero() {
		since = in.UnnamedSince
	}
	for _, r := range in.Reports {
		for _, u := range r.UnnamedContainers {
			if !since.IsZero() && u.LastSeen.Before(since) {
				continue // it ran, and ended, before the window
			}
			var to []*group
			if u.PodUID != "" {
				to = owners[u.PodUID]
				if e, ok := expected[u.PodUID]; ok && len(to) == 0 {
					top, _ := in.controllerOf(e.Namespace, e.Name, e.UID, e.Owner)
					for _, g := range groups {
						w := g.p.Workload
						if w.Namespace == e.Namespace && w.Kind == top.Kind && w.Name == top.Name {
							to = append(to, g)
						}
					}
				}
			}
			if len(to) == 0 {
				for _, g := range groups {
					to = append(to, g)
				}
			}
			for _, g := range to {
				add(g, r.Node, u)
			}
		}
		// A report made before the lists: counted, not listed.
		if r.Unnamed > 0 && len(r.UnnamedContainers) == 0 {
			for _, g := range groups {
				add(g, r.Node, agent.UnnamedContainer{})
			}
		}
	}
	for g, hs := range byGroup {
		var parts []string
		for _, h := range hs {
			parts = append(parts, unnamedDetail(h.node, watches[h.node], h.cs))
			g.reason(ReasonUnnamed, "", "", h.node)
		}
		g.reasons[ReasonUnnamed].Detail = strings.Join(parts, "; ")
	}
}

// unnamedDetail says which containers of a node no Pod named, and why
// they count.
func unnamedDetail(node string, watch agent.PodWatch, cs []agent.UnnamedContainer) string {
	var b strings.Builder
	if cs[0].Cgroup == 0 {
		fmt.Fprintf(&b, "the agent on node %s counted the checks of containers no Pod on the node names (its report does not list them)", node)
		return b.String()
	}
	fmt.Fprintf(&b, "the agent on node %s counted, in the window, the checks of %d container(s) no Pod it knew names: ", node, len(cs))
	for i, u := range cs {
		if i == maxUnnamedListed {
			fmt.Fprintf(&b, " and %d more", len(cs)-i)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "container %s (cgroup %d", short(u.ID), u.Cgroup)
		if u.CgroupPath != "" {
			fmt.Fprintf(&b, " %s", u.CgroupPath)
		} else if u.CgroupParent != "" {
			fmt.Fprintf(&b, " in %s", u.CgroupParent)
		}
		if len(u.Command) > 0 {
			fmt.Fprintf(&b, ", command %q", strings.Join(u.Command, " "))
		}
		fmt.Fprintf(&b, ", %d check(s) of %s, seen %s to %s", u.Checks, strings.Join(u.Capabilities, ","),
			u.FirstSeen.UTC().Format(time.RFC3339), u.LastSeen.UTC().Format(time.RFC3339))
		if u.TimesUnknown {
			b.WriteString(", checks counted before the agent's restart")
		}
		b.WriteString(")")
	}
	b.WriteString(": a Pod created and deleted while the agent's Pod watch was down may have been this workload's, and its checks are in no profile")
	if !watch.Synced && watch.Error != "" {
		fmt.Fprintf(&b, " (the watch is still down, since %s: %s)", watch.Since.UTC().Format(time.RFC3339), watch.Error)
	}
	return b.String()
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// Aggregate makes the per-workload profiles of what the agents reported.
func Aggregate(in Input) *Document {
	doc := &Document{
		Version:   Version,
		Kind:      Kind,
		Source:    cmp.Or(in.Source, "session"),
		Generated: in.Generated.UTC().Truncate(time.Millisecond),
		Cluster:   in.Cluster,
		Window:    in.Window,
		MinWindow: in.MinWindow.Seconds(),
		Nodes:     []Node{},
		Profiles:  []Profile{},
		Excluded:  []ExcludedContainer{},
		Warnings:  []string{},
	}
	groups := map[groupKey]*group{}
	observed := map[string]bool{} // pod UIDs reported
	lossy := map[string]bool{}    // nodes that lost checks in the window
	for _, r := range in.Reports {
		delta := r.Counters.Sub(in.Baselines[r.Node])
		n := Node{Name: r.Node, Agent: r.Pod, AgentVersion: r.AgentVersion, Mechanism: r.Mechanism,
			OptsVisible: trace.Mechanism(r.Mechanism).OptsVisible(), Kernel: r.Kernel, Arch: r.Arch,
			TracingSince: r.TracingSince.UTC(), Restarts: r.Restarts, Counters: delta}
		n.NoauditFrom = noauditFrom(r)
		doc.Nodes = append(doc.Nodes, n)
		if delta.Missing() > 0 {
			lossy[r.Node] = true
		}
		for _, w := range r.Warnings {
			doc.Warnings = append(doc.Warnings, r.Node+": "+w)
		}
		if r.Unnamed > 0 {
			doc.Warnings = append(doc.Warnings, fmt.Sprintf("%s: the agent counted the checks of %d container(s) that no Pod on the node names (a Pod created and deleted while its Pod watch was down): they are in no profile, and the profiles they may belong to are partial (%s)", r.Node, r.Unnamed, ReasonUnnamed))
		}
		for i := range r.Containers {
			c := &r.Containers[i]
			observed[c.PodUID] = true
			in.add(doc, groups, &r, c, lossy[r.Node])
		}
	}
	for node, why := range in.Unreachable {
		doc.Nodes = append(doc.Nodes, Node{Name: node, Error: why})
	}
	sort.Slice(doc.Nodes, func(i, j int) bool { return doc.Nodes[i].Name < doc.Nodes[j].Name })

	// Containers an agent pruned (seen ended longer than its retention
	// ago) that ran in the window: their checks are gone from its report.
	pruned := map[string]string{} // pod UID -> why
	for _, r := range in.Reports {
		for _, pc := range r.Pruning.Recent {
			if pc.PodUID == "" || (!in.Window.Start.IsZero() && pc.Ended.Before(in.Window.Start)) {
				continue
			}
			why := fmt.Sprintf("the agent on node %s pruned the data of its container %s (seen ended at %s, retention %s) before the window's end: profile for at most the retention, or raise the agent's --retain",
				r.Node, pc.Name, pc.Ended.UTC().Format(time.RFC3339), time.Duration(r.Pruning.Retention*float64(time.Second)))
			pruned[pc.PodUID] = why
			top, _ := in.controllerOf(pc.Namespace, pc.Pod, pc.PodUID, pc.Owner)
			for _, g := range groups {
				w := g.p.Workload
				if w.Namespace == pc.Namespace && w.Kind == top.Kind && w.Name == top.Name && w.Container == pc.Name {
					g.reason(ReasonNotObserved, "Pod "+pc.Pod+": "+why, pc.Pod, r.Node)
				}
			}
		}
	}

	// Pods that ran but were not reported.
	missing := map[string][]ExpectedPod{} // namespace/Kind/name
	for _, e := range in.Expected {
		if observed[e.UID] {
			continue
		}
		top, _ := in.controllerOf(e.Namespace, e.Name, e.UID, e.Owner)
		k := e.Namespace + "/" + top.Kind + "/" + top.Name
		missing[k] = append(missing[k], e)
	}
	for _, g := range groups {
		w := g.p.Workload
		for _, e := range missing[w.Namespace+"/"+w.Kind+"/"+w.Name] {
			why := "no agent reported it"
			if p, ok := pruned[e.UID]; ok {
				why = p
			} else if e.Node != "" {
				why = "no agent on node " + e.Node + " reported it"
				if u, ok := in.Unreachable[e.Node]; ok {
					why = "the agent on node " + e.Node + " could not be read: " + u
				}
			}
			g.reason(ReasonNotObserved, "Pod "+e.Name+": "+why, e.Name, e.Node)
		}
		if len(in.Expected) == 0 && len(in.Unreachable) > 0 {
			nodes := make([]string, 0, len(in.Unreachable))
			for n := range in.Unreachable {
				nodes = append(nodes, n)
			}
			sort.Strings(nodes)
			for _, n := range nodes {
				g.reason(ReasonNodeUnreachable, "the agent on node "+n+" could not be read: "+in.Unreachable[n], "", n)
			}
		}
	}
	in.unnamed(groups)
	seen := map[string]bool{}
	for _, g := range groups {
		seen[g.p.Workload.Namespace+"/"+g.p.Workload.Kind+"/"+g.p.Workload.Name] = true
	}
	var unseen []string
	for k := range missing {
		if !seen[k] {
			unseen = append(unseen, k)
		}
	}
	sort.Strings(unseen)
	for _, k := range unseen {
		doc.Warnings = append(doc.Warnings, fmt.Sprintf("%s: %d Pod(s) ran but no agent reported any of its containers", k, len(missing[k])))
	}

	for _, g := range groups {
		doc.Profiles = append(doc.Profiles, g.finish(in))
	}
	sort.Slice(doc.Profiles, func(i, j int) bool { return lessProfile(&doc.Profiles[i], &doc.Profiles[j]) })
	sort.Slice(doc.Excluded, func(i, j int) bool {
		a, b := doc.Excluded[i], doc.Excluded[j]
		return a.Workload.String()+"\x00"+a.Pod < b.Workload.String()+"\x00"+b.Pod
	})
	return doc
}

func noauditFrom(r agent.Report) string {
	switch {
	case trace.Mechanism(r.Mechanism).OptsVisible():
		return "opts"
	case r.VMProbeDetection:
		return "kernel-stack"
	}
	return "syscall-heuristic"
}

var typeOrder = map[string]int{agent.TypeInit: 0, agent.TypeSidecar: 1, agent.TypeContainer: 2}

func lessProfile(a, b *Profile) bool {
	x, y := a.Workload, b.Workload
	switch {
	case x.Namespace != y.Namespace:
		return x.Namespace < y.Namespace
	case x.Kind != y.Kind:
		return x.Kind < y.Kind
	case x.Name != y.Name:
		return x.Name < y.Name
	case x.ContainerType != y.ContainerType:
		return typeOrder[x.ContainerType] < typeOrder[y.ContainerType]
	case x.Container != y.Container:
		return x.Container < y.Container
	}
	return a.FirstSeen.Before(b.FirstSeen) || (a.FirstSeen.Equal(b.FirstSeen) && a.Fingerprint < b.Fingerprint)
}

// split returns the container's records and gains of the workload's own
// sessions, those of exec sessions, and the count of records of sessions
// nobody knows.
func split(c *agent.Container) (own, execs []trace.Record, ownG, execG []trace.Gain, unknown int, bad error) {
	kind := map[uint32]agent.Session{}
	for _, s := range c.Sessions {
		kind[s.Tag] = s
	}
	for _, r := range c.Records {
		tr, err := r.Trace()
		if err != nil {
			bad = fmt.Errorf("container %s: %w", c.ID, err)
			continue
		}
		s, ok := kind[r.Tag]
		switch {
		case !ok || s.Kind == agent.SessionUnknown:
			unknown++
		case s.Workload():
			own = append(own, tr)
		default:
			execs = append(execs, tr)
		}
	}
	for _, g := range c.Gains {
		tg, err := g.Trace()
		if err != nil {
			bad = fmt.Errorf("container %s: %w", c.ID, err)
			continue
		}
		s, ok := kind[g.Tag]
		switch {
		case !ok || s.Kind == agent.SessionUnknown:
			unknown++
		case s.Workload():
			ownG = append(ownG, tg)
		default:
			execG = append(execG, tg)
		}
	}
	return
}

func info(r *agent.Report, gains []trace.Gain) profile.Info {
	return profile.Info{Mechanism: trace.Mechanism(r.Mechanism), VMProbeDetection: r.VMProbeDetection,
		Kernel: r.Kernel, Arch: r.Arch, Gains: gains}
}

// uses returns the capabilities a profile says were needed or used.
func uses(p *profile.Profile) capset.Set { return p.RecommendedSet() }

func sessionLabel(s agent.Session) string {
	if s.Name != "" {
		return s.Kind + ":" + s.Name
	}
	return s.Kind
}

// add folds one container into its workload's profile.
func (in *Input) add(doc *Document, groups map[groupKey]*group, r *agent.Report, c *agent.Container, lossy bool) {
	top, topErr := in.controllerOf(c.Namespace, c.Pod, c.PodUID, c.Owner)
	w := Workload{Namespace: c.Namespace, APIVersion: top.APIVersion, Kind: top.Kind, Name: top.Name, UID: top.UID,
		Container: c.Name, ContainerType: c.Type}
	if in.Keep != nil && !in.Keep(w) {
		return
	}
	own, execs, ownG, execG, unknown, bad := split(c)
	if c.Type == agent.TypeEphemeral {
		p := profile.Build(profile.Target{}, append(own, execs...), info(r, append(ownG, execG...)))
		doc.Excluded = append(doc.Excluded, ExcludedContainer{Workload: w, Pod: c.Pod, Capabilities: uses(p)})
		return
	}
	k := groupKey{w, c.Fingerprint}
	g := groups[k]
	if g == nil {
		g = &group{p: &Profile{Workload: w, Fingerprint: c.Fingerprint}, pods: map[string]string{}, nodes: map[string]bool{},
			images: map[Image]bool{}, revisions: map[string]bool{}, caps: map[capset.Cap]*capAcc{},
			uses: map[string]*profile.Use{}, noise: map[string]*profile.Noise{}, kept: map[string]*profile.Kept{},
			sessions: map[string]*sessAcc{}, commands: map[string]bool{}, reasons: map[string]*Reason{}}
		groups[k] = g
	}
	if topErr != nil {
		g.p.Warnings = appendOnce(g.p.Warnings, fmt.Sprintf("the top controller of Pod %s was not found beyond %s/%s: %v", c.Pod, top.Kind, top.Name, topErr))
	}
	if bad != nil {
		g.p.Warnings = appendOnce(g.p.Warnings, r.Node+": "+bad.Error())
	}
	g.containers++
	g.pods[c.PodUID] = c.Pod
	g.nodes[r.Node] = true
	g.images[Image{Image: c.Image, ImageID: c.ImageID}] = true
	if c.Revision != "" {
		g.revisions[c.Revision] = true
	}
	start := r.Generated
	if c.StartedAt != nil {
		start = *c.StartedAt
	}
	for _, s := range c.Sessions {
		if !s.First.IsZero() && s.First.Before(start) {
			start = s.First
		}
	}
	if g.first.IsZero() || start.Before(g.first) {
		g.first = start
	}
	end := r.Generated
	if c.FinishedAt != nil && c.FinishedAt.Before(end) {
		end = *c.FinishedAt
	}
	if end.After(g.last) {
		g.last = end
	}
	if !c.FromStart {
		g.reason(ReasonStartedBefore, "containers started before their node's tracer was attached", c.Pod, r.Node)
	}
	if lossy {
		g.reason(ReasonLostEvents, "the tracer lost checks, tasks or sessions during the window", "", r.Node)
	}
	if unknown > 0 {
		g.reason(ReasonUnattributed, fmt.Sprintf("%d groups of checks came from execs the tracer could not record", unknown), c.Pod, r.Node)
	}

	p := profile.Build(profile.Target{}, own, info(r, ownG))
	tags := map[uint32]agent.Session{}
	for _, s := range c.Sessions {
		tags[s.Tag] = s
	}
	g.fold(p, c, r, tags)

	// The workload's own sessions, each with what it used.
	byTag := map[uint32][]trace.Record{}
	for _, rec := range own {
		byTag[rec.Tag] = append(byTag[rec.Tag], rec)
	}
	gByTag := map[uint32][]trace.Gain{}
	for _, gn := range ownG {
		gByTag[gn.Tag] = append(gByTag[gn.Tag], gn)
	}
	for _, s := range c.Sessions {
		if !s.Workload() {
			continue
		}
		key := s.Kind + "\x00" + s.Name + "\x00" + strings.Join(s.Command, "\x00")
		sa := g.sessions[key]
		if sa == nil {
			sa = &sessAcc{s: SessionSummary{Kind: s.Kind, Name: s.Name, Command: s.Command}, pods: map[string]bool{}}
			g.sessions[key] = sa
		}
		sa.s.Runs += s.Runs
		sa.pods[c.PodUID] = true
		if len(byTag[s.Tag]) > 0 || len(gByTag[s.Tag]) > 0 {
			sp := profile.Build(profile.Target{}, byTag[s.Tag], info(r, gByTag[s.Tag]))
			sa.s.Capabilities = sa.s.Capabilities.Union(uses(sp))
		}
	}
	// Exec sessions: counted apart.
	for _, s := range c.Sessions {
		if s.Kind != agent.SessionExec {
			continue
		}
		g.p.Excluded.Sessions += s.Runs
		cmd := strings.Join(s.Command, "\x00")
		if !g.commands[cmd] && len(g.commands) < MaxCommands {
			g.commands[cmd] = true
			g.p.Excluded.Commands = append(g.p.Excluded.Commands, s.Command)
		}
	}
	if len(execs) > 0 || len(execG) > 0 {
		xp := profile.Build(profile.Target{}, execs, info(r, execG))
		g.excluded = g.excluded.Union(uses(xp))
	}
}

// fold adds one container's profile to the group.
func (g *group) fold(p *profile.Profile, c *agent.Container, r *agent.Report, tags map[uint32]agent.Session) {
	needed, used := p.NeededSet(), p.UsedSet()
	denied, _ := capset.ParseSet(strings.Join(p.Denied, ","))
	g.needed = g.needed.Union(needed)
	g.used = g.used.Union(used)
	g.denied = g.denied.Union(denied)

	// When each capability's checks were seen.
	first, last := map[capset.Cap]time.Time{}, map[capset.Cap]time.Time{}
	for _, rec := range c.Records {
		cp, err := capset.Parse(rec.Capability)
		if err != nil || !tags[rec.Tag].Workload() {
			continue
		}
		if t, ok := first[cp]; !rec.FirstSeen.IsZero() && (!ok || rec.FirstSeen.Before(t)) {
			first[cp] = rec.FirstSeen
		}
		if rec.LastSeen.After(last[cp]) {
			last[cp] = rec.LastSeen
		}
	}
	acc := func(cp capset.Cap) *capAcc {
		a := g.caps[cp]
		if a == nil {
			a = &capAcc{c: cp, pods: map[string]map[string]bool{}, nodes: map[string]map[string]bool{},
				evidence: map[string]*Evidence{}, reasons: map[string]map[string]bool{}}
			g.caps[cp] = a
		}
		return a
	}
	mark := func(a *capAcc, class string, e *profile.Evidence) {
		if a.pods[class] == nil {
			a.pods[class], a.nodes[class] = map[string]bool{}, map[string]bool{}
		}
		a.pods[class][c.PodUID] = true
		a.nodes[class][r.Node] = true
		if e == nil {
			return
		}
		if b := a.evidence[class]; b == nil || e.Count > b.Count {
			a.evidence[class] = &Evidence{Source: e.Source, Syscall: e.Syscall, Command: e.Command, Count: e.Count,
				Session: sessionLabel(tags[e.Tag]), Pod: c.Pod, Node: r.Node}
		}
	}
	for name, cc := range p.Checks {
		cp, err := capset.Parse(name)
		if err != nil {
			continue
		}
		a := acc(cp)
		a.granted += cc.Granted
		a.denied += cc.Denied
		a.nse += cc.Noise
		if t, ok := first[cp]; ok && (a.first.IsZero() || t.Before(a.first)) {
			a.first = t
		}
		if t := last[cp]; t.After(a.last) {
			a.last = t
		}
		switch {
		case needed.Has(cp):
			mark(a, ClassNeeded, cc.Evidence)
		case used.Has(cp):
			mark(a, ClassUsed, cc.Evidence)
		case denied.Has(cp):
			mark(a, ClassDenied, cc.Evidence)
		default:
			mark(a, ClassNoise, cc.Evidence)
		}
	}
	// Capabilities kept without any check of them.
	for _, k := range p.Kept {
		for _, name := range k.Capabilities {
			cp, err := capset.Parse(name)
			if err != nil || p.Checks[name] != nil {
				continue
			}
			cmd := ""
			if len(k.Commands) > 0 {
				cmd = k.Commands[0]
			}
			syscall := "capset"
			if k.Source == trace.GainExec.String() {
				syscall = "execve"
			}
			mark(acc(cp), ClassNeeded, &profile.Evidence{Source: k.Source, Syscall: syscall, Command: cmd, Count: k.Count, Tag: keptTag(c, k)})
		}
	}
	for _, u := range p.UsedNotProven {
		cp, err := capset.Parse(u.Capability)
		if err != nil {
			continue
		}
		if p.Checks[u.Capability] == nil { // asked for by root's capset, never checked
			mark(acc(cp), ClassUsed, &profile.Evidence{Source: "capset", Syscall: "capset", Count: u.Granted, Command: first1(u.Commands)})
		}
		a := acc(cp)
		if a.reasons[ClassUsed] == nil {
			a.reasons[ClassUsed] = map[string]bool{}
		}
		a.reasons[ClassUsed][u.Reason] = true
		key := u.Capability + "\x00" + u.Reason
		m := g.uses[key]
		if m == nil {
			m = &profile.Use{Capability: u.Capability, Reason: u.Reason}
			g.uses[key] = m
		}
		m.Granted += u.Granted
		for _, s := range u.Syscalls {
			m.Syscalls = appendOnce(m.Syscalls, s)
		}
		for _, s := range u.Commands {
			m.Commands = appendOnce(m.Commands, s)
		}
	}
	for _, n := range p.Noise {
		cp, err := capset.Parse(n.Capability)
		if err != nil {
			continue
		}
		a := acc(cp)
		if a.reasons[ClassNoise] == nil {
			a.reasons[ClassNoise] = map[string]bool{}
		}
		a.reasons[ClassNoise][n.Reason] = true
		key := n.Capability + "\x00" + n.Reason + "\x00" + n.From
		m := g.noise[key]
		if m == nil {
			m = &profile.Noise{Capability: n.Capability, Reason: n.Reason, From: n.From}
			g.noise[key] = m
		}
		m.Granted += n.Granted
		m.Denied += n.Denied
		for _, s := range n.Syscalls {
			m.Syscalls = appendOnce(m.Syscalls, s)
		}
		for _, s := range n.Commands {
			m.Commands = appendOnce(m.Commands, s)
		}
	}
	for _, k := range p.Kept {
		m := g.kept[k.Source]
		if m == nil {
			m = &profile.Kept{Source: k.Source}
			g.kept[k.Source] = m
		}
		s, _ := capset.ParseSet(strings.Join(append(append([]string{}, m.Capabilities...), k.Capabilities...), ","))
		m.Capabilities = s.Names()
		for _, cmd := range k.Commands {
			m.Commands = appendOnce(m.Commands, cmd)
		}
		m.Count += k.Count
	}
}

// keptTag finds the session of a kept capability's first command.
func keptTag(c *agent.Container, k profile.Kept) uint32 {
	for _, g := range c.Gains {
		if g.Source == k.Source && len(k.Commands) > 0 && g.Command == k.Commands[0] {
			return g.Tag
		}
	}
	return 0
}

func first1(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// finish turns the group into its profile.
func (g *group) finish(in Input) Profile {
	p := *g.p
	needed := g.needed
	used := g.used.Minus(needed)
	denied := g.denied.Minus(needed).Minus(used)
	p.Needed = needed.Names()
	p.Denied = denied.Names()
	p.UsedNotProven = []profile.Use{}
	for _, key := range sortedKeys(g.uses) {
		u := g.uses[key]
		c, _ := capset.Parse(u.Capability)
		if used.Has(c) {
			sort.Strings(u.Syscalls)
			sort.Strings(u.Commands)
			p.UsedNotProven = append(p.UsedNotProven, *u)
		}
	}
	sort.SliceStable(p.UsedNotProven, func(i, j int) bool {
		a, _ := capset.Parse(p.UsedNotProven[i].Capability)
		b, _ := capset.Parse(p.UsedNotProven[j].Capability)
		return a < b
	})
	p.Kept = []profile.Kept{}
	for _, src := range []string{trace.GainCapset.String(), trace.GainExec.String()} {
		if k := g.kept[src]; k != nil {
			sort.Strings(k.Commands)
			p.Kept = append(p.Kept, *k)
		}
	}
	p.Noise = []profile.Noise{}
	for _, key := range sortedKeys(g.noise) {
		n := g.noise[key]
		sort.Strings(n.Syscalls)
		sort.Strings(n.Commands)
		p.Noise = append(p.Noise, *n)
	}
	sort.SliceStable(p.Noise, func(i, j int) bool {
		a, _ := capset.Parse(p.Noise[i].Capability)
		b, _ := capset.Parse(p.Noise[j].Capability)
		return a < b
	})

	p.Capabilities = []Capability{}
	caps := make([]capset.Cap, 0, len(g.caps))
	for c := range g.caps {
		caps = append(caps, c)
	}
	slices.Sort(caps)
	for _, c := range caps {
		a := g.caps[c]
		class := ClassNoise
		counted := []string{ClassNoise}
		switch {
		case needed.Has(c):
			class, counted = ClassNeeded, []string{ClassNeeded, ClassUsed}
		case used.Has(c):
			class, counted = ClassUsed, []string{ClassUsed}
		case denied.Has(c):
			class, counted = ClassDenied, []string{ClassDenied}
		}
		pc := Capability{Capability: c.Name(), Class: class, Reasons: []string{}, Nodes: []string{},
			Granted: a.granted, Denied: a.denied, NoiseChecks: a.nse,
			FirstSeen: a.first.UTC(), LastSeen: a.last.UTC()}
		pods, nodes := map[string]bool{}, map[string]bool{}
		for _, cl := range counted {
			for u := range a.pods[cl] {
				pods[u] = true
			}
			for n := range a.nodes[cl] {
				nodes[n] = true
			}
			if pc.Evidence == nil && a.evidence[cl] != nil {
				pc.Evidence = a.evidence[cl]
			}
		}
		pc.Pods = len(pods)
		for n := range nodes {
			pc.Nodes = append(pc.Nodes, n)
		}
		sort.Strings(pc.Nodes)
		for why := range a.reasons[class] {
			pc.Reasons = append(pc.Reasons, why)
		}
		sort.Strings(pc.Reasons)
		p.Capabilities = append(p.Capabilities, pc)
	}

	p.Sessions = []SessionSummary{}
	for _, key := range sortedKeys(g.sessions) {
		sa := g.sessions[key]
		sa.s.Pods = len(sa.pods)
		if sa.s.Command == nil {
			sa.s.Command = []string{}
		}
		p.Sessions = append(p.Sessions, sa.s)
	}
	sort.SliceStable(p.Sessions, func(i, j int) bool {
		order := map[string]int{agent.SessionInit: 0, agent.SessionProbe: 1, agent.SessionHook: 2}
		return order[p.Sessions[i].Kind] < order[p.Sessions[j].Kind]
	})
	p.Excluded.Capabilities = g.excluded
	if p.Excluded.Commands == nil {
		p.Excluded.Commands = [][]string{}
	}

	p.Images = []Image{}
	for im := range g.images {
		p.Images = append(p.Images, im)
	}
	sort.Slice(p.Images, func(i, j int) bool {
		return p.Images[i].Image+"\x00"+p.Images[i].ImageID < p.Images[j].Image+"\x00"+p.Images[j].ImageID
	})
	ids := map[string]bool{}
	for _, im := range p.Images {
		if im.ImageID != "" {
			ids[im.ImageID] = true
		}
	}
	if len(ids) > 1 {
		p.Warnings = appendOnce(p.Warnings, fmt.Sprintf("the Pods ran %d different images under the same name: the profile covers them all", len(ids)))
	}
	p.Revisions = sortedKeys(g.revisions)
	p.Nodes = sortedKeys(g.nodes)
	p.Pods = len(g.pods)
	p.Containers = g.containers

	p.FirstSeen = g.first
	if !in.Window.Start.IsZero() && p.FirstSeen.Before(in.Window.Start) {
		p.FirstSeen = in.Window.Start
	}
	p.LastSeen = g.last
	if !in.Window.End.IsZero() {
		p.LastSeen = in.Window.End
	}
	p.FirstSeen, p.LastSeen = p.FirstSeen.UTC().Truncate(time.Millisecond), p.LastSeen.UTC().Truncate(time.Millisecond)
	obs := p.LastSeen.Sub(p.FirstSeen)
	if obs < 0 {
		obs = 0
	}
	p.Observed = obs.Round(time.Millisecond).Seconds()
	if obs < in.MinWindow {
		g.reason(ReasonShortWindow, fmt.Sprintf("observed %s, less than the minimum window %s", obs.Round(time.Second), in.MinWindow), "", "")
	}

	p.Partial = []Reason{}
	for _, id := range sortedKeys(g.reasons) {
		r := *g.reasons[id]
		names := make([]string, 0, len(r.Pods))
		names = append(names, r.Pods...)
		sort.Strings(names)
		r.Pods = names
		sort.Strings(r.Nodes)
		p.Partial = append(p.Partial, r)
	}
	p.Complete = len(p.Partial) == 0
	if p.Warnings == nil {
		p.Warnings = []string{}
	}
	return p
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func appendOnce(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}
