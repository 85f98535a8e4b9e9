//go:build linux

package verify

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// procListener is a socket subscribed to the kernel's process events.
// Subscribing needs CAP_NET_ADMIN.
type procListener struct {
	fd  int
	buf []byte
}

func listenProcEvents() (*procListener, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_CONNECTOR)
	if err != nil {
		return nil, fmt.Errorf("the process events connector: %w", err)
	}
	// Room for bursts of forks (best effort: forcing the size needs
	// CAP_NET_ADMIN, which subscribing needs too).
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20)
	// Reads wake up at least this often, so the reader sees when to stop.
	tv := unix.NsecToTimeval((50 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("the process events connector: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: cnIdxProc}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("the process events connector: %w", err)
	}
	if err := unix.Sendto(fd, procListenMsg(1), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("subscribing to process events: %w", err)
	}
	return &procListener{fd: fd, buf: make([]byte, 64<<10)}, nil
}

// errProcTimeout is a read that found no event in its time.
var errProcTimeout = errors.New("no process event")

// errProcLost is a read after the kernel dropped events (the socket's
// buffer was full).
var errProcLost = errors.New("the kernel dropped process events (the socket's buffer was full)")

// read returns the events of one datagram, waiting for one for a while.
func (l *procListener) read() ([]procEvent, error) { return l.recv(0) }

// readNow returns the events of one datagram already queued
// (errProcTimeout: none is).
func (l *procListener) readNow() ([]procEvent, error) { return l.recv(unix.MSG_DONTWAIT) }

func (l *procListener) recv(flags int) ([]procEvent, error) {
	n, _, err := unix.Recvfrom(l.fd, l.buf, flags)
	switch {
	case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR):
		return nil, errProcTimeout
	case errors.Is(err, unix.ENOBUFS):
		return nil, errProcLost
	case err != nil:
		return nil, fmt.Errorf("reading process events: %w", err)
	}
	return parseProcEvents(l.buf[:n])
}

func (l *procListener) Close() {
	_ = unix.Sendto(l.fd, procListenMsg(2), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
	unix.Close(l.fd)
}
