package launch

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync/atomic"
	"syscall"
)

// hooked records that the program called Init, without which Start would
// re-execute a binary that does not know it is the init.
var hooked atomic.Bool

// errNoInit is Start's refusal in a program whose main never calls Init.
var errNoInit = errors.New("this program does not call launch.Init first in main: it cannot act as the launcher's init")

// ErrUnsupported is returned where launching is not possible: on systems
// other than Linux.
var ErrUnsupported = errors.New("launching with reduced capabilities needs Linux")

// Options are how Plan.Start connects the command.
type Options struct {
	// Stdin, Stdout and Stderr are the command's standard streams, as in
	// os/exec.Cmd: an *os.File is passed on directly, another reader or
	// writer through a pipe, nil means /dev/null.
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// ForwardSignals relays SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1,
	// SIGUSR2, SIGALRM and SIGWINCH that this process receives to the
	// command, from before it starts until it exits. Signals the process
	// ignores (nohup, background jobs) stay ignored, and so ignored by the
	// command. SIGINT, SIGQUIT and SIGWINCH are not relayed while this
	// process is in the foreground of its terminal: the terminal sent them
	// to the command as well, which is in the same process group.
	ForwardSignals bool
}

// StartError says why the command could not be started.
type StartError struct {
	Stage string // "exec", or the init's step that failed ("bounding", "setuid", …)
	Err   error
	// Code is the exit status to report, following env(1) and the shells:
	// 127 command not found, 126 found but not executable, 125 the
	// launcher's own failure.
	Code int
}

// Error says which step failed and why.
func (e *StartError) Error() string {
	if e.Stage == "exec" {
		return e.Err.Error()
	}
	return fmt.Sprintf("launch (%s): %v", e.Stage, e.Err)
}

// Unwrap returns the underlying error (a syscall.Errno when the init had one).
func (e *StartError) Unwrap() error { return e.Err }

// initError is a failure the init reported, with its errno if it had one.
type initError struct {
	msg   string
	errno syscall.Errno
}

func (e *initError) Error() string { return e.msg }

func (e *initError) Unwrap() error {
	if e.errno == 0 {
		return nil
	}
	return e.errno
}

// Exit is how the command ended.
type Exit struct {
	Code   int            // its exit status, when it exited
	Signal syscall.Signal // the signal that killed it, or 0
}

// Status is the exit status a shell reports: the command's own, or 128 plus
// the number of the signal that killed it.
func (e Exit) Status() int {
	if e.Signal != 0 {
		return 128 + int(e.Signal)
	}
	return e.Code
}

// String describes the exit as Go's os.ProcessState does.
func (e Exit) String() string {
	if e.Signal != 0 {
		return fmt.Sprintf("killed by %v", e.Signal)
	}
	return fmt.Sprintf("exit status %d", e.Code)
}

// Process is a started command.
type Process struct {
	// Pid is the command's process id (the init became the command).
	Pid int

	cmd  *exec.Cmd
	done chan struct{}
	exit Exit
	err  error
}

// Signal sends sig to the command.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Wait waits for the command to exit and returns how it ended. The error is
// about waiting or copying its output, not about its exit status.
func (p *Process) Wait() (Exit, error) {
	<-p.done
	return p.exit, p.err
}

// finish records how the process ended; err is exec.Cmd.Wait's.
func (p *Process) finish(err error) {
	defer close(p.done)
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		p.err = err
	}
	if st := p.cmd.ProcessState; st != nil {
		if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			p.exit = Exit{Signal: ws.Signal()}
			return
		}
		p.exit = Exit{Code: st.ExitCode()}
	}
}
