package profile

import (
	"errors"
	"io"
	"time"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/trace"
)

// ErrNotSupported is returned where profiling cannot run: it traces the
// Linux kernel, so it runs on Linux only.
var ErrNotSupported = errors.New("profiling traces the Linux kernel: it runs on Linux only")

// Options configure a profiling session.
type Options struct {
	// Duration stops profiling after this long (0: until the workload
	// exits, or the context ends).
	Duration time.Duration
	// Mechanisms restricts the tracer's mechanisms (trace.Options).
	Mechanisms []trace.Mechanism
	// MaxKeys sizes the tracer's counts map (0: the default).
	MaxKeys int
	// Stdin, Stdout and Stderr are the command's streams in command mode;
	// Stderr also receives a container's logs in docker mode. Nil discards.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Live, when set, is called as new capabilities are seen: the set of
	// capabilities with a check granted to the workload so far, and the
	// number of distinct kinds of checks.
	Live func(seen capset.Set, kinds int)
}
