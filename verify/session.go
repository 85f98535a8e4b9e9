package verify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/capdrop/capdrop/engine"
)

// LabelSession is the label every container capdrop verify creates carries;
// its value is the session's ID. `docker ps -a --filter label=capdrop.verify`
// finds them (there should never be any left).
const LabelSession = "capdrop.verify"

// Session is one verification: its engine, its ID (in every container's
// name and label) and the extra labels to put on its containers.
type Session struct {
	Engine engine.API
	ID     string
	// Labels are added to every container the session creates.
	Labels map[string]string

	seq int
}

// NewSession starts a session on an engine.
func NewSession(c engine.API, labels map[string]string) *Session {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return &Session{Engine: c, ID: hex.EncodeToString(b[:]), Labels: labels}
}

// labels returns the labels for a new container: the session label plus the
// extra ones.
func (s *Session) labels() map[string]string {
	l := map[string]string{LabelSession: s.ID}
	for k, v := range s.Labels {
		l[k] = v
	}
	return l
}

// nextName returns a fresh container name in the session.
func (s *Session) nextName(what string) string {
	s.seq++
	return fmt.Sprintf("capdrop-verify-%s-%s%d", s.ID, what, s.seq)
}

// cleanupContext returns a context for removing containers that survives the
// cancellation of ctx (Ctrl-C) but not forever.
func cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
}

// remove force-removes a container by ID or name, even when ctx is already
// cancelled. A container that is already gone is not an error.
func (s *Session) remove(ctx context.Context, ref string) error {
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	err := s.Engine.ContainerRemove(cctx, ref, true)
	if err != nil && !errors.Is(err, engine.ErrNotFound) {
		return err
	}
	return nil
}

// Cleanup removes every container of this session that is still there (a
// safety net: each trial removes its own container) and returns how many it
// found.
func (s *Session) Cleanup(ctx context.Context) (int, error) {
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	list, err := s.Engine.ContainerList(cctx, engine.ListOptions{All: true, Filters: map[string][]string{"label": {LabelSession + "=" + s.ID}}})
	if err != nil {
		return 0, fmt.Errorf("list this session's containers: %w", err)
	}
	var errs []error
	for _, c := range list {
		if err := s.remove(ctx, c.ID); err != nil {
			errs = append(errs, err)
		}
	}
	return len(list), errors.Join(errs...)
}
