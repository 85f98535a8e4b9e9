//go:build !unix

package agent

// inode is not known off Unix: no cgroup is resolved.
func inode(string) (uint64, bool) { return 0, false }
