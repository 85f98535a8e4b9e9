//go:build unix

package input

import (
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// openNonblocking opens path read-only without blocking (a named pipe
// without a writer would block a plain open forever) and without making a
// terminal the controlling one, then puts the descriptor back in blocking
// mode for reading.
func openNonblocking(path string) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}
