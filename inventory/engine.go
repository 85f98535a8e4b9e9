package inventory

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/capdrop/capdrop/engine"
	"github.com/capdrop/capdrop/workload"
)

// listResult is the engine's container list, fetched while /proc is read.
type listResult struct {
	list []engine.ContainerSummary
	err  error
}

// startList asks the engine for its containers in the background, so that
// the engine's latency overlaps the scan; the answer is used only if the
// scan finds a container the engine may know.
func startList(ctx context.Context, e Engine) <-chan listResult {
	ch := make(chan listResult, 1)
	go func() {
		list, err := e.ContainerList(ctx, engine.ListOptions{All: true}) // a starting container is "created"
		ch <- listResult{list, err}
	}()
	return ch
}

// enrich names the containers the engine knows and, with configs, reads
// their capability configuration and main PID. Its error is a warning:
// the inventory is complete without it, only less friendly.
func enrich(ctx context.Context, e Engine, listed <-chan listResult, byID map[string]*Container, configs bool) error {
	var r listResult
	select {
	case r = <-listed:
	case <-ctx.Done():
		r.err = fmt.Errorf("%w: no answer in time (%v)", engine.ErrUnreachable, ctx.Err())
	}
	list, err := r.list, r.err
	if err != nil {
		if errors.Is(err, engine.ErrUnreachable) {
			return fmt.Errorf("%w; containers are shown by ID, without names, images or configuration", err)
		}
		return fmt.Errorf("docker engine: %w; containers are shown by ID only", err)
	}
	var known []*Container
	for _, s := range list {
		if c := byID[s.ID]; c != nil {
			c.Runtime = workload.Docker // a bare ID under kubepods may be Docker's (cri-dockerd)
			c.Name = s.Name()
			c.Image = s.Image
			known = append(known, c)
		}
	}
	if !configs {
		return nil
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		sem   = make(chan struct{}, 4)
	)
	for _, c := range known {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			ct, err := e.ContainerInspect(ctx, c.ID)
			if err != nil {
				if !errors.Is(err, engine.ErrNotFound) { // gone since the list: nothing to say
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
				return
			}
			c.Config = &Config{
				CapAdd:     ct.HostConfig.CapAdd,
				CapDrop:    ct.HostConfig.CapDrop,
				Privileged: ct.HostConfig.Privileged,
				User:       ct.Config.User,
			}
			if ct.Config.Image != "" {
				c.Image = ct.Config.Image
			}
			c.mainPID = ct.State.Pid
		})
	}
	wg.Wait()
	if first != nil {
		return fmt.Errorf("docker engine: %w; some containers are shown without their configuration", first)
	}
	return nil
}
