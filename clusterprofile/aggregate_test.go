package clusterprofile

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/capdrop/capdrop/agent"
	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/trace"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// Session tags of the sample containers.
const (
	tagInit  = 0x1111
	tagProbe = 0x2222
	tagExec  = 0x3333
)

func rec(tag uint32, c capset.Cap, denied bool, nr int32, comm string, f trace.Flag, n uint64) agent.Record {
	return agent.Record{Tag: tag, Capability: c.Name(), Denied: denied, Syscall: nr, Flags: f, Command: comm, Count: n,
		FirstSeen: t0.Add(5 * time.Second), LastSeen: t0.Add(30 * time.Second)}
}

// replica is a Pod of Deployment web (ReplicaSet web-5d8f) on node, whose
// entrypoint made the given checks; every replica runs the readiness probe
// (a raw socket: CAP_NET_RAW) and the overcommit probe's noise.
func replica(i int, node string, fromStart bool, checks ...agent.Record) agent.Container {
	start := t0.Add(2 * time.Second)
	pod := "web-5d8f-" + string(rune('a'+i))
	c := agent.Container{
		ID: strings.Repeat(string(rune('a'+i)), 64), Namespace: "shop", Pod: pod, PodUID: "uid-" + pod,
		Name: "app", Type: agent.TypeContainer, Image: "localhost/capdrop/test:1", ImageID: "sha256:abc",
		Owner:    &agent.OwnerRef{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-5d8f", UID: "rs-uid"},
		Revision: "5d8f", Fingerprint: "sha256:fp1", StartedAt: &start, FromStart: fromStart,
		Sessions: []agent.Session{
			{Tag: tagInit, Kind: agent.SessionInit, Command: []string{"/bin/sh", "-c", "capneeds ..."}, Runs: 1, First: start, Last: start},
			{Tag: tagProbe, Kind: agent.SessionProbe, Name: "readiness", Command: []string{"/bin/capneeds", "raw"}, Runs: 6, First: start, Last: t0.Add(60 * time.Second)},
		},
		Records: append([]agent.Record{
			rec(tagInit, capset.SYS_ADMIN, true, 9, "capneeds", trace.VMProbe, 40),
			rec(tagProbe, capset.NET_RAW, false, 41, "capneeds", 0, 6),
		}, checks...),
	}
	return c
}

func sampleReports() []agent.Report {
	node := func(name string, cs ...agent.Container) agent.Report {
		return agent.Report{Version: agent.ReportVersion, Node: name, Pod: "capdrop-agent-" + name, AgentVersion: "test",
			Generated: t0.Add(90 * time.Second), Started: t0, TracingSince: t0, Pinned: true, Mechanism: "tp_btf",
			VMProbeDetection: true, Kernel: "6.18.0", Arch: "amd64", Containers: cs, Warnings: []string{}}
	}
	r1 := replica(0, "n1", true, rec(tagInit, capset.CHOWN, false, 260, "capneeds", 0, 1), rec(tagInit, capset.FOWNER, false, 90, "capneeds", 0, 1))
	r2 := replica(1, "n1", true, rec(tagInit, capset.NET_BIND_SERVICE, false, 49, "capneeds", 0, 1),
		rec(tagInit, capset.KILL, false, 62, "sh", 0, 2)) // used, not proven: kill(2) of another uid
	r3 := replica(2, "n2", true, rec(tagInit, capset.CHOWN, false, 260, "capneeds", 0, 3), rec(tagInit, capset.NET_ADMIN, true, 54, "capneeds", 0, 1))
	// kubectl exec: capneeds nice in replica 3.
	r3.Sessions = append(r3.Sessions, agent.Session{Tag: tagExec, Kind: agent.SessionExec, Command: []string{"capneeds", "nice"}, Runs: 1, First: t0.Add(40 * time.Second), Last: t0.Add(40 * time.Second)})
	r3.Records = append(r3.Records, rec(tagExec, capset.SYS_NICE, false, 141, "capneeds", 0, 1))
	// A capability kept by capset after a switch to another uid.
	r3.Gains = []agent.Gain{{Tag: tagInit, Source: "capset", Command: "chronyd", Caps: capset.Of(capset.SYS_TIME), Count: 1}}
	// A debug container in replica 1's Pod.
	debug := agent.Container{ID: strings.Repeat("d", 64), Namespace: "shop", Pod: r1.Pod, PodUID: r1.PodUID, Name: "debugger",
		Type: agent.TypeEphemeral, Owner: r1.Owner, Fingerprint: "sha256:dbg", FromStart: true,
		Sessions: []agent.Session{{Tag: 7, Kind: agent.SessionInit, Command: []string{"sh"}, Runs: 1}},
		Records:  []agent.Record{rec(7, capset.SYS_PTRACE, false, 101, "strace", 0, 3)}}
	return []agent.Report{node("n1", r1, r2, debug), node("n2", r3)}
}

func top(ns, pod string, o *agent.OwnerRef) (agent.OwnerRef, error) {
	if o.Kind == "ReplicaSet" {
		return agent.OwnerRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: "deploy-uid"}, nil
	}
	return *o, nil
}

func sampleInput() Input {
	return Input{Reports: sampleReports(), Window: NewWindow(t0, t0.Add(90*time.Second)), MinWindow: time.Minute,
		Top: top, Generated: t0.Add(90 * time.Second), Cluster: "https://127.0.0.1:16443"}
}

func TestAggregateUnion(t *testing.T) {
	doc := Aggregate(sampleInput())
	if len(doc.Profiles) != 1 {
		t.Fatalf("%d profiles, want 1: %+v", len(doc.Profiles), doc.Profiles)
	}
	p := doc.Profiles[0]
	if got := p.Workload.String(); got != "shop/Deployment/web/app" {
		t.Errorf("workload %s", got)
	}
	if want := capset.Of(capset.CHOWN, capset.FOWNER, capset.NET_BIND_SERVICE, capset.NET_RAW, capset.SYS_TIME); p.NeededSet() != want {
		t.Errorf("needed %v, want %v (the union of the replicas, the probe's NET_RAW, the capset-kept SYS_TIME)", p.Needed, want.Names())
	}
	if p.UsedSet() != capset.Of(capset.KILL) {
		t.Errorf("used not proven %+v, want CAP_KILL", p.UsedNotProven)
	}
	if !slices.Equal(p.Denied, []string{"CAP_NET_ADMIN"}) {
		t.Errorf("denied %v", p.Denied)
	}
	if !p.Complete || len(p.Partial) != 0 {
		t.Errorf("complete %v, partial %+v; want complete", p.Complete, p.Partial)
	}
	if p.Pods != 3 || p.Containers != 3 || !slices.Equal(p.Nodes, []string{"n1", "n2"}) {
		t.Errorf("pods %d containers %d nodes %v", p.Pods, p.Containers, p.Nodes)
	}
	if p.Excluded.Capabilities != capset.Of(capset.SYS_NICE) || p.Excluded.Sessions != 1 {
		t.Errorf("excluded %+v, want the exec session's CAP_SYS_NICE", p.Excluded)
	}
	byName := map[string]Capability{}
	for _, c := range p.Capabilities {
		byName[c.Capability] = c
	}
	if c := byName["CAP_CHOWN"]; c.Pods != 2 || c.Class != ClassNeeded || c.Evidence == nil || c.Evidence.Syscall != "fchownat" || c.Evidence.Pod != "web-5d8f-c" {
		t.Errorf("CAP_CHOWN %+v %+v: want 2 Pods, the biggest group's evidence (3 checks in web-5d8f-c)", c, c.Evidence)
	}
	if c := byName["CAP_NET_RAW"]; c.Pods != 3 || c.Evidence == nil || c.Evidence.Session != "probe:readiness" {
		t.Errorf("CAP_NET_RAW %+v %+v: want all 3 Pods, from the readiness probe", c, c.Evidence)
	}
	if c := byName["CAP_SYS_ADMIN"]; c.Class != ClassNoise || !slices.Equal(c.Reasons, []string{"overcommit-probe"}) || c.Pods != 3 {
		t.Errorf("CAP_SYS_ADMIN %+v: want noise (overcommit-probe) in 3 Pods", c)
	}
	if c := byName["CAP_SYS_TIME"]; c.Class != ClassNeeded || c.Evidence == nil || c.Evidence.Source != "capset" {
		t.Errorf("CAP_SYS_TIME %+v %+v: want needed, kept by capset", c, c.Evidence)
	}
	if _, ok := byName["CAP_SYS_NICE"]; ok {
		t.Errorf("the exec session's CAP_SYS_NICE is in the profile's capabilities")
	}
	if len(p.Sessions) != 2 || p.Sessions[1].Kind != agent.SessionProbe || p.Sessions[1].Capabilities != capset.Of(capset.NET_RAW) || p.Sessions[1].Runs != 18 {
		t.Errorf("sessions %+v: want the entrypoint and the readiness probe (NET_RAW, 18 runs)", p.Sessions)
	}
	if len(doc.Excluded) != 1 || doc.Excluded[0].Capabilities != capset.Of(capset.SYS_PTRACE) {
		t.Errorf("excluded containers %+v: want the debug container with CAP_SYS_PTRACE", doc.Excluded)
	}
}

func TestAggregatePartial(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Input)
		want   string
	}{
		{"started before the agent", func(in *Input) { in.Reports[1].Containers[0].FromStart = false }, ReasonStartedBefore},
		{"lost events", func(in *Input) { in.Reports[1].Counters.Overflow = 3 }, ReasonLostEvents},
		{"short window", func(in *Input) { in.MinWindow = 10 * time.Minute }, ReasonShortWindow},
		{"pod not observed", func(in *Input) {
			in.Expected = []ExpectedPod{{Namespace: "shop", Name: "web-5d8f-z", UID: "uid-z", Node: "n3",
				Owner: &agent.OwnerRef{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-5d8f"}}}
			in.Unreachable = map[string]string{"n3": "connection refused"}
		}, ReasonNotObserved},
		{"node unreachable", func(in *Input) { in.Unreachable = map[string]string{"n3": "connection refused"} }, ReasonNodeUnreachable},
		{"unattributed", func(in *Input) {
			c := &in.Reports[0].Containers[0]
			c.Records = append(c.Records, rec(0x9999, capset.MKNOD, false, 133, "capneeds", 0, 1))
		}, ReasonUnattributed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := sampleInput()
			tt.change(&in)
			doc := Aggregate(in)
			p := doc.Profiles[0]
			if p.Complete || len(p.Partial) != 1 || p.Partial[0].Reason != tt.want {
				t.Fatalf("complete %v, partial %+v; want partial for %s only", p.Complete, p.Partial, tt.want)
			}
			if p.NeededSet().Has(capset.MKNOD) {
				t.Errorf("checks of an unknown session entered the profile")
			}
		})
	}
	// Losses before the window do not count.
	in := sampleInput()
	in.Reports[1].Counters.Overflow = 3
	in.Baselines = map[string]agent.Counters{"n2": {Counters: trace.Counters{Overflow: 3}}}
	if p := Aggregate(in).Profiles[0]; !p.Complete {
		t.Errorf("losses before the window made the profile partial: %+v", p.Partial)
	}
}

func TestAggregateRollout(t *testing.T) {
	in := sampleInput()
	// The third replica runs a new image: a new profile.
	c := &in.Reports[1].Containers[0]
	c.Image, c.ImageID, c.Fingerprint, c.Revision = "localhost/capdrop/test:2", "sha256:def", "sha256:fp2", "77aa"
	doc := Aggregate(in)
	if len(doc.Profiles) != 2 {
		t.Fatalf("%d profiles, want one per fingerprint", len(doc.Profiles))
	}
	for _, p := range doc.Profiles {
		if len(p.Images) != 1 || len(p.Revisions) != 1 {
			t.Errorf("profile %s: images %v revisions %v; want one each", p.Fingerprint, p.Images, p.Revisions)
		}
	}
	if got := len(doc.Find(Workload{Kind: "deployment", Name: "web", Container: "app"})); got != 2 {
		t.Errorf("Find: %d profiles", got)
	}
	// A workload filter.
	in = sampleInput()
	in.Keep = func(w Workload) bool { return w.Name == "other" }
	if doc := Aggregate(in); len(doc.Profiles) != 0 || len(doc.Excluded) != 0 {
		t.Errorf("Keep kept %d profiles", len(doc.Profiles))
	}
}

// TestDocumentGolden checks the document against the golden file and the
// published schema.
func TestDocumentGolden(t *testing.T) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(Aggregate(sampleInput())); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "document.json.golden")
	if *update {
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("the document differs from %s (go test ./clusterprofile -update to accept):\n%s", golden, b.String())
	}
	checkSchema(t, "cluster-profile.schema.json", b.Bytes())

	// It reads back.
	var back Document
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Profiles[0].RecommendedSet() != Aggregate(sampleInput()).Profiles[0].RecommendedSet() {
		t.Errorf("the recommended set does not survive JSON")
	}
}

func checkSchema(t *testing.T, name string, doc []byte) {
	t.Helper()
	sch, err := jsonschema.NewCompiler().Compile(filepath.Join("..", "docs", name))
	if err != nil {
		t.Fatal(err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(v); err != nil {
		t.Errorf("the document does not match docs/%s: %v", name, err)
	}
}

// TestAggregateWarnsUnnamed: checks of containers no Pod names are in no
// profile, and the document says so.
func TestAggregateWarnsUnnamed(t *testing.T) {
	in := sampleInput()
	in.Reports[1].Unnamed = 2
	doc := Aggregate(in)
	n := 0
	for _, w := range doc.Warnings {
		if strings.HasPrefix(w, "n2: ") && strings.Contains(w, "2 container(s) that no Pod on the node names") {
			n++
		}
		if strings.HasPrefix(w, "n1: ") && strings.Contains(w, "no Pod on the node names") {
			t.Errorf("warning for n1, which has none: %q", w)
		}
	}
	if n != 1 {
		t.Errorf("warnings %q: want one for n2's 2 unnamed containers", doc.Warnings)
	}
}
