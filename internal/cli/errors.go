package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/capdrop/capdrop/cluster"
	"github.com/capdrop/capdrop/engine"
	"github.com/capdrop/capdrop/launch"
	"github.com/capdrop/capdrop/procfs"
	"github.com/capdrop/capdrop/profile"
	"github.com/capdrop/capdrop/trace"
)

// Exit codes, the same for every command.
const (
	ExitOK          = 0 // success, nothing at or above the threshold
	ExitFindings    = 1 // findings at or above --fail-on, or a check that failed
	ExitUsage       = 2 // bad flags or arguments, or unreadable / invalid input
	ExitUnsupported = 3 // the environment lacks what the command needs
	// A command stopped by SIGINT or SIGTERM exits 128 plus the signal's
	// number, as a shell reports a process the signal killed: 130, 143.
	ExitInterrupted = 128 + int(syscall.SIGINT)
	ExitTerminated  = 128 + int(syscall.SIGTERM)
)

// ExitError carries an exit code. When Silent is set the command has already
// told the user everything and main prints nothing more.
type ExitError struct {
	Code   int
	Err    error
	Silent bool
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// usageErrorf is a mistake in how the command was called (exit 2).
func usageErrorf(format string, args ...any) error {
	return &ExitError{Code: ExitUsage, Err: fmt.Errorf(format, args...)}
}

// errFindings says the command found something at or above the threshold;
// the report itself was the message (exit 1).
var errFindings = &ExitError{Code: ExitFindings, Silent: true}

// unsupported are the library's errors for an environment that lacks what
// a command needs: no engine, no eBPF, not Linux.
var unsupported = []error{
	engine.ErrUnreachable, trace.ErrPrivilege, trace.ErrUnsupported,
	procfs.ErrNotSupported, launch.ErrUnsupported, profile.ErrNotSupported,
	cluster.ErrNoConfig, cluster.ErrUnreachable,
}

// exitCode maps an error to the process exit code. It is the one place
// that does: commands return the library's errors as they are (wrapped
// with context), and ExitError only for what the library cannot know
// (usage, findings, a child's own status).
//
//   - an ExitError carries its code (run and runlabel pass on the
//     command's own status, also when they forwarded it a signal);
//   - a command ended by SIGINT or SIGTERM (ctx cancelled by the signal)
//     exits 130 or 143, whatever error it returned on the way out;
//   - an environment that lacks what is needed (no engine, no eBPF
//     privilege, not Linux) and an engine refusing a request exit 3;
//   - anything else is bad input: exit 2.
func exitCode(ctx context.Context, err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	if code, ok := signalCode(ctx); ok {
		return code
	}
	for _, u := range unsupported {
		if errors.Is(err, u) {
			return ExitUnsupported
		}
	}
	var ae *engine.APIError
	if errors.As(err, &ae) && !errors.Is(err, engine.ErrNotFound) {
		return ExitUnsupported
	}
	return ExitUsage
}

// signalCode reports the exit code for a context that a signal cancelled
// (signal.NotifyContext in main records the signal as the cause).
func signalCode(ctx context.Context) (int, bool) {
	if ctx == nil || ctx.Err() == nil {
		return 0, false
	}
	cause := context.Cause(ctx)
	if cause == nil {
		return 0, false
	}
	for _, s := range []struct {
		sig  os.Signal
		code int
	}{{os.Interrupt, ExitInterrupted}, {syscall.SIGTERM, ExitTerminated}} {
		// The cause's text is the signal's name and " signal received".
		if cause.Error() == s.sig.String()+" signal received" {
			return s.code, true
		}
	}
	return 0, false
}

// message is what Main prints for err: the interruption itself when a
// signal stopped the command.
func message(ctx context.Context, err error) string {
	var ee *ExitError
	if code, ok := signalCode(ctx); ok && !errors.As(err, &ee) {
		what := "interrupted"
		if code == ExitTerminated {
			what = "terminated"
		}
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return what
		}
		return fmt.Sprintf("%s: %v", what, err)
	}
	var ae *engine.APIError
	if errors.Is(err, engine.ErrUnreachable) {
		return fmt.Sprintf("%v (is dockerd running? set DOCKER_HOST to its socket)", err)
	} else if errors.As(err, &ae) && !errors.Is(err, engine.ErrNotFound) {
		return fmt.Sprintf("the engine refused: %v", err)
	}
	return err.Error()
}

// unsupportedError is an environment that lacks what is needed (exit 3),
// for errors the library does not already mark as such.
func unsupportedError(err error) error {
	return &ExitError{Code: ExitUnsupported, Err: err}
}
