//go:build !linux || !(amd64 || arm64)

package trace

import (
	"fmt"
	"runtime"
	"time"
)

// ErrPlatform is wrapped by every error of the tracer on a platform it is
// not built for: its BPF objects exist for Linux on amd64 and arm64 only.
// errors.Is(err, ErrUnsupported) is true for it too.
var ErrPlatform = fmt.Errorf("%w: capdrop traces capability checks on Linux (amd64, arm64) only, not on %s/%s",
	ErrUnsupported, runtime.GOOS, runtime.GOARCH)

// Tracer is a loaded and attached capability-check tracer. On this platform
// none can be opened; every method returns ErrPlatform or nothing.
type Tracer struct{}

// Open fails with ErrPlatform.
func Open(Options) (*Tracer, error) {
	return nil, &UnsupportedError{Attempts: []Attempt{{Mechanism: TracepointBTF, Err: ErrPlatform}}}
}

// MntNS fails with ErrPlatform: mount namespaces are Linux's.
func MntNS(pid int) (uint32, error) { return 0, ErrPlatform }

// Mechanism returns no mechanism.
func (t *Tracer) Mechanism() Mechanism { return "" }

// Attempts returns nothing.
func (t *Tracer) Attempts() []Attempt { return nil }

// VMProbeDetection returns false.
func (t *Tracer) VMProbeDetection() bool { return false }

// SetTarget fails with ErrPlatform.
func (t *Tracer) SetTarget(mntns uint32) error { return ErrPlatform }

// Track fails with ErrPlatform.
func (t *Tracer) Track(pid int, mntns uint32) error { return ErrPlatform }

// Events returns a closed channel.
func (t *Tracer) Events() <-chan Event {
	c := make(chan Event)
	close(c)
	return c
}

// Records fails with ErrPlatform.
func (t *Tracer) Records() ([]Record, error) { return nil, ErrPlatform }

// Gains fails with ErrPlatform.
func (t *Tracer) Gains() ([]Gain, error) { return nil, ErrPlatform }

// Roots fails with ErrPlatform.
func (t *Tracer) Roots() ([]Root, error) { return nil, ErrPlatform }

// Counters fails with ErrPlatform.
func (t *Tracer) Counters() (Counters, error) { return Counters{}, ErrPlatform }

// ProgramIDs returns nothing.
func (t *Tracer) ProgramIDs() []uint32 { return nil }

// Close does nothing.
func (t *Tracer) Close() error { return nil }

// Unpin fails with ErrPlatform.
func Unpin(path string) error { return ErrPlatform }

// Pinned reports false.
func (t *Tracer) Pinned() bool { return false }

// TakenOver reports false.
func (t *Tracer) TakenOver() bool { return false }

// PinError returns nil.
func (t *Tracer) PinError() error { return nil }

// Since returns zero.
func (t *Tracer) Since() (time.Time, int) { return time.Time{}, 0 }

// DeleteRoot fails with ErrPlatform.
func (t *Tracer) DeleteRoot(pid uint32) error { return ErrPlatform }

// LiveCgroups fails with ErrPlatform.
func (t *Tracer) LiveCgroups() (map[uint64]bool, error) { return nil, ErrPlatform }

// PruneCgroups fails with ErrPlatform.
func (t *Tracer) PruneCgroups(map[uint64]bool) (Pruned, error) { return Pruned{}, ErrPlatform }
