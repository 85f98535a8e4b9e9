package collect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/capdrop/capdrop/cluster"
)

// Sessions share an agent they deployed. The agent's DaemonSet carries one
// lease per session using it: an annotation LeasePrefix+ID whose value is
// when the lease expires (RFC 3339). A session renews its lease while it
// runs and removes it when it ends; the session that ends while no other
// holds a live lease removes the agent. A session that was killed renews
// nothing: its lease expires after LeaseTTL and stops counting, so the
// agent is removed by the next session to end that finds no live lease —
// a session started later takes over an agent whose leases have all
// expired.
//
// Removal is decided atomically: the last session marks the DaemonSet
// AnnotationRemoving with a patch that carries the resourceVersion it read,
// so a lease added since (a session joining) makes the patch fail with a
// conflict, and the leases are read again. A session that finds the mark
// (it joined too late) waits until the agent is gone and deploys it again.
const (
	// LeasePrefix starts the annotation of each session's lease.
	LeasePrefix = "lease.capdrop.io/"
	// AnnotationRemoving marks a DaemonSet a session is removing: the
	// session's ID and when it started removing it.
	AnnotationRemoving = "capdrop.io/profile-removing"
	// DefaultLeaseTTL is how long a lease lasts without being renewed.
	DefaultLeaseTTL = 2 * time.Minute
)

// daemonSetMeta is what a session reads of the agent's DaemonSet.
type daemonSetMeta struct {
	Metadata struct {
		ResourceVersion   string            `json:"resourceVersion"`
		DeletionTimestamp *string           `json:"deletionTimestamp"`
		Labels            map[string]string `json:"labels"`
		Annotations       map[string]string `json:"annotations"`
	} `json:"metadata"`
}

func readDaemonSetMeta(data []byte) (daemonSetMeta, error) {
	var m daemonSetMeta
	err := json.Unmarshal(data, &m)
	return m, err
}

// deployedBySession says whether a session deployed the DaemonSet (and so
// whether the sessions remove it).
func (m daemonSetMeta) deployedBySession() bool {
	_, ok := m.Metadata.Labels[LabelSession]
	return ok
}

// removing says whether a session is removing the DaemonSet, and since
// when.
func (m daemonSetMeta) removing() (bool, time.Time) {
	if m.Metadata.DeletionTimestamp != nil {
		return true, time.Time{}
	}
	v, ok := m.Metadata.Annotations[AnnotationRemoving]
	if !ok {
		return false, time.Time{}
	}
	_, at, _ := strings.Cut(v, " ")
	t, _ := time.Parse(time.RFC3339, at)
	return true, t
}

// liveLeases returns the sessions other than self whose leases have not
// expired at now.
func (m daemonSetMeta) liveLeases(self string, now time.Time) []string {
	var live []string
	for k, v := range m.Metadata.Annotations {
		id, ok := strings.CutPrefix(k, LeasePrefix)
		if !ok || id == self {
			continue
		}
		if exp, err := time.Parse(time.RFC3339, v); err == nil && exp.After(now) {
			live = append(live, id)
		}
	}
	sort.Strings(live)
	return live
}

func (s *session) leaseKey() string { return LeasePrefix + s.res.Session }

func (s *session) leaseExpiry() string {
	return time.Now().Add(s.o.LeaseTTL).UTC().Format(time.RFC3339)
}

// annotationsPatch is a merge patch of a DaemonSet's annotations (nil
// values remove them), with resourceVersion as a precondition when set.
func annotationsPatch(resourceVersion string, annotations map[string]any) []byte {
	meta := map[string]any{"annotations": annotations}
	if resourceVersion != "" {
		meta["resourceVersion"] = resourceVersion
	}
	b, _ := json.Marshal(map[string]any{"metadata": meta})
	return b
}

// join takes a lease on a DaemonSet a session deployed. It returns false
// when the DaemonSet is gone or being removed (the caller waits and
// deploys it again).
func (s *session) join(ctx context.Context) (bool, error) {
	a := s.res.Agent
	data, err := s.o.API.Patch(ctx, DaemonSets, a.Namespace, a.Name,
		annotationsPatch("", map[string]any{s.leaseKey(): s.leaseExpiry()}), cluster.WriteOptions{FieldManager: "capdrop"})
	if errors.Is(err, cluster.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("taking a lease on the agent DaemonSet %s/%s: %w", a.Namespace, a.Name, err)
	}
	m, err := readDaemonSetMeta(data)
	if err != nil {
		return false, err
	}
	if r, _ := m.removing(); r {
		// Marked between our reading and our lease: it goes; take the
		// lease off in case it stays, and deploy it again once it is gone.
		if err := s.dropLease(ctx); err != nil {
			s.o.Log("warning: %v", err)
		}
		return false, nil
	}
	s.leased = true
	others := m.liveLeases(s.res.Session, time.Now())
	if len(others) == 0 {
		s.o.Log("the agent DaemonSet %s/%s that a profile deployed runs, with no other profile using it: using it, and removing it when this profile ends", a.Namespace, a.Name)
	} else {
		s.o.Log("the agent DaemonSet %s/%s runs for %d other profile(s) (%s): sharing it; the last profile to end removes it", a.Namespace, a.Name, len(others), strings.Join(others, ", "))
	}
	return true, nil
}

// dropLease removes the session's lease from the DaemonSet.
func (s *session) dropLease(ctx context.Context) error {
	a := s.res.Agent
	_, err := s.o.API.Patch(ctx, DaemonSets, a.Namespace, a.Name, annotationsPatch("", map[string]any{s.leaseKey(): nil}), cluster.WriteOptions{FieldManager: "capdrop"})
	if err != nil && !errors.Is(err, cluster.ErrNotFound) {
		return fmt.Errorf("giving up the lease on the agent DaemonSet %s/%s: %w", a.Namespace, a.Name, err)
	}
	return nil
}

// renew renews the session's lease every third of its TTL until stop is
// closed.
func (s *session) renew(stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	t := time.NewTicker(s.o.LeaseTTL / 3)
	defer t.Stop()
	a := s.res.Agent
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.o.LeaseTTL/3)
		data, err := s.o.API.Patch(ctx, DaemonSets, a.Namespace, a.Name,
			annotationsPatch("", map[string]any{s.leaseKey(): s.leaseExpiry()}), cluster.WriteOptions{FieldManager: "capdrop"})
		cancel()
		if err != nil {
			s.o.Log("warning: renewing the lease on the agent: %v", err)
			continue
		}
		if m, err := readDaemonSetMeta(data); err == nil {
			if r, _ := m.removing(); r {
				s.o.Log("warning: another profile is removing the agent DaemonSet %s/%s (this profile's lease had expired)", a.Namespace, a.Name)
			}
		}
	}
}

// release gives up the session's lease and, when no other session holds a
// live one, removes the agent. It runs on every way out, with a context of
// its own.
func (s *session) release() {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	a := s.res.Agent
	for attempt := 0; ; attempt++ {
		data, err := s.o.API.Get(ctx, DaemonSets, a.Namespace, a.Name)
		if errors.Is(err, cluster.ErrNotFound) {
			return
		}
		var m daemonSetMeta
		if err == nil {
			m, err = readDaemonSetMeta(data)
		}
		if err != nil {
			s.o.Log("warning: the agent DaemonSet %s/%s: %v", a.Namespace, a.Name, err)
			s.res.Left = append(s.res.Left, "DaemonSet "+a.Namespace+"/"+a.Name+" (this profile's lease on it not given up)")
			return
		}
		if r, _ := m.removing(); r {
			_ = s.dropLease(ctx)
			return
		}
		if others := m.liveLeases(s.res.Session, time.Now()); len(others) > 0 {
			if err := s.dropLease(ctx); err != nil {
				s.o.Log("warning: %v", err)
				s.res.Left = append(s.res.Left, "this profile's lease on DaemonSet "+a.Namespace+"/"+a.Name)
				return
			}
			s.res.KeptFor = others
			s.o.Log("the agent stays: %d other profile(s) use it (%s); the last to end removes it", len(others), strings.Join(others, ", "))
			return
		}
		_, err = s.o.API.Patch(ctx, DaemonSets, a.Namespace, a.Name, annotationsPatch(m.Metadata.ResourceVersion, map[string]any{
			s.leaseKey(): nil, AnnotationRemoving: s.res.Session + " " + time.Now().UTC().Format(time.RFC3339),
		}), cluster.WriteOptions{FieldManager: "capdrop"})
		switch {
		case err == nil:
			s.removeAgent(ctx)
			return
		case apierrors.IsConflict(err) && attempt < 20:
			continue // a lease was added or renewed meanwhile: read again
		case errors.Is(err, cluster.ErrNotFound):
			return
		default:
			s.o.Log("warning: marking the agent for removal: %v", err)
			s.res.Left = append(s.res.Left, "DaemonSet "+a.Namespace+"/"+a.Name)
			return
		}
	}
}

// removeAgent removes the manifest's objects that a profile session
// deployed (they carry LabelSession, whichever session's), the DaemonSet
// last — after its Namespace, if a session created that — so that a
// session that finds the DaemonSet gone finds the rest gone or going; then
// it waits until they and the agent's Pods are gone.
func (s *session) removeAgent(ctx context.Context) {
	s.o.Log("removing the agent the profiles deployed")
	var ours []Object
	for _, o := range s.objs {
		data, err := s.o.API.Get(ctx, o.Resource, o.Namespace, o.Name)
		if err != nil {
			if !errors.Is(err, cluster.ErrNotFound) {
				s.o.Log("warning: %v", err)
			}
			continue
		}
		var m daemonSetMeta
		if json.Unmarshal(data, &m) == nil && m.deployedBySession() {
			ours = append(ours, o)
		}
	}
	// Newest first, the Namespace at the end of the others, the DaemonSet
	// last of all.
	order := make([]Object, 0, len(ours))
	var ds, ns []Object
	for i := len(ours) - 1; i >= 0; i-- {
		switch ours[i].Resource.Kind {
		case "DaemonSet":
			ds = append(ds, ours[i])
		case "Namespace":
			ns = append(ns, ours[i])
		default:
			order = append(order, ours[i])
		}
	}
	order = append(append(order, ns...), ds...)
	for _, o := range order {
		if err := s.o.API.Delete(ctx, o.Resource, o.Namespace, o.Name, nil); err != nil {
			s.o.Log("warning: %v", err)
		}
	}
	// The DaemonSet's Pods go after it (garbage collection): wait for them
	// too, so nothing of the agent runs when capdrop exits.
	a := s.res.Agent
	for {
		var left []string
		for _, o := range order {
			if _, err := s.o.API.Get(ctx, o.Resource, o.Namespace, o.Name); err == nil || !errors.Is(err, cluster.ErrNotFound) {
				left = append(left, o.String())
			}
		}
		if err := s.o.API.List(ctx, cluster.Pods, a.Namespace, LabelSession, func(item json.RawMessage) error {
			var p pod
			if json.Unmarshal(item, &p) == nil {
				left = append(left, "Pod "+a.Namespace+"/"+p.Metadata.Name)
			}
			return nil
		}); err != nil && !errors.Is(err, cluster.ErrNotFound) {
			left = append(left, "Pods "+LabelSession+" in "+a.Namespace+" (not listed: "+err.Error()+")")
		}
		if len(left) == 0 {
			names := make([]string, len(order))
			for i, o := range order {
				names[i] = o.String()
			}
			s.res.Removed = names
			s.o.Log("removed: %s", strings.Join(names, ", "))
			return
		}
		select {
		case <-ctx.Done():
			s.res.Left = append(s.res.Left, left...)
			s.o.Log("warning: still there after %s: %s", cleanupTimeout, strings.Join(left, ", "))
			return
		case <-time.After(min(s.o.Interval, time.Second)):
		}
	}
}

// waitRemoved waits until no object of the manifest that a session
// deployed is being deleted (a Namespace terminating), before deploying
// the agent again.
func (s *session) waitRemoved(ctx context.Context) error {
	deadline := time.Now().Add(cleanupTimeout)
	said := false
	for {
		var going []string
		for _, o := range s.objs {
			data, err := s.o.API.Get(ctx, o.Resource, o.Namespace, o.Name)
			if err != nil {
				continue
			}
			var m daemonSetMeta
			if json.Unmarshal(data, &m) == nil && m.deployedBySession() {
				if r, _ := m.removing(); r {
					going = append(going, o.String())
				}
			}
		}
		if len(going) == 0 {
			return nil
		}
		if !said {
			s.o.Log("waiting until the agent another profile removed is gone: %s", strings.Join(going, ", "))
			said = true
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the agent another profile removed is not gone after %s: %s", cleanupTimeout, strings.Join(going, ", "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(s.o.Interval, time.Second)):
		}
	}
}
