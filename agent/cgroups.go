package agent

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Unnamed containers: a cgroup whose name is a container ID, whose checks
// the tracer counted, and that no Pod the agent knows names. Where the
// agent can read the node's memory cgroup hierarchy (Config.CgroupRoot) it
// finds the cgroup's path while the container lives, which tells a
// Kubernetes container (under the kubelet's kubepods hierarchy, in the
// directory of its Pod: pod<UID>) from one of another runtime on the node
// (Docker's, a host service's), which is no Pod's and is left out.

// CgroupResolver finds the path of a memory cgroup by its id (the inode
// number of its directory, as trace.Key.Cgroup with KeyMemoryCgroup) and
// name.
type CgroupResolver interface {
	// Resolve returns the cgroup's path from the hierarchy's root ("/"
	// separated, leading "/"), or "" when it is not found (ended, or the
	// hierarchy is not readable).
	Resolve(id uint64, name string) string
}

// DirResolver resolves cgroups by walking a memory cgroup hierarchy
// mounted at Root (/sys/fs/cgroup/memory on cgroup v1, /sys/fs/cgroup on
// v2) for a directory of that name and inode.
type DirResolver struct {
	Root string
	// MaxDepth bounds the walk (resolveDepth when zero).
	MaxDepth int
}

// resolveDepth bounds the walk: the kubelet's containers are 3 levels
// below kubepods (QoS class, Pod, container), which may itself be under a
// cgroup root or a slice or two.
const resolveDepth = 8

// Resolve implements CgroupResolver.
func (d DirResolver) Resolve(id uint64, name string) string {
	if d.Root == "" || name == "" || id == 0 {
		return ""
	}
	max := d.MaxDepth
	if max <= 0 {
		max = resolveDepth
	}
	var walk func(dir, rel string, depth int) string
	walk = func(dir, rel string, depth int) string {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return ""
		}
		var subs []string
		for _, e := range ents {
			if !e.IsDir() {
				continue
			}
			if e.Name() == name {
				if ino, ok := inode(filepath.Join(dir, e.Name())); ok && ino == id {
					return rel + "/" + e.Name()
				}
			}
			subs = append(subs, e.Name())
		}
		if depth >= max {
			return ""
		}
		for _, s := range subs {
			if p := walk(filepath.Join(dir, s), rel+"/"+s, depth+1); p != "" {
				return p
			}
		}
		return ""
	}
	return walk(d.Root, "", 1)
}

// kubepods is the kubelet's cgroup (cgroupfs driver) or slice (systemd).
var kubepods = regexp.MustCompile(`^kubepods(?:\.slice)?$`)

// podDir is a Pod's cgroup: pod<UID> (cgroupfs) or
// kubepods[-<qos>]-pod<UID with _ for ->.slice (systemd).
var podDir = regexp.MustCompile(`^(?:kubepods(?:-[a-z]+)*-)?pod([0-9a-fA-F_-]{32,36})(?:\.slice)?$`)

// KubeletParent tells what the name of a container's cgroup's parent says
// of it: a kubelet's container is in its Pod's cgroup (pod<UID>, or the
// systemd driver's kubepods[-<qos>]-pod<UID>.slice), whose UID it returns.
// Any other parent (docker, system.slice, a runtime's own) is no Pod's.
func KubeletParent(parent string) (kubelet bool, podUID string) {
	m := podDir.FindStringSubmatch(parent)
	if m == nil {
		return false, ""
	}
	return true, strings.ReplaceAll(m[1], "_", "-")
}

// KubeletPath tells what a cgroup path says of a container: whether it is
// under the kubelet's kubepods hierarchy, and the UID of its Pod's cgroup.
func KubeletPath(path string) (kubelet bool, podUID string) {
	for _, part := range strings.Split(path, "/") {
		if kubepods.MatchString(part) {
			kubelet = true
			continue
		}
		if !kubelet {
			continue
		}
		if m := podDir.FindStringSubmatch(part); m != nil {
			podUID = strings.ReplaceAll(m[1], "_", "-")
		}
	}
	return kubelet, podUID
}
