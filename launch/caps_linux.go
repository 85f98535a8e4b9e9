package launch

import (
	"errors"
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/capdrop/capdrop/capset"
)

// The syscalls here act on the calling thread only. The launcher uses them
// to read its state; the init calls them on its one locked thread.

// readThread returns the calling thread's capability state and identity.
func readThread() (Caller, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var c Caller
	var err error
	if c.Sets, c.AmbientSupported, err = threadSets(); err != nil {
		return c, err
	}
	bits, err := unix.PrctlRetInt(unix.PR_GET_SECUREBITS, 0, 0, 0, 0)
	if err != nil {
		return c, fmt.Errorf("prctl(PR_GET_SECUREBITS): %w", err)
	}
	c.Securebits = uint(bits)
	nnp, err := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)
	if err != nil {
		return c, fmt.Errorf("prctl(PR_GET_NO_NEW_PRIVS): %w", err)
	}
	c.NoNewPrivs = nnp == 1
	c.UID, c.GID = unix.Getuid(), unix.Getgid()
	if c.Groups, err = unix.Getgroups(); err != nil {
		return c, fmt.Errorf("getgroups: %w", err)
	}
	return c, nil
}

// threadSets reads the five sets of the calling thread: capget for
// inheritable, permitted and effective, prctl for bounding and ambient.
func threadSets() (s capset.Sets, ambient bool, err error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return s, false, fmt.Errorf("capget: %w", err)
	}
	s.Effective = capset.Set(data[0].Effective) | capset.Set(data[1].Effective)<<32
	s.Permitted = capset.Set(data[0].Permitted) | capset.Set(data[1].Permitted)<<32
	s.Inheritable = capset.Set(data[0].Inheritable) | capset.Set(data[1].Inheritable)<<32
	last, err := lastCap()
	if err != nil {
		return s, false, err
	}
	ambient = true
	for c := capset.Cap(0); c <= last; c++ {
		if in, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0); err != nil {
			return s, false, fmt.Errorf("prctl(PR_CAPBSET_READ, %s): %w", c, err)
		} else if in == 1 {
			s.Bounding = s.Bounding.With(c)
		}
		if !ambient {
			continue
		}
		in, err := unix.PrctlRetInt(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_IS_SET, uintptr(c), 0, 0)
		switch {
		case errors.Is(err, unix.EINVAL) && c == 0:
			ambient = false // before Linux 4.3
		case err != nil:
			return s, false, fmt.Errorf("prctl(PR_CAP_AMBIENT_IS_SET, %s): %w", c, err)
		case in == 1:
			s.Ambient = s.Ambient.With(c)
		}
	}
	return s, ambient, nil
}

// lastCap finds the kernel's highest capability the way libcap does when
// /proc is not there to ask: PR_CAPBSET_READ fails with EINVAL above it.
func lastCap() (capset.Cap, error) {
	if last, err := capset.KernelLast(); err == nil {
		return last, nil
	}
	for c := capset.Cap(0); c < capset.MaxBits; c++ {
		if _, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0); errors.Is(err, unix.EINVAL) {
			if c == 0 {
				break
			}
			return c - 1, nil
		}
	}
	return 0, errors.New("cannot tell the kernel's last capability")
}

// capsetThread sets the calling thread's effective, permitted and
// inheritable sets.
func capsetThread(eff, perm, inh capset.Set) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{
		{Effective: uint32(eff), Permitted: uint32(perm), Inheritable: uint32(inh)},
		{Effective: uint32(eff >> 32), Permitted: uint32(perm >> 32), Inheritable: uint32(inh >> 32)},
	}
	return unix.Capset(&hdr, &data[0])
}

// setresuid and setresgid are the raw system calls: they change the calling
// thread only. syscall.Setresuid would change every thread through
// AllThreadsSyscall, which also fails in binaries built with cgo or -race.
func setresuid(uid int) error {
	if _, _, e := unix.RawSyscall(sysSetresuid, uintptr(uid), uintptr(uid), uintptr(uid)); e != 0 {
		return e
	}
	return nil
}

func setresgid(gid int) error {
	if _, _, e := unix.RawSyscall(sysSetresgid, uintptr(gid), uintptr(gid), uintptr(gid)); e != 0 {
		return e
	}
	return nil
}

// secureExec reports whether the kernel flagged this execution as
// privilege-gaining (AT_SECURE: set-user-ID, set-group-ID or file
// capabilities), the case in which capdrop must not act for its caller.
func secureExec() bool {
	const atSecure = 23
	if auxv, err := unix.Auxv(); err == nil {
		for _, kv := range auxv {
			if kv[0] == atSecure {
				return kv[1] != 0
			}
		}
	}
	return unix.Getuid() != unix.Geteuid() || unix.Getgid() != unix.Getegid()
}
