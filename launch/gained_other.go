//go:build !linux && !windows

package launch

import "syscall"

// CheckGained refuses (an error wrapping ErrRefused) when this process
// runs set-user-ID or set-group-ID: verbs that act with privileges for
// their caller call it first.
func CheckGained() error {
	if syscall.Getuid() != syscall.Geteuid() || syscall.Getgid() != syscall.Getegid() {
		return refused("this capdrop binary runs set-user-ID or set-group-ID: " +
			"it refuses to act with privileges it gained itself (install it without them)")
	}
	return nil
}
