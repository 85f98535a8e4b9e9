//go:build !unix

package input

import "os"

// openNonblocking opens path read-only; systems without named pipes in
// the file system cannot block on it.
func openNonblocking(path string) (*os.File, error) { return os.Open(path) }
