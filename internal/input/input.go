// Package input opens the files capdrop reads — configurations, the .env
// beside a compose file, env_file and extends targets, profile and verify
// documents, account files — in one guarded way: a named pipe never blocks
// the open, a device, socket or pipe (or a symbolic link to one) is never
// read, and no file is read past a size limit. A file named on purpose is
// still followed through symbolic links to the regular file they name.
package input

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// DefaultLimit is the most read from one file unless a caller says
// otherwise: far more than any real configuration, far less than memory.
const DefaultLimit = 16 << 20

// Errors, to test with errors.Is.
var (
	// ErrNotRegular: the path is (or links to) a named pipe, socket,
	// device or directory, which capdrop never reads as a file.
	ErrNotRegular = errors.New("not a regular file")
	// ErrTooLarge: the file is larger than the limit.
	ErrTooLarge = errors.New("file too large")
	// ErrChanged: the path named another file between the check and the
	// open (it was replaced meanwhile).
	ErrChanged = errors.New("file replaced while being opened")
)

// Kind names what a non-regular file is, for messages.
func Kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	case m.IsDir():
		return "directory"
	}
	return m.Type().String()
}

func notRegular(path string, m fs.FileMode) error {
	return &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w (%s)", ErrNotRegular, Kind(m))}
}

// Open opens a regular file for reading. It looks at what path names
// (following symbolic links) before opening it and refuses anything but a
// regular file; the open itself cannot block (O_NONBLOCK, so a pipe put
// there meanwhile does not hang it) and the opened file is checked to be
// the same regular file. Errors are *fs.PathError wrapping ErrNotRegular,
// ErrChanged or the system's error.
func Open(path string) (*os.File, fs.FileInfo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, notRegular(path, fi.Mode())
	}
	f, err := openNonblocking(path)
	if err != nil {
		return nil, nil, err
	}
	got, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !got.Mode().IsRegular() {
		f.Close()
		return nil, nil, notRegular(path, got.Mode())
	}
	if !os.SameFile(fi, got) {
		f.Close()
		return nil, nil, &fs.PathError{Op: "open", Path: path, Err: ErrChanged}
	}
	return f, got, nil
}

// ReadFile reads a whole regular file, opened as Open does, and at most
// limit bytes of it (DefaultLimit when limit <= 0); a larger file is an
// error wrapping ErrTooLarge that names the limit.
func ReadFile(path string, limit int64) ([]byte, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	f, fi, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi.Size() > limit {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: %d bytes (the limit is %d)", ErrTooLarge, fi.Size(), limit)}
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: path, Err: err}
	}
	if int64(len(data)) > limit {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: more than %d bytes (the limit)", ErrTooLarge, limit)}
	}
	return data, nil
}
