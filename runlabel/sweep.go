package runlabel

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/capdrop/capdrop/engine"
)

// MarkKey is the label Start adds to the containers of a run (StartOptions.Mark).
const MarkKey = "io.capdrop.runlabel"

// NewMark returns a label, MarkKey=<random>, naming one run's containers.
func NewMark() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return MarkKey + "=" + hex.EncodeToString(b[:])
}

// Swept is what Sweep did.
type Swept struct {
	// Stopped are the containers that were still running (the engine
	// removes those started with --rm); Removed those created and never
	// started.
	Stopped, Removed []string
}

// Sweep ends what an interrupted run left on the engine: every container
// carrying mark that still runs is stopped (the stop signal, then SIGKILL
// after grace), and every one created but never started is removed. A
// container that ended on its own is left as docker run leaves it. The
// docker CLI may be cut short between its create and start requests, which
// the engine still completes, so Sweep looks again until a look 500 ms after
// the last finds nothing, for as long as ctx allows.
func Sweep(ctx context.Context, eng engine.API, mark string, grace time.Duration) (Swept, error) {
	var s Swept
	seen := map[string]bool{}
	var errs []error
	for quiet := 0; quiet < 2; {
		list, err := eng.ContainerList(ctx, engine.ListOptions{All: true, Filters: map[string][]string{"label": {mark}}})
		if err != nil {
			return s, errors.Join(append(errs, fmt.Errorf("list the run's containers: %w", err))...)
		}
		acted := false
		for _, c := range list {
			switch c.State {
			case "running", "restarting", "paused":
				if seen[c.ID] {
					continue
				}
				seen[c.ID] = true
				acted = true
				if err := eng.ContainerStop(ctx, c.ID, grace); err != nil && !gone(err) {
					errs = append(errs, fmt.Errorf("stop container %s: %w", short(c.ID), err))
					continue
				}
				s.Stopped = append(s.Stopped, short(c.ID))
			case "created":
				acted = true
				if err := eng.ContainerRemove(ctx, c.ID, true); err != nil && !gone(err) {
					errs = append(errs, fmt.Errorf("remove container %s: %w", short(c.ID), err))
					continue
				}
				if !seen[c.ID] {
					seen[c.ID] = true
					s.Removed = append(s.Removed, short(c.ID))
				}
			}
		}
		if acted {
			quiet = 0
		} else {
			quiet++
		}
		select {
		case <-ctx.Done():
			return s, errors.Join(append(errs, ctx.Err())...)
		case <-time.After(500 * time.Millisecond):
		}
	}
	return s, errors.Join(errs...)
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// gone reports whether err says the container has already ended or is on
// its way out: not found (404), already stopped (304), or being removed
// (409, as --rm's removal races a stop).
func gone(err error) bool {
	var ae *engine.APIError
	return errors.Is(err, engine.ErrNotFound) || (errors.As(err, &ae) && (ae.Status == 304 || ae.Status == 409))
}
