package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/capdrop/capdrop/cluster"
)

// Config configures a running agent.
type Config struct {
	// Node is the node's name (the Pods watched are those on it); Pod the
	// agent's own Pod.
	Node, Pod string
	// Listen is the address the Report is served on (":9153").
	Listen string
	// PinPath is where the tracer is pinned ("" for not pinned).
	PinPath string
	// Kubeconfig is a kubeconfig file ("" for the in-cluster service
	// account, or $KUBECONFIG).
	Kubeconfig string
	// Version is capdrop's.
	Version string
	// Log gets what the agent has to say (one line per event).
	Log io.Writer
	// Listening, when set, is called with the address served once the
	// listener is open.
	Listening func(addr string)
	// PollInterval is how often roots are folded into sessions (default
	// one second).
	PollInterval time.Duration
	// Retention is how long an ended container's data is kept
	// (DefaultRetention when zero); PruneInterval how often ended
	// containers are looked for (PruneInterval when zero).
	Retention, PruneInterval time.Duration
	// CgroupRoot is the node's memory cgroup hierarchy (see
	// DefaultCgroupRoot when ""): the agent reads it to find the cgroup
	// path of each container it sees, which tells the kubelet's
	// containers no Pod names from other runtimes'. In a Pod it sees only
	// its own cgroup unless the node's is mounted: the paths are then not
	// found, and every container no Pod names counts as unnamed.
	CgroupRoot string
}

// DefaultCgroupRoot returns the memory cgroup hierarchy of this mount
// namespace: /sys/fs/cgroup/memory (cgroup v1), else /sys/fs/cgroup.
func DefaultCgroupRoot() string {
	if st, err := os.Stat("/sys/fs/cgroup/memory"); err == nil && st.IsDir() {
		return "/sys/fs/cgroup/memory"
	}
	return "/sys/fs/cgroup"
}

// serve runs the agent's loops until ctx ends: the Pod watch, the poll,
// and the HTTP server.
func serve(ctx context.Context, cfg Config, a *Agent) error {
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	client, err := cluster.Connect(cluster.Options{Kubeconfig: cfg.Kubeconfig})
	if err != nil {
		ln.Close()
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{}, 2)
	go func() {
		defer func() { done <- struct{}{} }()
		decode := func(raw json.RawMessage) *corev1.Pod {
			var p corev1.Pod
			if err := json.Unmarshal(raw, &p); err != nil {
				fmt.Fprintf(cfg.Log, "capdrop agent: a Pod the API server sent: %v\n", err)
				return nil
			}
			return &p
		}
		_ = client.WatchPods(ctx, "spec.nodeName="+cfg.Node, func(items []json.RawMessage) {
			var pods []*corev1.Pod
			for _, it := range items {
				if p := decode(it); p != nil {
					pods = append(pods, p)
				}
			}
			a.SetPods(pods)
		}, func(ev cluster.PodEvent) {
			p := decode(ev.Object)
			if p == nil {
				return
			}
			if ev.Type == "DELETED" {
				a.DeletePod(p)
			} else {
				a.UpdatePod(p)
			}
		}, func(err error) {
			a.PodWatchFailed(err)
			fmt.Fprintf(cfg.Log, "capdrop agent: %v (retrying)\n", err)
		})
	}()
	go func() {
		defer func() { done <- struct{}{} }()
		t := time.NewTicker(cmpDuration(cfg.PollInterval, time.Second))
		defer t.Stop()
		p := time.NewTicker(cmpDuration(cfg.PruneInterval, PruneInterval))
		defer p.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := a.Poll(); err != nil {
					fmt.Fprintf(cfg.Log, "capdrop agent: %v\n", err)
				}
			case <-p.C:
				if err := a.Prune(); err != nil {
					fmt.Fprintf(cfg.Log, "capdrop agent: prune: %v\n", err)
				}
			}
		}
	}()
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+ReportPath, func(w http.ResponseWriter, r *http.Request) {
		rep, err := a.Report()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", " ")
		_ = enc.Encode(rep)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if cfg.Listening != nil {
		cfg.Listening(ln.Addr().String())
	}
	fmt.Fprintf(cfg.Log, "capdrop agent: serving %s on %s\n", ReportPath, ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	_ = srv.Shutdown(sctx)
	cancel()
	<-done
	<-done
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func cmpDuration(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
