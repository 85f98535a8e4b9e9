//go:build !linux

package needs

import (
	"errors"
	"time"
)

var ops []Op

// Prepare fails: the operations are Linux system calls.
func Prepare(dir, self string) error { return errors.New("capneeds runs on Linux only") }

// Sleeper fails: the operations are Linux system calls.
func Sleeper() error { return errors.New("capneeds runs on Linux only") }

// Describe returns nothing: there are no operations outside Linux.
func Describe() string { return "" }

// BenchKill fails: the operations are Linux system calls.
func BenchKill(dir string, n int) (time.Duration, error) {
	return 0, errors.New("capneeds runs on Linux only")
}
