package fix

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/capdrop/capdrop/internal/input"
)

// ErrChanged says the file changed on disk while it was being fixed.
var ErrChanged = errors.New("the file changed while capdrop was fixing it; nothing was written")

// WriteFile replaces the file at path with data, atomically: data goes to a
// temporary file in the same directory, which is synced, given the
// original's permission bits (and owner, when the caller may set it) and
// renamed over the original, so readers see the old file or the new one,
// never half of one. A symbolic link is followed and the file it points to
// is replaced, so the link stays a link. orig is what was read; when the
// file no longer holds it, nothing is written and the error is ErrChanged.
//
// Hard links to the file keep the old contents: rename gives the path a
// new inode.
func WriteFile(path string, orig, data []byte) error {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	fi, err := os.Stat(real)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	now, err := input.ReadFile(real, input.DefaultLimit)
	if err != nil {
		return err
	}
	if !bytes.Equal(now, orig) {
		return fmt.Errorf("%s: %w", path, ErrChanged)
	}
	dir, base := filepath.Split(real)
	tmp, err := os.CreateTemp(dir, "."+base+".capdrop-*")
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Chmod(fi.Mode().Perm()); err != nil {
		return err
	}
	chown(tmp, fi)
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), real); err != nil {
		return err
	}
	done = true
	// Make the rename itself durable.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
