//go:build !linux

package verify

import "errors"

var errNoProc = errors.New("reading a container's process credentials needs Linux's /proc")

// containerProcs fails: process credentials are read from Linux's /proc.
func containerProcs(pid int) ([]ProcCreds, error) { return nil, errNoProc }

func procStatus(pid int) (ProcCreds, error) { return ProcCreds{}, errNoProc }

type procListener struct{}

var errProcTimeout = errors.New("no process event")

func listenProcEvents() (*procListener, error) {
	return nil, errors.New("process events are a Linux connector")
}

func (l *procListener) read() ([]procEvent, error) { return nil, errProcTimeout }

func (l *procListener) Close() {}

func (l *procListener) readNow() ([]procEvent, error) { return nil, errProcTimeout }
