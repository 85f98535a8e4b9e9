package clusterprofile

import (
	"slices"
	"testing"
	"time"

	"github.com/capdrop/capdrop/capset"
)

// TestMerge folds a profile made when the agents had forgotten two of the
// three replicas into the one made before: nothing is lost, counts are
// not added up, and classes are recomputed.
func TestMerge(t *testing.T) {
	old := Aggregate(sampleInput()).Profiles[0]
	in := sampleInput()
	in.Reports = in.Reports[:1]                             // node n2 is gone
	in.Reports[0].Containers = in.Reports[0].Containers[:1] // and n1 forgot replica b
	in.Window = NewWindow(t0, t0.Add(10*time.Minute))
	cur := Aggregate(in).Profiles[0]
	if cur.NeededSet().Has(capset.NET_BIND_SERVICE) {
		t.Fatal("the sample no longer forgets")
	}
	m, err := Merge(old, cur, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if m.NeededSet() != old.NeededSet() || m.UsedSet() != old.UsedSet() || !slices.Equal(m.Denied, old.Denied) {
		t.Errorf("merged needed %v used %v denied %v; want the older's %v %v %v", m.Needed, m.UsedSet(), m.Denied, old.Needed, old.UsedSet(), old.Denied)
	}
	if m.Pods != 3 || !slices.Equal(m.Nodes, []string{"n1", "n2"}) || m.Excluded.Capabilities != old.Excluded.Capabilities {
		t.Errorf("pods %d nodes %v excluded %v", m.Pods, m.Nodes, m.Excluded)
	}
	for _, c := range m.Capabilities {
		if c.Capability == "CAP_NET_RAW" && c.Granted != 18 {
			t.Errorf("NET_RAW granted %d, want the larger count 18, not a sum", c.Granted)
		}
	}
	if !m.LastSeen.Equal(cur.LastSeen) || !m.FirstSeen.Equal(old.FirstSeen) || !m.Complete {
		t.Errorf("seen %s–%s, complete %v %+v", m.FirstSeen, m.LastSeen, m.Complete, m.Partial)
	}
	// A short window is judged again on the merged observation.
	short := old
	short.Partial = []Reason{{Reason: ReasonShortWindow}}
	short.Complete = false
	if m, _ := Merge(short, cur, time.Minute); !m.Complete {
		t.Errorf("still short after %.0fs: %+v", m.Observed, m.Partial)
	}
	// Another reason stays.
	short.Partial = []Reason{{Reason: ReasonStartedBefore, Pods: []string{"web-5d8f-a"}}}
	if m, _ := Merge(short, cur, time.Minute); m.Complete || m.Partial[0].Reason != ReasonStartedBefore {
		t.Errorf("partial %+v", m.Partial)
	}
	// Profiles of two fingerprints are never merged.
	cur.Fingerprint = "sha256:other"
	if _, err := Merge(old, cur, time.Minute); err == nil {
		t.Error("merged two fingerprints")
	}
}
