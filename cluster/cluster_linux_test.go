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
// replicas, each with a ReplicaSet — in small pages: every object is read
// once, in exactly the pages limit/continue makes, and what Read keeps is a
// fraction of what it read (it never holds a list).
func TestClusterPagination(t *testing.T) {
	k := kubetest.Require(t)
	start := time.Now()
	ns := k.Namespace(t, "pages")
	const nPods, nDeploys, page = 1500, 300, 200
	pad := strings.Repeat("x", 4000) // as big as a typical last-applied-configuration
	// Four kubectl processes at once: one creates its objects one request
	// at a time.
	const parts = 4
	var docs [parts]strings.Builder
	for i := range nPods {
		fmt.Fprintf(&docs[i%parts], "---\napiVersion: v1\nkind: Pod\nmetadata: {name: p%d, annotations: {pad: %s}}\n"+
			"spec: {schedulerName: none, containers: [{name: c, image: %s, securityContext: {capabilities: {add: [NET_ADMIN]}}}]}\n", i, pad, kubetest.Image)
	}
	for i := range nDeploys {
		fmt.Fprintf(&docs[i%parts], "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d%d}\nspec: {replicas: 0, selector: {matchLabels: {app: d%d}}, "+
			"template: {metadata: {labels: {app: d%d}}, spec: {containers: [{name: c, image: %s}]}}}\n", i, i, i, kubetest.Image)
	}
	errs := make(chan error, parts)
	for i := range parts {
		go func() {
			_, err := k.KubectlErr(docs[i].String(), "-n", ns, "create", "-f", "-")
			errs <- err
		}()
	}
	for range parts {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		out := k.Kubectl(t, "", "-n", ns, "get", "replicasets", "-o", "name")
		if strings.Count(out, "\n") == nDeploys {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d ReplicaSets, want %d", strings.Count(out, "\n"), nDeploys)
		}
		time.Sleep(time.Second)
	}

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
