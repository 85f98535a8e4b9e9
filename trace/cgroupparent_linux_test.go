package trace

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestRootCgroupParent: a root's memory cgroup is named with its parent, as
// the kubelet lays out a container's cgroup inside its Pod's (pod<UID>/<ID>),
// so that an agent that cannot read the node's cgroup hierarchy still tells
// a kubelet's container from another runtime's. On every mechanism, in the
// memory hierarchy (v1) or the unified one (the kernel matrix's guests),
// whose kernfs node names its parent `parent` before Linux 6.15 and
// `__parent` since.
func TestRootCgroupParent(t *testing.T) {
	requireRoot(t)
	base := testCgroupBase(t)
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	u := hex.EncodeToString(b)
	podName := "pod" + u[:8] + "-" + u[8:12] + "-" + u[12:16] + "-" + u[16:20] + "-" + u[20:]
	pod := filepath.Join(base, podName)
	if err := os.Mkdir(pod, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(pod) })
	if base == "/sys/fs/cgroup" {
		// The unified hierarchy: the container's cgroup is a memory
		// cgroup of its own only if its parent enables the controller.
		if err := os.WriteFile(filepath.Join(pod, "cgroup.subtree_control"), []byte("+memory"), 0); err != nil {
			t.Skipf("enable memory for %s's children: %v", pod, err)
		}
	}
	id := strings.Repeat(u, 2) // 64 hex digits, as a container ID
	ctr := filepath.Join(pod, id)
	if err := os.Mkdir(ctr, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(ctr) })
	var st unix.Stat_t
	if err := unix.Stat(ctr, &st); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := fixtures(t)
	for _, m := range Mechanisms {
		t.Run(string(m), func(t *testing.T) {
			tr := open(t, m, Options{FollowNewMntNS: true, KeyMemoryCgroup: true})
			cmd := exec.Command(self, "-test.run=^$")
			cmd.Env = append(os.Environ(), workloadEnv+"=chown", "CAPDROP_TRACE_DIR="+dir, cgroupEnv+"="+ctr)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("workload: %v\n%s", err, out)
			}
			r := rootOfPID(t, tr, cmd.Process.Pid)
			if r.Cgroup != st.Ino || r.CgroupName != id || r.CgroupParent != podName {
				t.Errorf("root: cgroup %d name %q parent %q, want %d %q %q", r.Cgroup, r.CgroupName, r.CgroupParent, st.Ino, id, podName)
			}
			if n := chowns(t, tr, r); n != 2 {
				t.Errorf("CAP_CHOWN checks under the container's cgroup = %d, want 2", n)
			}
		})
	}
}
