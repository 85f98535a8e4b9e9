package collect

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/capdrop/capdrop/cluster"
	"github.com/capdrop/capdrop/internal/kubefake"
)

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func dsAnnotations(a *kubefake.Server) (map[string]any, bool) {
	o, ok := a.Object(deployedPaths[4])
	if !ok {
		return nil, false
	}
	an, _ := o["metadata"].(map[string]any)["annotations"].(map[string]any)
	return an, true
}

// TestRunSessionsShareAgent: a second session starts while the first one's
// agent runs; the first (which deployed it) ends first and leaves it to
// the second, which removes it when it ends. Both profiles are made, and
// nothing is deployed twice. The sessions are ended by their contexts, in
// that order, once both windows run.
func TestRunSessionsShareAgent(t *testing.T) {
	a := kubefake.New(t, "n1", "n2")
	a.Agent = kubefake.ShopAgents
	kubefake.Shop(a)
	type run struct {
		res    *Result
		err    error
		cancel context.CancelFunc
		done   chan struct{}
		window atomic.Bool
	}
	start := func() *run {
		r := &run{done: make(chan struct{})}
		o := options(t, a)
		o.Duration = 10 * time.Minute
		log := o.Log
		o.Log = func(f string, args ...any) {
			if strings.HasPrefix(f, "profiling ") {
				r.window.Store(true)
			}
			log(f, args...)
		}
		var ctx context.Context
		ctx, r.cancel = context.WithCancel(context.Background())
		go func() {
			defer close(r.done)
			r.res, r.err = Run(ctx, o)
		}()
		t.Cleanup(func() { r.cancel(); <-r.done })
		return r
	}
	first := start()
	waitFor(t, 30*time.Second, "the first session's window", first.window.Load)
	second := start()
	waitFor(t, 30*time.Second, "the second session's window", second.window.Load)
	time.Sleep(300 * time.Millisecond) // past the minimum window
	first.cancel()
	<-first.done
	if _, ok := a.Object(deployedPaths[4]); !ok {
		t.Fatal("the agent is gone after the first session ended while the second runs")
	}
	second.cancel()
	<-second.done
	res1, res2 := first.res, second.res
	if !errors.Is(first.err, context.Canceled) || !errors.Is(second.err, context.Canceled) {
		t.Fatalf("first: %v; second: %v", first.err, second.err)
	}
	if len(res1.Deployed) != len(deployedPaths) || len(res2.Deployed) != 0 {
		t.Errorf("deployed by the first %v, by the second %v: want the agent deployed once", res1.Deployed, res2.Deployed)
	}
	if !slices.Equal(res1.KeptFor, []string{res2.Session}) || len(res1.Removed) != 0 {
		t.Errorf("the first session, ending while the second ran: kept for %v, removed %v", res1.KeptFor, res1.Removed)
	}
	if len(res2.Removed) != len(deployedPaths) || len(res2.Left) != 0 {
		t.Errorf("the last session removed %v, left %v", res2.Removed, res2.Left)
	}
	if left := a.Left("capdrop-agent"); len(left) > 0 {
		t.Errorf("left: %v", left)
	}
	for i, r := range []*Result{res1, res2} {
		if r.Document == nil || len(r.Document.Profiles) != 1 || !r.Document.Profiles[0].Complete {
			t.Errorf("session %d: document %+v", i+1, r.Document)
		}
	}
	// The DaemonSet was deleted once, after the first session ended.
	var deletes int
	for _, w := range a.Writes() {
		if w == "DELETE "+deployedPaths[4] {
			deletes++
		}
	}
	if deletes != 1 {
		t.Errorf("the DaemonSet deleted %d times:\n%s", deletes, strings.Join(a.Writes(), "\n"))
	}
}

// sessionAgent puts the manifest's objects as a session dead since
// deployed them, with the leases given, and starts its agents.
func sessionAgent(t *testing.T, a *kubefake.Server, leases map[string]string) {
	t.Helper()
	objs, err := ParseManifest("agent.yaml", manifest(t))
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range objs {
		body := o.JSON
		if err := setPath(&body, []string{"metadata", "labels", LabelSession}, "dead"); err != nil {
			t.Fatal(err)
		}
		if o.Resource == DaemonSets {
			for k, v := range leases {
				if err := setPath(&body, []string{"metadata", "annotations", k}, v); err != nil {
					t.Fatal(err)
				}
			}
		}
		a.Put(deployedPaths[i], string(body))
	}
	a.StartAgents(deployedPaths[4])
}

// TestRunExpiredLeaseKeepsNothing: an agent a killed session deployed,
// whose lease has expired, is used by the next session and removed when
// it ends; a live lease of another session keeps it.
func TestRunExpiredLeaseKeepsNothing(t *testing.T) {
	past := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	for _, tc := range []struct {
		name   string
		leases map[string]string
		kept   bool
	}{
		{"expired", map[string]string{LeasePrefix + "dead": past}, false},
		{"live", map[string]string{LeasePrefix + "dead": past, LeasePrefix + "alive": future}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := kubefake.New(t, "n1", "n2")
			a.Agent = kubefake.ShopAgents
			kubefake.Shop(a)
			sessionAgent(t, a, tc.leases)
			res, err := Run(context.Background(), options(t, a))
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Deployed) != 0 {
				t.Errorf("deployed %v beside a running agent", res.Deployed)
			}
			an, exists := dsAnnotations(a)
			if tc.kept {
				if !exists || !slices.Equal(res.KeptFor, []string{"alive"}) || len(res.Removed) != 0 {
					t.Fatalf("kept for %v, removed %v, the DaemonSet there: %v", res.KeptFor, res.Removed, exists)
				}
				if _, ours := an[LeasePrefix+res.Session]; ours || an[LeasePrefix+"alive"] != future {
					t.Errorf("annotations after the session %v: want its lease gone, the other kept", an)
				}
				return
			}
			if exists || len(res.Removed) != len(deployedPaths) || len(a.Left("capdrop-agent")) > 0 {
				t.Errorf("an expired lease kept the agent: removed %v, left %v", res.Removed, a.Left("capdrop-agent"))
			}
		})
	}
}

// racingAPI adds another session's lease to the DaemonSet just before the
// session's first conditional patch (the removal mark) reaches the API
// server, as a session joining at that moment would.
type racingAPI struct {
	API
	once sync.Once
	a    *kubefake.Server
	t    *testing.T
}

func (r *racingAPI) Patch(ctx context.Context, res cluster.Resource, ns, name string, patch []byte, o cluster.WriteOptions) (json.RawMessage, error) {
	if strings.Contains(string(patch), `"resourceVersion"`) {
		r.once.Do(func() {
			exp := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
			if _, err := r.API.Patch(ctx, res, ns, name, annotationsPatch("", map[string]any{LeasePrefix + "late": exp}), o); err != nil {
				r.t.Errorf("the racing lease: %v", err)
			}
		})
	}
	return r.API.Patch(ctx, res, ns, name, patch, o)
}

// TestRunLeaseRaceKeepsAgent: a lease taken between the last session's
// reading of the leases and its removal mark makes the mark fail (the
// resourceVersion changed); the session reads again and keeps the agent.
func TestRunLeaseRaceKeepsAgent(t *testing.T) {
	a := kubefake.New(t, "n1", "n2")
	a.Agent = kubefake.ShopAgents
	kubefake.Shop(a)
	o := options(t, a)
	o.API = &racingAPI{API: o.API, a: a, t: t}
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.KeptFor, []string{"late"}) || len(res.Removed) != 0 {
		t.Errorf("kept for %v, removed %v: want the agent kept for the late session", res.KeptFor, res.Removed)
	}
	an, exists := dsAnnotations(a)
	if !exists {
		t.Fatal("the DaemonSet was removed under a live lease")
	}
	if _, marked := an[AnnotationRemoving]; marked {
		t.Errorf("the DaemonSet is marked for removal: %v", an)
	}
}
