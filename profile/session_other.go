//go:build !linux

package profile

import (
	"context"
	"errors"

	"github.com/capdrop/capdrop/engine"
)

var errLinux = errors.New("profiling traces the Linux kernel: it runs on Linux only")

// Command fails: profiling needs Linux.
func Command(ctx context.Context, argv []string, opts Options) (*Profile, error) {
	return nil, errLinux
}

// Container fails: profiling needs Linux.
func Container(ctx context.Context, eng *engine.Client, ref string, opts Options) (*Profile, error) {
	return nil, errLinux
}

// Docker fails: profiling needs Linux.
func Docker(ctx context.Context, eng *engine.Client, runArgs []string, opts Options) (*Profile, error) {
	return nil, errLinux
}
