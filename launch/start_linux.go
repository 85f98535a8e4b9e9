package launch

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// gainedMsg is the refusal of a capdrop binary that gained privileges at
// exec (set-user-ID, set-group-ID or file capabilities).
const gainedMsg = "this capdrop binary runs set-user-ID, set-group-ID or with file capabilities: " +
	"it refuses to launch anything with privileges it gained itself (install it without them)"

// CheckGained refuses (an error wrapping ErrRefused) when this process
// gained privileges at exec: set-user-ID, set-group-ID or file
// capabilities. Verbs that act with privileges for their caller — start
// containers through an engine socket, launch commands — call it first,
// so that a capdrop installed that way never lends its privileges to
// whoever runs it.
func CheckGained() error {
	if secureExec() {
		return refused(gainedMsg)
	}
	return nil
}

// Prepare resolves req against the calling process — its capability sets,
// identity and securebits as the kernel reports them — and the account
// files. It changes nothing.
func Prepare(req Request) (*Plan, error) {
	if err := CheckGained(); err != nil {
		return nil, err
	}
	c, err := readThread()
	if err != nil {
		return nil, fmt.Errorf("read the caller's capabilities: %w", err)
	}
	pw, gr := req.PasswdFile, req.GroupFile
	if pw == "" {
		pw = PasswdFile
	}
	if gr == "" {
		gr = GroupFile
	}
	// Without --user the account files only name the caller in the plan.
	acct, err := loadAccounts(pw, gr)
	if err != nil && req.User != "" {
		return nil, err
	}
	if req.Env == nil {
		req.Env = os.Environ()
	}
	return prepare(req, c, acct)
}

// Start starts the command as planned. It returns once the command runs
// (the exec succeeded), or with a *StartError saying which step failed.
// The calling process's own credentials are never changed.
func (p *Plan) Start(o Options) (*Process, error) {
	if !hooked.Load() {
		return nil, &StartError{Stage: "start", Err: errNoInit, Code: 125}
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, &StartError{Stage: "start", Err: fmt.Errorf("socketpair: %w", err), Code: 125}
	}
	local := os.NewFile(uintptr(fds[0]), "capdrop-launcher")
	remote := os.NewFile(uintptr(fds[1]), "capdrop-init")
	defer local.Close()

	cmd := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       []string{initArg0},
		Env:        []string{}, // the init reads nothing from its environment
		Stdin:      o.Stdin,
		Stdout:     o.Stdout,
		Stderr:     o.Stderr,
		ExtraFiles: []*os.File{remote},
	}
	var fwd *forwarder
	if o.ForwardSignals {
		fwd = catchSignals()
	}
	proc := &Process{cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// The command's parent-death signal fires when the thread that
		// forked it exits, not the process: keep this thread until the
		// command is gone.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		proc.finish(cmd.Wait())
	}()
	err = <-started
	remote.Close()
	if err != nil {
		fwd.stop()
		return nil, &StartError{Stage: "start", Err: fmt.Errorf("start the init: %w", err), Code: 125}
	}

	spec := p.spec
	spec.ParentPID = os.Getpid()
	werr := json.NewEncoder(local).Encode(spec)
	if werr == nil {
		werr = unix.Shutdown(fds[0], unix.SHUT_WR)
	}
	reply, rerr := io.ReadAll(local)
	if len(reply) > 0 || werr != nil || rerr != nil {
		_ = cmd.Process.Kill() // harmless if it already exited after reporting
		<-proc.done
		fwd.stop()
		return nil, startFailure(reply, errors.Join(werr, rerr), proc.exit)
	}
	proc.Pid = cmd.Process.Pid
	fwd.attach(proc)
	return proc, nil
}

// startFailure turns what the init reported into a StartError.
func startFailure(reply []byte, ioErr error, exit Exit) error {
	var f initFailure
	if len(reply) > 0 {
		if err := json.Unmarshal(reply, &f); err == nil && f.Stage != "" {
			return &StartError{Stage: f.Stage, Err: &initError{msg: f.Message, errno: syscall.Errno(f.Errno)}, Code: f.Code}
		}
		return &StartError{Stage: "init", Err: fmt.Errorf("unreadable report from the init: %q", reply), Code: 125}
	}
	return &StartError{Stage: "init", Err: fmt.Errorf("the init ended (%v) before the command started: %w", exit, ioErr), Code: 125}
}
