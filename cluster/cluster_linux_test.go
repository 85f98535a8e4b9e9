package cluster

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/capdrop/capdrop/internal/kubetest"
)

// TestClusterPagination reads thousands of objects from the real API
// server — Pods no scheduler places, so none runs, and Deployments without
// replicas, each controlling a ReplicaSet — in small pages: every object is
// read once, in exactly the pages limit/continue makes, every ReplicaSet is
// attributed to its listed Deployment without reading an owner, and what
// Read keeps is a fraction of what it read (it never holds a list).
func TestClusterPagination(t *testing.T) {
	k := kubetest.Require(t)
	start := time.Now()
	ns := k.StoredNamespace(t, "pages")
	const nPods, nDeploys, page = 1500, 300, 200
	pad := strings.Repeat("x", 4000) // as big as a typical last-applied-configuration
	// Straight to the API server, many requests at a time (kubectl sends
	// one after another). The Deployments are paused, so the controller
	// makes no ReplicaSet of its own: each gets one here, controlled by it
	// as the controller would write it (the controller-manager of the test
	// cluster writes 20 objects a second, which made this test wait a
	// minute for 300 of them).
	deploys := make([][]byte, nDeploys)
	for i := range deploys {
		deploys[i] = fmt.Appendf(nil, `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d%d"},"spec":{"paused":true,"replicas":0,"selector":{"matchLabels":{"app":"d%d"}},`+
			`"template":{"metadata":{"labels":{"app":"d%d"}},"spec":{"containers":[{"name":"c","image":%q}]}}}}`, i, i, i, kubetest.Image)
	}
	uids := k.Create(t, ns, "apis/apps/v1/deployments", deploys, 8)
	sets := make([][]byte, nDeploys)
	for i := range sets {
		sets[i] = fmt.Appendf(nil, `{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"d%d-1","labels":{"app":"d%d"},`+
			`"ownerReferences":[{"apiVersion":"apps/v1","kind":"Deployment","name":"d%d","uid":%q,"controller":true,"blockOwnerDeletion":true}]},`+
			`"spec":{"replicas":0,"selector":{"matchLabels":{"app":"d%d"}},"template":{"metadata":{"labels":{"app":"d%d"}},"spec":{"containers":[{"name":"c","image":%q}]}}}}`,
			i, i, i, uids[i], i, i, kubetest.Image)
	}
	k.Create(t, ns, "apis/apps/v1/replicasets", sets, 8)
	pods := make([][]byte, nPods)
	for i := range pods {
		pods[i] = fmt.Appendf(nil, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p%d","annotations":{"pad":%q}},`+
			`"spec":{"schedulerName":"none","containers":[{"name":"c","image":%q,"securityContext":{"capabilities":{"add":["NET_ADMIN"]}}}]}}`, i, pad, kubetest.Image)
	}
	k.Create(t, ns, "pods", pods, 8)
	t.Logf("%d objects created in %v", nPods+2*nDeploys, time.Since(start).Round(time.Second))

	c, err := Connect(Options{Kubeconfig: k.Kubeconfig, Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	res, err := c.Read(context.Background(), Options{PageSize: page})
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	kept := int64(after.HeapAlloc) - int64(before.HeapAlloc)

	if want := 1 + nPods + 2*nDeploys; res.Objects != want {
		t.Errorf("read %d objects, want %d (node, Pods, Deployments, ReplicaSets)", res.Objects, want)
	}
	// nodes 1; deployments 2; statefulsets, daemonsets,
	// replicationcontrollers, cronjobs 1 each; replicasets 2; jobs 1; pods 8.
	ceil := func(n int) int { return max(1, (n+page-1)/page) }
	if want := 1 + ceil(nDeploys) + 4 + ceil(nDeploys) + 1 + ceil(nPods); res.Pages != want {
		t.Errorf("%d pages, want %d at %d objects a page", res.Pages, want, page)
	}
	if want := nPods + nDeploys; len(res.Workloads) != want {
		t.Errorf("%d workloads, want %d (the Pods and the Deployments; their ReplicaSets are covered)", len(res.Workloads), want)
	}
	if res.OwnerReads != 0 {
		t.Errorf("%d owner reads; every owner was listed", res.OwnerReads)
	}
	t.Logf("%d objects, %d pages, %d bytes read, %d bytes of heap kept", res.Objects, res.Pages, res.Bytes, kept)
	if kept > res.Bytes/2 {
		t.Errorf("Read keeps %d bytes of heap after reading %d bytes: more than half, as if it held the lists", kept, res.Bytes)
	}
	runtime.KeepAlive(res)
	t.Cleanup(func() { t.Logf("test done after %v", time.Since(start).Round(time.Second)) })
}
