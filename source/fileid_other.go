//go:build !unix

package source

import "io/fs"

type fileID struct{ dev, ino uint64 }

// idOf has no identity to offer here; walking then relies on the depth of
// the path alone (symbolic links to directories are rare off Unix).
func idOf(fs.FileInfo) (fileID, bool) { return fileID{}, false }
