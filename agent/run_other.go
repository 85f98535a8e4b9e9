//go:build !linux || !(amd64 || arm64)

package agent

import (
	"context"

	"github.com/capdrop/capdrop/trace"
)

// Run fails: the agent traces with eBPF, on Linux (amd64, arm64) only.
func Run(ctx context.Context, cfg Config) error {
	_, err := trace.Open(trace.Options{})
	return err
}

// Remove fails as Run does.
func Remove(path string) error { return trace.Unpin(path) }
