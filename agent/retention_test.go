package agent_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/capdrop/capdrop/agent"
	"github.com/capdrop/capdrop/clusterprofile"
	"github.com/capdrop/capdrop/trace"
)

// pruningTracer is a fakeTracer with the tasks it follows (by cgroup) and
// PruneCgroups; keys in held are left once, as a cache slot holding checks
// would leave them.
type pruningTracer struct {
	*fakeTracer
	live   map[uint64]bool
	held   map[uint64]bool
	pruned []map[uint64]bool
}

func (p *pruningTracer) LiveCgroups() (map[uint64]bool, error) {
	out := map[uint64]bool{}
	for k, v := range p.live {
		out[k] = v
	}
	return out, nil
}

func (p *pruningTracer) PruneCgroups(cgs map[uint64]bool) (trace.Pruned, error) {
	var out trace.Pruned
	for cg := range cgs {
		if p.live[cg] {
			panic("PruneCgroups of a live cgroup")
		}
	}
	p.pruned = append(p.pruned, cgs)
	var keep []trace.Record
	for _, r := range p.records {
		switch {
		case !cgs[r.Cgroup]:
			keep = append(keep, r)
		case p.held[r.Cgroup]:
			out.Held++
			keep = append(keep, r)
		default:
			out.Records++
		}
	}
	p.records = keep
	for cg := range cgs {
		delete(p.held, cg)
	}
	var gains []trace.Gain
	for _, g := range p.gains {
		if cgs[g.Cgroup] {
			out.Gains++
			continue
		}
		gains = append(gains, g)
	}
	p.gains = gains
	return out, nil
}

// clock is a settable clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func retentionAgent(t *testing.T, p *pruningTracer, store agent.Store, c *clock) *agent.Agent {
	t.Helper()
	a, err := agent.New(p, store, agent.Info{Node: "n1", TracingSince: t0, Pinned: true, Retention: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	agent.SetClock(a, c.now)
	a.SetPods([]*corev1.Pod{pod()})
	return a
}

func prune(t *testing.T, a *agent.Agent) {
	t.Helper()
	if err := a.Prune(); err != nil {
		t.Fatal(err)
	}
}

func report(t *testing.T, a *agent.Agent) agent.Report {
	t.Helper()
	r, err := a.Report()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func hasContainer(r agent.Report, id string) bool {
	for _, c := range r.Containers {
		if c.ID == id {
			return true
		}
	}
	return false
}

// TestRetention: of the scenario's containers, app (cgroup 11) has ended;
// the debugger (12) still runs. app's data stays for the retention (a
// profile window ending within it reads it), then goes from the store and
// the kernel's maps, and the Report says so; the debugger's never goes.
func TestRetention(t *testing.T) {
	p := &pruningTracer{fakeTracer: scenario(), live: map[uint64]bool{12: true}}
	p.gains = []trace.Gain{{Cgroup: 11, Tag: trace.TagInit, Comm: "capneeds", Count: 1}, {Cgroup: 12, Tag: trace.TagInit, Comm: "sh", Count: 1}}
	store := &agent.MemoryStore{}
	c := &clock{t: t0}
	a := retentionAgent(t, p, store, c)

	prune(t, a) // app seen ended now
	for _, d := range []time.Duration{30 * time.Minute, time.Hour - time.Second} {
		c.t = t0.Add(d)
		prune(t, a)
		r := report(t, a)
		if !hasContainer(r, idApp) || !hasContainer(r, idDebug) {
			t.Fatalf("after %s: containers %+v, want app (ended less than the retention ago) and the debugger", d, r.Containers)
		}
		if r.Pruning.Pending != 2 || r.Pruning.Totals != (agent.PruneTotals{}) || len(r.Pruning.Recent) != 0 {
			t.Errorf("after %s: pruning %+v, want app and the unnamed container pending (the host service is no container), nothing pruned", d, r.Pruning)
		}
	}
	if len(p.pruned) != 0 {
		t.Fatalf("pruned before the retention: %v", p.pruned)
	}

	c.t = t0.Add(time.Hour)
	prune(t, a)
	if len(p.pruned) != 1 || p.pruned[0][12] || !p.pruned[0][11] || !p.pruned[0][13] || !p.pruned[0][14] {
		t.Fatalf("pruned %v, want cgroups 11, 13, 14 (ended an hour ago), not 12 (live)", p.pruned)
	}
	r := report(t, a)
	if hasContainer(r, idApp) || !hasContainer(r, idDebug) {
		t.Errorf("containers %+v after the retention: want the debugger only", r.Containers)
	}
	if r.Unnamed != 0 {
		t.Errorf("unnamed %d: the unnamed container's data was pruned", r.Unnamed)
	}
	// app: 4 sessions, 4 records, 1 gain; the unnamed container: 1
	// session, 1 record; the host service: 1 record, no session.
	want := agent.PruneTotals{Containers: 2, Sessions: 5, Records: 6, Gains: 1}
	if r.Pruning.Totals != want {
		t.Errorf("totals %+v, want %+v", r.Pruning.Totals, want)
	}
	if r.Pruning.Retention != 3600 || r.Pruning.Pending != 0 {
		t.Errorf("pruning %+v", r.Pruning)
	}
	var named *agent.PrunedContainer
	for i, pc := range r.Pruning.Recent {
		if pc.ID == idApp {
			named = &r.Pruning.Recent[i]
		}
	}
	if len(r.Pruning.Recent) != 2 || named == nil || named.Namespace != "shop" || named.Pod != "web-5d8f-x" || named.PodUID != "uid-x" ||
		named.Name != "app" || !named.Ended.Equal(t0) || !named.Pruned.Equal(t0.Add(time.Hour)) {
		t.Errorf("recent %+v, want app named by its Pod, ended at %s, and the unnamed container", r.Pruning.Recent, t0)
	}
	saved, _, _ := store.Load()
	for _, s := range saved {
		if s.Cgroup != 12 {
			t.Errorf("session %+v left in the store", s)
		}
	}
	for _, g := range p.gains {
		if g.Cgroup != 12 {
			t.Errorf("gain %+v left", g)
		}
	}

	// The debugger runs for days: never pruned.
	c.t = t0.Add(72 * time.Hour)
	prune(t, a)
	r = report(t, a)
	if !hasContainer(r, idDebug) || len(r.Containers[0].Records) != 1 {
		t.Errorf("the live debugger's data is gone after 3 days: %+v", r.Containers)
	}
	if len(r.Pruning.Recent) != 0 {
		t.Errorf("recent %+v: the prunes of 71 hours ago are older than the retention", r.Pruning.Recent)
	}
	if r.Pruning.Totals != want {
		t.Errorf("totals %+v, want %+v still", r.Pruning.Totals, want)
	}

	// A new agent on the same store (a restart) keeps the totals.
	b := retentionAgent(t, p, store, c)
	if got := report(t, b).Pruning.Totals; got != want {
		t.Errorf("totals after a restart %+v, want %+v", got, want)
	}
}

// TestRetentionAliveAgain: a cgroup seen without a task and then with one
// again (its only task was between a fork and its entry) starts over.
func TestRetentionAliveAgain(t *testing.T) {
	p := &pruningTracer{fakeTracer: scenario(), live: map[uint64]bool{11: true, 12: true, 13: true, 14: true}}
	c := &clock{t: t0}
	a := retentionAgent(t, p, &agent.MemoryStore{}, c)
	p.live[11] = false
	prune(t, a)
	c.t = t0.Add(30 * time.Minute)
	p.live[11] = true
	prune(t, a)
	p.live[11] = false
	c.t = t0.Add(80 * time.Minute)
	prune(t, a) // ended again: since now
	c.t = t0.Add(139 * time.Minute)
	prune(t, a)
	if len(p.pruned) != 0 {
		t.Fatalf("pruned %v: the container was live 59 minutes ago", p.pruned)
	}
	c.t = t0.Add(140 * time.Minute)
	prune(t, a)
	if len(p.pruned) != 1 || len(p.pruned[0]) != 1 || !p.pruned[0][11] {
		t.Errorf("pruned %v, want cgroup 11 once its hour without a task is over", p.pruned)
	}
}

// TestRetentionHeldKeys: count keys a cache slot still held are deleted by
// the next pass; the container is counted once.
func TestRetentionHeldKeys(t *testing.T) {
	p := &pruningTracer{fakeTracer: scenario(), live: map[uint64]bool{12: true, 13: true, 14: true}, held: map[uint64]bool{11: true}}
	c := &clock{t: t0}
	a := retentionAgent(t, p, &agent.MemoryStore{}, c)
	prune(t, a)
	c.t = t0.Add(time.Hour)
	prune(t, a)
	r := report(t, a)
	if hasContainer(r, idApp) {
		t.Errorf("app reported after its sessions were pruned (its records held): %+v", r.Containers)
	}
	if r.Pruning.Totals.Records != 0 || r.Pruning.Totals.Containers != 1 || r.Pruning.Totals.Sessions != 4 {
		t.Errorf("totals %+v after the first pass", r.Pruning.Totals)
	}
	c.t = t0.Add(time.Hour + time.Minute)
	prune(t, a)
	r = report(t, a)
	if want := (agent.PruneTotals{Containers: 1, Sessions: 4, Records: 4}); r.Pruning.Totals != want {
		t.Errorf("totals %+v, want %+v", r.Pruning.Totals, want)
	}
	for _, rec := range p.records {
		if rec.Cgroup == 11 {
			t.Errorf("record %+v left after the second pass", rec)
		}
	}
}

// TestPrunedInWindowIsPartial: a replica whose container ended in the
// window and was pruned before the window's end makes its workload's
// profile partial, saying so; the other replica's checks are still there.
func TestPrunedInWindowIsPartial(t *testing.T) {
	p := &pruningTracer{fakeTracer: scenario(), live: map[uint64]bool{12: true, 14: true}}
	c := &clock{t: t0}
	a := retentionAgent(t, p, &agent.MemoryStore{}, c)
	other := pod()
	other.Name, other.UID = "web-5d8f-y", "uid-y"
	other.Status.ContainerStatuses[0].ContainerID = "containerd://" + idOther
	other.Status.ContainerStatuses[0].LastTerminationState = corev1.ContainerState{}
	other.Status.EphemeralContainerStatuses = nil
	a.SetPods([]*corev1.Pod{pod(), other})
	prune(t, a)
	c.t = t0.Add(2 * time.Hour)
	prune(t, a)
	r := report(t, a)
	if hasContainer(r, idApp) || !hasContainer(r, idOther) {
		t.Fatalf("containers %+v: want web-5d8f-y's app only", r.Containers)
	}
	top := func(ns, pod string, o *agent.OwnerRef) (agent.OwnerRef, error) {
		return agent.OwnerRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: "d"}, nil
	}
	in := clusterprofile.Input{Reports: []agent.Report{r}, Window: clusterprofile.NewWindow(t0, t0.Add(2*time.Hour)),
		MinWindow: time.Minute, Generated: t0.Add(2 * time.Hour), Top: top}
	doc := clusterprofile.Aggregate(in)
	var app *clusterprofile.Profile
	for i := range doc.Profiles {
		if doc.Profiles[i].Workload.Container == "app" {
			app = &doc.Profiles[i]
		}
	}
	if app == nil {
		t.Fatalf("no profile of web's app: %+v", doc.Profiles)
	}
	if app.Complete || len(app.Partial) != 1 || app.Partial[0].Reason != clusterprofile.ReasonNotObserved ||
		!strings.Contains(app.Partial[0].Detail, "pruned") || !slices.Equal(app.Partial[0].Pods, []string{"web-5d8f-x"}) {
		t.Errorf("app's profile complete=%v partial=%+v, want partial: web-5d8f-x pruned", app.Complete, app.Partial)
	}

	// A window that starts after the container ended does not miss it.
	in.Window = clusterprofile.NewWindow(t0.Add(90*time.Minute), t0.Add(2*time.Hour))
	for _, prof := range clusterprofile.Aggregate(in).Profiles {
		for _, reason := range prof.Partial {
			if strings.Contains(reason.Detail, "pruned") {
				t.Errorf("%s: %+v, for a container that ended before the window", prof.Workload.Container, reason)
			}
		}
	}
}
