package agent

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/capdrop/capdrop/trace"
)

// Retention: what the agent keeps of a container that has ended (the
// sessions in its store, the counts and gains in the kernel's maps) it keeps
// until the container has been seen ended for Retention, long enough for a
// profile window to read it; then it deletes it from both, so that a node
// that runs containers for months keeps its maps bounded by what ran in the
// last Retention. A container is ended when the tracer follows none of its
// tasks (trace.Tracer.LiveCgroups): the kernel's word, not the API
// server's, so a live container is never pruned, whatever its Pod says,
// and a container whose Pod the agent never saw (deleted while the agent
// was down, or not a Pod's) is pruned too.

// DefaultRetention is how long the agent keeps an ended container's data by
// default: a `k8s profile` window up to this long sees every container that
// ended inside it (a CronJob's Pod).
const DefaultRetention = 6 * time.Hour

// PruneInterval is how often the running agent looks for ended containers
// to prune.
const PruneInterval = time.Minute

// maxRecentPruned bounds the pruned containers a Report lists.
const maxRecentPruned = 512

// Pruner is what a Source offers for retention (a *trace.Tracer does).
type Pruner interface {
	LiveCgroups() (map[uint64]bool, error)
	PruneCgroups(map[uint64]bool) (trace.Pruned, error)
}

// PruneTotals count what the agent pruned since the tracer was attached.
type PruneTotals struct {
	// Containers counts the ended containers (cgroups) whose data was
	// deleted; Sessions their sessions, Records and Gains the kernel's
	// count and gain keys.
	Containers uint64 `json:"containers"`
	Sessions   uint64 `json:"sessions"`
	Records    uint64 `json:"records"`
	Gains      uint64 `json:"gains"`
}

// PrunedContainer is one container whose data was pruned.
type PrunedContainer struct {
	// ID is the container's runtime ID ("" for a cgroup the agent had
	// no session of: not a container's).
	ID     string `json:"id,omitempty"`
	Cgroup uint64 `json:"cgroup"`
	// Namespace, Pod, PodUID and Name name it when a Pod the agent knew
	// did.
	Namespace string `json:"namespace,omitempty"`
	Pod       string `json:"pod,omitempty"`
	PodUID    string `json:"pod_uid,omitempty"`
	Name      string `json:"name,omitempty"`
	// Owner is the Pod's controller (nil for a bare Pod, or unnamed).
	Owner *OwnerRef `json:"owner,omitempty"`
	// Ended is when the agent first saw it ended (no task left); Pruned
	// when its data was deleted.
	Ended  time.Time `json:"ended"`
	Pruned time.Time `json:"pruned"`
}

// Pruning is what a Report says of retention.
type Pruning struct {
	// Retention is how long an ended container's data is kept, in
	// seconds: a reader that reads at least this often misses nothing.
	Retention float64 `json:"retention"`
	// Totals since the tracer was attached (they survive the agent's
	// restarts when the tracer is pinned).
	Totals PruneTotals `json:"totals"`
	// Recent are the containers pruned in the last Retention by this
	// agent process (at most 512, the newest), so a reader can tell
	// whether one it expected was pruned before it read it.
	Recent []PrunedContainer `json:"recent"`
	// Pending counts the ended containers the agent still keeps.
	Pending int `json:"pending"`
}

// Prune deletes the data of every container seen ended for the retention,
// from the sessions store and the kernel's maps.
func (a *Agent) Prune() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.prune()
}

func (a *Agent) prune() error {
	pr, ok := a.src.(Pruner)
	if !ok {
		return nil
	}
	// Fold the roots first: a session must exist before its cgroup can be
	// judged.
	var errs []error
	if err := a.poll(); err != nil {
		errs = append(errs, err)
	}
	now := a.now()
	recs, err := a.src.Records()
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	gains, err := a.src.Gains()
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	// Read what is live after what is kept: a container that starts in
	// between is then live, never taken for ended.
	live, err := pr.LiveCgroups()
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	known := map[uint64]bool{}
	for _, r := range recs {
		known[r.Cgroup] = true
	}
	for _, g := range gains {
		known[g.Cgroup] = true
	}
	for _, s := range a.sessions {
		known[s.Cgroup] = true
	}
	ripe := map[uint64]bool{}
	for cg := range known {
		if live[cg] {
			delete(a.ended, cg)
			continue
		}
		since, ok := a.ended[cg]
		if !ok {
			a.ended[cg] = now
			continue
		}
		if now.Sub(since) >= a.retention {
			ripe[cg] = true
		}
	}
	for cg := range a.ended {
		if !known[cg] {
			delete(a.ended, cg) // pruned (or never more than a root)
		}
	}
	a.expireRecent(now)
	if len(ripe) == 0 {
		return errors.Join(errs...)
	}
	got, err := pr.PruneCgroups(ripe)
	if err != nil {
		errs = append(errs, err)
	}
	a.totals.Records += uint64(got.Records)
	a.totals.Gains += uint64(got.Gains)
	idx := a.index()
	for k := range a.seen {
		if ripe[k.Cgroup] {
			delete(a.seen, k)
		}
	}
	for cg := range ripe {
		delete(a.paths, cg)
		delete(a.parents, cg)
	}
	for cg := range ripe {
		var ids []string
		n := 0
		for k, s := range a.sessions {
			if k.cgroup != cg {
				continue
			}
			if err := a.store.Delete(s.Cgroup, s.Tag); err != nil {
				errs = append(errs, fmt.Errorf("delete session %d/%d: %w", s.Cgroup, s.Tag, err))
				continue
			}
			delete(a.sessions, k)
			ids = append(ids, s.Container)
			n++
		}
		if n == 0 {
			continue // counts only (not a container's), or a second pass over held keys
		}
		a.totals.Containers++
		a.totals.Sessions += uint64(n)
		pc := PrunedContainer{ID: ids[0], Cgroup: cg, Ended: a.ended[cg].UTC(), Pruned: now.UTC()}
		if c := idx[ids[0]]; c != nil {
			pc.Namespace, pc.Pod, pc.PodUID, pc.Name = c.pod.Namespace, c.pod.Name, string(c.pod.UID), c.name
			pc.Owner = ownerOf(c.pod)
		}
		a.recent = append(a.recent, pc)
	}
	if len(a.recent) > maxRecentPruned {
		a.recent = slices.Clone(a.recent[len(a.recent)-maxRecentPruned:])
	}
	if err := a.store.SavePruned(a.totals); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// expireRecent forgets the pruned containers older than the retention.
func (a *Agent) expireRecent(now time.Time) {
	i := 0
	for i < len(a.recent) && now.Sub(a.recent[i].Pruned) > a.retention {
		i++
	}
	a.recent = a.recent[i:]
}

// pruning is the Report's Pruning.
func (a *Agent) pruning() Pruning {
	p := Pruning{Retention: a.retention.Seconds(), Totals: a.totals, Recent: slices.Clone(a.recent)}
	if p.Recent == nil {
		p.Recent = []PrunedContainer{}
	}
	with := map[uint64]bool{}
	for k := range a.sessions {
		with[k.cgroup] = true
	}
	for cg := range a.ended {
		if with[cg] {
			p.Pending++
		}
	}
	return p
}
