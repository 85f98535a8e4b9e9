package profile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/capdrop/capdrop/capset"
	"github.com/capdrop/capdrop/engine"
	"github.com/capdrop/capdrop/trace"
	"github.com/capdrop/capdrop/workload"
)

// ErrNotSupported is returned where profiling cannot run: it traces the
// Linux kernel, so it runs on Linux only.
var ErrNotSupported = errors.New("profiling traces the Linux kernel: it runs on Linux only")

// Options say what to profile and how. Exactly one of Command, Container
// and Docker names the workload.
type Options struct {
	// Command is a host command and its arguments.
	Command []string
	// Container is a running container's name or ID, on Engine.
	Container string
	// Docker is a container to create from its configuration (read by
	// package source, built by engine.FromWorkload), start on Engine,
	// profile from its first exec, and remove.
	Docker *workload.Workload
	// Engine is the Docker engine for Container and Docker.
	Engine engine.API

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

// Run profiles the workload opts names (see Command, Container, Docker).
// It returns once the workload ends, Duration passes or ctx ends (then
// with the profile of what was seen, and no error); what it started is
// stopped and removed either way.
func Run(ctx context.Context, opts Options) (*Profile, error) {
	switch {
	case opts.Container != "":
		return Container(ctx, opts.Engine, opts.Container, opts)
	case opts.Docker != nil:
		return Docker(ctx, opts.Engine, *opts.Docker, opts)
	}
	return Command(ctx, opts.Command, opts)
}

// PrivilegeError says a mode of profile needs a capability the process
// lacks besides the tracer's own (which trace.PrivilegeError names): the
// command of `profile -- CMD` runs in a private mount namespace, which
// needs CAP_SYS_ADMIN; `--container` reads the mount namespace of a
// process that holds capabilities capdrop does not, which needs
// CAP_SYS_PTRACE. It wraps trace.ErrPrivilege.
type PrivilegeError struct {
	Missing capset.Set
	// Why says what needs it.
	Why string
}

func (e *PrivilegeError) Error() string {
	return fmt.Sprintf("%v: missing %s in the effective set: %s", trace.ErrPrivilege, strings.Join(e.Missing.Names(), " and "), e.Why)
}

// Unwrap makes errors.Is(err, trace.ErrPrivilege) true.
func (e *PrivilegeError) Unwrap() error { return trace.ErrPrivilege }
