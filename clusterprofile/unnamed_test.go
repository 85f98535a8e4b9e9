package clusterprofile

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/capdrop/capdrop/agent"
)

// withLogs adds DaemonSet logs' Pod on n1: a second workload.
func withLogs(in Input) Input {
	c := replica(5, "n1", true)
	c.Pod, c.PodUID, c.Name = "logs-x", "uid-logs-x", "shipper"
	c.Owner = &agent.OwnerRef{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "logs", UID: "ds-uid"}
	in.Reports[0].Containers = append(in.Reports[0].Containers, c)
	return in
}

func unnamedContainer(podUID string, last time.Time) agent.UnnamedContainer {
	id := strings.Repeat("9", 64)
	return agent.UnnamedContainer{Cgroup: 4242, ID: id, CgroupPath: "/kubepods/besteffort/pod" + podUID + "/" + id, PodUID: podUID,
		Command: []string{"/bin/capneeds", "chown"}, FirstSeen: last.Add(-5 * time.Second), LastSeen: last, Checks: 3,
		Capabilities: []string{"CAP_CHOWN"}}
}

func profiles(t *testing.T, doc *Document) map[string]Profile {
	t.Helper()
	out := map[string]Profile{}
	for _, p := range doc.Profiles {
		out[p.Workload.Name] = p
	}
	if len(out) != 2 {
		t.Fatalf("profiles %v, want web and logs", out)
	}
	return out
}

// TestAggregateUnnamedPartial: a container no Pod named, seen in the
// window on n2 and of a Pod no profile has, makes every profile partial,
// logs' too (it has no Pod on n2: the gone Pod may have been its), with a
// reason naming the node, the container, its cgroup and why.
func TestAggregateUnnamedPartial(t *testing.T) {
	in := withLogs(sampleInput())
	in.Reports[1].Unnamed = 1
	in.Reports[1].UnnamedContainers = []agent.UnnamedContainer{unnamedContainer("uid-gone", t0.Add(40*time.Second))}
	in.Reports[1].PodWatch = agent.PodWatch{Since: t0.Add(20 * time.Second), Error: `pods is forbidden: User "system:serviceaccount:capdrop:capdrop-agent" cannot watch resource "pods"`}
	doc := Aggregate(in)
	for name, p := range profiles(t, doc) {
		if p.Complete || len(p.Partial) != 1 || p.Partial[0].Reason != ReasonUnnamed {
			t.Errorf("%s: complete %v, partial %+v; want partial for %s only", name, p.Complete, p.Partial, ReasonUnnamed)
			continue
		}
		r := p.Partial[0]
		for _, want := range []string{"node n2", "1 container(s)", "container 999999999999 (cgroup 4242 /kubepods/besteffort/poduid-gone/", `command "/bin/capneeds chown"`,
			"3 check(s) of CAP_CHOWN", "2026-12-01T10:00:35Z to 2026-12-01T10:00:40Z", "Pod watch was down",
			"(the watch is still down, since 2026-12-01T10:00:20Z: pods is forbidden"} {
			if !strings.Contains(r.Detail, want) {
				t.Errorf("%s: detail %q lacks %q", name, r.Detail, want)
			}
		}
		if len(r.Nodes) != 1 || r.Nodes[0] != "n2" {
			t.Errorf("%s: nodes %v, want n2", name, r.Nodes)
		}
	}
	// The node's warning stays.
	n := 0
	for _, w := range doc.Warnings {
		if strings.HasPrefix(w, "n2: ") && strings.Contains(w, "1 container(s) that no Pod on the node names") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("warnings %q: want one for n2", doc.Warnings)
	}
	data, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	checkSchema(t, "cluster-profile.schema.json", data)
}

// TestAggregateUnnamedNarrowed: a container whose cgroup names a Pod a
// profile has (or a Pod that ran, as Expected) makes that profile partial
// only.
func TestAggregateUnnamedNarrowed(t *testing.T) {
	in := withLogs(sampleInput())
	in.Reports[0].Unnamed = 1
	in.Reports[0].UnnamedContainers = []agent.UnnamedContainer{unnamedContainer("uid-logs-x", t0.Add(40*time.Second))}
	ps := profiles(t, Aggregate(in))
	if p := ps["logs"]; p.Complete || len(p.Partial) != 1 || p.Partial[0].Reason != ReasonUnnamed {
		t.Errorf("logs: complete %v, partial %+v; want partial for %s", p.Complete, p.Partial, ReasonUnnamed)
	}
	if p := ps["web"]; !p.Complete {
		t.Errorf("web: partial %+v; want complete (the container is logs' Pod's)", p.Partial)
	}

	// A Pod the API server listed as web's, which no agent reported.
	in = withLogs(sampleInput())
	in.Reports[0].Unnamed = 1
	in.Reports[0].UnnamedContainers = []agent.UnnamedContainer{unnamedContainer("uid-web-gone", t0.Add(40*time.Second))}
	in.Expected = []ExpectedPod{{Namespace: "shop", Name: "web-5d8f-z", UID: "uid-web-gone", Node: "n1",
		Owner: &agent.OwnerRef{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-5d8f", UID: "rs-uid"}}}
	ps = profiles(t, Aggregate(in))
	if p := ps["logs"]; !p.Complete {
		t.Errorf("logs: partial %+v; want complete (the container is web's Pod's)", p.Partial)
	}
	if p := ps["web"]; p.Complete || !hasReason(p, ReasonUnnamed) {
		t.Errorf("web: complete %v, partial %+v; want %s", p.Complete, p.Partial, ReasonUnnamed)
	}
}

// TestAggregateUnnamedOutsideWindow: a container no Pod named that was
// last seen before the window does not touch its profiles, nor does a
// report without any.
func TestAggregateUnnamedOutsideWindow(t *testing.T) {
	in := withLogs(sampleInput())
	in.Reports[1].Unnamed = 1
	in.Reports[1].UnnamedContainers = []agent.UnnamedContainer{unnamedContainer("uid-gone", t0.Add(-time.Second))}
	for name, p := range profiles(t, Aggregate(in)) {
		if !p.Complete {
			t.Errorf("%s: partial %+v; want complete (the container ended before the window)", name, p.Partial)
		}
	}
	// Continuous passes: since the first pass, not the window's start.
	in = withLogs(sampleInput())
	in.Reports[1].Unnamed = 1
	in.Reports[1].UnnamedContainers = []agent.UnnamedContainer{unnamedContainer("uid-gone", t0.Add(40*time.Second))}
	in.UnnamedSince = t0.Add(41 * time.Second)
	for name, p := range profiles(t, Aggregate(in)) {
		if !p.Complete {
			t.Errorf("%s: partial %+v; want complete (the container ended before the first pass)", name, p.Partial)
		}
	}
	in.UnnamedSince = t0.Add(40 * time.Second)
	for name, p := range profiles(t, Aggregate(in)) {
		if !hasReason(p, ReasonUnnamed) {
			t.Errorf("%s: partial %+v; want %s (the container was last seen at the first pass)", name, p.Partial, ReasonUnnamed)
		}
	}
	for name, p := range profiles(t, Aggregate(withLogs(sampleInput()))) {
		if !p.Complete {
			t.Errorf("%s: partial %+v; want complete", name, p.Partial)
		}
	}
}

func hasReason(p Profile, id string) bool {
	for _, r := range p.Partial {
		if r.Reason == id {
			return true
		}
	}
	return false
}
