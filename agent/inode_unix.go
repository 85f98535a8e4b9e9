//go:build unix

package agent

import "golang.org/x/sys/unix"

// inode returns the inode number of a path (a cgroup directory's is the
// cgroup's id).
func inode(path string) (uint64, bool) {
	var st unix.Stat_t
	if unix.Stat(path, &st) != nil {
		return 0, false
	}
	return uint64(st.Ino), true
}
