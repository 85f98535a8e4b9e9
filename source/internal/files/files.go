// Package files reads the files a configuration refers to (a compose
// env_file, a docker run --env-file) the one safe way: regular files only —
// never a device or FIFO a link points at — and at most a bounded number of
// bytes.
package files

import (
	"fmt"
	"io"
	"os"
)

// Max bounds the bytes Read reads.
const Max = 16 << 20

// Read reads a regular file of at most Max bytes.
func Read(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file")
	}
	b, err := io.ReadAll(io.LimitReader(f, Max+1))
	if err != nil {
		return nil, err
	}
	if len(b) > Max {
		return nil, fmt.Errorf("larger than %d bytes", Max)
	}
	return b, nil
}
