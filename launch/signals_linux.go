package launch

import (
	"os"
	"os/signal"
	"slices"

	"golang.org/x/sys/unix"
)

// forwardable are the signals a launcher relays. SIGTSTP, SIGTTIN, SIGTTOU
// and SIGCONT keep their default action, so job control stops and resumes
// the launcher and the command (one process group) together; SIGKILL and
// SIGSTOP cannot be caught, and the command's parent-death signal covers a
// killed launcher. SIGCHLD, SIGPIPE and SIGURG (the Go runtime's own) are
// not the command's business.
var forwardable = []os.Signal{unix.SIGHUP, unix.SIGINT, unix.SIGQUIT, unix.SIGTERM,
	unix.SIGUSR1, unix.SIGUSR2, unix.SIGALRM, unix.SIGWINCH}

// fromTerminal are the signals a terminal sends to its whole foreground
// process group.
var fromTerminal = []os.Signal{unix.SIGINT, unix.SIGQUIT, unix.SIGWINCH}

// forwarder relays signals to a process. A nil *forwarder does nothing.
type forwarder struct {
	ch  chan os.Signal
	tty int // the controlling terminal, or -1
}

// catchSignals starts catching the forwardable signals this process does
// not ignore; they queue until attach.
func catchSignals() *forwarder {
	f := &forwarder{ch: make(chan os.Signal, 32), tty: -1}
	var sigs []os.Signal
	for _, s := range forwardable {
		if !signal.Ignored(s) {
			sigs = append(sigs, s)
		}
	}
	signal.Notify(f.ch, sigs...)
	if fd, err := unix.Open("/dev/tty", unix.O_RDONLY|unix.O_NOCTTY|unix.O_CLOEXEC, 0); err == nil {
		f.tty = fd
	}
	return f
}

// attach relays caught signals to p until it exits.
func (f *forwarder) attach(p *Process) {
	if f == nil {
		return
	}
	go func() {
		defer f.stop()
		for {
			select {
			case sig := <-f.ch:
				if f.terminalSent(sig) {
					continue
				}
				_ = p.Signal(sig)
			case <-p.done:
				return
			}
		}
	}()
}

// terminalSent reports whether the terminal delivered sig to the command
// already: it is a terminal signal and this process group is the
// terminal's foreground group (which the command, started in this group,
// belongs to).
func (f *forwarder) terminalSent(sig os.Signal) bool {
	if f.tty < 0 || !slices.Contains(fromTerminal, sig) {
		return false
	}
	pgrp, err := unix.IoctlGetInt(f.tty, unix.TIOCGPGRP)
	return err == nil && pgrp == unix.Getpgrp()
}

// stop stops catching signals.
func (f *forwarder) stop() {
	if f == nil {
		return
	}
	signal.Stop(f.ch)
	if f.tty >= 0 {
		unix.Close(f.tty)
		f.tty = -1
	}
}
