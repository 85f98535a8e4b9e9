package report

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/capdrop/capdrop/clusterprofile"
)

// TestClusterProfileText renders clusterprofile's golden document: every
// part of a workload's profile a reader needs is there.
func TestClusterProfileText(t *testing.T) {
	data, err := os.ReadFile("../clusterprofile/testdata/document.json.golden")
	if err != nil {
		t.Fatal(err)
	}
	var d clusterprofile.Document
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := (Text{Width: 300}).ClusterProfile(&b, &d); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	flat := strings.Join(strings.Fields(out), " ") // wrapping aside
	p := d.Profiles[0]
	for _, want := range []string{
		"cluster profile session",
		p.Workload.String() + "  complete",
		"needed: " + strings.Join(p.Needed, " "),
		"CAP_NET_RAW: 3 Pods on n1, n2; e.g. socket by capneeds",
		"used, not yet proven needed: CAP_KILL",
		"denied only: CAP_NET_ADMIN",
		"probe readiness [/bin/capneeds raw]",
		"left out: 1 exec sessions (capneeds nice), which used CAP_SYS_NICE",
		"left out: ephemeral container debugger",
		"node n1: agent capdrop-agent-n1, tp_btf",
	} {
		if !strings.Contains(flat, strings.Join(strings.Fields(want), " ")) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	// A partial profile says why.
	d.Profiles[0].Complete = false
	d.Profiles[0].Partial = []clusterprofile.Reason{{Reason: clusterprofile.ReasonStartedBefore, Detail: "containers started before their node's tracer was attached", Pods: []string{"web-5d8f-a"}}}
	b.Reset()
	_ = (Text{Width: 300}).ClusterProfile(&b, &d)
	if !strings.Contains(strings.Join(strings.Fields(b.String()), " "), "partial: started-before-agent: containers started before their node's tracer was attached (web-5d8f-a)") {
		t.Errorf("partial profile:\n%s", b.String())
	}
}
