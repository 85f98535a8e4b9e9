//go:build linux && (amd64 || arm64)

package agent

import (
	"cmp"
	"context"
	"fmt"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/capdrop/capdrop/trace"
)

// Run opens (or takes over) the node's tracer and serves the agent's
// Report until ctx ends. The tracer stays pinned when the agent stops.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Node == "" {
		return fmt.Errorf("the node's name is needed (--node, or NODE_NAME from the downward API)")
	}
	started := time.Now()
	tr, err := trace.Open(trace.Options{FollowNewMntNS: true, TagSessions: true, KeyMemoryCgroup: true, PinPath: cfg.PinPath})
	if err != nil {
		return err
	}
	defer tr.Close()
	go func() {
		for range tr.Events() { // first-seen keys and roots: the maps have them all
		}
	}()
	info := Info{Node: cfg.Node, Pod: cfg.Pod, AgentVersion: cfg.Version, Started: started, TracingSince: started,
		Pinned: tr.Pinned(), Mechanism: string(tr.Mechanism()), VMProbeDetection: tr.VMProbeDetection(),
		Kernel: kernelRelease(), Arch: runtime.GOARCH, Retention: cfg.Retention}
	if err := tr.PinError(); err != nil {
		info.Warnings = append(info.Warnings, err.Error())
	}
	var store Store
	if tr.Pinned() {
		info.TracingSince, info.Restarts = tr.Since()
		ps, err := OpenPinnedStore(tr)
		if err != nil {
			return err
		}
		defer ps.Close()
		store = ps
	} else {
		store = &MemoryStore{Max: sessionsMax}
		info.Warnings = append(info.Warnings, "the tracer is not pinned: when this agent stops, the kernel detaches it, and the next agent starts counting from zero (every container then running is partial)")
	}
	if tr.TakenOver() {
		fmt.Fprintf(cfg.Log, "capdrop agent: took over the tracer pinned at %s (tracing since %s, restart %d)\n",
			cfg.PinPath, info.TracingSince.UTC().Format(time.RFC3339), info.Restarts)
	} else {
		fmt.Fprintf(cfg.Log, "capdrop agent: tracing with %s (pinned: %v)\n", tr.Mechanism(), tr.Pinned())
	}
	a, err := New(tr, store, info)
	if err != nil {
		return err
	}
	a.ResolveCgroups(DirResolver{Root: cmp.Or(cfg.CgroupRoot, DefaultCgroupRoot())})
	return serve(ctx, cfg, a)
}

// Remove detaches a tracer pinned at path (the agent's uninstall).
func Remove(path string) error { return trace.Unpin(path) }

func kernelRelease() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return ""
	}
	return strings.TrimRight(string(u.Release[:]), "\x00")
}
