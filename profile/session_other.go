//go:build !linux

package profile

import (
	"context"

	"github.com/capdrop/capdrop/engine"
	"github.com/capdrop/capdrop/workload"
)

// Command fails: profiling needs Linux.
func Command(ctx context.Context, argv []string, opts Options) (*Profile, error) {
	return nil, ErrNotSupported
}

// Container fails: profiling needs Linux.
func Container(ctx context.Context, eng engine.API, ref string, opts Options) (*Profile, error) {
	return nil, ErrNotSupported
}

// Docker fails: profiling needs Linux.
func Docker(ctx context.Context, eng engine.API, w workload.Workload, opts Options) (*Profile, error) {
	return nil, ErrNotSupported
}
