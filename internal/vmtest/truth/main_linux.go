package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// otherID is the uid and gid the workload changes ownership and identity to.
const otherID = 1234

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "truth:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: truth PEER_PID")
	}
	f, err := os.CreateTemp("", "truth-")
	if err != nil {
		return err
	}
	f.Close()
	defer os.Remove(f.Name())
	if err := os.Chown(f.Name(), otherID, otherID); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	if err := setuidThrowaway(); err != nil {
		return fmt.Errorf("setuid: %w", err)
	}
	if _, err := os.ReadFile("/proc/" + args[0] + "/stat"); err != nil {
		return fmt.Errorf("read the peer's stat: %w", err)
	}
	for range 4 {
		mem, err := unix.Mmap(-1, 0, 1<<20, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err != nil {
			return fmt.Errorf("mmap: %w", err)
		}
		unix.Munmap(mem)
	}
	return nil
}

// setuidThrowaway calls setuid(2) itself (not Go's all-threads wrapper) on
// a locked thread that is never unlocked, so the thread, with its changed
// credentials, ends with the goroutine.
func setuidThrowaway() error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if _, _, e := unix.RawSyscall(unix.SYS_SETUID, otherID, 0, 0); e != 0 {
			done <- e
			return
		}
		done <- nil
	}()
	return <-done
}
