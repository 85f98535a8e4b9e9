package cli

import (
	"errors"
	"fmt"
)

// Exit codes, the same for every command.
const (
	ExitOK          = 0 // success, nothing at or above the threshold
	ExitFindings    = 1 // findings at or above --fail-on, or a check that failed
	ExitUsage       = 2 // bad flags or arguments, or unreadable / invalid input
	ExitUnsupported = 3 // the environment lacks what the command needs
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

// inputError is input that could not be read or understood (exit 2).
func inputError(err error) error {
	if err == nil {
		return nil
	}
	return &ExitError{Code: ExitUsage, Err: err}
}

// unsupportedError is an environment that lacks what is needed (exit 3).
func unsupportedError(err error) error {
	return &ExitError{Code: ExitUnsupported, Err: err}
}

// errFindings says the command found something at or above the threshold;
// the report itself was the message (exit 1).
var errFindings = &ExitError{Code: ExitFindings, Silent: true}

// exitCode maps any error to the process exit code.
func exitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return ExitUsage
}
