// Command podstart times Pod starts on a cluster, for scripts/bench-agent-pods:
// it creates Pods one after the other in a namespace, each running the
// ground-truth program capneeds once (chown: CAP_CHOWN checks) to completion, and for
// each prints the time from its creation to its container's start (the
// kubelet reports it running or already terminated) and to the Pod's
// success, then deletes it and waits until it is gone before the next.
//
//	podstart -namespace NS -image IMAGE -pods N -prefix P
//
// Output, one line per Pod: NAME START_NS DONE_NS.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/capdrop/capdrop/cluster"
)

func main() {
	ns := flag.String("namespace", "", "namespace to create the Pods in")
	image := flag.String("image", "localhost/capdrop/test:1", "image holding capneeds")
	n := flag.Int("pods", 10, "Pods to start")
	prefix := flag.String("prefix", "p", "Pod name prefix")
	node := flag.String("node", "", "node to run them on (spec.nodeName; empty: the scheduler's choice)")
	timeout := flag.Duration("timeout", 2*time.Minute, "longest wait for one Pod")
	flag.Parse()
	if *ns == "" {
		fmt.Fprintln(os.Stderr, "podstart: -namespace is needed")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *ns, *image, *prefix, *node, *n, *timeout); err != nil {
		fmt.Fprintf(os.Stderr, "podstart: %v\n", err)
		os.Exit(1)
	}
}

type state struct {
	started, done, failed bool
	reason                string
}

func stateOf(p *corev1.Pod) state {
	var s state
	for _, c := range p.Status.ContainerStatuses {
		if c.State.Running != nil || c.State.Terminated != nil {
			s.started = true
		}
		if t := c.State.Terminated; t != nil && t.ExitCode != 0 {
			s.failed, s.reason = true, fmt.Sprintf("container %s exited %d (%s)", c.Name, t.ExitCode, t.Reason)
		}
	}
	switch p.Status.Phase {
	case corev1.PodSucceeded:
		s.done = true
	case corev1.PodFailed:
		s.failed = true
		if s.reason == "" {
			s.reason = "Pod failed: " + p.Status.Reason
		}
	}
	return s
}

func run(ctx context.Context, ns, image, prefix, node string, n int, timeout time.Duration) error {
	c, err := cluster.Connect(cluster.Options{})
	if err != nil {
		return err
	}
	// One watch of the namespace for the whole run: each Pod's states go to
	// the channel of the Pod being started.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	states := make(chan struct {
		name string
		s    state
	}, 64)
	listed := make(chan struct{})
	go func() {
		once := false
		send := func(raw json.RawMessage) {
			var p corev1.Pod
			if json.Unmarshal(raw, &p) != nil {
				return
			}
			select {
			case states <- struct {
				name string
				s    state
			}{p.Name, stateOf(&p)}:
			case <-wctx.Done():
			}
		}
		_ = c.WatchPods(wctx, "metadata.namespace="+ns, func(items []json.RawMessage) {
			for _, it := range items {
				send(it)
			}
			if !once {
				once = true
				close(listed)
			}
		}, func(ev cluster.PodEvent) {
			if ev.Type != "DELETED" {
				send(ev.Object)
			}
		}, func(err error) { fmt.Fprintf(os.Stderr, "podstart: watch: %v\n", err) })
	}()
	select {
	case <-listed:
	case <-ctx.Done():
		return ctx.Err()
	}
	zero := int64(0)
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("%s-%d", prefix, i)
		spec := map[string]any{
			"restartPolicy":                 "Never",
			"terminationGracePeriodSeconds": 0,
			"containers": []any{map[string]any{
				"name": "c", "image": image, "imagePullPolicy": "Never",
				"command": []string{"capneeds", "-dir", "/tmp", "chown"},
			}},
		}
		if node != "" {
			spec["nodeName"] = node
		}
		obj, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Pod",
			"metadata": map[string]any{"name": name, "labels": map[string]string{"app": "podstart"}}, "spec": spec})
		t0 := time.Now()
		if _, err := c.Create(ctx, cluster.Pods, ns, obj, cluster.WriteOptions{}); err != nil {
			return err
		}
		var start, done time.Duration
		deadline := time.After(timeout)
	wait:
		for {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-deadline:
				return fmt.Errorf("pod %s/%s: not done after %s", ns, name, timeout)
			case st := <-states:
				if st.name != name {
					continue
				}
				if st.s.failed {
					return fmt.Errorf("pod %s/%s: %s", ns, name, st.s.reason)
				}
				if st.s.started && start == 0 {
					start = time.Since(t0)
				}
				if st.s.done {
					done = time.Since(t0)
					break wait
				}
			}
		}
		fmt.Printf("%s %d %d\n", name, start.Nanoseconds(), done.Nanoseconds())
		if err := c.Delete(ctx, cluster.Pods, ns, name, &zero); err != nil {
			return err
		}
		gctx, gcancel := context.WithTimeout(ctx, timeout)
		err := c.Gone(gctx, cluster.Pods, ns, "app=podstart", 100*time.Millisecond)
		gcancel()
		if err != nil {
			return err
		}
	}
	return nil
}
