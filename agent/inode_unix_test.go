//go:build unix

package agent_test

import (
	"io/fs"
	"syscall"
	"testing"
)

func inodeOf(t *testing.T, fi fs.FileInfo) uint64 {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		t.Skip("no inode numbers here")
	}
	return uint64(st.Ino)
}
