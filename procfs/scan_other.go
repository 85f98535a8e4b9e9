//go:build !linux

package procfs

// Scan reads every process under root; it needs Linux.
func Scan(root string, opts Options) (*Snapshot, error) { return nil, ErrNotSupported }
