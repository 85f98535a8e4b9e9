//go:build !linux || !amd64

package trace

import (
	"fmt"
	"runtime"
)

// Tracer is a loaded and attached capability-check tracer. It exists only
// on linux/amd64.
type Tracer struct{}

// Open fails: the tracer's BPF object is built for linux/amd64 only.
func Open(Options) (*Tracer, error) {
	return nil, &UnsupportedError{Attempts: []Attempt{{Mechanism: TracepointBTF,
		Err: fmt.Errorf("the tracer is built for linux/amd64, not %s/%s", runtime.GOOS, runtime.GOARCH)}}}
}
