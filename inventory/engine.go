package inventory

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/capdrop/capdrop/engine"
	"github.com/capdrop/capdrop/workload"
)

// enrich names the containers the engine knows and, with configs, reads
// their capability configuration and main PID. Its error is a warning:
// the inventory is complete without it, only less friendly.
func enrich(ctx context.Context, e Engine, byID map[string]*Container, configs bool) error {
	list, err := e.ContainerList(ctx, engine.ListOptions{All: true}) // a starting container is "created"
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
