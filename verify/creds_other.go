//go:build !linux

package verify

import "errors"

// containerProcs fails: process credentials are read from Linux's /proc.
func containerProcs(pid int) ([]ProcCreds, error) {
	return nil, errors.New("reading a container's process credentials needs Linux's /proc")
}
