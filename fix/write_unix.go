//go:build unix

package fix

import (
	"os"
	"syscall"
)

// chown gives f the owner and group of the file fi describes, when the
// process may (root fixing another user's file); otherwise f keeps the
// caller's, which is then the same user anyway.
func chown(f *os.File, fi os.FileInfo) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		_ = f.Chown(int(st.Uid), int(st.Gid))
	}
}
