package kubefake

import (
	"strings"
	"time"

	"github.com/capdrop/capdrop/agent"
	"github.com/capdrop/capdrop/capset"
)

// Shop makes namespace shop with Deployment web (two Pods, on n1 and n2) and
// Deployment other (one Pod on n1), each through its ReplicaSet.
func Shop(a *Server) {
	for _, d := range []string{"web", "other"} {
		a.Put("/apis/apps/v1/namespaces/shop/deployments/"+d, `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"`+d+`","namespace":"shop","uid":"d-`+d+`"}}`)
		a.Put("/apis/apps/v1/namespaces/shop/replicasets/"+d+"-5d8f", `{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"`+d+`-5d8f","namespace":"shop","uid":"rs-`+d+`",
			"ownerReferences":[{"apiVersion":"apps/v1","kind":"Deployment","name":"`+d+`","uid":"d-`+d+`","controller":true}]}}`)
	}
	pod := func(name, rs, node string) {
		a.Put("/api/v1/namespaces/shop/pods/"+name, `{"metadata":{"name":"`+name+`","namespace":"shop","uid":"uid-`+name+`",
			"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"`+rs+`","uid":"rs-`+strings.TrimSuffix(rs, "-5d8f")+`","controller":true}]},
			"spec":{"nodeName":"`+node+`"},"status":{"phase":"Running"}}`)
	}
	pod("web-5d8f-a", "web-5d8f", "n1")
	pod("web-5d8f-b", "web-5d8f", "n2")
	pod("other-5d8f-a", "other-5d8f", "n1")
}

// T0 is when the fake containers started: an hour ago.
var T0 = time.Now().Add(-time.Hour)

// Container is what an agent reports of a Pod's container: its
// entrypoint's checks, and an exec session's.
func Container(pod, rs string, caps []capset.Cap, exec ...capset.Cap) agent.Container {
	start := T0
	c := agent.Container{ID: pod + "-id", Namespace: "shop", Pod: pod, PodUID: "uid-" + pod, Name: "app", Type: agent.TypeContainer,
		Image: "localhost/capdrop/test:1", Owner: &agent.OwnerRef{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs, UID: "rs-" + strings.TrimSuffix(rs, "-5d8f")},
		Fingerprint: "sha256:fp1", StartedAt: &start, FromStart: true,
		Sessions: []agent.Session{{Tag: 1, Kind: agent.SessionInit, Command: []string{"capneeds"}, Runs: 1, First: T0, Last: T0}}}
	for _, cp := range caps {
		c.Records = append(c.Records, agent.Record{Tag: 1, Capability: cp.Name(), Syscall: 41, Command: "capneeds", Count: 2, FirstSeen: T0, LastSeen: T0})
	}
	if len(exec) > 0 {
		c.Sessions = append(c.Sessions, agent.Session{Tag: 2, Kind: agent.SessionExec, Command: []string{"capneeds", "nice"}, Runs: 1, First: T0, Last: T0})
		for _, cp := range exec {
			c.Records = append(c.Records, agent.Record{Tag: 2, Capability: cp.Name(), Syscall: 141, Command: "capneeds", Count: 1, FirstSeen: T0, LastSeen: T0})
		}
	}
	return c
}

// ShopAgents are the two nodes' agents: n1 sees web's first Pod (CHOWN,
// NET_RAW) and other's (SYS_ADMIN), n2 web's second (NET_BIND_SERVICE,
// and SYS_NICE in a kubectl exec).
func ShopAgents(node string, n int) (agent.Report, int) {
	r := agent.Report{Version: agent.ReportVersion, Node: node, Pod: "capdrop-agent-" + node, AgentVersion: "test",
		Generated: time.Now(), Started: T0, TracingSince: T0.Add(-time.Minute), Pinned: true, Mechanism: "tp_btf",
		VMProbeDetection: true, Kernel: "6.18.0", Arch: "amd64", Warnings: []string{}}
	// Losses before the window do not count against it.
	r.Counters.Overflow = 5
	switch node {
	case "n1":
		r.Containers = []agent.Container{
			Container("web-5d8f-a", "web-5d8f", []capset.Cap{capset.CHOWN, capset.NET_RAW}),
			Container("other-5d8f-a", "other-5d8f", []capset.Cap{capset.SYS_ADMIN}),
		}
	case "n2":
		r.Containers = []agent.Container{Container("web-5d8f-b", "web-5d8f", []capset.Cap{capset.NET_BIND_SERVICE}, capset.SYS_NICE)}
	}
	return r, 200
}
